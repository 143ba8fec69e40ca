"""The police/judicial list of account renters and sellers: which entries can be matched.

Entries are matched by normalised ID number only. An entry whose number is not a valid 18-digit
resident number is a list fault: it is reported with its row and never matched, so a mangled
number can never be matched to the wrong person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from cardaudit import idcard
from cardaudit.dates import parse_dates
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW, rows_phrase, source_rows

FAULT_TEXT = {"legacy15": "15位旧号码（名单须使用18位号码）", "missing": "证件号码为空",
              "nonexistent": "证件号码结构无效"}


@dataclass
class Blacklist:
    """Matchable listed numbers plus the entries that cannot be matched."""

    ids: frozenset[str] = frozenset()
    entries: int = 0
    faults: pd.DataFrame = field(default_factory=pd.DataFrame)
    # One row per valid entry: id18, listed_dt, end_dt (NaT where the list gives no end).
    periods: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"id18": pd.Series(dtype="str"), "listed_dt": pd.Series(dtype="datetime64[ns]"),
         "end_dt": pd.Series(dtype="datetime64[ns]")}))

    # File row numbers of valid entries the discipline-period check cannot date: no readable
    # listing date (left out of it), or a period in years that is not a number and no end date
    # (the rule's default period is used).
    undated_rows: tuple[int, ...] = ()
    default_period_rows: tuple[int, ...] = ()

    @property
    def valid_entries(self) -> int:
        return self.entries - len(self.faults)

    @property
    def dated(self) -> bool:
        """Whether some valid entry has a listing date (the discipline-period check needs it)."""
        return bool(self.periods["listed_dt"].notna().any())


def available(blacklist: Blacklist | None) -> set[str]:
    """What the list gives the rules (see rules.REQUIRES): nothing without a list."""
    if blacklist is None:
        return set()
    return {"blacklist", "blacklist_dates"} if blacklist.dated else {"blacklist"}


def from_frame(frame: pd.DataFrame, as_of: date) -> Blacklist:
    """Classify every listed number; valid ones become the match set."""
    classes = idcard.classify(frame["id_number"], as_of)
    valid = (classes["id_class"] == idcard.VALID).to_numpy(dtype=bool)
    bad = ~valid
    faults = pd.DataFrame({
        "来源文件": frame.loc[bad, SOURCE_FILE] if SOURCE_FILE in frame else "",
        "行号": frame.loc[bad, SOURCE_ROW] if SOURCE_ROW in frame else 0,
        "证件号码": idcard.mask_series(classes.loc[bad, "id_norm"]),
        "原因": classes.loc[bad, "id_class"].astype("object").map(FAULT_TEXT),
    }).reset_index(drop=True)
    ids = frozenset(classes.loc[valid, "id18"].dropna())
    periods, unread_years = _periods(frame.loc[valid], classes.loc[valid, "id18"])
    rows = source_rows(frame)[valid]
    undated = periods["listed_dt"].isna().to_numpy()
    return Blacklist(ids=ids, entries=len(frame), faults=faults, periods=periods,
                     undated_rows=tuple(map(int, rows[undated])),
                     default_period_rows=tuple(map(int, rows[unread_years & ~undated])))


def period_notices(blacklist: Blacklist, file: str) -> list[str]:
    """What the discipline-period check could not use as written: how many entries, which rows
    (the first few; rows, never names or numbers)."""
    undated, default = blacklist.undated_rows, blacklist.default_period_rows
    notices = []
    if undated and blacklist.dated:
        notices.append(f"名单文件 {file} 中有{len(undated)}条有效记录没有可识别的列入日期"
                       f"（{rows_phrase(undated, len(undated))}）：这些人员不参与“惩戒期内为"
                       "名单人员新开立账户”的检查。请补全列入日期（如 2026-03-01）。")
    if default:
        notices.append(f"名单文件 {file} 中有{len(default)}条记录的惩戒期限不是年数，也没有截止"
                       f"日期（{rows_phrase(default, len(default))}）：按规则的默认惩戒期限计。"
                       "请写成年数（如 5）或给出截止日期。")
    return notices


def _periods(frame: pd.DataFrame, id18: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """Discipline periods: the list's end date, else listing date + its period in years; and
    which entries give a period that is not a number of years (nor an end date)."""
    def column(name: str) -> pd.Series:
        return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="str")

    listed = parse_dates(column("listed_date"))
    end = parse_dates(column("end_date"))
    years = pd.to_numeric(column("period_years").astype("str").str.extract(r"(\d+)")[0],
                          errors="coerce")
    by_years = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    has_years = years.notna() & listed.notna()
    if has_years.any():
        # listed + N years, as pd.DateOffset(years=N) adds them: 29 February becomes the 28th.
        start = listed[has_years]
        # A period beyond what dates can hold (pandas ends in 2262) ends in 2261: still after
        # every opening date, so the person stays inside it.
        year = np.minimum(start.dt.year + years[has_years].astype("int64"), 2261)
        month_start = pd.to_datetime(pd.DataFrame({"year": year, "month": start.dt.month,
                                                   "day": 1}))
        day = np.minimum(start.dt.day, month_start.dt.days_in_month)
        by_years[has_years] = month_start + pd.to_timedelta(day - 1, unit="D")
    written = column("period_years").astype("str").str.strip().fillna("") != ""
    unread_years = (written & years.isna() & end.isna() & listed.notna()).to_numpy(dtype=bool)
    return pd.DataFrame({"id18": id18.astype("str"), "listed_dt": listed,
                         "end_dt": end.fillna(by_years)}).reset_index(drop=True), unread_years
