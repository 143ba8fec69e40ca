"""Resident identity numbers of the PRC (公民身份号码, GB 11643-1999), in the python-stdnum style.

An 18-character number has four parts:

* 6 digits: the administrative region code (GB/T 2260) of the place of first registration;
* 8 digits: the birth date as YYYYMMDD;
* 3 digits: a sequence number, odd for men and even for women;
* 1 check character, ISO 7064 MOD 11-2: multiply the first 17 digits by the weights
  7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 and sum; the sum mod 11 = 0, 1, ..., 10 maps to the
  check character 1 0 X 9 8 7 6 5 4 3 2.

The legacy 15-digit form of GB 11643-1989 is region (6) + birth date YYMMDD (6) + sequence (3),
with no check character. It is upgraded to 18 characters by inserting "19" after the region code
and appending the check character computed over the resulting 17 digits.

`compact` applies Unicode NFKC (so full-width digits and letters become ASCII), removes all white
space (including the ideographic space U+3000 and no-break spaces) and invisible zero-width
separators, and upper-cases. `validate` checks length, format, check character and that the birth
date is a real date between 1900-01-01 and the reference date; it does not check the region code,
which `region_known` (a warning signal only) looks up in python-stdnum's list of codes.

`classify` is the vectorised form of `classify_one` for whole export columns. It works on the
distinct values only: clean 18-character values are keyed by an integer computed from their bytes
with numpy, everything else is dictionary-encoded by pyarrow, and results are mapped back by code.

>>> validate(' 11010519491231002x ')
'11010519491231002X'
"""

from __future__ import annotations

import datetime
import functools
import importlib.resources
import re
import warnings
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

VALID: Final = "valid"
LEGACY15: Final = "legacy15"
MISSING: Final = "missing"
NONEXISTENT: Final = "nonexistent"
CLASSES: Final = (VALID, LEGACY15, MISSING, NONEXISTENT)

_VALID_CODE: Final = 0
_LEGACY15_CODE: Final = 1
_MISSING_CODE: Final = 2
_NONEXISTENT_CODE: Final = 3
_CLASS_DTYPE: Final = pd.CategoricalDtype(list(CLASSES), ordered=False)

WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS: Final = "10X98765432"
_MIN_BIRTH: Final = datetime.date(1900, 1, 1)

# White space removed by compact(): every character for which str.isspace() is true, plus the
# invisible separators that copy-and-paste leaves in cells (zero-width space/joiners, word joiner,
# byte order mark, Mongolian vowel separator).
_SPACE_CHARS: Final = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
    "\u180e\u200b\u200c\u200d\u2060\ufeff"
)
SPACE_RE2: Final = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACE_CHARS) + "]"
_ASCII_SPACE_DELETE: Final = str.maketrans("", "", "".join(c for c in _SPACE_CHARS if c < "\x80"))
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

_W: Final = np.array(WEIGHTS, dtype=np.int32)
_CHECK_BYTES: Final = np.frombuffer(_CHECK_CHARS.encode("ascii"), dtype=np.uint8)
_MONTH_DAYS: Final = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_ZERO: Final = 48  # ord("0")
_NULL: Final = -1  # "no row" in position arrays
_X: Final = 88  # ord("X")


class ValidationError(ValueError):
    """Base class of the errors raised by `validate` and friends."""

    message = "The number is not valid."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class InvalidFormat(ValidationError):
    """Characters other than digits, or X anywhere but in the last position."""

    message = "The number has an invalid format."


class InvalidLength(ValidationError):
    """Wrong number of characters."""

    message = "The number has an invalid length."


class InvalidChecksum(ValidationError):
    """The check character does not match the first 17 digits."""

    message = "The number's check character does not match."


class InvalidComponent(ValidationError):
    """The birth date is not a real date, or lies before 1900-01-01 or after the reference date."""

    message = "The number's birth date is not valid."


# --------------------------------------------------------------------------------------------
# Scalar functions
# --------------------------------------------------------------------------------------------


