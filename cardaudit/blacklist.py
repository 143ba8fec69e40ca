"""The police/judicial list of account renters and sellers: which entries can be matched.

Entries are matched by normalised ID number only. An entry whose number is not a valid 18-digit
resident number is a list fault: it is reported with its row and never matched, so a mangled
number can never be matched to the wrong person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from cardaudit import idcard
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW

FAULT_TEXT = {"legacy15": "15位旧号码（名单须使用18位号码）", "missing": "证件号码为空",
              "nonexistent": "证件号码结构无效"}


@dataclass
class Blacklist:
    """Matchable listed numbers plus the entries that cannot be matched."""

    ids: frozenset[str] = frozenset()
    entries: int = 0
    faults: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def valid_entries(self) -> int:
        return self.entries - len(self.faults)


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
    return Blacklist(ids=ids, entries=len(frame), faults=faults)
