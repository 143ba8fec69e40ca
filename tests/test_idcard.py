"""Tests of cardaudit.idcard: GB 11643-1999 resident ID numbers, scalar and vectorised."""

from __future__ import annotations

import contextlib
import doctest
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from cardaudit import idcard
from cardaudit.idcard import (
    CLASSES,
    LEGACY15,
    MISSING,
    NONEXISTENT,
    VALID,
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    calc_check_digit,
    classify,
    classify_one,
    compact,
    is_valid,
    mask,
    mask_series,
    person_number_one,
    region_known,
    upgrade15,
    validate,
)

AS_OF = date(2024, 6, 30)

# Check characters computed by hand (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, sum mod 11
# -> 1 0 X 9 8 7 6 5 4 3 2) and confirmed with python-stdnum's calc_check_digit:
# 43052219900101123: sum 205, 205 % 11 = 7 -> "5".
# 11010120000229001: sum 114, 114 % 11 = 4 -> "8" (29 February of the leap year 2000).
# 11010519491231002: the example of the standard, check character X.
LITERAL_VALID = ("430522199001011235", "110101200002290018", "11010519491231002X")
# Example of the standard with a correct check character but born in 1880.
BORN_1880 = "440524188001010014"

HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def make(region: str, birth: str, seq: str) -> str:
    first17 = region + birth + seq
    return first17 + calc_check_digit(first17)


FULL_WIDTH = str.maketrans(
    "0123456789Xx", "".join(chr(ord(c) + 0xFEE0) for c in "0123456789Xx")
)


def full_width(text: str) -> str:
    return text.translate(FULL_WIDTH)


# --- check characters ---------------------------------------------------------------------


@pytest.mark.parametrize("number", LITERAL_VALID)
def test_literal_numbers_are_valid(number: str) -> None:
    assert calc_check_digit(number[:17]) == number[17]
    assert validate(number, AS_OF) == number
    assert is_valid(number, AS_OF)
    assert classify_one(number, AS_OF) == VALID
    assert person_number_one(number, AS_OF) == number


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("43052219900101123", "5"),
        ("11010120000229001", "8"),
        ("11010519491231002", "X"),
        ("44052418800101001", "4"),
        ("00000000000000000", "1"),  # sum 0
        ("00000001000000000", "0"),  # sum 1
        ("00000010000000000", "X"),  # sum 2
        ("10000000000000000", "5"),  # sum 7
        ("01000000000000000", "3"),  # sum 9
        ("00100000000000000", "2"),  # sum 10
    ],
)
def test_calc_check_digit(first17: str, expected: str) -> None:
    assert calc_check_digit(first17) == expected


def test_calc_check_digit_rejects_bad_input() -> None:
    with pytest.raises(InvalidLength):
        calc_check_digit("123")
    with pytest.raises(InvalidFormat):
        calc_check_digit("4305221990010112X")
    with pytest.raises(InvalidFormat):
        calc_check_digit("４３０５２２１９９００１０１１２３")


def test_exceptions_are_value_errors() -> None:
    for exc in (InvalidFormat, InvalidLength, InvalidChecksum, InvalidComponent):
        assert issubclass(exc, ValueError)


# --- validate ------------------------------------------------------------------------------


def test_validate_errors() -> None:
    with pytest.raises(InvalidLength):
        validate("43052219900101123", AS_OF)
    with pytest.raises(InvalidLength):
        validate("4305221990010112350", AS_OF)
    with pytest.raises(InvalidFormat):
        validate("43052219900101123A", AS_OF)
    with pytest.raises(InvalidFormat):
        validate("4305221990010X1235", AS_OF)
    with pytest.raises(InvalidChecksum):
        validate("430522199001011234", AS_OF)
    with pytest.raises(InvalidComponent):
        validate(make("110101", "19900230", "123"), AS_OF)
    with pytest.raises(InvalidComponent):
        validate(BORN_1880, AS_OF)
    with pytest.raises(InvalidComponent):
        validate(make("110101", "20240701", "001"), AS_OF)


def test_validate_default_as_of_is_today() -> None:
    assert validate("430522199001011235") == "430522199001011235"
    assert not is_valid(make("110101", f"{date.today().year + 1}0101", "001"))


