"""Normalise a loaded export: identity fields, ID classes, person keys, counted cards, quarantine.

Everything here is vectorised and works on distinct values where values repeat (ID numbers,
statuses, products). The result is the frame every check reads, with its grouping keys coded as
integers (`CODED`). Rows that cannot be audited are marked with a reason instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cardaudit import idcard
from cardaudit.dates import parse_dates
from cardaudit.rules import ACCOUNT_CLASSES
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW
from cardaudit.settings import Settings

# Name of the entity used when the export has no legal-entity column.
DEFAULT_ENTITY = "本行"

PERSON_KEY_CUSTOMER_PREFIX = "C:"

QUARANTINE_REASONS = {
    "card_empty": "卡号为空",
    "card_mangled": "卡号被电子表格转为科学计数法（末位数字已丢失），请按文本格式重新导出",
    "entity_empty": "法人机构为空",
    "branch_empty": "开户机构为空",
    "no_person": "无法识别客户：证件号码无效且客户号为空",
    "card_duplicate": "卡号重复（同一法人机构内已出现，仅计一次）",
}

# Text columns factorised once into integer codes; every check groups on these codes. Persons
# are coded too (person_code), but their key texts exist only as the distinct ones
# (keys["person_code"]; see `person_texts`), never as a column.
CODED = {"agent_key": "agent_code", "name_norm": "name_code", "phone_norm": "phone_code",
         "branch": "branch_code", "product": "product_code", "legal_entity": "entity_code"}


@dataclass
class Normalised:
    """Every row with its derived columns, why a row cannot be audited, and the code tables.

    `keys[code_column]` holds the distinct values behind each integer code column (-1 = NA).
    """

    frame: pd.DataFrame
    reason: pd.Series
    keys: dict[str, Distinct] = field(default_factory=dict)

    @cached_property
    def good(self) -> np.ndarray:
        return self.reason.isna().to_numpy()

    @cached_property
    def audited(self) -> pd.DataFrame:
        """The auditable rows only (a copy: for tests and small inputs)."""
        return self._with_person_keys(self.good).reset_index(drop=True)

    @cached_property
    def quarantined(self) -> pd.DataFrame:
        bad = ~self.good
        out = self._with_person_keys(bad)
        out["reason"] = self.reason[bad]
        return quarantine_order(out)

    def _with_person_keys(self, rows: np.ndarray) -> pd.DataFrame:
        """as_text of these rows, with each row's person key (the frame holds only its code)."""
        out = as_text(self.frame.loc[rows].copy())
        codes = out["person_code"].to_numpy()
        out.insert(out.columns.get_loc("person_code"), "person_key",
                   _to_series(person_texts(codes, self.keys["person_code"]), out.index))
        return out


def person_texts(codes: np.ndarray, persons: Distinct) -> pa.Array:
    """The person keys of these person codes (null for -1)."""
    return persons.arrow.take(pa.array(codes, mask=codes < 0))


