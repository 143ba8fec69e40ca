"""Tests of cardaudit.load: reading CSV / XLSX / Parquet exports into canonical text columns."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cardaudit import load as load_module
from cardaudit.errors import InputError
from cardaudit.load import (
    BLACKLIST_COLUMNS,
    FileInfo,
    LoadedExport,
    load_blacklist,
    load_exports,
    load_table,
)

HEADER = ["开户机构", "客户号", "客户姓名", "证件类型", "证件号码", "卡号", "卡状态", "开户日期"]
ROWS = [
    ["城东支行", "000123", "张三", "身份证", "430522199001011234", "6222021234567890123", "正常",
     "2020-01-02"],
    ["城西支行", "000456", "李四", "身份证", "012345678901234567", "6222020000000000001", "",
     "2021-12-31"],
    ["高新区支行", "000789", "欧阳娜娜", "护照", "E12345678", "0012345678", "销户", ""],
]
# canonical columns of HEADER, in schema order
CANONICAL = ["branch", "customer_id", "name", "id_type", "id_number", "card_no", "open_date",
             "status"]


def write_csv(path: Path, header, rows, *, encoding="utf-8", delimiter=",", bom=False,
              newline="\n") -> Path:
    text = newline.join(delimiter.join(r) for r in [header, *rows]) + newline
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


def message(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    return str(excinfo.value)


def data_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["_source_file"])


# ---------------------------------------------------------------------------------------------
# CSV encodings and delimiters
# ---------------------------------------------------------------------------------------------


def test_utf8_bom_and_gb18030_give_identical_frames(tmp_path):
    utf8 = write_csv(tmp_path / "u.csv", HEADER, ROWS)
    bom = write_csv(tmp_path / "b.csv", HEADER, ROWS, bom=True)
    gb = write_csv(tmp_path / "g.csv", HEADER, ROWS, encoding="gb18030", newline="\r\n")

    loaded = {p.name: load_exports([p]) for p in (utf8, bom, gb)}

    assert [loaded[n].files[0].encoding for n in ("u.csv", "b.csv", "g.csv")] == [
        "utf-8", "utf-8-sig", "gb18030"]
    expected = loaded["u.csv"].frame
    assert list(expected.columns) == [*CANONICAL, "_source_file", "_source_row"]
    assert expected["name"].tolist() == ["张三", "李四", "欧阳娜娜"]
    for name in ("b.csv", "g.csv"):
        pd.testing.assert_frame_equal(data_columns(loaded[name].frame), data_columns(expected))
        assert set(loaded[name].frame["_source_file"]) == {name}


def test_columns_are_str_dtype_and_values_exact_text(tmp_path):
    path = write_csv(tmp_path / "e.csv", HEADER, ROWS)
    frame = load_exports([path]).frame
    for column in [*CANONICAL, "_source_file"]:
        assert frame[column].dtype == "str", column
        assert isinstance(frame[column].dtype, pd.StringDtype)
    assert frame["_source_row"].dtype == "int64"
    # leading zeros, 18-digit IDs and 19-digit card numbers stay exact text
    assert frame["id_number"].tolist() == ["430522199001011234", "012345678901234567", "E12345678"]
    assert frame["card_no"].tolist() == ["6222021234567890123", "6222020000000000001", "0012345678"]
    assert frame["customer_id"].tolist() == ["000123", "000456", "000789"]
    # empty cells are NA
    assert pd.isna(frame.loc[1, "status"]) and pd.isna(frame.loc[2, "open_date"])


def test_forced_wrong_encoding_names_file_and_suggests_gb18030(tmp_path):
    path = write_csv(tmp_path / "gbk导出.csv", HEADER, ROWS, encoding="gb18030")
    with pytest.raises(InputError) as excinfo:
        load_exports([path], encoding="utf-8")
    text = message(excinfo)
    assert "gbk导出.csv" in text and "--encoding gb18030" in text


def test_forced_wrong_encoding_in_data_rows_names_row_and_column(tmp_path):
    header = ["branch", "customer_id", "name", "id_number", "card_no"]
    rows = [["b1", "c1", "Li", "1", "1"], ["b2", "c2", "王五", "2", "2"]]
    path = write_csv(tmp_path / "x.csv", header, rows, encoding="gb18030")
    with pytest.raises(InputError) as excinfo:
        load_exports([path], encoding="utf-8")
    text = message(excinfo)
    assert "x.csv" in text and "第 3 行" in text and "「name」" in text and "gb18030" in text


def test_forced_encoding_that_works(tmp_path):
    path = write_csv(tmp_path / "g.csv", HEADER, ROWS, encoding="gbk")
    result = load_exports([path], encoding="GBK")
    assert result.files[0].encoding == "gbk"
    assert result.frame["name"].tolist() == ["张三", "李四", "欧阳娜娜"]


def test_unknown_encoding_name(tmp_path):
    path = write_csv(tmp_path / "u.csv", HEADER, ROWS)
    with pytest.raises(InputError) as excinfo:
        load_exports([path], encoding="no-such-codec")
    assert "no-such-codec" in message(excinfo) and "gb18030" in message(excinfo)


def test_ascii_sample_then_gbk_deeper_in_file_retries_as_gb18030(tmp_path):
    header = ["branch", "customer_id", "name", "id_number", "card_no"]
    filler = [["b", f"{i:08d}", "Zhang", "430522199001011234", "6222"] for i in range(120_000)]
    rows = [*filler, ["城东支行", "x", "王五", "1", "2"]]
    path = write_csv(tmp_path / "late.csv", header, rows, encoding="gb18030")
    assert path.stat().st_size > load_module.SAMPLE_BYTES
    result = load_exports([path])
    assert result.files[0].encoding == "gb18030"
    assert result.frame["name"].iloc[-1] == "王五"
    assert result.frame["_source_row"].iloc[-1] == len(rows) + 1


def test_utf8_file_with_gbk_rows_later_is_an_error_with_row(tmp_path):
    path = tmp_path / "mixed.csv"
    good = "\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\n"
    bad = ",".join(["城南支行", "1", "王五", "身份证", "1", "2", "正常", ""]) + "\n"
    path.write_bytes(good.encode("utf-8") + bad.encode("gbk"))
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    text = message(excinfo)
    assert "mixed.csv" in text and "第 5 行" in text and "UTF-8" in text


@pytest.mark.parametrize("delimiter", ["\t", ";", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_other_delimiters(tmp_path, delimiter, encoding):
    path = write_csv(tmp_path / "d.txt", HEADER, ROWS, delimiter=delimiter, encoding=encoding)
    result = load_exports([path])
    assert result.files[0].delimiter == delimiter
    assert result.frame["name"].tolist() == ["张三", "李四", "欧阳娜娜"]
    assert result.frame["id_number"].iloc[1] == "012345678901234567"


def test_gbk_pipe_trail_byte_is_not_a_delimiter(tmp_path):
    # "珅" is 0xAB 0x7C in GBK: its trail byte is '|'
    assert "珅".encode("gbk")[1:] == b"|"
    rows = [["城东支行", "1", "李珅", "身份证", "1", "2", "正常", ""]]
    path = write_csv(tmp_path / "p.txt", HEADER, rows, delimiter="|", encoding="gbk")
    assert load_exports([path]).frame["name"].tolist() == ["李珅"]


def test_quoted_fields_with_commas_and_newlines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text(
        ",".join(HEADER) + "\n"
        '城东支行,1,"张,三",身份证,"430522199001011234",6222,"正常",2020-01-01\n'
        '"城西\n支行",2,"李""四""",身份证,1,6223,正常,\n'
        "城南支行,3,王五,身份证,2,6224,正常,\n",
        encoding="utf-8",
    )
    frame = load_exports([path]).frame
    assert frame["name"].tolist() == ["张,三", '李"四"', "王五"]
    assert frame["branch"].tolist() == ["城东支行", "城西\n支行", "城南支行"]
    # the record number (as Excel shows it): a quoted line break does not start a new row
    assert frame["_source_row"].tolist() == [2, 3, 4]