def test_birth_date_bounds_are_inclusive() -> None:
    assert classify_one(make("110101", "19000101", "001"), AS_OF) == VALID
    assert classify_one(make("110101", "18991231", "001"), AS_OF) == NONEXISTENT
    assert classify_one(make("110101", "20240630", "001"), AS_OF) == VALID
    assert classify_one(make("110101", "20240701", "001"), AS_OF) == NONEXISTENT


def test_calendar() -> None:
    assert classify_one(make("110101", "20000229", "001"), AS_OF) == VALID
    assert classify_one(make("110101", "19000229", "001"), AS_OF) == NONEXISTENT  # not leap
    assert classify_one(make("110101", "19960229", "001"), AS_OF) == VALID
    assert classify_one(make("110101", "19970229", "001"), AS_OF) == NONEXISTENT
    assert classify_one(make("110101", "19900230", "001"), AS_OF) == NONEXISTENT
    assert classify_one(make("110101", "19900431", "001"), AS_OF) == NONEXISTENT
    assert classify_one(make("110101", "19901231", "001"), AS_OF) == VALID
    assert classify_one(make("110101", "19901301", "001"), AS_OF) == NONEXISTENT
    assert classify_one(make("110101", "19900001", "001"), AS_OF) == NONEXISTENT
    assert classify_one(make("110101", "19900100", "001"), AS_OF) == NONEXISTENT


# --- compact and the four classes ----------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        " 110105 19491231 002X ",
        "110105\u300019491231\u3000002X",
        "\u00a0110105\xa019491231002x\t\n",
        "\ufeff11010519491231002X\u200b",
        "110 105 1949 1231 002 X",
    ],
)
def test_variants_are_valid_with_the_same_id18(variant: str) -> None:
    assert compact(variant) == "11010519491231002X"
    assert classify_one(variant, AS_OF) == VALID
    assert person_number_one(variant, AS_OF) == "11010519491231002X"
    frame = classify(pd.Series([variant, "11010519491231002X"]), AS_OF)
    assert frame["id18"].tolist() == ["11010519491231002X", "11010519491231002X"]
    assert frame["id_class"].tolist() == [VALID, VALID]


def test_compact() -> None:
    assert compact(None) == ""
    assert compact(float("nan")) == ""
    assert compact(np.nan) == ""
    assert compact(pd.NA) == ""
    assert compact(pd.NaT) == ""
    assert compact(" \u3000\xa0\t") == ""
    assert compact("ａｂｃ　１２") == "ABC12"
    assert compact(430522199001011235) == "430522199001011235"
    assert compact(4.30522e17) == "4.30522E+17"
    assert compact("a\x00b") == "A\x00B"
    assert compact("\ud800x") == "\ufffdX"


def test_every_white_space_character_is_removed() -> None:
    spaces = [chr(i) for i in range(0x110000) if chr(i).isspace()]
    spaces += ["\u200b", "\ufeff", "\u2060"]
    values = [f"1{c}2" for c in spaces]
    assert [compact(v) for v in values] == ["12"] * len(spaces)
    assert classify(pd.Series(values), AS_OF)["id_norm"].tolist() == ["12"] * len(spaces)


@pytest.mark.parametrize(
    "value",
    [
        "430522199001011234",  # wrong check character
        make("110101", "19900230", "123"),  # 30 February
        make("110101", "20240701", "123"),  # born after as_of
        BORN_1880,  # born before 1900
        "43052219900101123",  # 17 characters
        "4305221990010112350",  # 19 characters
        "4.30522E+17",
        "430522199001011234.0",
        "430522199001011235.0",
        "4305221990010X1235",  # X in the wrong place
        "X30522199001011235",
        "43052219900101123Y",
        "ABCDEFGHIJKLMNOPQR",
        "\x00" * 18,
        "１２３",
        "٤٣٠٥٢٢١٩٩٠٠١٠١١٢٣٥",  # Arabic-Indic digits are not ASCII digits, even after NFKC
        "11010519491231002XX",
    ],
)
def test_nonexistent(value: str) -> None:
    assert classify_one(value, AS_OF) == NONEXISTENT
    assert person_number_one(value, AS_OF) is None
    assert not is_valid(value, AS_OF)
    frame = classify(pd.Series([value]), AS_OF)
    assert frame["id_class"].tolist() == [NONEXISTENT]
    assert frame["id18"].isna().all()


@pytest.mark.parametrize("value", ["", None, float("nan"), pd.NA, "  ", "\u3000", "\t\n"])
def test_missing(value: object) -> None:
    assert classify_one(value, AS_OF) == MISSING
    assert person_number_one(value, AS_OF) is None
    frame = classify(pd.Series([value], dtype=object), AS_OF)
    assert frame["id_class"].tolist() == [MISSING]
    assert frame["id_norm"].tolist() == [""]
    assert frame["id18"].isna().all()


