"""Masking of personal data for console output and default reports (vectorised with Arrow).

ID numbers: 4305**********1234; names: 张*丰 / 张*; phones: 139****0001. Customer numbers and
card numbers are bank references, not personal data, and stay readable for remediation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cardaudit.idcard import mask_series as mask_ids
from cardaudit.normalize import PERSON_KEY_CUSTOMER_PREFIX, text_scalar

__all__ = ["mask_ids", "mask_names", "mask_phones", "mask_subjects", "masked_once"]

_STARS = np.array(["*" * n for n in range(64)], dtype=object)
_SEP = pa.scalar("", pa.large_string())


def _text(values: pd.Series) -> pa.Array:
    arr = pa.array(values.astype("str"), type=pa.large_string(), from_pandas=True)
    return pc.utf8_trim_whitespace(pc.fill_null(arr, ""))


def _series(arr: pa.Array, values: pd.Series) -> pd.Series:
    # The array itself: a converted Series would be realigned to `values.index` by label.
    return pd.Series(pd.array(arr, dtype="str"), index=values.index)


def _stars(lengths: np.ndarray) -> pa.Array:
    return pa.array(_STARS[np.clip(lengths, 0, len(_STARS) - 1)], type=pa.large_string())


def masked_once(mask: Callable[[pd.Series], pd.Series], values: pd.Series) -> pd.Series:
    """`mask(values)`, masking each distinct value once (the rows behind findings repeat each
    person's name and ID number on every card)."""
    arr = pa.array(values.astype("str"), type=pa.large_string(), from_pandas=True)
    encoded = pc.dictionary_encode(arr)
    distinct = mask(pd.Series(pd.array(encoded.dictionary, dtype="str")))
    if_missing = mask(pd.Series([None], dtype="str")).iloc[0]
    masked = pa.array(distinct, type=pa.large_string(), from_pandas=True).take(encoded.indices)
    return _series(masked.fill_null(if_missing) if masked.null_count else masked, values)


def mask_names(values: pd.Series) -> pd.Series:
    """Keep the first and (for 3+ characters) the last character: 张*丰, 欧**娜, 张*."""
    text = _text(values)
    length = pc.utf8_length(text).to_numpy(zero_copy_only=False)
    first = pc.utf8_slice_codeunits(text, 0, 1)
    last = pc.if_else(pa.array(length >= 3), pc.utf8_slice_codeunits(text, -1), text_scalar(""))
    middle = _stars(np.where(length >= 3, length - 2, np.where(length == 2, 1, 0)))
    masked = pc.binary_join_element_wise(first, middle, last, _SEP)
    single = pc.if_else(pa.array(length == 1), text_scalar("*"), text_scalar(""))
    return _series(pc.if_else(pa.array(length >= 2), masked, single), values)


def mask_phones(values: pd.Series) -> pd.Series:
    """Keep the first 3 and last 4 digits of numbers of 8 or more characters."""
    text = pc.replace_substring_regex(_text(values), r"\s+", "")
    length = pc.utf8_length(text).to_numpy(zero_copy_only=False)
    masked = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, 3), text_scalar("****"),
                                         pc.utf8_slice_codeunits(text, -4), _SEP)
    short = pc.if_else(pa.array(length > 0), pc.binary_join_element_wise(
        text_scalar("*"), pc.utf8_slice_codeunits(text, -1), _SEP), text_scalar(""))
    return _series(pc.if_else(pa.array(length >= 8), masked, short), values)


def mask_subjects(values: pd.Series, kinds: pd.Series | None = None) -> pd.Series:
    """Finding subjects: customer-number keys stay, ID numbers and phone numbers are masked."""
    text = values.astype("str")
    is_customer = text.str.startswith(PERSON_KEY_CUSTOMER_PREFIX).fillna(False).to_numpy()
    out = mask_ids(text).where(~is_customer, text)
    if kinds is not None:
        is_phone = (kinds == "phone").to_numpy(dtype=bool, na_value=False)
        if is_phone.any():
            out = out.where(~is_phone, mask_phones(text))
    return out.fillna("")