def test_whitespace_is_stripped_and_blank_becomes_na(tmp_path):
    rows = [[" 城东支行 ", "\t1", "\u3000张三\u3000", "身份证", " 430522199001011234", "6222\xa0",
             "   ", "\u3000"]]
    for encoding in ("utf-8", "gb18030"):
        path = write_csv(tmp_path / f"w-{encoding}.csv", HEADER, rows, encoding=encoding)
        row = load_exports([path]).frame.iloc[0]
        assert row["branch"] == "城东支行"
        assert row["customer_id"] == "1"
        assert row["name"] == "张三"
        assert row["id_number"] == "430522199001011234"
        assert row["card_no"] == "6222"
        assert pd.isna(row["status"]) and pd.isna(row["open_date"])


def test_blank_lines_are_skipped_but_row_numbers_stay_true(tmp_path):
    path = tmp_path / "blank.csv"
    lines = [",".join(HEADER), "", ",".join(ROWS[0]), "\r", ",".join(ROWS[1]), "", "",
             ",".join(ROWS[2]), "", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    frame = load_exports([path]).frame
    assert frame["name"].tolist() == ["张三", "李四", "欧阳娜娜"]
    assert frame["_source_row"].tolist() == [3, 5, 8]


def test_title_rows_above_the_header_are_skipped(tmp_path):
    path = tmp_path / "title.csv"
    path.write_text(
        "借记卡开户明细表\n导出日期：2024-06-30\n"
        + ",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\n",
        encoding="utf-8",
    )
    result = load_exports([path])
    assert result.files[0].header_row == 3
    assert result.frame["_source_row"].tolist() == [4]
    assert result.frame["name"].tolist() == ["张三"]


def test_larger_gb18030_file_matches_utf8(tmp_path):
    # enough distinct names for the joined-block decoder, few branches for the dictionary one
    rng = random.Random(7)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂华"
    rows = []
    for i in range(30_000):
        name = rng.choice(surnames) + "".join(rng.choices(given, k=rng.choice([1, 2, 3])))
        if i % 997 == 0:
            name = "\u3000" + name
        rows.append([rng.choice(["城东支行", "城西支行", "岳麓支行"]), str(i), name, "身份证",
                     f"{rng.randrange(10**17):018d}", f"62{i:017d}",
                     rng.choice(["正常", "销户", "", "冻结"]), "2020-01-01"])
    rows.append(["城东支行", "x", "𠮷䶮", "身份证", "1", "2", "正常", ""])  # 4-byte GB18030
    utf8 = write_csv(tmp_path / "big-u.csv", HEADER, rows)
    gb = write_csv(tmp_path / "big-g.csv", HEADER, rows, encoding="gb18030")
    a = load_exports([utf8]).frame
    b = load_exports([gb]).frame
    pd.testing.assert_frame_equal(data_columns(a), data_columns(b))
    assert a["name"].iloc[-1] == "𠮷䶮"
    assert a["name"].iloc[0] == rows[0][2].strip()
    assert a["status"].isna().sum() == sum(1 for r in rows if not r[6])


def test_invalid_bytes_in_gb18030_file_name_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    text = "\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\n"
    data = text.encode("gb18030") + "城南支行,9,".encode("gb18030") + b"\x81\xff" + (
        ",身份证,1,2,正常,\n".encode("gb18030"))
    path.write_bytes(data)
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    text = message(excinfo)
    assert "bad.csv" in text and "第 5 行" in text and "「客户姓名」" in text


# ---------------------------------------------------------------------------------------------
# Header mapping
# ---------------------------------------------------------------------------------------------


def test_alias_spellings_map_to_canonical_names(tmp_path):
    header = ["网点号", "客户编号", "客户名称", "身份证号码", "银行卡号", "备注", "账户状态"]
    rows = [["0101", "C1", "张三", "430522199001011234", "6222000000000000001", "x", "正常"]]
    result = load_exports([write_csv(tmp_path / "a.csv", header, rows)])
    assert result.mapping == {
        "branch": "网点号", "customer_id": "客户编号", "name": "客户名称",
        "id_number": "身份证号码", "card_no": "银行卡号", "status": "账户状态"}
    assert list(result.frame.columns) == [
        "branch", "customer_id", "name", "id_number", "card_no", "status", "_source_file",
        "_source_row"]
    assert "备注" not in result.frame.columns
    assert result.frame.loc[0, "branch"] == "0101"


def test_header_matching_ignores_spaces_and_full_width(tmp_path):
    header = ["开户 机构", "客户号", "姓 名", "证件号码", "ＣＡＲＤ＿ＮＯ"]
    rows = [["b", "c", "n", "1", "2"]]
    result = load_exports([write_csv(tmp_path / "s.csv", header, rows)])
    assert result.frame.loc[0, "card_no"] == "2"
    assert result.mapping["branch"] == "开户 机构"


def test_user_mapping_is_applied_before_aliases(tmp_path):
    header = ["开户机构", "客户号", "户名", "身份证件号", "卡号", "账号"]
    rows = [["b", "c", "张三", "430522199001011234", "6222", "ACC1"]]
    path = write_csv(tmp_path / "m.csv", header, rows)
    result = load_exports([path], mapping={"id_number": "身份证件号", "card_no": "卡号"})
    assert result.frame.loc[0, "id_number"] == "430522199001011234"
    assert result.frame.loc[0, "card_no"] == "6222"  # 账号 (also an alias of card_no) is ignored
    assert result.mapping["id_number"] == "身份证件号"


def test_user_mapping_with_alternatives_for_several_files(tmp_path):
    a = write_csv(tmp_path / "a.csv", ["开户机构", "客户号", "姓名", "身份证件号", "卡号"],
                  [["b", "c", "n", "1", "2"]])
    b = write_csv(tmp_path / "b.csv", ["开户机构", "客户号", "姓名", "有效证件号", "卡号"],
                  [["b", "c", "n", "3", "4"]])
    result = load_exports([a, b], mapping={"id_number": ["身份证件号", "有效证件号"]})
    assert result.frame["id_number"].tolist() == ["1", "3"]
    assert [f.mapping["id_number"] for f in result.files] == ["身份证件号", "有效证件号"]


def test_mapping_naming_absent_header_lists_found_headers(tmp_path):
    path = write_csv(tmp_path / "m.csv", HEADER, ROWS)
    with pytest.raises(InputError) as excinfo:
        load_exports([path], mapping={"phone": "手机"})
    text = message(excinfo)
    assert "m.csv" in text and "「手机」" in text and "phone" in text
    assert "已找到的列：开户机构、客户号、客户姓名" in text


def test_mapping_with_unknown_canonical_name_lists_valid_names(tmp_path):
    path = write_csv(tmp_path / "m.csv", HEADER, ROWS)
    with pytest.raises(InputError) as excinfo:
        load_exports([path], mapping={"idno": "证件号码"})
    text = message(excinfo)
    assert "「idno」" in text and "id_number（证件号码）" in text and "card_no（卡号）" in text
    with pytest.raises(InputError) as excinfo:
        load_exports([path], mapping={"证件号码": "id_number"})
    assert "写反" in message(excinfo)


def test_missing_required_column_names_label_and_lists_headers(tmp_path):
    header = ["开户机构", "客户号", "姓名", "卡号"]
    path = write_csv(tmp_path / "缺列.csv", header, [["b", "c", "n", "1"]])
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    text = message(excinfo)
    assert "缺列.csv" in text
    assert "「证件号码」(id_number)" in text
    assert "已找到的列：开户机构、客户号、姓名、卡号" in text
    assert "--mapping" in text


def test_missing_required_can_be_relaxed(tmp_path):
    path = write_csv(tmp_path / "r.csv", ["姓名", "卡号"], [["n", "1"]])
    result = load_exports([path], required=["card_no"])
    assert list(result.frame.columns) == ["name", "card_no", "_source_file", "_source_row"]


def test_two_headers_for_one_canonical_column_is_an_error(tmp_path):
    header = ["开户机构", "客户号", "姓名", "证件号码", "卡号", "账号"]
    path = write_csv(tmp_path / "dup.csv", header, [["b", "c", "n", "1", "2", "3"]])
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    text = message(excinfo)
    assert "dup.csv" in text and "「卡号」" in text and "「账号」" in text and "card_no" in text


def test_columns_limits_what_is_kept(tmp_path):
    path = write_csv(tmp_path / "c.csv", HEADER, ROWS)
    result = load_exports([path], columns=["id_number", "name"])
    assert list(result.frame.columns) == ["name", "id_number", "_source_file", "_source_row"]
    assert result.frame["id_number"].iloc[1] == "012345678901234567"
    with pytest.raises(InputError, match="nope"):
        load_exports([path], columns=["nope"])


def test_missing_required_reported_even_when_not_kept(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["姓名", "卡号"], [["n", "1"]])
    with pytest.raises(InputError, match="证件号码"):
        load_exports([path], columns=["name"])


# ---------------------------------------------------------------------------------------------
# Several files, errors, provenance
# ---------------------------------------------------------------------------------------------


def test_two_files_combined_with_source_file_and_row(tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER, ROWS[:2])
    b_header = ["网点号", "客户编号", "户名", "身份证号码", "银行卡号", "手机号码"]
    b = write_csv(tmp_path / "b.csv", b_header, [["0101", "9", "王五", "1", "2", "13800000000"]],
                  encoding="gb18030")
    result = load_exports([a, b])
    frame = result.frame
    assert frame["_source_file"].tolist() == ["a.csv", "a.csv", "b.csv"]
    assert frame["_source_row"].tolist() == [2, 3, 2]
    assert frame["name"].tolist() == ["张三", "李四", "王五"]
    # phone only in b, status only in a: NA elsewhere, still str dtype
    assert frame["phone"].isna().tolist() == [True, True, False]
    assert frame["status"].isna().tolist() == [False, True, True]
    assert frame["phone"].dtype == "str" and frame["status"].dtype == "str"
    assert [f.path for f in result.files] == ["a.csv", "b.csv"]
    assert [f.rows for f in result.files] == [2, 1]
    assert result.mapping["name"] == "客户姓名"  # from the first file


def test_required_column_missing_in_second_file_names_that_file(tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER, ROWS)
    b = write_csv(tmp_path / "b.csv", ["开户机构", "客户号", "姓名", "卡号"],
                  [["b", "c", "n", "1"]])
    with pytest.raises(InputError) as excinfo:
        load_exports([a, b])
    assert "b.csv" in message(excinfo) and "证件号码" in message(excinfo)


def test_same_named_files_in_different_folders_are_told_apart(tmp_path):
    (tmp_path / "东区").mkdir()
    (tmp_path / "西区").mkdir()
    a = write_csv(tmp_path / "东区" / "export.csv", HEADER, ROWS[:1])
    b = write_csv(tmp_path / "西区" / "export.csv", HEADER, ROWS[1:2])
    result = load_exports([a, b])
    assert result.frame["_source_file"].tolist() == ["东区/export.csv", "西区/export.csv"]


def test_same_content_twice_is_an_error(tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER, ROWS)
    b = write_csv(tmp_path / "b.csv", HEADER, ROWS)
    with pytest.raises(InputError) as excinfo:
        load_exports([a, b])
    assert "a.csv" in message(excinfo) and "b.csv" in message(excinfo)


def test_fileinfo_sha256_matches_hashlib(tmp_path):
    path = write_csv(tmp_path / "h.csv", HEADER, ROWS, encoding="gb18030")
    result = load_exports([path])
    assert isinstance(result, LoadedExport)
    info = result.files[0]
    assert isinstance(info, FileInfo)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (info.path, info.rows, info.format, info.delimiter) == ("h.csv", 3, "csv", ",")


def test_empty_file_is_an_error(tmp_path):
    for name, data in [("empty.csv", b""), ("bom.csv", b"\xef\xbb\xbf\r\n  \n")]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError) as excinfo:
            load_exports([path])
        assert name in message(excinfo) and "为空" in message(excinfo)