def test_legacy15() -> None:
    assert classify_one("110105491231002", AS_OF) == LEGACY15
    assert person_number_one("110105491231002", AS_OF) == "11010519491231002X"
    assert upgrade15("110105491231002") == "11010519491231002X"
    assert upgrade15("430522900101123") == "430522199001011235"
    assert person_number_one(" ４３０５２２９００１０１１２３ ", AS_OF) == "430522199001011235"
    # 15 digits whose 19YYMMDD is not a real date
    for bad in ("110105491331002", "110105490230002", "110105490100002", "110105000229002"):
        assert classify_one(bad, AS_OF) == NONEXISTENT
        with pytest.raises(InvalidComponent):
            upgrade15(bad)
    # 2000-02-29 exists but 1900-02-29 does not; legacy numbers are 19YY
    assert classify_one("110105960229002", AS_OF) == LEGACY15
    # born after the reference date
    assert classify_one("110105491231002", date(1949, 12, 30)) == NONEXISTENT
    assert classify_one("110105491231002", date(1949, 12, 31)) == LEGACY15
    with pytest.raises(InvalidLength):
        upgrade15("11010549123100")
    with pytest.raises(InvalidFormat):
        upgrade15("11010549123100X")


def test_region() -> None:
    assert region_known("110101")
    assert region_known("110000")  # province
    assert region_known("130100")  # city
    assert region_known("110103")  # 崇文区, abolished in 2010: it existed
    assert region_known("11010519491231002X")  # first 6 characters
    assert not region_known("990101")
    assert not region_known("000000")
    assert not region_known("11010")
    assert not region_known("ABCDEF")
    assert not region_known(None)  # type: ignore[arg-type]
    assert region_known("１１０１０１")  # full-width digits are compacted


def test_region_unknown_does_not_change_the_class() -> None:
    invented = make("990101", "19900101", "123")
    legacy = "990101900101123"
    known = "430522199001011235"
    frame = classify(pd.Series([invented, legacy, known, "990101", None]), AS_OF)
    assert frame["id_class"].tolist() == [VALID, LEGACY15, VALID, NONEXISTENT, MISSING]
    assert frame["region_unknown"].tolist() == [True, True, False, False, False]
    assert classify_one(invented, AS_OF) == VALID


def test_parse_loc_dat() -> None:
    text = '# comment\n11 province="北京市"\n  0101 county="东城区"\n  0203 county="[-1982]通县"\n'
    table = idcard._parse_loc_dat(text)
    assert sorted(np.flatnonzero(table).tolist()) == [110000, 110100, 110101, 110200, 110203]


# --- classify ------------------------------------------------------------------------------


def test_classify_shape_and_dtypes() -> None:
    values = pd.Series(
        ["430522199001011235", "110105491231002", None, "junk", "11010519491231002x"],
        index=[10, 30, 20, 50, 40],
        name="id_number",
    )
    frame = classify(values, AS_OF)
    assert list(frame.columns) == ["id_norm", "id_class", "id18", "region_unknown"]
    assert frame.index.equals(values.index)
    assert frame["id_norm"].dtype == "str"
    assert frame["id18"].dtype == "str"
    assert isinstance(frame["id_class"].dtype, pd.CategoricalDtype)
    assert list(frame["id_class"].cat.categories) == list(CLASSES)
    assert frame["region_unknown"].dtype == bool
    assert frame["id_norm"].tolist() == [
        "430522199001011235", "110105491231002", "", "JUNK", "11010519491231002X"
    ]
    assert frame["id_class"].tolist() == [VALID, LEGACY15, MISSING, NONEXISTENT, VALID]
    id18 = [None if pd.isna(v) else v for v in frame["id18"]]
    assert id18 == ["430522199001011235", "11010519491231002X", None, None, "11010519491231002X"]


def test_classify_empty() -> None:
    frame = classify(pd.Series([], dtype="str"), AS_OF)
    assert frame.shape == (0, 4)
    assert list(frame["id_class"].cat.categories) == list(CLASSES)


def expected_rows(values: list[object]) -> tuple[list[str], list[str | None], list[str]]:
    return (
        [classify_one(v, AS_OF) for v in values],
        [person_number_one(v, AS_OF) for v in values],
        [compact(v) for v in values],
    )