def quarantine_order(quarantined: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows in content order, never input order (also when gathered from parts)."""
    return sort_rows(quarantined, ["reason", "legal_entity", "branch", "card_no", "customer_id",
                                   SOURCE_FILE, SOURCE_ROW])


def sort_order(keys: list[pd.Series | np.ndarray | pa.Array]) -> np.ndarray:
    """Positions that order rows stably by these key columns, ascending, missing values last:
    the order sort_values(kind="stable", na_position="last") gives, computed by Arrow (text by
    code point, as pandas compares it), several times faster on text keys."""
    def key(values: pd.Series | np.ndarray | pa.Array) -> pa.Array:
        if isinstance(values, pa.Array):
            return values
        if isinstance(values.dtype, pd.CategoricalDtype):
            # Each category's rank in code-point order orders the rows as its text would.
            texts = [str(c) for c in values.cat.categories]
            rank = np.empty(len(texts), dtype=np.int64)
            rank[sorted(range(len(texts)), key=texts.__getitem__)] = np.arange(len(texts))
            codes = values.cat.codes.to_numpy()
            return pa.array(rank[codes] if len(texts) else np.zeros(len(codes), np.int64),
                            mask=codes < 0)
        if values.dtype == object:
            values = pd.Series(values).astype("str")
        return pa.array(values, from_pandas=True)

    table = pa.table({str(i): key(k) for i, k in enumerate(keys)})
    return pc.sort_indices(table, sort_keys=[(str(i), "ascending") for i in range(len(keys))]
                           ).to_numpy()


def sort_rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The frame sorted as `sort_order` orders it by `columns`, with a fresh index."""
    return frame.take(sort_order([frame[c] for c in columns])).reset_index(drop=True)


class Distinct:
    """The distinct values behind a code column, kept as one Arrow text array.

    Indexing with an integer array (as `values[codes]`) gives an object array of just those
    values: the millions of distinct person keys or names of a large legal entity are never
    turned into Python strings, only the few that findings show.
    """

    def __init__(self, values: pa.Array) -> None:
        self.arrow = _whole(values).cast(pa.large_string())

    def __len__(self) -> int:
        return len(self.arrow)

    def __getitem__(self, index: object) -> Any:
        if isinstance(index, (int, np.integer)):
            return self.arrow[int(index)].as_py()
        picked = self.arrow.take(pa.array(np.asarray(index, dtype=np.int64)))
        return picked.to_numpy(zero_copy_only=False).astype(object, copy=False)


def factorize(values: pd.Series | pa.Array) -> tuple[np.ndarray, Distinct]:
    """(int64 codes with -1 for NA, the distinct values), in order of first appearance."""
    arr = _whole(values) if isinstance(values, (pa.Array, pa.ChunkedArray)) else _arrow(
        values.astype("str"))
    digits = _factorize_digits(arr)
    if digits is not None:
        return digits
    encoded = _whole(pc.dictionary_encode(arr))
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return codes.astype(np.int64, copy=False), Distinct(encoded.dictionary)


# Texts of at most this many ASCII digits are told apart by an int64 (see _factorize_digits).
_MOST_DIGITS = 18


def _factorize_digits(arr: pa.Array) -> tuple[np.ndarray, Distinct] | None:
    """`factorize` of a text column of ASCII digits only (phone numbers): each text becomes the
    integer 10**length + value, equal exactly when the texts are (a leading zero changes the
    length), and integers hash several times faster than text. None when any text is empty,
    longer than _MOST_DIGITS or not all digits (or every value is missing)."""
    present = arr.drop_null() if arr.null_count else arr
    if not len(present) or not pc.all(pc.ascii_is_decimal(present)).as_py():
        return None  # ascii_is_decimal is false for an empty text
    length = pc.binary_length(present)
    if pc.max(length).as_py() > _MOST_DIGITS:
        return None
    keys = np.power(10, length.to_numpy(), dtype=np.int64)
    keys += pc.cast(present, pa.int64()).to_numpy()
    present_codes, distinct = idcard.factorize_ints(keys)
    del keys, distinct
    row_of = np.empty(present_codes.max() + 1, dtype=np.int64)
    row_of[present_codes] = np.arange(len(present_codes))  # a row of each (all the same text)
    uniques = Distinct(present.take(pa.array(row_of)))
    if not arr.null_count:
        return present_codes.astype(np.int64, copy=False), uniques
    codes = np.full(len(arr), -1, dtype=np.int64)
    codes[np.asarray(arr.is_valid())] = present_codes
    return codes, uniques


def text_scalar(text: str) -> pa.Scalar:
    """An Arrow large_string scalar (a constant part of an element-wise string join)."""
    return pa.scalar(text, pa.large_string())


def pick_text(texts: list[str | None], which: np.ndarray) -> pa.Array:
    """texts[which[i]] per element: Arrow text taken from a few texts (a reason, a separator)."""
    return pa.array(texts, pa.large_string()).take(pa.array(which))


def _whole(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (kernels such as replace_with_mask take no chunked arguments)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _arrow(values: pd.Series) -> pa.Array:
    """The column as an Arrow string array (zero-copy for Arrow-backed `str` columns)."""
    arr = pa.array(values, from_pandas=True)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    return arr


# Every white-space character (str.isspace) and the invisible separators, as idcard removes them.
WHITE_SPACE = idcard.SPACE_RE2 + "+"


def _compact_arrow(arr: pa.Array, upper: bool) -> pa.Array:
    arr = pc.utf8_normalize(arr, "NFKC")
    arr = pc.replace_substring_regex(arr, WHITE_SPACE, "")
    if upper:
        arr = pc.utf8_upper(arr)
    # Once more: a spacing mark (U+00B8) decomposes to a space and a combining mark, which
    # joins its letter only when the space is gone ("C¸" and "Ç" must compact alike).
    arr = pc.utf8_normalize(arr, "NFKC")
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _phone_arrow(arr: pa.Array) -> pa.Array:
    arr = pc.replace_substring_regex(_compact_arrow(arr, False), r"\D+", "")
    arr = pc.replace_substring_regex(arr, r"^(?:0086|86)(1\d{10})$", r"\1")
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _phone_digits(arr: pa.Array) -> pa.Array:
    """_phone_arrow on a column of ASCII letters and digits: letters go, +86 goes."""
    if not pc.all(pc.ascii_is_decimal(arr)).as_py():
        return _phone_arrow(arr)
    if not pc.any(pc.starts_with(arr, "86")).as_py() and not pc.any(
            pc.starts_with(arr, "0086")).as_py():
        return arr  # no country code to take off (and no copy)
    return pc.replace_substring_regex(arr, r"^(?:0086|86)(1\d{10})$", r"\1")


def _to_series(arr: pa.Array, index: pd.Index) -> pd.Series:
    # The values, not the converted Series: its RangeIndex must not realign them to `index`.
    return pd.Series(arr.to_pandas(types_mapper=_str_dtype).array, index=index, dtype="str")


def _transform(values: pd.Series, fn: Callable[[pa.Array], pa.Array], coded: bool,
               plain: Callable[[pa.Array], pa.Array] | None = None, text: bool = True,
               ) -> tuple[pd.Series | None, np.ndarray | None, Distinct | None]:
    """Apply `fn` once per distinct value; optionally also return (codes, distinct results).

    `plain`, if given, is what `fn` reduces to on a column of plain ASCII letters and digits
    (no white space, nothing for NFKC to change): card, customer and phone numbers take it.
    Without `text` only the codes and distinct results are made (no per-row text).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):  # distinct values given: no hashing
        encoded = _categories(values)
    else:
        arr = _arrow(values)
        if plain is not None and pc.all(pc.ascii_is_alnum(arr)).as_py():
            done = plain(arr)
            out = _to_series(done, values.index) if text else None
            if not coded:
                return out, None, None
            codes, uniques = factorize(done)
            return out, codes, uniques
        encoded = _whole(pc.dictionary_encode(arr))
    dictionary = fn(encoded.dictionary)
    out = _to_series(pc.take(dictionary, encoded.indices), values.index) if text else None
    if not coded:
        return out, None, None
    # Distinct raw values may compact to the same text: factorise the (small) dictionary.
    dict_codes, uniques = factorize(dictionary)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    present = ~np.asarray(encoded.indices.is_null(), dtype=bool)
    codes = np.where(present, dict_codes[indices] if len(dict_codes) else -1, -1)
    return out, codes, uniques


def _category_texts(values: pd.Series) -> pa.Array:
    """A Categorical column's categories as Arrow text."""
    return _whole(_arrow(pd.Series(values.cat.categories, dtype="str")))


def _category_text(values: pd.Series, codes: np.ndarray) -> pa.Array:
    """The texts of these codes of a Categorical column (null for -1), taken by Arrow from its
    few categories (astype("str") is far slower)."""
    return _category_texts(values).take(pa.array(codes, mask=codes < 0))


def _categories(values: pd.Series) -> pa.DictionaryArray:
    """A Categorical column as an Arrow dictionary array over its categories' texts."""
    codes = values.cat.codes.to_numpy()
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32(), mask=codes < 0),
                                          _category_texts(values))


