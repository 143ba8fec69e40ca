"""联网核查 results: the bank's online identity-verification outcomes, imported from a file.

Each row carries an ID number, a name and a result such as 一致 / 姓名不一致 / 号码不存在. Where a
file is given, the name/ID-mismatch and non-existent-number figures also count the persons whose
rows the verification system judged so, and the report names that method. Results the tool cannot
read are counted and reported, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cardaudit.normalize import compact_text
from cardaudit.schema import SHOWN_ROWS, rows_phrase, source_rows

MATCH, MISMATCH, NONEXISTENT = "match", "mismatch", "nonexistent"

# Result texts seen in 联网核查 exports, after NFKC and white-space removal.
RESULT_WORDS = {
    "一致": MATCH, "核查一致": MATCH, "姓名与身份证号一致": MATCH, "身份证号与姓名一致": MATCH,
    "通过": MATCH, "成功": MATCH,
    "姓名不一致": MISMATCH, "不一致": MISMATCH, "姓名与身份证号不匹配": MISMATCH,
    "姓名与身份证号不一致": MISMATCH, "不匹配": MISMATCH, "身份证号与姓名不匹配": MISMATCH,
    "号码不存在": NONEXISTENT, "证件号码不存在": NONEXISTENT, "公民身份号码不存在": NONEXISTENT,
    "身份证号码不存在": NONEXISTENT, "查无此人": NONEXISTENT,
}

ALIASES = {"证件号码": "id_number", "身份证号码": "id_number", "身份证号": "id_number",
           "公民身份号码": "id_number", "姓名": "name", "客户姓名": "name",
           "核查结果": "result", "联网核查结果": "result", "结果": "result"}


@dataclass
class Verification:
    """Verified (id, name) pairs judged mismatched, and numbers judged non-existent."""

    file: str
    rows: int
    mismatched_pairs: frozenset[tuple[str, str]]
    nonexistent_ids: frozenset[str]
    unreadable: int
    # Row numbers (in the file) of the first unreadable results. Not their texts: a result
    # column mapped by mistake could hold names, and names never reach the console.
    unreadable_rows: tuple[int, ...] = ()

    def describe(self) -> str:
        return (f"联网核查结果文件 {self.file}（{self.rows}条，其中无法识别的结果"
                f"{self.unreadable}条）")


def load_verification(path: Path, encoding: str | None = None) -> Verification:
    """Read a 联网核查 result file (CSV/XLSX/Parquet): 证件号码, 姓名, 核查结果."""
    from cardaudit import load
    from cardaudit.schema import header_key

    loaded = load.load_table(
        path, alias_index={header_key(k): v for k, v in ALIASES.items()},
        required=("id_number", "result"), encoding=encoding,
        labels={"id_number": "证件号码", "name": "姓名", "result": "核查结果"})
    return from_frame(loaded.frame, loaded.files[0].path)


def from_frame(frame: pd.DataFrame, file: str) -> Verification:
    """Classify every result; keep the mismatched pairs and non-existent numbers."""
    ids = compact_text(frame["id_number"], upper=True)
    names = compact_text(frame["name"]) if "name" in frame else pd.Series(
        pd.NA, index=frame.index, dtype="str")
    result = compact_text(frame["result"]).map(RESULT_WORDS)
    mismatch = (result == MISMATCH).to_numpy(dtype=bool, na_value=False)
    nonexistent = (result == NONEXISTENT).to_numpy(dtype=bool, na_value=False)
    pairs = frozenset(zip(ids[mismatch].fillna(""), names[mismatch].fillna(""), strict=True))
    unread = result.isna().to_numpy()
    numbers = source_rows(frame)[unread][:SHOWN_ROWS]
    return Verification(file=file, rows=len(frame), mismatched_pairs=pairs,
                        nonexistent_ids=frozenset(ids[nonexistent].dropna()),
                        unreadable=int(unread.sum()),
                        unreadable_rows=tuple(map(int, numbers)))


def unreadable_notice(checked: Verification) -> str:
    """The notice for results that were not counted: how many, and the first rows."""
    rows = rows_phrase(checked.unreadable_rows, checked.unreadable)
    return (f"联网核查结果文件 {checked.file} 中有{checked.unreadable}条结果无法识别（为空或写法"
            f"不认识），未计入统计：{rows}。可识别的结果如：一致、姓名不一致、号码不存在、"
            "查无此人；请改为这些写法后重新运行。")


def mark(frame: pd.DataFrame, verification: Verification | None) -> None:
    """Add the verified-mismatch and verified-non-existent columns the checks read (if given)."""
    if verification is not None:
        frame["verified_mismatch"], frame["verified_nonexistent"] = flags(frame, verification)


def flags(frame: pd.DataFrame, verification: Verification) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a normalised frame: (verified mismatch, verified non-existent number)."""
    ids = frame["id_norm"].fillna("")
    names = frame["name_norm"].fillna("")
    if verification.mismatched_pairs:
        pair_index = pd.MultiIndex.from_tuples(sorted(verification.mismatched_pairs))
        mismatch = pd.MultiIndex.from_arrays([ids, names]).isin(pair_index)
    else:
        mismatch = np.zeros(len(frame), dtype=bool)
    nonexistent = ids.isin(verification.nonexistent_ids).to_numpy(dtype=bool)
    return np.asarray(mismatch, dtype=bool), nonexistent