def _is_na(value: object) -> bool:
    """True for None, NaN, pd.NA, NaT and friends; False for anything else (never raises)."""
    if value is None:
        return True
    try:
        na = pd.isna(value)
    except Exception:
        return False
    return isinstance(na, bool | np.bool_) and bool(na)


def _to_text(value: object) -> str:
    """The raw text of a cell: "" for missing values, str() otherwise; lone surrogates (which
    cannot be encoded as UTF-8) become U+FFFD."""
    if isinstance(value, str):
        text = value
    elif _is_na(value):
        return ""
    else:
        try:
            text = str(value)
        except Exception:
            return ""
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def compact(value: object) -> str:
    """Convert the value to its minimal representation: "" for None/NaN/pd.NA, otherwise its
    text in Unicode NFKC with all white space removed, upper-cased."""
    text = _to_text(value)
    if text.isascii():
        # NFKC leaves ASCII unchanged, so this is exactly what the arrow pipeline computes.
        return text.translate(_ASCII_SPACE_DELETE).upper()
    # One implementation of NFKC/upper-casing for scalar and vectorised code (pyarrow's
    # utf8proc may know a newer Unicode version than the running Python's unicodedata).
    result = _compact_arrow(pa.array([text], type=pa.large_string()))[0].as_py()
    return result or ""


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_char(first17: str) -> str:
    return _CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def calc_check_digit(first17: str) -> str:
    """Calculate the check character (a digit or X) of the first 17 digits of a number.

    >>> calc_check_digit('11010519491231002')
    'X'
    """
    if len(first17) != 17:
        raise InvalidLength()
    if not _is_digits(first17):
        raise InvalidFormat()
    return _check_char(first17)


def _birth_date(digits8: str) -> datetime.date | None:
    try:
        return datetime.date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        return None


def _date_in_range(birth: datetime.date | None, as_of: datetime.date) -> bool:
    return birth is not None and _MIN_BIRTH <= birth <= as_of


def _as_date(as_of: datetime.date | None) -> datetime.date:
    if as_of is None:
        return datetime.date.today()
    if isinstance(as_of, datetime.datetime):
        return as_of.date()
    return as_of


def upgrade15(number: str) -> str:
    """Upgrade a legacy 15-digit number to 18 characters: insert "19" after the region code and
    append the check character. Raises if the value is not a valid legacy number.

    >>> upgrade15('110105491231002')
    '11010519491231002X'
    """
    number = compact(number)
    if len(number) != 15:
        raise InvalidLength()
    if not _is_digits(number):
        raise InvalidFormat()
    if _birth_date("19" + number[6:12]) is None:
        raise InvalidComponent()
    first17 = number[:6] + "19" + number[6:]
    return first17 + _check_char(first17)


def validate(value: object, as_of: datetime.date | None = None) -> str:
    """Check that the value is a valid 18-character number and return it compacted.

    The birth date must be a real date between 1900-01-01 and `as_of` (default: today),
    inclusive. The region code is not checked (see `region_known`).
    """
    number = compact(value)
    if len(number) != 18:
        raise InvalidLength()
    if not _is_digits(number[:17]) or not (_is_digits(number[17]) or number[17] == "X"):
        raise InvalidFormat()
    if number[17] != _check_char(number[:17]):
        raise InvalidChecksum()
    if not _date_in_range(_birth_date(number[6:14]), _as_date(as_of)):
        raise InvalidComponent()
    return number


def is_valid(value: object, as_of: datetime.date | None = None) -> bool:
    """Check whether the value is a valid 18-character number (see `validate`)."""
    try:
        return bool(validate(value, as_of))
    except ValidationError:
        return False


def _classify_compact(number: str, as_of: datetime.date) -> tuple[str, str | None]:
    if not number:
        return MISSING, None
    if len(number) == 15 and _is_digits(number):
        birth = _birth_date("19" + number[6:12])
        if _date_in_range(birth, as_of):
            first17 = number[:6] + "19" + number[6:]
            return LEGACY15, first17 + _check_char(first17)
        return NONEXISTENT, None
    try:
        return VALID, validate(number, as_of)
    except ValidationError:
        return NONEXISTENT, None