def compact_text(values: pd.Series, upper: bool = False) -> pd.Series:
    """NFKC, every white space removed, optionally upper case; empty becomes NA.

    Computed once per distinct value (Arrow dictionary encoding) and mapped back.
    """
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype="str")
    plain = _ascii_upper if upper else (lambda a: a)
    return _transform(values, lambda a: _compact_arrow(a, upper), coded=False, plain=plain)[0]


def _ascii_upper(arr: pa.Array) -> pa.Array:
    """ASCII upper case; the array itself (no copy) when it has no lower-case letter."""
    lower = any(((b >= 0x61) & (b <= 0x7A)).any() for _, b in text_chunks(arr))
    return pc.ascii_upper(arr) if lower else arr


def text_chunks(arr: pa.Array | pa.ChunkedArray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per chunk of a string or large_string array: each value's start offset into the bytes
    given (len + 1 offsets), and the UTF-8 bytes of the chunk's values; no copy. A null may
    hold bytes, so a scan of the bytes can only find too much, never too little."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    for chunk in chunks:
        _, offsets, data = chunk.buffers()
        if not len(chunk) or offsets is None:
            continue
        wide = pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type)
        bounds = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32)[
            chunk.offset:chunk.offset + len(chunk) + 1].astype(np.int64)
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        out.append((bounds - bounds[0], raw[bounds[0]:bounds[-1]]))
    return out


