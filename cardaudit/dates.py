"""Vectorised parsing of the date formats core-banking exports use.

Accepted, after Unicode NFKC (so full-width digits work): 2024-01-31, 2024/1/31, 2024.1.31,
2024年1月31日 (white space around the separators allowed), 20240131, a timestamp in any of these
forms (2024-01-31 10:00:00, 20240131103000: only the date is kept) and Excel serial day numbers
(45322, or 45322.5 for a date and time). Serial numbers follow Excel's 1900 date system,
including its phantom 1900-02-29 (serial 60, never a real date). Anything else, and any date
that datetime64[ns] cannot hold (before 1678 or after 2261, e.g. the 9999-12-31 "no end"
sentinel), is NaT; callers decide whether an unparseable date matters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_SEPARATED = (r"^([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?"
              r"(?:[ T].*)?$")
_COMPACT = r"^([0-9]{4})([0-9]{2})([0-9]{2})(?:\.0+|[ T]?[0-9]{6}(?:\.[0-9]+)?)?$"
_SERIAL = r"^([0-9]{1,7})(?:\.[0-9]*)?$"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
_MIN_YEAR, _MAX_YEAR = 1678, 2261  # whole years that datetime64[ns] holds
_MAX_SERIAL = int((np.datetime64(f"{_MAX_YEAR}-12-31", "D") - _EXCEL_EPOCH).astype(int))


def parse_dates(values: pd.Series) -> pd.Series:
    """datetime64[ns] Series (NaT where the text is not a real date), same index."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # the distinct texts are given
        codes, uniques = values.cat.codes.to_numpy().astype(np.int64), values.cat.categories
    else:
        codes, uniques = pd.factorize(values.astype("str"))
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(uniques):
        distinct = _parse_distinct(pd.Series(np.asarray(uniques, dtype=object), dtype="str"))
        found = codes >= 0
        out[found] = distinct[codes[found]]
    return pd.Series(out, index=values.index, dtype="datetime64[ns]", copy=False)


def _parse_distinct(distinct: pd.Series) -> np.ndarray:
    text = distinct.str.normalize("NFKC").str.strip()
    parts = text.str.extract(_SEPARATED).fillna(text.str.extract(_COMPACT))
    year, month, day = (pd.to_numeric(parts[i], errors="coerce").to_numpy(np.float64)
                        for i in range(3))
    dates = _from_parts(year, month, day)
    serial = pd.to_numeric(text.str.extract(_SERIAL)[0], errors="coerce").to_numpy(np.float64)
    from_serial = _from_serial(serial)
    # An eight-digit number is a compact date, never a serial number (those have at most 7).
    return np.where(np.isnat(dates), from_serial, dates).astype("datetime64[ns]")


def _from_parts(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Calendar dates from float parts (NaN where missing); NaT where the date is not real."""
    ok = ((year >= _MIN_YEAR) & (year <= _MAX_YEAR) & (month >= 1) & (month <= 12)
          & (day >= 1) & (day <= 31))
    out = np.full(len(year), np.datetime64("NaT"), dtype="datetime64[D]")
    if not ok.any():
        return out
    y, m, d = (a[ok].astype(np.int64) for a in (year, month, day))
    first = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (m - 1)
    dates = first.astype("datetime64[D]") + (d - 1)
    real = dates.astype("datetime64[M]") == first  # 2024-02-30 would roll into March
    out[np.flatnonzero(ok)[real]] = dates[real]
    return out


def _from_serial(serial: np.ndarray) -> np.ndarray:
    """Dates of Excel 1900-system serial numbers (fraction = time of day, ignored)."""
    out = np.full(len(serial), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = (serial >= 1) & (serial <= _MAX_SERIAL) & (serial != 60)
    if ok.any():
        days = np.floor(serial[ok]).astype(np.int64)
        # Excel counts a 1900-02-29 that never was: serials before it are one day later.
        days = np.where(days < 60, days + 1, days)
        out[ok] = _EXCEL_EPOCH + days.astype("timedelta64[D]")
    return out