def classify_one(value: object, as_of: datetime.date) -> str:
    """The class of one value: `valid`, `legacy15`, `missing` or `nonexistent`."""
    return _classify_compact(compact(value), _as_date(as_of))[0]


def person_number_one(value: object, as_of: datetime.date) -> str | None:
    """The 18-character number identifying the person: the valid number itself or the upgraded
    legacy 15-digit number; None for missing and nonexistent numbers."""
    return _classify_compact(compact(value), _as_date(as_of))[1]


# --------------------------------------------------------------------------------------------
# Region codes
# --------------------------------------------------------------------------------------------


def _read_loc_dat() -> str:
    return (importlib.resources.files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")


def _parse_loc_dat(text: str) -> np.ndarray:
    """Boolean table indexed by the 6-digit code: provinces (XX0000), counties from the indented
    lines (XXYYZZ) and their cities (XXYY00)."""
    known = np.zeros(1_000_000, dtype=bool)
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        token = line.split(maxsplit=1)[0]
        low, _, high = token.partition("-")
        high = high or low
        if not (low.isdigit() and high.isdigit() and low.isascii() and high.isascii()):
            continue
        if not line[0].isspace():
            province = low if len(low) == 2 else ""
            if province:
                known[int(province) * 10_000] = True
            continue
        if not province or len(low) != 4 or len(high) != 4:
            continue
        for suffix in range(int(low), int(high) + 1):
            code = int(province) * 10_000 + suffix
            known[code] = True
            known[code - code % 100] = True
    return known


@functools.cache
def _region_table() -> np.ndarray:
    try:
        return _parse_loc_dat(_read_loc_dat())
    except Exception as exc:  # the data file ships with python-stdnum; be safe anyway
        warnings.warn(
            f"cannot read python-stdnum's cn/loc.dat ({exc}); region codes are not checked",
            RuntimeWarning,
            stacklevel=3,
        )
        return np.ones(1_000_000, dtype=bool)


def region_known(code6: str) -> bool:
    """Whether the first 6 characters are a region code that ever existed according to
    python-stdnum's bundled list (including province XX0000 and city XXYY00 codes).

    Only a warning signal: numbers are never classified by it. Never raises.
    """
    try:
        code = compact(code6)[:6]
        if len(code) != 6 or not _is_digits(code):
            return False
        return bool(_region_table()[int(code)])
    except Exception:
        return False


# --------------------------------------------------------------------------------------------
# Vectorised functions
# --------------------------------------------------------------------------------------------


def _offsets_data(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (len + 1) and the whole data buffer of a large_string array."""
    buffers = arr.buffers()
    if len(arr) == 0 or buffers[1] is None:
        return np.zeros(len(arr) + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    if buffers[2] is None:
        return offsets, np.zeros(0, dtype=np.uint8)
    return offsets, np.frombuffer(buffers[2], dtype=np.uint8)


def _byte_lengths(arr: pa.LargeStringArray) -> np.ndarray:
    """UTF-8 byte length of every row, 0 for nulls."""
    lengths = np.diff(_offsets_data(arr)[0])
    if arr.null_count:
        lengths[np.asarray(arr.is_null())] = 0
    return lengths


def _matrix(arr: pa.LargeStringArray, selected: np.ndarray, width: int) -> np.ndarray:
    """The bytes of the selected rows (non-null, exactly `width` bytes long) as (k, width)."""
    k = int(np.count_nonzero(selected))
    if k == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets, data = _offsets_data(arr.filter(pa.array(selected)))
    start = int(offsets[0])
    return data[start : start + k * width].reshape(k, width)


def _from_matrix(mat: np.ndarray) -> pa.LargeStringArray:
    """A large_string array whose rows are the rows of a (k, width) ASCII byte matrix."""
    k, width = mat.shape
    offsets = np.arange(0, (k + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(mat, dtype=np.uint8)
    return pa.Array.from_buffers(
        pa.large_string(), k, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _take_rows(mat: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """mat[rows] for a byte matrix, gathering whole rows as opaque items (much faster)."""
    width = mat.shape[1]
    items = np.ascontiguousarray(mat).reshape(-1).view(f"V{width}")
    return np.take(items, rows).view(np.uint8).reshape(rows.size, width)


def _compact_arrow(arr: pa.LargeStringArray) -> pa.LargeStringArray:
    """Vectorised `compact` of the text: NFKC, white space removed, upper case.

    Only rows containing a byte outside printable ASCII (0x21-0x7F) go through NFKC and the
    white-space regex; for the others both are the identity.
    """
    n = len(arr)
    if n == 0:
        return arr
    offsets, data = _offsets_data(arr)
    start, stop = int(offsets[0]), int(offsets[-1])
    dirty_bytes = np.flatnonzero((data[start:stop] - np.uint8(0x21)) > 0x5E) + start
    if dirty_bytes.size:
        dirty = np.zeros(n, dtype=bool)
        dirty[np.searchsorted(offsets, dirty_bytes, side="right") - 1] = True
        mask = pa.array(dirty)
        sub = pc.utf8_normalize(arr.filter(mask), form="NFKC")
        sub = pc.replace_substring_regex(sub, pattern=SPACE_RE2, replacement="")
        arr = pc.replace_with_mask(arr, mask, sub.cast(pa.large_string()))
    return pc.utf8_upper(arr).cast(pa.large_string())


def _to_arrow(values: pd.Series) -> pa.LargeStringArray:
    """The raw text of every row as a large_string array (nulls for missing values)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # Text of the (few) categories, then one dictionary decode.
        categories = _to_arrow(pd.Series(dtype.categories, dtype=object))
        codes = np.asarray(values.cat.codes, dtype=np.int32)
        indices = pa.array(codes, mask=codes < 0)
        return pa.DictionaryArray.from_arrays(indices, categories).cast(pa.large_string())
    fast = isinstance(dtype, pd.StringDtype)
    if not fast and pd.api.types.is_object_dtype(dtype):
        try:
            fast = pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
        except Exception:
            fast = False
    if fast:
        try:
            source = values.array if isinstance(dtype, pd.StringDtype) else np.asarray(
                values, dtype=object
            )
            arr = pa.array(source, type=pa.large_string(), from_pandas=True)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            return arr.cast(pa.large_string())
        except Exception:  # lone surrogates and the like: take the slow road
            pass
    texts = [_to_text(v) for v in np.asarray(values, dtype=object)]
    return pa.array(texts, type=pa.large_string())


def _digits(m: np.ndarray) -> np.ndarray:
    """ASCII byte matrix -> digit values (0-9 for digits, 10-255 for anything else)."""
    return m - np.uint8(_ZERO)


def _number(d: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The decimal number in columns start:stop of a digit-value matrix, as int64."""
    powers = 10 ** np.arange(stop - start - 1, -1, -1, dtype=np.int64)
    return np.einsum("ij,j->i", d[:, start:stop], powers, dtype=np.int64, casting="unsafe")


def _check_bytes(d: np.ndarray) -> np.ndarray:
    """The check characters (ASCII bytes) of the first 17 columns of a digit-value matrix."""
    total = np.einsum("ij,j->i", d[:, :17], _W, dtype=np.int32, casting="unsafe")
    return _CHECK_BYTES[total % 11]


def _date_ok(
    year: np.ndarray, month: np.ndarray, day: np.ndarray, as_of: datetime.date
) -> np.ndarray:
    """Real calendar dates between 1900-01-01 and as_of, inclusive."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.clip(month, 0, 12)] + (leap & (month == 2))
    ymd = year * 10_000 + month * 100 + day
    limit = as_of.year * 10_000 + as_of.month * 100 + as_of.day
    return (
        (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
        & (ymd >= 19_000_101) & (ymd <= limit)
    )


def _valid18(m: np.ndarray, as_of: datetime.date) -> np.ndarray:
    """Which rows of an (k, 18) ASCII matrix are valid numbers."""
    d = _digits(m)
    ok = (d[:, :17].max(axis=1, initial=0) < 10) & ((d[:, 17] < 10) | (m[:, 17] == _X))
    ok &= _date_ok(_number(d, 6, 10), _number(d, 10, 12), _number(d, 12, 14), as_of)
    ok &= _check_bytes(d) == m[:, 17]
    return ok


def _legacy15(m: np.ndarray, as_of: datetime.date) -> np.ndarray:
    """Which rows of an (k, 15) ASCII matrix are legacy numbers with a real 19YYMMDD date."""
    d = _digits(m)
    ok = d.max(axis=1, initial=0) < 10
    ok &= _date_ok(1900 + _number(d, 6, 8), _number(d, 8, 10), _number(d, 10, 12), as_of)
    return ok


def _upgrade15(m: np.ndarray) -> np.ndarray:
    """(k, 15) legacy digit rows -> (k, 18) rows: "19" inserted, check character appended."""
    upgraded = np.empty((m.shape[0], 18), dtype=np.uint8)
    upgraded[:, :6] = m[:, :6]
    upgraded[:, 6:8] = np.frombuffer(b"19", dtype=np.uint8)
    upgraded[:, 8:17] = m[:, 6:15]
    upgraded[:, 17] = _check_bytes(_digits(upgraded))
    return upgraded


def _region_unknown(m: np.ndarray) -> np.ndarray:
    """Whether the region code (first 6 digits) of each all-digit row is unknown."""
    return ~_region_table()[_number(_digits(m), 0, 6)]


def _classify_distinct(
    norm: pa.LargeStringArray, as_of: datetime.date
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Classify compact values. Returns the class codes (int8), for each value the row of its
    18-character number in the returned (k, 18) byte matrix (or _NULL), and region_unknown."""
    n = len(norm)
    lengths = _byte_lengths(norm)
    classes = np.full(n, _NONEXISTENT_CODE, dtype=np.int8)
    classes[lengths == 0] = _MISSING_CODE

    m18 = _matrix(norm, lengths == 18, 18)
    ok = _valid18(m18, as_of)
    rows18, m18 = np.flatnonzero(lengths == 18)[ok], m18[ok]
    classes[rows18] = _VALID_CODE

    m15 = _matrix(norm, lengths == 15, 15)
    ok = _legacy15(m15, as_of)
    rows15, m15 = np.flatnonzero(lengths == 15)[ok], m15[ok]
    classes[rows15] = _LEGACY15_CODE

    rows = np.concatenate([rows18, rows15])
    id_mat = np.concatenate([m18, _upgrade15(m15)])
    id_pos = np.full(n, _NULL, dtype=np.int64)
    id_pos[rows] = np.arange(rows.size)
    region_unknown = np.zeros(n, dtype=bool)
    region_unknown[rows] = _region_unknown(id_mat)
    return classes, id_pos, id_mat, region_unknown


def _swar_digits(word: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Whether all 8 bytes of each little-endian uint64 are ASCII digits."""
    high = np.uint64(0xF0F0F0F0F0F0F0F0)
    threes = np.uint64(0x3030303030303030)
    np.bitwise_and(word, high, out=scratch)
    ok = scratch == threes
    np.add(word, np.uint64(0x0606060606060606), out=scratch)
    scratch &= high
    ok &= scratch == threes
    return ok


def _swar_parse(v: np.ndarray) -> np.ndarray:
    """In place: the value of the 8 ASCII digits in each little-endian uint64 (first byte most
    significant), by the usual multiply-and-shift reduction."""
    v &= np.uint64(0x0F0F0F0F0F0F0F0F)
    v *= np.uint64(2561)
    v >>= np.uint64(8)
    v &= np.uint64(0x00FF00FF00FF00FF)
    v *= np.uint64(6553601)
    v >>= np.uint64(16)
    v &= np.uint64(0x0000FFFF0000FFFF)
    v *= np.uint64(42949672960001)
    v >>= np.uint64(32)
    return v


_ROW18: Final = np.dtype([("first", "<u8"), ("second", "<u8"), ("c16", "u1"), ("c17", "u1")])


def _fast_keys(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a (k, 18) byte matrix: which rows are 17 ASCII digits and a digit, X or x; for those
    an int64 key (first 17 digits * 11 + check value, equal iff the compact values are); and
    which rows end in a lower-case x. Bytes 0-7 and 8-15 are handled as 8-byte words."""
    rows = np.ascontiguousarray(m).reshape(-1).view(_ROW18)
    first = rows["first"].copy()  # aligned copies of the unaligned words
    second = rows["second"].copy()
    scratch = np.empty_like(first)
    ok = _swar_digits(first, scratch) & _swar_digits(second, scratch)
    d16 = rows["c16"] - np.uint8(_ZERO)
    c17 = rows["c17"]
    lower_x = c17 == np.uint8(ord("x"))
    is_x = lower_x | (c17 == np.uint8(_X))
    d17 = c17 - np.uint8(_ZERO)
    ok &= (d16 < 10) & ((d17 < 10) | is_x)
    d17[is_x] = 10
    key = _swar_parse(first)
    key *= np.uint64(100_000_000)
    key += _swar_parse(second)
    key *= np.uint64(10)
    key += d16
    key *= np.uint64(11)
    key += d17
    return ok, key[ok].view(np.int64), lower_x


def _str_array(arr: pa.Array) -> pd.api.extensions.ExtensionArray:
    return pd.array(arr, dtype="str")


def _with_validity(arr: pa.LargeStringArray, validity: np.ndarray | None) -> pa.LargeStringArray:
    """`arr` (same offsets and data) with a new validity bitmap; None: no nulls."""
    buffers = arr.buffers()
    null_count = 0
    bitmap = None
    if validity is not None:
        null_count = validity.size - int(np.count_nonzero(validity))
        padded = np.zeros(arr.offset + validity.size, dtype=bool)
        padded[arr.offset :] = validity
        bitmap = pa.py_buffer(np.packbits(padded, bitorder="little"))
    return pa.Array.from_buffers(
        pa.large_string(),
        len(arr),
        [bitmap, buffers[1], buffers[2]],
        null_count=null_count,
        offset=arr.offset,
    )


def factorize_ints(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize` of an int64 array (int64 codes, distinct keys in order of first
    appearance), by Arrow's hash table: a third faster on millions of keys."""
    encoded = pc.dictionary_encode(pa.array(keys, pa.int64()))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_numpy(zero_copy_only=False)


def classify(values: pd.Series, as_of: datetime.date, with_keys: bool = False) -> pd.DataFrame:
    """Vectorised `classify_one`/`person_number_one`/`compact` over a Series of ID numbers.

    Returns a DataFrame with the index of `values` and the columns `id_norm` (compact value),
    `id_class` (Categorical over CLASSES), `id18` (NA unless valid or upgraded legacy15) and
    `region_unknown` (True for valid/legacy15 rows whose region code is not known). With
    `with_keys` also `id18_group`: an int64 per row, equal iff the rows' `id18` are equal, -1
    where `id18` is NA (see `_id18_groups`; the numbers are not dense); found once per distinct
    value.

    Works on distinct values: rows of 17 ASCII digits + digit/X/x are factorized by an integer
    key computed from their bytes, all other rows are dictionary-encoded by pyarrow and
    compacted; the distinct values are classified with numpy and the results mapped back by
    code. `id_norm` and `id18` reuse the input's buffers wherever the text is already compact.
    """
    if not isinstance(values, pd.Series):
        values = pd.Series(values, dtype=object)
    as_of = _as_date(as_of)
    raw = _to_arrow(values)
    n = len(raw)
    lengths = np.diff(_offsets_data(raw)[0])
    null_rows = np.asarray(raw.is_null()) if raw.null_count else np.zeros(n, dtype=bool)

    # Fast lane: 18 bytes of 17 ASCII digits + digit/X/x, factorized by an integer key.
    is18 = (lengths == 18) & ~null_rows
    rows18 = np.flatnonzero(is18)
    m18 = _matrix(raw, is18, 18)
    ok, keys, lower_x = _fast_keys(m18)
    fast_pos = np.flatnonzero(ok)
    fast_rows = rows18[fast_pos]
    fast_codes, fast_uniques = factorize_ints(keys)
    representative = np.empty(len(fast_uniques), dtype=np.int64)
    representative[fast_codes] = fast_pos  # any row of a key will do: same compact value
    fast_mat = _take_rows(m18, representative)
    fast_mat[:, 17] = np.where(fast_mat[:, 17] == ord("x"), _X, fast_mat[:, 17])
    lower_x_rows = rows18[lower_x & ok]
    del m18, keys, ok, lower_x, fast_pos, representative

    # Everything else: dictionary-encode the raw text, compact the distinct values.
    rest = ~null_rows
    rest[fast_rows] = False
    rest_rows = np.flatnonzero(rest)
    if rest_rows.size:
        encoded = pc.dictionary_encode(raw.filter(pa.array(rest)))
        rest_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        rest_raw = encoded.dictionary.cast(pa.large_string())
        rest_norm = _compact_arrow(rest_raw)
        rest_changed = np.asarray(pc.not_equal(rest_raw, rest_norm))
    else:
        rest_codes = np.zeros(0, dtype=np.int64)
        rest_norm = pa.array([], type=pa.large_string())
        rest_changed = np.zeros(0, dtype=bool)

    # Classes of the distinct values: fast-lane keys, the rest, one slot for missing rows.
    fast_valid = _valid18(fast_mat, as_of)
    rest_classes, rest_id_pos, rest_id_mat, rest_region_unknown = _classify_distinct(
        rest_norm, as_of
    )
    n_fast = len(fast_mat)
    classes = np.concatenate(
        [
            np.where(fast_valid, _VALID_CODE, _NONEXISTENT_CODE).astype(np.int8),
            rest_classes,
            np.array([_MISSING_CODE], dtype=np.int8),
        ]
    )
    region_unknown = np.concatenate(
        [fast_valid & _region_unknown(fast_mat), rest_region_unknown, np.zeros(1, dtype=bool)]
    )
    codes = np.full(n, n_fast + len(rest_norm), dtype=np.int64)
    codes[fast_rows] = fast_codes
    codes[rest_rows] = n_fast + rest_codes
    row_classes = classes[codes]

    # id_norm: the raw text itself, except in rows whose compact value differs: lower-case x
    # in the fast lane, rest rows that compact() changed, missing rows that are not "".
    id_norm = _with_validity(raw, None)
    replace = np.zeros(n, dtype=bool)
    replace[lower_x_rows] = True
    replace[rest_rows[rest_changed[rest_codes]]] = True
    replace |= null_rows & (lengths != 0)
    if replace.any():
        replaced_codes = codes[replace]
        x_codes = np.unique(replaced_codes[replaced_codes < n_fast])
        source = pa.concat_arrays(
            [
                _from_matrix(_take_rows(fast_mat, x_codes)),
                rest_norm,
                pa.array([""], type=pa.large_string()),
            ]
        )
        remap = np.full(len(classes), _NULL, dtype=np.int64)
        remap[x_codes] = np.arange(x_codes.size)
        remap[n_fast:] = x_codes.size + np.arange(len(classes) - n_fast)
        indices = pa.array(remap[replaced_codes], type=pa.int64())
        id_norm = pc.replace_with_mask(id_norm, pa.array(replace), source.take(indices))
    # id18: id_norm for valid rows, null elsewhere, then the upgraded legacy numbers.
    id18 = _with_validity(id_norm, row_classes == _VALID_CODE)
    legacy = row_classes == _LEGACY15_CODE
    if legacy.any():  # never a fast-lane row, so the code is n_fast + a rest code
        upgraded = _take_rows(rest_id_mat, rest_id_pos[codes[legacy] - n_fast])
        id18 = pc.replace_with_mask(id18, pa.array(legacy), _from_matrix(upgraded))

    columns = {
        "id_norm": _str_array(id_norm),
        "id_class": pd.Categorical.from_codes(row_classes, dtype=_CLASS_DTYPE),
        "id18": _str_array(id18),
        "region_unknown": region_unknown[codes],
    }
    if with_keys:
        columns["id18_group"] = _id18_groups(fast_uniques, fast_valid, rest_id_pos,
                                             rest_id_mat)[codes]
    return pd.DataFrame(columns, index=values.index, copy=False)


def _id18_groups(fast_keys: np.ndarray, fast_valid: np.ndarray, rest_id_pos: np.ndarray,
                 rest_id_mat: np.ndarray) -> np.ndarray:
    """A group number per distinct value (as `classify` codes them, with the missing slot last):
    equal iff the values' id18 are equal, -1 where there is none.

    A valid fast-lane value is its own group (its key is distinct by construction). A value of
    the rest (compacted, or a legacy number upgraded to 18 digits) joins the fast-lane value of
    the same number, else a group of its own. No hashing of the millions of fast-lane keys.
    """
    n_fast = len(fast_keys)
    group = np.full(n_fast + len(rest_id_pos) + 1, -1, dtype=np.int64)
    group[:n_fast] = np.where(fast_valid, np.arange(n_fast), -1)
    has = np.flatnonzero(rest_id_pos != _NULL)
    if not len(has):
        return group
    ok, keys, _ = _fast_keys(rest_id_mat)
    mat_key = np.full(len(rest_id_mat), -1, dtype=np.int64)
    mat_key[ok] = keys
    rest_keys = mat_key[rest_id_pos[has]]
    keyed = rest_keys >= 0  # always: these are valid 18-digit numbers
    own, distinct = pd.factorize(rest_keys[keyed])  # the few rest numbers, among themselves
    # Which fast-lane value (if any) holds each distinct rest number: the small set is hashed
    # and the fast-lane keys (-1 where not valid: never a key) are looked up in it.
    hit = pd.Index(distinct).get_indexer(np.where(fast_valid, fast_keys, -1))
    fast_of = np.full(len(distinct), -1, dtype=np.int64)
    found = np.flatnonzero(hit >= 0)
    fast_of[hit[found]] = found
    joined = fast_of[own]
    group[n_fast + has[keyed]] = np.where(joined >= 0, joined, n_fast + own)
    return group


# --------------------------------------------------------------------------------------------
# Masking for display
# --------------------------------------------------------------------------------------------


def mask(value: object) -> str:
    """Mask a number for display: keep the first 4 and last 4 characters of the compact value
    and star the middle; values of 8 characters or fewer keep only the last character.

    >>> mask('430522199001011234')
    '4305**********1234'
    """
    text = compact(value)
    if len(text) <= 8:
        return "*" * (len(text) - 1) + text[-1:]
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_series(values: pd.Series) -> pd.Series:
    """Vectorised `mask`; missing values become ""."""
    if not isinstance(values, pd.Series):
        values = pd.Series(values, dtype=object)
    norm = _compact_arrow(_to_arrow(values).fill_null(""))
    length = pc.utf8_length(norm)
    long = pc.greater(length, 8)
    empty = pa.scalar("", type=pa.large_string())
    head = pc.if_else(long, pc.utf8_slice_codeunits(norm, 0, 4), empty)
    tail = pc.if_else(
        long, pc.utf8_slice_codeunits(norm, -4), pc.utf8_slice_codeunits(norm, -1)
    )
    stars = pc.max_element_wise(
        pc.subtract(length, pc.if_else(long, 8, 1).cast(length.type)), 0
    )
    star_text = pc.binary_repeat(pa.scalar("*", type=pa.large_string()), stars)
    masked = pc.binary_join_element_wise(head, star_text, tail, empty)
    return pd.Series(_str_array(masked), index=values.index, name=values.name, copy=False)