def compact_coded(values: pd.Series, upper: bool = False, phone: bool = False,
                  categorical: bool = False) -> tuple[pd.Series, np.ndarray, Distinct]:
    """compact_text (or, for phones, digits without +86) plus integer codes and distinct results.

    With `categorical` the text comes as a Categorical over the distinct results: a column of
    few distinct values (legal entity, branch, product) then takes a byte or two per row.
    """
    if len(values) == 0:
        return (pd.Series([], index=values.index, dtype="str"), np.array([], dtype=np.int64),
                Distinct(pa.array([], pa.large_string())))
    fn = _phone_arrow if phone else (lambda a: _compact_arrow(a, upper))
    plain = _phone_digits if phone else None
    out, codes, uniques = _transform(values, fn, coded=True, plain=plain, text=not categorical)
    if categorical:
        categories = pd.Index(pd.array(uniques.arrow, dtype="str"))  # type: ignore[union-attr]
        out = pd.Series(pd.Categorical.from_codes(codes, categories=categories),
                        index=values.index)
    return out, codes, uniques  # type: ignore[return-value]


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its Categorical columns (see `compact_coded`) as plain text columns, for
    sorting by content and for output."""
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype) and column != "id_class":
            frame[column] = _to_series(_category_text(values, values.cat.codes.to_numpy()),
                                       values.index)
    return frame


def gather(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> pd.DataFrame:
    """`as_text(frame[columns].take(rows))` with a fresh index, each column taken by Arrow in two
    worker threads: at rows in no particular order every value is a wait on memory, which
    Arrow's take spends without the GIL."""
    index = pa.array(rows)

    def take(column: str) -> pd.Series:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype) and column != "id_class":
            return _to_series(_category_text(values, values.cat.codes.to_numpy()[rows]), fresh)
        if values.dtype == "str":
            return _to_series(_whole(_arrow(values)).take(index), fresh)
        return values.take(rows).reset_index(drop=True)

    fresh = pd.RangeIndex(len(rows))
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cardaudit-gather") as pool:
        return pd.DataFrame(dict(zip(columns, pool.map(take, columns), strict=True)), index=fresh)