def observed_rows(frame: pd.DataFrame) -> tuple[list[str], list[str | None], list[str]]:
    return (
        frame["id_class"].astype(object).tolist(),
        [None if pd.isna(v) else v for v in frame["id18"]],
        frame["id_norm"].tolist(),
    )


def test_classify_repeated_values_and_sliced_input() -> None:
    base = [
        *LITERAL_VALID, "11010519491231002x", "110105491231002", "430522199001011234", None,
        " 430522199001011235", "4.30522E+17", "", "990101900101123",
        "１１０１０５４９１２３１００２",
    ]
    rng = np.random.default_rng(7)
    values = [base[i] for i in rng.integers(0, len(base), 5_000)]
    series = pd.Series(values, dtype="str")
    sliced = series.iloc[1234:4321]
    assert observed_rows(classify(sliced, AS_OF)) == expected_rows(values[1234:4321])
    object_series = pd.Series(values, dtype=object, index=np.arange(5_000) * 3)
    frame = classify(object_series, AS_OF)
    assert frame.index.equals(object_series.index)
    assert observed_rows(frame) == expected_rows(values)


def test_classify_edge_inputs() -> None:
    for values in (
        pd.Series(["", ""], dtype="str"),
        pd.Series([None, None], dtype="str"),
        pd.Series([None, None, None], dtype=object),
        pd.Series([np.nan, np.nan]),
    ):
        frame = classify(values, AS_OF)
        assert frame["id_class"].tolist() == [MISSING] * len(values)
        assert frame["id_norm"].tolist() == [""] * len(values)
        assert frame["id18"].isna().all()
    # Setting None keeps the old bytes under the null slot; they must not leak into id_norm.
    values = pd.Series(["11010519491231002X", "11010519491231002x", "ABCDEFGHIJKLMNOPQx"])
    values[0] = None
    frame = classify(values.iloc[0:], AS_OF)
    assert frame["id_norm"].tolist() == ["", "11010519491231002X", "ABCDEFGHIJKLMNOPQX"]
    assert frame["id_class"].tolist() == [MISSING, VALID, NONEXISTENT]
    assert frame["id18"].iloc[1] == "11010519491231002X"
    assert mask_series(values).tolist() == ["", "1101**********002X", "ABCD**********OPQX"]


def test_classify_random_digit_strings_match_scalar() -> None:
    # Exercises the integer keys of the fast lane: distinct strings must get distinct results.
    rng = np.random.default_rng(11)
    digits = rng.integers(0, 10, (3_000, 17))
    last = rng.choice(list("0123456789Xx"), 3_000)
    values = ["".join(map(str, row)) + end for row, end in zip(digits, last, strict=True)]
    values += [make("110101", f"{y}0101", f"{s:03d}") for y, s in zip(
        rng.integers(1900, 2024, 1_000), rng.integers(0, 1000, 1_000), strict=True
    )]
    values = values * 2
    assert observed_rows(classify(pd.Series(values), AS_OF)) == expected_rows(values)


def test_classify_other_dtypes() -> None:
    ints = pd.Series([430522199001011235, 430522199001011234, 12], dtype="int64")
    assert classify(ints, AS_OF)["id_class"].tolist() == [VALID, NONEXISTENT, NONEXISTENT]
    floats = pd.Series([4.30522199001011235e17, np.nan])
    assert classify(floats, AS_OF)["id_class"].tolist() == [NONEXISTENT, MISSING]
    mixed = pd.Series([430522199001011235, "110105491231002", 1.5, None, pd.NA, b"x"])
    assert classify(mixed, AS_OF)["id_class"].tolist() == [
        VALID, LEGACY15, NONEXISTENT, MISSING, MISSING, NONEXISTENT
    ]
    categories = pd.Series(["430522199001011235", None, "x"], dtype="category")
    assert classify(categories, AS_OF)["id_class"].tolist() == [VALID, MISSING, NONEXISTENT]
    python_strings = pd.Series(["11010519491231002x", None], dtype="string[python]")
    assert classify(python_strings, AS_OF)["id18"].iloc[0] == "11010519491231002X"


