"""Properties (hypothesis) of normalisation, person keys, dates, masking and the loader.

tests/test_idcard.py already covers the scalar idcard functions (never raise, scalar and vector
agree, 15 -> 18 round trip, variants of one number). Here: the same guarantees one level up,
where the audit uses them (``normalize.normalise`` and its person key, ``compact_text``), plus
``parse_dates``, the masks, and the loader on arbitrary bytes and on arbitrary tables.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cardaudit import idcard
from cardaudit.dates import parse_dates
from cardaudit.errors import InputError
from cardaudit.load import load_exports
from cardaudit.mask import mask_ids, mask_names, mask_phones, mask_subjects
from cardaudit.normalize import PERSON_KEY_CUSTOMER_PREFIX, compact_text, normalise
from cardaudit.settings import Settings

AS_OF = dt.date(2026, 10, 31)
SETTINGS = Settings()
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Spaces that NFKC turns into an ASCII space or that are ASCII, so every compacting step agrees.
SPACES = [" ", "\t", "\u3000", "\u00a0", "\u2002", "\n"]
REGIONS = ["110105", "430522", "330106", "440305", "510104", "320102"]


def _fullwidth(char: str) -> str:
    return chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char


@st.composite
def valid_numbers(draw) -> str:
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=AS_OF))
    first17 = draw(st.sampled_from(REGIONS)) + birth.strftime("%Y%m%d") + draw(
        st.integers(0, 999)).__format__("03d")
    return first17 + idcard.calc_check_digit(first17)


@st.composite
def legacy_numbers(draw) -> str:
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)))
    return draw(st.sampled_from(REGIONS)) + birth.strftime("%y%m%d") + draw(
        st.integers(0, 999)).__format__("03d")


@st.composite
def variant(draw, text: str) -> str:
    """The same number as a person might type it: full-width, spaced, lower case."""
    out = []
    for char in text:
        if draw(st.booleans()):
            char = char.lower()
        if draw(st.booleans()):
            char = _fullwidth(char)
        out.append(char)
        if draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(SPACES)))
    return draw(st.sampled_from(["", " ", "\u3000"])) + "".join(out) + draw(
        st.sampled_from(["", " ", "\t"]))


def one_frame(id_numbers: list[str | None], cards: list[str] | None = None) -> pd.DataFrame:
    """A loaded export (all text columns) with one row per ID number; unique cards."""
    n = len(id_numbers)
    return pd.DataFrame({
        "branch": ["城东支行"] * n,
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "name": ["张三"] * n,
        "id_number": id_numbers,
        "card_no": cards or [f"6217{i:015d}" for i in range(n)],
        "_source_file": ["x.csv"] * n,
        "_source_row": list(range(2, n + 2)),
    }).astype({c: "str" for c in ("branch", "customer_id", "name", "id_number", "card_no",
                                  "_source_file")})


def person_keys(id_numbers: list[str | None]) -> list[str]:
    result = normalise(one_frame(id_numbers), SETTINGS, AS_OF)
    audited = result.audited.sort_values("_source_row")
    assert len(audited) == len(id_numbers)  # every row has a customer number and a card
    return audited["person_key"].tolist()


# ---------------------------------------------------------------------------------------------
# compact_text and the person key
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=25), st.booleans())
def test_compact_text_never_raises_and_is_idempotent(values, upper):
    series = pd.Series(values, dtype="str", index=range(100, 100 + len(values)))
    once = compact_text(series, upper=upper)
    assert once.index.equals(series.index)
    assert not (once == "").any()  # empty becomes NA
    twice = compact_text(once, upper=upper)
    assert once.fillna("<NA>").tolist() == twice.fillna("<NA>").tolist()
    for raw, out in zip(values, once, strict=True):
        if raw is None or not raw.strip():
            assert pd.isna(out)
        if raw is not None and any(c.isascii() and c.isalnum() for c in raw):
            assert not pd.isna(out)  # a letter or digit always survives
    # The index is carried, never used to align: the same values under a default index agree.
    plain = compact_text(series.reset_index(drop=True), upper=upper)
    assert once.fillna("<NA>").tolist() == plain.fillna("<NA>").tolist()


def test_spacing_marks_compact_like_their_composed_letter():
    # NFKC turns U+00B8 into a space and a combining cedilla; once the space is removed the
    # cedilla joins the C, so all three are one spelling (and compacting is idempotent).
    assert compact_text(pd.Series(["C\u00b8", "\u00c7", " C \u00b8"], dtype="str")).tolist() \
        == ["\u00c7"] * 3


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=25),
                          valid_numbers(), legacy_numbers()), min_size=1, max_size=20))
def test_person_key_agrees_with_the_scalar_classification(values):
    keys = person_keys(values)
    for i, (value, key) in enumerate(zip(values, keys, strict=True)):
        number = idcard.person_number_one(value, AS_OF)
        expected = number if number is not None else f"{PERSON_KEY_CUSTOMER_PREFIX}C{i:05d}"
        assert key == expected, value


@FAST
@given(st.data())
def test_person_key_is_unchanged_by_fullwidth_spacing_and_case(data):
    number = data.draw(valid_numbers())
    variants = data.draw(st.lists(variant(number), min_size=1, max_size=6))
    assert set(person_keys([number, *variants])) == {number}


@FAST
@given(st.data())
def test_legacy_number_and_its_upgrade_are_one_person(data):
    legacy = data.draw(legacy_numbers())
    upgraded = idcard.upgrade15(legacy)
    assert set(person_keys([legacy, data.draw(variant(legacy)), upgraded])) == {upgraded}


@FAST
@given(st.text(alphabet="0123456789", min_size=1, max_size=20).flatmap(
    lambda card: st.tuples(st.just(card), st.lists(variant(card), min_size=1, max_size=4))))
def test_card_number_key_is_unchanged_by_fullwidth_and_spacing(pair):
    card, variants = pair
    assert set(compact_text(pd.Series([card, *variants], dtype="str"), upper=True)) == {card}


def test_mangled_and_missing_numbers_never_merge_customers():
    keys = person_keys(["4.30522E+17", "4.30522E+17", "", None, "123", "123"])
    assert keys == [f"{PERSON_KEY_CUSTOMER_PREFIX}C{i:05d}" for i in range(6)]


def test_compact_text_removes_every_white_space_character():
    values = pd.Series(["张\u2028三", "张\x0b三", "张\u0085三", "张\u2029三", "张\u1680三"],
                       dtype="str")
    assert compact_text(values).tolist() == ["张三"] * len(values)


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=30),
                          st.from_regex(r"\A[0-9年月日/.\- :T]{1,22}\Z")), max_size=30))
def test_parse_dates_never_raises(values):
    series = pd.Series(values, dtype="str", index=range(7, 7 + len(values)))
    parsed = parse_dates(series)
    assert parsed.index.equals(series.index)
    assert str(parsed.dtype) == "datetime64[ns]"
    assert parsed[series.isna()].isna().all()


def _formats(day: dt.date) -> list[str]:
    y, m, d = day.year, day.month, day.day
    texts = [day.strftime("%Y%m%d"), f"{y}/{m}/{d}", day.isoformat(), f"{y}年{m}月{d}日",
             f"{y}.{m}.{d}", f"{day.isoformat()} 08:30:00", f"{y:04d}/{m:02d}/{d:02d}",
             "".join(_fullwidth(c) for c in f"{y}年{m}月{d}日"), f"{y} 年 {m} 月 {d} 日",
             day.strftime("%Y%m%d") + "235959", f"{day.isoformat()}T23:59:59+08:00"]
    if day >= dt.date(1900, 3, 1):  # Excel serials; before March 1900 see the next test
        serial = (day - dt.date(1899, 12, 30)).days
        texts += [str(serial), f"{serial}.0", f"{serial}.999"]
    return texts


@FAST
@given(st.lists(st.dates(min_value=dt.date(1678, 1, 1), max_value=dt.date(2261, 12, 31)),
                min_size=1, max_size=8))
def test_parse_dates_agrees_across_formats(days):
    texts = [text for day in days for text in _formats(day)]
    expected = [pd.Timestamp(day) for day in days for _ in _formats(day)]
    assert parse_dates(pd.Series(texts, dtype="str")).tolist() == expected


def test_excel_serials_of_early_1900():
    # Excel's 1900 date system counts a 1900-02-29 that never was (serial 60).
    parsed = parse_dates(pd.Series(["1", "59", "60", "61", "2958465", "0"], dtype="str"))
    assert parsed.tolist()[:2] == [pd.Timestamp("1900-01-01"), pd.Timestamp("1900-02-28")]
    assert pd.isna(parsed[2]) and parsed[3] == pd.Timestamp("1900-03-01")
    assert parsed[4:].isna().all()  # 9999-12-31 does not fit datetime64[ns]; 0 is no date


@FAST
@given(st.integers(1678, 2261), st.integers(1, 12), st.integers(29, 35))
def test_impossible_days_are_nat_in_every_format(year, month, day):
    try:
        dt.date(year, month, day)
        assume(False)
    except ValueError:
        pass
    texts = [f"{year}{month:02d}{day:02d}", f"{year}/{month}/{day}",
             f"{year}-{month:02d}-{day:02d}", f"{year}年{month}月{day}日"]
    assert parse_dates(pd.Series(texts, dtype="str")).isna().all()


# ---------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=30), valid_numbers()), max_size=20))
def test_id_mask_never_shows_the_middle(values):
    series = pd.Series(values, dtype="str", index=range(3, 3 + len(values)))
    masked = mask_ids(series)
    assert masked.index.equals(series.index)
    for value, out in zip(values, masked, strict=True):
        text = idcard.compact(value)
        assert out == idcard.mask(value)
        assert len(out) == len(text)
        if len(text) > 8:
            assert out[:4] == text[:4] and out[-4:] == text[-4:]
            assert set(out[4:-4]) == {"*"}


@FAST
@given(st.lists(st.one_of(st.none(), st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp"),
                           blacklist_characters="*"), max_size=12)), max_size=20))
def test_name_mask_keeps_first_and_last_character_only(values):
    masked = mask_names(pd.Series(values, dtype="str"))
    for value, out in zip(values, masked, strict=True):
        text = value or ""
        if len(text) >= 2:
            assert out != text and out[0] == text[0] and len(out) == len(text)
            assert set(out[1:-1] if len(text) >= 3 else out[1:]) == {"*"}
            if len(text) >= 3:
                assert out[-1] == text[-1]


@FAST
@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789+ -", max_size=16)),
                max_size=20))
def test_phone_mask_never_shows_the_middle_digits(values):
    masked = mask_phones(pd.Series(values, dtype="str"))
    for value, out in zip(values, masked, strict=True):
        text = "".join((value or "").split())
        if len(text) >= 8:
            assert out == text[:3] + "****" + text[-4:]
        else:
            assert len(out) <= 2


@FAST
@given(st.lists(st.one_of(valid_numbers(), st.text(alphabet="0123456789C", min_size=1,
                                                   max_size=10).map(lambda t: "C:" + t)),
                max_size=10))
def test_subject_mask_keeps_customer_keys_and_masks_numbers(keys):
    masked = mask_subjects(pd.Series(keys, dtype="str"))
    for key, out in zip(keys, masked, strict=True):
        assert out == (key if key.startswith("C:") else idcard.mask(key))


# ---------------------------------------------------------------------------------------------
# The loader: arbitrary bytes, arbitrary tables
# ---------------------------------------------------------------------------------------------

HEADER = ["开户机构", "客户号", "客户姓名", "证件号码", "卡号"]
CANONICAL = ["branch", "customer_id", "name", "id_number", "card_no"]
_counter = itertools.count()

csvish = st.binary(max_size=600) | st.lists(st.sampled_from([
    b",", b";", b"\t", b"|", b'"', b'""', b"\n", b"\r\n", b"\r", b" ", b"\x00", b"=\"0\"",
    b"\xef\xbb\xbf", b"6217", b"\xd5\xc5\xc8\xfd", "张三".encode(), b"\xff", b"\x95\x32\x82\x36",
    "开户机构,客户号,客户姓名,证件号码,卡号\n".encode(), "开户机构,客户号".encode("gbk"),
]), max_size=60).map(b"".join)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


def _scratch(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csvish, st.sampled_from([".csv", ".txt", ".tsv", ".xlsx", ".parquet"]),
       st.booleans(), st.sampled_from([None, "utf-8", "gb18030", "utf-16-le"]))
def test_loader_raises_only_input_errors_on_any_bytes(workdir, body, suffix, with_header,
                                                     encoding):
    data = (",".join(HEADER) + "\n").encode("gbk") + body if with_header else body
    path = _scratch(workdir, suffix, data)
    try:
        loaded = load_exports([path], encoding=encoding)
    except InputError as exc:
        assert path.name in str(exc) or "编码" in str(exc)
        return
    finally:
        path.unlink()
    frame = loaded.frame
    assert len(frame) == loaded.files[0].rows
    rows = frame["_source_row"].tolist()
    assert rows == sorted(set(rows)) and all(r >= 2 for r in rows)
    assert all(frame[c].dtype == "str" for c in frame.columns[:-1])


CELL = st.text(alphabet="张三欧阳娜䶮𠀀ＡＢ１２abcxX0123456789-/ ,;|\t\"'\n\r\u3000\u00a0", max_size=12)


def rfc4180(rows: list[list[str]], delimiter: str, newline: str, quote_all: bool) -> str:
    """CSV text; unlike csv.writer, a bare CR inside a value is always quoted."""
    def field(value: str) -> str:
        if quote_all or any(c in value for c in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value
    return "".join(delimiter.join(map(field, row)) + newline for row in rows)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(CELL, min_size=5, max_size=5), min_size=1, max_size=12),
       st.sampled_from([",", "\t", ";", "|"]),
       st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_loader_round_trips_any_table(workdir, rows, delimiter, encoding, newline, quote_all):
    text = rfc4180([HEADER, *rows], delimiter, newline, quote_all)
    path = _scratch(workdir, ".csv", text.encode(encoding))
    try:
        loaded = load_exports([path])
    finally:
        path.unlink()
    frame = loaded.frame
    assert frame["_source_row"].tolist() == list(range(2, len(rows) + 2))
    for k, name in enumerate(CANONICAL):
        expected = [cell.strip() or None for cell in (row[k] for row in rows)]
        got = [None if pd.isna(v) else v for v in frame[name]]
        assert got == expected, name


@pytest.mark.parametrize("prefix", ["86", "0086", "+86 ", "+86-"])
def test_a_phone_number_with_the_country_code_is_the_same_phone(prefix):
    """+86 / 0086 / 86 before an 11-digit mobile number is dropped, in all-digit columns (the fast
    path) as in any other; a short number starting with 86 is kept whole."""
    from cardaudit.normalize import compact_coded

    phones = pd.Series([prefix + "13912340001", "13912340001", "86123", "13912340002"],
                       dtype="str")
    text, codes, _uniques = compact_coded(phones, phone=True)
    assert text.tolist() == ["13912340001", "13912340001", "86123", "13912340002"]
    assert codes[0] == codes[1] and len(set(codes)) == 3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), max_size=40))
def test_distinct_pairs_counts_the_distinct_values_of_each_group(pairs):
    """Per group: the number of distinct values it occurs with (0 for groups without rows)."""
    import numpy as np

    from cardaudit.checks import _distinct_pairs

    group = np.array([g for g, _ in pairs], dtype=np.int64)
    other = np.array([o for _, o in pairs], dtype=np.int64)
    expected = [len({o for g, o in pairs if g == k}) for k in range(8)]
    assert _distinct_pairs(group, other, 8).tolist() == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=18),
                          st.sampled_from(["0", "00", "013", "13", "999999999999999999",
                                           "099999999999999999", "100000000000000000"])),
                max_size=40))
def test_digit_texts_factorize_as_their_dictionary_encoding(values):
    """Digit texts (phones) are coded by an integer: the codes and distinct values are exactly
    those of Arrow's dictionary encoding ("013" and "13" stay apart)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from cardaudit.normalize import _factorize_digits, factorize

    arr = pa.array(values, pa.large_string())
    encoded = pc.dictionary_encode(arr)
    codes, distinct = factorize(arr)
    assert codes.tolist() == encoded.indices.fill_null(-1).to_pylist()
    assert distinct.arrow.to_pylist() == encoded.dictionary.to_pylist()
    digits = _factorize_digits(arr)
    assert (digits is None) == all(v is None for v in values)
    if digits is not None:
        assert np.array_equal(digits[0], codes)


def test_texts_that_are_not_short_digit_strings_are_dictionary_encoded():
    import pyarrow as pa

    from cardaudit.normalize import _factorize_digits

    for values in (["12", ""], ["1" * 19], ["12a"], ["１２"], ["+8613912340001"]):
        assert _factorize_digits(pa.array(values, pa.large_string())) is None, values