def _str_dtype(_: pa.DataType) -> pd.StringDtype:
    return pd.StringDtype(storage="pyarrow", na_value=np.nan)


_CLASS_WORDS = {"I": "I", "1": "I", "一": "I", "II": "II", "2": "II", "二": "II",
                "III": "III", "3": "III", "三": "III"}


def account_class_codes(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Ⅰ类户/I类/一类/1 -> "I" (likewise II, III), anything else NA; and each row's class as an
    int8 index into ACCOUNT_CLASSES (-1: none). Found once per distinct spelling."""
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype="str"), np.array([], dtype=np.int8)
    words = pa.array(list(_CLASS_WORDS), type=pa.large_string())
    classes = pa.array(list(_CLASS_WORDS.values()), type=pa.large_string())

    def classify(arr: pa.Array) -> pa.Array:
        # Once per distinct value: a column holds a handful of spellings.
        text = pc.replace_substring_regex(_compact_arrow(arr, True), r"(类账户|类户|类|账户|户)$", "")
        text = pc.replace_substring_regex(text, r"^第", "")
        return pc.take(classes, pc.index_in(text, value_set=words))

    text, codes, uniques = _transform(values, classify, coded=True)
    position = pc.index_in(uniques.arrow, value_set=pa.array(ACCOUNT_CLASSES, pa.large_string()))
    position = position.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int8)
    return text, np.where(codes >= 0, position[codes] if len(position) else -1,
                          -1).astype(np.int8)


def _in_set(values: pd.Series, members: list[str]) -> np.ndarray:
    """Whether each compacted value is one of the (compacted) members; NA is never a member."""
    wanted = set(compact_text(pd.Series(members, dtype="str")).dropna())
    return values.isin(wanted).to_numpy(dtype=bool, na_value=False)


def _member(values: pd.Series, members: list[str]) -> np.ndarray:
    """`_in_set(compact_text(values), members)`; for a Categorical, once per category."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return _in_set(compact_text(values), members)
    found = _in_set(compact_text(pd.Series(values.cat.categories, dtype="str")), members)
    return np.append(found, False)[values.cat.codes.to_numpy()]  # code -1 (NA): the False


def normalise(frame: pd.DataFrame, settings: Settings, as_of: date,
              entity_name: str | None = None, consume: bool = False) -> Normalised:
    """Derive the audit columns, code the grouping keys and mark rows that cannot be audited.

    The columns are derived independently of each other, in two worker threads (Arrow's string
    kernels release the GIL); the frame is assembled in a fixed order afterwards. With `consume`
    the caller hands the frame over: raw columns the result does not keep are dropped from it as
    soon as they are derived, so their memory is free before the rest is done.
    """
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cardaudit-normalise") as pool:
        return _normalise(frame, settings, as_of, entity_name, pool, consume)


# Known export columns that no check, figure or output reads. They are mapped like the others
# (and named in summary.json), but not carried into the audit: the entity-by-entity readers
# never read them (Parquet) or park them (CSV).
UNREAD_COLUMNS = frozenset({"agent_name", "agent_id_type", "close_date", "channel"})

# Columns of few distinct values. The entity-by-entity readers keep them dictionary-encoded
# where the export stores them so (Parquet), and they reach `normalise` as Categoricals, which
# it derives from their distinct values only; any column may also come as plain text.
FEW_VALUES = frozenset({"legal_entity", "branch", "id_type", "account_class", "product",
                        "status", "card_kind", "open_date"})

# Raw columns whose derived (compacted) form is all the result keeps.
_REPLACED = ("legal_entity", "branch", "card_no", "customer_id", "product")


def _normalise(frame: pd.DataFrame, settings: Settings, as_of: date, entity_name: str | None,
               pool: ThreadPoolExecutor, consume: bool) -> Normalised:
    n = len(frame)
    index = frame.index
    out = pd.DataFrame(index=index)
    keys: dict[str, Distinct] = {}
    has_entity_column = "legal_entity" in frame

    def text(column: str) -> pd.Series:
        """A column of the export, or all NA when the export has none."""
        return frame[column] if column in frame else pd.Series(pd.NA, index=index, dtype="str")

    def member(column: str, members: list[str]) -> Future[np.ndarray] | None:
        return pool.submit(_member, frame[column], members) if column in frame else None

    # Every derivation starts now; results are taken below in the frame's column order. The ID
    # numbers go first: the persons are derived from them here while the rest is still running.
    jobs: dict[str, Future] = {
        "ids": pool.submit(idcard.classify, frame["id_number"], as_of, with_keys=True),
        "customer_id": pool.submit(compact_text, frame["customer_id"]),
    }
    resident = member("id_type", settings.resident_id_types)
    jobs |= {
        "legal_entity": pool.submit(compact_coded, text("legal_entity") if has_entity_column
                                    else pd.Series(entity_name or DEFAULT_ENTITY, index=index,
                                                   dtype="str"), categorical=True),
        "branch": pool.submit(compact_coded, frame["branch"], categorical=True),
        "card_no": pool.submit(compact_text, frame["card_no"], upper=True),
        "name_norm": pool.submit(compact_coded, frame["name"]),
        "product": pool.submit(compact_coded, text("product"), categorical=True),
        "agent_key": pool.submit(compact_coded, text("agent_id"), upper=True),
    }
    closed = member("status", settings.closed_statuses)
    debit = member("card_kind", settings.debit_card_kinds)
    if "phone" in frame:
        jobs["phone_norm"] = pool.submit(compact_coded, frame["phone"], phone=True)
    if "account_class" in frame:
        jobs["account_class_norm"] = pool.submit(account_class_codes, frame["account_class"])
    if "open_date" in frame:
        jobs["open_dt"] = pool.submit(parse_dates, frame["open_date"])

    def kept(values: np.ndarray) -> pd.Series:
        """An array as a column without a copy (pandas copies a bare array it is given)."""
        return pd.Series(values, index=index, copy=False)

    def coded(column: str) -> None:
        out[column], codes, keys[CODED[column]] = jobs[column].result()
        out[CODED[column]] = kept(codes)

    # Persons: resident ID numbers, else the customer number.
    is_resident = resident.result() if resident is not None else np.ones(n, dtype=bool)
    ids = jobs["ids"].result()
    # Non-resident rows are never classified: their class is NA.
    other_ids = not is_resident.all()  # else nothing to blank (and no copy of the column)
    id_class = ids["id_class"].where(is_resident) if other_ids else ids["id_class"]
    customer_id = jobs["customer_id"].result()
    person_codes, keys["person_code"] = _persons(ids["id18"], is_resident, customer_id,
                                                 ids["id18_group"].to_numpy())

    out[SOURCE_FILE] = frame[SOURCE_FILE] if SOURCE_FILE in frame else pd.Series(
        "", index=index, dtype="str")
    out[SOURCE_ROW] = frame[SOURCE_ROW] if SOURCE_ROW in frame else kept(np.arange(2, n + 2))
    coded("legal_entity")
    coded("branch")
    out["card_no"] = jobs["card_no"].result()
    out["customer_id"] = customer_id
    if consume:
        jobs["product"].result()  # the last job that reads one of them
        for column in (c for c in _REPLACED if c in frame):
            del frame[column]
    coded("name_norm")
    for raw in ("name", "id_number"):
        out[raw] = frame[raw]

    if resident is not None:
        out["id_type"] = frame["id_type"]
    out["is_resident"] = kept(is_resident)
    out["id_norm"] = ids["id_norm"]
    out["id_class"] = id_class
    out["region_unknown"] = kept(ids["region_unknown"].to_numpy(dtype=bool) & is_resident)
    out["person_code"] = kept(person_codes)  # the key texts: keys["person_code"]
    del ids

    coded("product")
    if closed is not None:
        not_closed = ~closed.result()
        out["status"] = frame["status"]
    else:
        not_closed = np.ones(n, dtype=bool)
    out["not_closed"] = kept(not_closed)
    counted = not_closed & ~_in_set(out["product"], settings.excluded_products)
    if debit is not None:
        counted &= debit.result()
        out["card_kind"] = frame["card_kind"]
    out["counted"] = kept(counted)

    coded("agent_key")
    for optional in ("open_date", "phone", "account_class", "agent_id"):
        if optional in frame:
            out[optional] = frame[optional]
    if "phone" in frame:
        coded("phone_norm")
    if "account_class" in frame:
        out["account_class_norm"], class_codes = jobs["account_class_norm"].result()
        out["class_code"] = kept(class_codes)
    if "open_date" in frame:
        out["open_dt"] = jobs["open_dt"].result()
    return Normalised(frame=out, reason=_quarantine_reasons(out, has_entity_column,
                                                            keys["person_code"]), keys=keys)


def _person_keys(id18: pd.Series, customer_id: pd.Series) -> pd.Series:
    """The 18-digit ID number, else "C:" + customer number (built only for the rows without)."""
    missing = id18.isna().to_numpy()
    if not missing.any():
        return id18
    keys, fallback = (_whole(_arrow(v)) for v in (id18, PERSON_KEY_CUSTOMER_PREFIX +
                                                  customer_id[missing]))
    fallback, mask = fallback.cast(keys.type), pa.array(missing)
    return _to_series(pc.replace_with_mask(keys, mask, fallback), id18.index)


def _persons(id18: pd.Series, is_resident: np.ndarray, customer_id: pd.Series,
             id18_group: np.ndarray) -> tuple[np.ndarray, Distinct]:
    """Each row's person code and the distinct person keys by code (`_person_keys` of the
    resident rows' 18-digit numbers). Codes are equal iff the keys are: the 18-digit numbers are
    coded by the groups `classify` found once per distinct number (`id18_group`, made dense
    here; no hashing per row), then the customer-number keys. No key text is made per row.
    Which key gets which code follows no order: every figure and finding is by content."""
    has = id18.notna().to_numpy() & is_resident
    rows = np.flatnonzero(has)
    groups = id18_group[rows]
    if not len(rows) or groups.min() < 0:  # (every id18 is expected to have a group)
        return factorize(_person_keys(id18.where(has), customer_id))
    used = np.zeros(int(groups.max()) + 1, dtype=bool)
    used[groups] = True
    dense = np.cumsum(used) - 1
    number_codes = dense[groups]
    codes = np.full(len(has), -1, dtype=np.int64)
    codes[rows] = number_codes
    row_of = np.empty(int(used.sum()), dtype=np.int64)
    row_of[number_codes] = rows  # a row of each number (they all hold the same text)
    uniques = _whole(_arrow(id18).take(pa.array(row_of))).cast(pa.large_string())
    if len(rows) < len(has):
        rest_codes, rest_uniques = factorize(PERSON_KEY_CUSTOMER_PREFIX + customer_id[~has])
        codes[~has] = np.where(rest_codes >= 0, rest_codes + len(uniques), -1)
        uniques = pa.concat_arrays([uniques, rest_uniques.arrow.cast(pa.large_string())])
    return codes, Distinct(uniques)


# Columns that decide which of several rows with one card number is audited.
# (After the person key, which is not a column: see `_quarantine_reasons`.)
_DUPLICATE_ORDER = ("name_norm", "branch", "product", "status", "open_date", "customer_id",
                    "phone", "agent_key")


def _card_numbers(cards: pd.Series) -> np.ndarray | None:
    """Each card number as an integer (0 where missing) when every number is plain digits without
    a leading zero and at most 19 long, as real card numbers are; else None. Equal integers are
    then equal numbers, and integers sort and hash far faster than text."""
    arr = _whole(_arrow(cards))  # the checks skip missing numbers; no copy of the text
    if (len(arr) > arr.null_count and pc.all(pc.ascii_is_decimal(arr)).as_py()
            and pc.max(pc.utf8_length(arr)).as_py() <= 19
            and not pc.any(pc.starts_with(arr, "0")).as_py()):
        return pc.cast(arr, pa.uint64()).fill_null(0).to_numpy()
    return None


def _repeated_cards(cards: pd.Series, numbers: np.ndarray | None, entity: np.ndarray,
                    ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows among `ok` whose card number occurs in another `ok` row of their legal entity, and a
    code per row that is equal for rows of one (entity, card) pair (read at those rows only).
    `numbers` is `_card_numbers(cards)`."""
    repeated = np.zeros(len(cards), dtype=bool)
    if numbers is None:
        card_code, distinct = factorize(cards)
        pair = entity * max(len(distinct), 1) + card_code
        repeated[ok] = pd.Series(pair[ok], copy=False).duplicated(keep=False).to_numpy()
        return repeated, pair
    # One sort tells whether any number repeats at all (seldom); only those rows are compared.
    given = numbers[ok]
    ordered = np.sort(given)
    again = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    pair = np.full(len(cards), -1, dtype=np.int64)
    if not len(again):
        return repeated, pair
    candidates = np.flatnonzero(ok)[pd.Series(given, copy=False).isin(again).to_numpy()]
    card_code, distinct = pd.factorize(numbers[candidates])
    pair[candidates] = entity[candidates] * len(distinct) + card_code
    repeated[candidates] = pd.Series(pair[candidates], copy=False).duplicated(
        keep=False).to_numpy()
    return repeated, pair


def _quarantine_reasons(out: pd.DataFrame, has_entity_column: bool,
                        persons: Distinct) -> pd.Series:
    """The first reason each row cannot be audited, or NA; checks run in a fixed order."""
    # Each row's reason as a number (0: none, k: the k-th of QUARANTINE_REASONS), texts at the end.
    number = np.zeros(len(out), dtype=np.int8)
    numbers_of = {key: i + 1 for i, key in enumerate(QUARANTINE_REASONS)}

    def mark(mask: np.ndarray, key: str) -> None:
        number[mask & (number == 0)] = numbers_of[key]

    mark(out["card_no"].isna().to_numpy(), "card_empty")
    numbers = _card_numbers(out["card_no"])
    if numbers is None:  # plain numbers are never in scientific notation
        mangled = out["card_no"].str.fullmatch(r"\d(\.\d+)?E\+?\d+").to_numpy(dtype=bool,
                                                                               na_value=False)
        mark(mangled, "card_mangled")
    if has_entity_column:
        mark(out["legal_entity"].isna().to_numpy(), "entity_empty")
    mark(out["branch"].isna().to_numpy(), "branch_empty")
    mark(out["person_code"].to_numpy() < 0, "no_person")
    # Duplicates are judged among otherwise auditable rows, first occurrence in input order kept.
    ok = number == 0
    dup, pair = _repeated_cards(out["card_no"], numbers, out["entity_code"].to_numpy(), ok)
    if dup.any():
        # Of rows sharing a card, keep the one first by content (not by input order), so the
        # figures never depend on row order even when the rows disagree.
        rows = np.flatnonzero(dup)
        content = as_text(out.iloc[rows][[c for c in _DUPLICATE_ORDER if c in out]].copy())
        content.insert(0, "person_key", _to_series(  # the first of the columns that decide
            person_texts(out["person_code"].to_numpy()[rows], persons), content.index))
        content["_pair"] = pair[rows]
        content["_row"] = rows
        content = content.sort_values(["_pair", *content.columns[:-2]], kind="stable",
                                      na_position="last")
        keep = content["_row"].to_numpy()[~content["_pair"].duplicated().to_numpy()]
        dup[keep] = False
    mark(dup, "card_duplicate")
    texts = pa.array([None, *QUARANTINE_REASONS.values()], pa.large_string())
    return _to_series(texts.take(pa.array(number)), out.index)