def test_classify_never_raises_on_nasty_input() -> None:
    values = ["\ud800", "a\udfffb", "\x00" * 300, "9" * 300_000, "\U0010ffff", "\u0000X", None]
    frame = classify(pd.Series(values, dtype=object), AS_OF)
    assert frame["id_class"].tolist() == [NONEXISTENT] * 6 + [MISSING]
    assert frame["id_norm"].iloc[0] == "\ufffd"
    assert [classify_one(v, AS_OF) for v in values] == frame["id_class"].tolist()


# --- python-stdnum cross-check -------------------------------------------------------------


@HYPOTHESIS
@given(
    st.dates(min_value=date(1900, 1, 1), max_value=AS_OF),
    st.integers(0, 999),
    st.sampled_from("0123456789X"),
)
def test_agrees_with_stdnum_where_it_is_right(birth: date, seq: int, last: str) -> None:
    # 110101 (东城区) is valid for every year in stdnum's data, so its region gate is moot.
    first17 = f"110101{birth:%Y%m%d}{seq:03d}"
    assert calc_check_digit(first17) == ric.calc_check_digit(first17 + "0")
    number = first17 + last
    assert is_valid(number, AS_OF) == ric.is_valid(number)


# --- hypothesis properties -----------------------------------------------------------------

REGIONS = ("110101", "110105", "430522", "440305", "650102", "990101", "000000")
SPACES = (" ", "\u3000", "\xa0", "\t", "\n", "\u2009", "\u200b", "\ufeff")


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=AS_OF))
    return make(region, f"{birth:%Y%m%d}", f"{draw(st.integers(0, 999)):03d}")


@st.composite
def legacy_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
    return f"{region}{birth:%y%m%d}{draw(st.integers(0, 999)):03d}"


@st.composite
def variant(draw: st.DrawFn, number: str) -> str:
    text = number
    if draw(st.booleans()):
        text = text.lower()
    if draw(st.booleans()):
        text = full_width(text)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(SPACES)) + text[at:]
    return text


@st.composite
def corrupted(draw: st.DrawFn, number: str) -> str:
    kind = draw(st.sampled_from(["check", "drop", "add", "float", "swap"]))
    if kind == "check":
        return number[:-1] + draw(st.sampled_from([c for c in "0123456789X" if c != number[-1]]))
    if kind == "drop":
        at = draw(st.integers(0, len(number) - 1))
        return number[:at] + number[at + 1 :]
    if kind == "add":
        return number + draw(st.sampled_from("0123456789Xx"))
    if kind == "float":
        return draw(st.sampled_from([f"{float(number[:15]):E}", number + ".0"]))
    at = draw(st.integers(0, len(number) - 2))
    return number[:at] + number[at + 1] + number[at] + number[at + 2 :]


numbers = st.one_of(valid_numbers(), legacy_numbers())
items = st.one_of(
    numbers,
    numbers.flatmap(variant),
    numbers.flatmap(corrupted),
    st.text(max_size=25),
    st.text(alphabet="0123456789Xx \u3000１", max_size=20),
    st.sampled_from(["", None, math.nan, pd.NA, "4.30522E+17", "430522199001011234.0"]),
)


@HYPOTHESIS
@given(st.text())
def test_scalar_functions_never_raise(text: str) -> None:
    assert classify_one(text, AS_OF) in CLASSES
    number = person_number_one(text, AS_OF)
    assert number is None or is_valid(number, AS_OF)
    assert isinstance(compact(text), str)
    assert isinstance(mask(text), str)
    assert isinstance(region_known(text), bool)
    with contextlib.suppress(ValueError):
        validate(text, AS_OF)


@HYPOTHESIS
@given(st.lists(st.text(), max_size=20))
def test_classify_never_raises(texts: list[str]) -> None:
    for dtype in ("str", object):
        frame = classify(pd.Series(texts, dtype=dtype), AS_OF)
        assert len(frame) == len(texts)
        assert observed_rows(frame) == expected_rows(texts)


@HYPOTHESIS
@given(st.lists(items, max_size=30))
def test_vectorised_agrees_with_scalar(values: list[object]) -> None:
    assert observed_rows(classify(pd.Series(values, dtype=object), AS_OF)) == (
        expected_rows(values)
    )
    assert mask_series(pd.Series(values, dtype=object)).tolist() == [mask(v) for v in values]
    strings = [v if isinstance(v, str) else None for v in values]
    repeated = strings * 3
    assert observed_rows(classify(pd.Series(repeated, dtype="str"), AS_OF)) == (
        expected_rows(repeated)
    )


