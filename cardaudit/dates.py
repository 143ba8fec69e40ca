"""Vectorised parsing of the date formats core-banking exports use.

Accepted: 2024-01-31, 2024/1/31, 2024.1.31, 20240131, 2024年1月31日, an ISO timestamp
(2024-01-31 10:00:00, only the date is kept) and Excel serial day numbers (1..2958465). Anything
else is NaT; callers decide whether an unparseable date matters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_SEPARATED = r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?$"
_COMPACT = r"^(\d{4})(\d{2})(\d{2})$"
_EXCEL_EPOCH = np.datetime64("1899-12-30")


def parse_dates(values: pd.Series) -> pd.Series:
    """datetime64[ns] Series (NaT where the text is not a real date), same index."""
    text = values.astype("str").str.strip()
    codes, uniques = pd.factorize(text)
    if len(uniques) == 0:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    distinct = pd.Series(uniques, dtype="str")
    parts = distinct.str.extract(_SEPARATED)
    compact = distinct.str.extract(_COMPACT)
    parts = parts.fillna(compact)
    frame = pd.DataFrame({"year": pd.to_numeric(parts[0], errors="coerce"),
                          "month": pd.to_numeric(parts[1], errors="coerce"),
                          "day": pd.to_numeric(parts[2], errors="coerce")})
    parsed = pd.to_datetime(frame, errors="coerce")
    serial = pd.to_numeric(distinct.where(distinct.str.fullmatch(r"\d{1,7}(\.0+)?").fillna(False)),
                           errors="coerce")
    in_range = (serial >= 1) & (serial <= 2958465)
    from_serial = pd.Series(pd.NaT, index=distinct.index, dtype="datetime64[ns]")
    if in_range.any():
        days = serial[in_range].astype("int64").to_numpy().astype("timedelta64[D]")
        from_serial[in_range] = (_EXCEL_EPOCH + days).astype("datetime64[ns]")
    # An eight-digit number is a compact date, never a serial number.
    distinct_dates = parsed.fillna(from_serial.where(parsed.isna()))
    out = distinct_dates.to_numpy()[np.maximum(codes, 0)]
    out[codes < 0] = np.datetime64("NaT")
    return pd.Series(out, index=values.index, dtype="datetime64[ns]")
