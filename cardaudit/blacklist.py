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
from cardaudit.dates import parse_dates
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW

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
    return Blacklist(ids=ids, entries=len(frame), faults=faults,
                     periods=_periods(frame.loc[valid], classes.loc[valid, "id18"]))


def _periods(frame: pd.DataFrame, id18: pd.Series) -> pd.DataFrame:
    """Discipline periods: the list's end date, else listing date + its period in years."""
    def column(name: str) -> pd.Series:
        return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="str")

    listed = parse_dates(column("listed_date"))
    end = parse_dates(column("end_date"))
    years = pd.to_numeric(column("period_years").astype("str").str.extract(r"(\d+)")[0],
                          errors="coerce")
    by_years = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    has_years = years.notna() & listed.notna()
    if has_years.any():
        offsets = [pd.DateOffset(years=int(y)) for y in years[has_years]]
        by_years[has_years] = [d + o for d, o in zip(listed[has_years], offsets, strict=True)]
    return pd.DataFrame({"id18": id18.astype("str"), "listed_dt": listed,
                         "end_dt": end.fillna(by_years)}).reset_index(drop=True)