def test_header_only_file_gives_zero_rows(tmp_path):
    for name, text in [("h1.csv", ",".join(HEADER) + "\n"), ("h2.csv", ",".join(HEADER))]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = load_exports([path])
        assert len(result.frame) == 0
        assert list(result.frame.columns) == [*CANONICAL, "_source_file", "_source_row"]
        assert result.frame["name"].dtype == "str"
        assert result.frame["_source_row"].dtype == "int64"
        assert result.files[0].rows == 0


def test_ragged_row_names_row_and_field_counts(tmp_path):
    path = tmp_path / "ragged.csv"
    lines = [",".join(HEADER), ",".join(ROWS[0]), ",".join(ROWS[1]) + ",多余", ",".join(ROWS[2])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    text = message(excinfo)
    assert "ragged.csv" in text and "第 3 行" in text and "9 个字段" in text and "8 个字段" in text
    assert "李四" not in text  # the row's content (names, ID numbers) is never shown


def test_ragged_row_after_blank_lines_and_quoted_newline_has_true_row(tmp_path):
    path = tmp_path / "ragged2.csv"
    path.write_text(
        ",".join(HEADER) + "\n\n"
        + '城东支行,1,"张\n三",身份证,1,2,正常,\n'
        + "\n"
        + "城西支行,2,李四\n",
        encoding="gb18030",
    )
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    assert "第 5 行" in message(excinfo) and "3 个字段" in message(excinfo)


def test_whitespace_only_line_is_reported(tmp_path):
    path = tmp_path / "ws.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\n   \n", encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    assert "第 3 行" in message(excinfo) and "空白" in message(excinfo)


def test_unclosed_quote_in_last_column_is_an_error(tmp_path):
    path = tmp_path / "quote.csv"
    lines = [",".join(HEADER), ",".join(ROWS[0][:-1]) + ',"2020-01-01', ",".join(ROWS[1]),
             ",".join(ROWS[2])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    assert "第 2 行" in message(excinfo) and "引号" in message(excinfo)


def test_unsupported_format_and_missing_file(tmp_path):
    path = tmp_path / "export.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    assert "export.xls" in message(excinfo) and ".xlsx" in message(excinfo)
    assert ".parquet" in message(excinfo)
    with pytest.raises(InputError, match=r"找不到文件 nothere\.csv"):
        load_exports([tmp_path / "nothere.csv"])
    with pytest.raises(InputError):
        load_exports([])


def test_xlsx_content_with_csv_extension(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    path = tmp_path / "really.csv"
    book.save(path)
    with pytest.raises(InputError, match=r"really\.csv.*\.xlsx"):
        load_exports([path])


# ---------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------


def test_xlsx_numbers_dates_blank_rows_and_sheet_choice(tmp_path):
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "说明"
    notes.append(["本文件为借记卡开户明细"])
    data = book.create_sheet("明细")
    data.append(["借记卡开户明细表"])  # title row 1
    data.append([*HEADER, "是否代理"])  # header row 2
    data.append(["城东支行", 123, "张三", "身份证", 12345, "6222021234567890123",
                 "正常", dt.datetime(2020, 1, 2, 13, 45), True])  # row 3
    data.append([None] * 9)  # row 4: blank
    data.append(["  ", None, "\t"])  # row 5: blank (white space only)
    data.append(["城西支行", 456.0, "李四", "身份证", 430522199001011234.0, 6.2220212345678e18,
                 None, dt.date(2021, 12, 31), False])  # row 6
    data.cell(row=9, column=3, value="王五")  # row 9, rows 7-8 missing entirely
    data.cell(row=9, column=5, value=0.5)
    path = tmp_path / "明细.xlsx"
    book.save(path)

    result = load_exports([path], required=["name", "id_number"])
    frame = result.frame
    assert result.files[0].sheet == "明细" and result.files[0].header_row == 2
    assert result.files[0].format == "xlsx" and result.files[0].encoding is None
    assert frame["_source_row"].tolist() == [3, 6, 9]
    assert frame["customer_id"].tolist()[:2] == ["123", "456"]
    assert frame["id_number"].tolist() == ["12345", "4.30522199001011E+17", "0.5"]
    assert frame["card_no"].tolist()[:2] == ["6222021234567890123", "6.2220212345678E+18"]
    assert frame["open_date"].tolist()[:2] == ["2020-01-02", "2021-12-31"]
    assert frame["is_agent"].tolist()[:2] == ["是", "否"]
    assert pd.isna(frame.loc[1, "status"]) and pd.isna(frame.loc[2, "branch"])
    assert frame["name"].dtype == "str" and frame["_source_row"].dtype == "int64"
    assert result.files[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_xlsx_without_matching_header_uses_first_sheet(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["甲", "乙"])
    book.active.append(["1", "2"])
    book.create_sheet("other").append(["丙"])
    path = tmp_path / "odd.xlsx"
    book.save(path)
    with pytest.raises(InputError) as excinfo:
        load_exports([path])
    text = message(excinfo)
    assert "odd.xlsx" in text and "已找到的列：甲、乙" in text and "工作表「Sheet」" in text


def test_xlsx_empty_and_corrupt(tmp_path):
    book = openpyxl.Workbook()
    path = tmp_path / "empty.xlsx"
    book.save(path)
    with pytest.raises(InputError, match=r"empty\.xlsx.*没有任何数据"):
        load_exports([path])
    bad = tmp_path / "bad.xlsx"
    bad.write_text("开户机构,客户号\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.xlsx.*\.csv"):
        load_exports([bad])


def test_excel_general_format():
    assert load_module._excel_general(430522199001011234.0) == "4.30522199001011E+17"
    assert load_module._excel_general(1e15) == "1E+15"
    assert load_module._excel_general(0.000015) == "1.5E-05"
    assert load_module._excel_general(12.5) == "12.5"
    assert load_module._cell_text(999999999999999.0) == "999999999999999"
    assert load_module._cell_text(-3.0) == "-3"
    assert load_module._cell_text(float("nan")) is None


# ---------------------------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------------------------


def test_parquet_types_become_text(tmp_path):
    table = pa.table({
        "开户机构": pa.array(["城东支行", " 城西支行 "]).dictionary_encode(),
        "客户号": pa.array([123, 45], pa.int64()),
        "姓名": ["张三", ""],
        "证件号码": pa.array([430522199001011234, 12345678901234567], pa.int64()),
        "卡号": pa.array([622202123456.0, 4.30522199001011234e17]),
        "开户日期": pa.array([dt.date(2020, 1, 2), None]),
        "销户日期": pa.array([dt.datetime(2021, 3, 4, 5, 6), None], pa.timestamp("ms")),
        "是否代理": [True, False],
        "备注": [1.5, 2.5],
    })
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    result = load_exports([path])
    frame = result.frame
    assert frame["branch"].tolist() == ["城东支行", "城西支行"]
    assert frame["customer_id"].tolist() == ["123", "45"]
    assert frame["id_number"].tolist() == ["430522199001011234", "12345678901234567"]
    assert frame["card_no"].tolist() == ["622202123456", "4.30522199001011E+17"]
    assert frame["open_date"].tolist()[0] == "2020-01-02" and pd.isna(frame.loc[1, "open_date"])
    assert frame["close_date"].tolist()[0] == "2021-03-04"
    assert frame["is_agent"].tolist() == ["是", "否"]
    assert pd.isna(frame.loc[1, "name"])
    assert frame["_source_row"].tolist() == [2, 3]
    assert all(frame[c].dtype == "str" for c in frame.columns[:-1])
    info = result.files[0]
    assert (info.format, info.encoding, info.delimiter) == ("parquet", None, None)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_reads_only_needed_columns_and_maps_headers(tmp_path):
    table = pa.table({"网点号": ["1"], "客户编号": ["2"], "户名": ["3"], "身份证号码": ["4"],
                      "银行卡号": ["5"], "手机号码": ["6"]})
    path = tmp_path / "x.pq"
    pq.write_table(table, path)
    result = load_exports([path], columns=["card_no"])
    assert list(result.frame.columns) == ["card_no", "_source_file", "_source_row"]
    with pytest.raises(InputError) as excinfo:
        load_exports([path], mapping={"id_number": "证件号码"})
    assert "x.pq" in message(excinfo) and "已找到的列：网点号、客户编号" in message(excinfo)


def test_parquet_directory(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    for i in range(2):
        part = pa.table({"开户机构": [f"b{i}"], "客户号": ["c"], "姓名": ["n"],
                         "证件号码": [str(i)], "卡号": ["k"]})
        pq.write_table(part, folder / f"part-{i}.parquet")
    (folder / "_SUCCESS").write_text("")
    result = load_exports([folder])
    assert result.frame["id_number"].tolist() == ["0", "1"]
    assert result.frame["_source_file"].tolist() == ["dataset/part-0.parquet",
                                                     "dataset/part-1.parquet"]
    assert [f.path for f in result.files] == ["dataset/part-0.parquet", "dataset/part-1.parquet"]
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(InputError, match="nothing"):
        load_exports([empty])


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"broken\.parquet"):
        load_exports([path])


# ---------------------------------------------------------------------------------------------
# load_table / blacklist
# ---------------------------------------------------------------------------------------------


def test_load_blacklist(tmp_path):
    path = write_csv(tmp_path / "惩戒名单.csv",
                     ["身份证号码", "姓名", "认定日期", "惩戒期限（年）", "认定机关", "备注"],
                     [["430522199001011234", "张三", "2023-01-01", "5", "某公安局", "x"]],
                     encoding="gb18030")
    result = load_blacklist(path)
    assert list(result.frame.columns) == ["id_number", "name", "listed_date", "period_years",
                                          "source", "_source_file", "_source_row"]
    assert result.frame.loc[0, "period_years"] == "5"
    bad = write_csv(tmp_path / "名单2.csv", ["姓名", "日期"], [["张三", "2023"]])
    with pytest.raises(InputError) as excinfo:
        load_blacklist(bad)
    assert "名单2.csv" in message(excinfo) and "「证件号码」(id_number)" in message(excinfo)


def test_load_table_with_custom_index(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["编号", "名称"], [["1", "a"]])
    result = load_table(path, alias_index={"编号": "code", "名称": "title"}, required=["code"],
                        labels={"code": "编号"})
    assert result.frame["code"].tolist() == ["1"]
    assert "id_number" in BLACKLIST_COLUMNS.values()


# ---------------------------------------------------------------------------------------------
# Less common text exports
# ---------------------------------------------------------------------------------------------


def test_utf16_unicode_text_export(tmp_path):
    # Excel's "Unicode text" export: UTF-16 with BOM, tab-delimited
    path = tmp_path / "unicode.txt"
    text = "\r\n".join("\t".join(r) for r in [HEADER, *ROWS]) + "\r\n"
    path.write_bytes(text.encode("utf-16"))
    result = load_exports([path])
    assert result.files[0].encoding == "utf-16" and result.files[0].delimiter == "\t"
    assert result.frame["name"].tolist() == ["张三", "李四", "欧阳娜娜"]
    assert result.frame["_source_row"].tolist() == [2, 3, 4]


def test_old_mac_line_endings(tmp_path):
    path = write_csv(tmp_path / "mac.csv", HEADER, ROWS, newline="\r")
    frame = load_exports([path]).frame
    assert frame["id_number"].tolist()[:2] == ["430522199001011234", "012345678901234567"]


def test_rows_of_only_delimiters_are_kept_as_empty_records(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\n,,,,,,,\n", encoding="utf-8")
    frame = load_exports([path]).frame
    assert frame["_source_row"].tolist() == [2, 3]
    assert frame.loc[1, CANONICAL].isna().all()


def test_unclosed_quote_found_when_last_column_is_not_read(tmp_path):
    path = tmp_path / "quote2.csv"
    lines = [",".join(HEADER), ",".join(ROWS[0][:-1]) + ',"2020', ",".join(ROWS[1])]
    path.write_text("\n".join(lines) + "\n", encoding="gb18030")
    with pytest.raises(InputError) as excinfo:
        load_exports([path], columns=["name"])
    assert "quote2.csv" in message(excinfo) and "「开户日期」" in message(excinfo)


def test_parquet_binary_column_in_gb18030(tmp_path):
    names = pa.array([n.encode("gb18030") for n in ["张三", "李四"]], pa.binary())
    table = pa.table({"姓名": names, "证件号码": ["1", "2"], "卡号": ["3", "4"]})
    path = tmp_path / "gb.parquet"
    pq.write_table(table, path)
    frame = load_exports([path], required=["name"]).frame
    assert frame["name"].tolist() == ["张三", "李四"]


def test_excel_text_formula_wrapper_is_removed(tmp_path):
    path = tmp_path / "eq.csv"
    path.write_text(
        ",".join(HEADER) + "\n"
        + '城东支行,1,张三,身份证,"=""430522199001011234""",="6222021234567890123",正常,\n'
        + "城西支行,2,李四,身份证,=1+1,=\" \",正常,\n",
        encoding="gb18030",
    )
    frame = load_exports([path]).frame
    assert frame["id_number"].tolist() == ["430522199001011234", "=1+1"]
    assert frame["card_no"].iloc[0] == "6222021234567890123" and pd.isna(frame["card_no"].iloc[1])


@pytest.mark.parametrize("space", [" ", "\t", "\xa0", "\u3000", "\u2003", "\u202f", "\u205f",
                                   "\u1680", "\x85"])
def test_unicode_white_space_is_stripped_even_deep_in_a_column(space):
    values = ["张三", "军", "Ⅱ类", "x", ""] * 60_000 + [f"{space}李四{space}", "王五"]
    out = load_module._finish(pa.array(values, pa.large_string()))
    assert out[len(values) - 2].as_py() == "李四"
    assert out[0].as_py() == "张三" and out[4].as_py() is None and out[2].as_py() == "Ⅱ类"
    assert out.null_count == 60_000
