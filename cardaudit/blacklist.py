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
        # listed + N years, as pd.DateOffset(years=N) adds them: 29 February becomes the 28th.
        start = listed[has_years]
        # A period beyond what dates can hold (pandas ends in 2262) ends in 2261: still after
        # every opening date, so the person stays inside it.
        year = np.minimum(start.dt.year + years[has_years].astype("int64"), 2261)
        month_start = pd.to_datetime(pd.DataFrame({"year": year, "month": start.dt.month,
                                                   "day": 1}))
        day = np.minimum(start.dt.day, month_start.dt.days_in_month)
        by_years[has_years] = month_start + pd.to_timedelta(day - 1, unit="D")
    return pd.DataFrame({"id18": id18.astype("str"), "listed_dt": listed,
                         "end_dt": end.fillna(by_years)}).reset_index(drop=True)
