"""Masking of personal data for console output and default reports (vectorised).

ID numbers: 4305**********1234; names: 张*丰 / 张*; phones: 139****0001. Customer numbers and
card numbers are bank references, not personal data, and stay readable for remediation.
"""

from __future__ import annotations

import pandas as pd

from cardaudit.idcard import mask_series as mask_ids
from cardaudit.normalize import PERSON_KEY_CUSTOMER_PREFIX

__all__ = ["mask_ids", "mask_names", "mask_phones", "mask_subjects"]


def _text(values: pd.Series) -> pd.Series:
    return values.astype("str").fillna("").str.strip()


def mask_names(values: pd.Series) -> pd.Series:
    """Keep the first and (for 3+ characters) the last character."""
    text = _text(values)
    length = text.str.len()
    first, last = text.str.slice(0, 1), text.str.slice(-1)
    long = first + pd.Series("*", index=text.index).str.repeat(length.clip(lower=2) - 2) + last
    out = long.where(length >= 3, first + "*")
    return out.where(length >= 2, text.where(length == 0, "*"))


def mask_phones(values: pd.Series) -> pd.Series:
    """Keep the first 3 and last 4 digits of numbers of 8 or more characters."""
    text = _text(values).str.replace(r"\s+", "", regex=True)
    length = text.str.len()
    masked = text.str.slice(0, 3) + "****" + text.str.slice(-4)
    return masked.where(length >= 8, text.str.slice(-1).radd("*").where(length > 0, ""))


def mask_subjects(values: pd.Series) -> pd.Series:
    """Person/agent keys: customer-number keys stay, ID numbers are masked."""
    text = values.astype("str")
    is_customer = text.str.startswith(PERSON_KEY_CUSTOMER_PREFIX).fillna(False)
    return text.where(is_customer, mask_ids(text)).fillna("")