@HYPOTHESIS
@given(legacy_numbers())
def test_upgrade15_round_trips(number: str) -> None:
    upgraded = upgrade15(number)
    assert len(upgraded) == 18
    assert upgraded[6:8] == "19"
    assert upgraded[:6] + upgraded[8:17] == number
    assert upgraded[17] == calc_check_digit(upgraded[:17])
    assert is_valid(upgraded, AS_OF)
    assert classify_one(number, AS_OF) == LEGACY15
    assert person_number_one(number, AS_OF) == upgraded


@HYPOTHESIS
@given(numbers.flatmap(lambda n: st.tuples(st.just(n), variant(n))))
def test_id18_is_invariant_under_variants(pair: tuple[str, str]) -> None:
    number, text = pair
    id18 = person_number_one(number, AS_OF)
    assert id18 is not None
    assert person_number_one(text, AS_OF) == id18
    assert classify_one(text, AS_OF) == classify_one(number, AS_OF)
    frame = classify(pd.Series([number, text, text.upper()]), AS_OF)
    assert frame["id18"].tolist() == [id18] * 3


@HYPOTHESIS
@given(valid_numbers().flatmap(lambda n: st.tuples(st.just(n), corrupted(n))))
def test_single_errors_are_caught(pair: tuple[str, str]) -> None:
    # MOD 11-2 catches every substitution of the check character and every transposition of
    # adjacent characters; dropped or added characters change the length. Only swapping two
    # equal digits gives a valid number: the same one.
    number, text = pair
    assert (classify_one(text, AS_OF) == VALID) == (text == number)
    assert (person_number_one(text, AS_OF) is not None) == (text == number)


# --- masking -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("430522199001011234", "4305**********1234"),
        (" 4305 2219900101123x ", "4305**********123X"),
        ("110105491231002", "1101*******1002"),
        ("123456789", "1234*6789"),
        ("12345678", "*******8"),
        ("1234", "***4"),
        ("a", "A"),
        ("", ""),
        (None, ""),
        (math.nan, ""),
        ("身份证号码一二三四五六七八九", "身份证号******六七八九"),
    ],
)
def test_mask(value: object, expected: str) -> None:
    assert mask(value) == expected
    masked = mask_series(pd.Series([value], index=[7], dtype=object))
    assert masked.tolist() == [expected]
    assert masked.index.tolist() == [7]
    assert masked.dtype == "str"


def test_mask_series_keeps_index_and_name() -> None:
    values = pd.Series(
        ["430522199001011234", None, "12"], index=["a", "b", "c"], name="id_number"
    )
    masked = mask_series(values)
    assert masked.tolist() == ["4305**********1234", "", "*2"]
    assert masked.index.tolist() == ["a", "b", "c"]
    assert masked.name == "id_number"


def test_doctests() -> None:
    result = doctest.testmod(idcard)
    assert result.attempted >= 1
    assert result.failed == 0


def test_classify_groups_are_equal_iff_id18_is() -> None:
    """`with_keys`: each row's id18 group, equal iff the id18 texts are equal, from the fast
    lane, the compacted rest and upgraded legacy numbers alike (a rest number joins the fast
    lane's group of the same number, or has its own); -1 where id18 is NA."""
    values = pd.Series(["430522199001011235", " 4305 2219 9001 0112 35", "11010519491231002x",
                        "110105491231002", "11010519491231002X", None, "junk",
                        "430522199001011236", "４３０５２２１９９００１０１１２３５",
                        "11010519491231002X"[:17] + "7", "330106850101003", "330106850101003",
                        " 330106198501010036", "110105197001010038 "], dtype="str")
    frame = classify(values, AS_OF, with_keys=True)
    keys = frame["id18_group"].to_numpy()
    has = frame["id18"].notna().to_numpy()
    assert has.tolist() == [True, True, True, True, True, False, False, False, True, False,
                            True, True, True, True]
    assert (keys[~has] == -1).all() and (keys[has] >= 0).all()
    texts = frame["id18"].tolist()
    for i in np.flatnonzero(has):
        for j in np.flatnonzero(has):
            assert (keys[i] == keys[j]) == (texts[i] == texts[j]), (texts[i], texts[j])
    assert keys[0] == keys[1] == keys[8] and keys[2] == keys[3] == keys[4] != keys[0]
    assert keys[10] == keys[11] == keys[12] != keys[13]  # rest-lane only: their own group
    assert list(classify(values, AS_OF).columns) == ["id_norm", "id_class", "id18",
                                                     "region_unknown"]
