"""The bad-input corpus, run through the real command line (``cli.main()`` in-process).

Every case ends in one of two ways:

* an error: exit code 2 and a Chinese message naming the file, the row or column, and the fix;
* a completed audit (exit 0) in which every data row is accounted for: ``rows.read`` equals the
  number of data rows in the file and ``read == audited + quarantined``; every quarantined row is
  in quarantine.csv with its file, row number and reason.

Never a traceback (exit code 3 or an exception escaping ``main``), never a dropped row. The
fixtures are generated here; their truth is known by construction.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import random
import re
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from cardaudit import cli
from cardaudit.dates import parse_dates
from cardaudit.idcard import calc_check_digit

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
AS_OF = "2026-10-31"

HEADER = ["法人机构", "开户机构", "客户号", "客户姓名", "证件类型", "证件号码", "卡号", "卡产品",
          "开户日期", "卡状态"]
ENTITY = "青禾农商行"
DUPLICATE = "卡号重复"
CARD_EMPTY = "卡号为空"


def resident_id(first17: str) -> str:
    return first17 + calc_check_digit(first17)


PERSON_A = resident_id("11010519491231002")  # 11010519491231002X; legacy form 110105491231002
PERSON_B = resident_id("11010519800101001")
PERSON_C = resident_id("43052219900101123")
LEGACY_A = "110105491231002"


def record(i: int, *, id_number: str = PERSON_A, name: str = "张三", card: str | None = None,
           branch: str = "城东支行", open_date: str = "2020-01-02", entity: str = ENTITY,
           customer: str | None = None, status: str = "正常") -> list[str]:
    """One data row of HEADER; card and customer numbers are unique per ``i`` by default."""
    return [entity, branch, customer or f"C{i:05d}", name, "居民身份证", id_number,
            card if card is not None else f"62177900000{i:08d}", "福祥借记卡", open_date, status]


def csv_bytes(rows: list[list[str]], *, header: list[str] = HEADER, delimiter: str = ",",
              encoding: str = "utf-8", bom: bool = False, newline: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerows([header, *rows])
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


csv.field_size_limit(1 << 24)  # outputs hold the 300k-character values whole


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# Running the command line and reading what it wrote
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    output: str
    out: Path

    @property
    def summary(self) -> dict:
        return json.loads((self.out / "summary.json").read_text(encoding="utf-8"))

    @property
    def rows(self) -> dict:
        return self.summary["rows"]

    @property
    def statistics(self) -> dict:
        return self.summary["total"]["statistics"]

    def table(self, name: str) -> list[dict[str, str]]:
        with (self.out / name).open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))

    def raw_table(self, name: str) -> list[list[str]]:
        with (self.out / name).open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.reader(handle))

    def findings(self, rule: str | None = None) -> list[dict[str, str]]:
        rows = self.table("findings.csv")
        return [r for r in rows if rule is None or r["规则编号"] == rule]


def run_cli(args: list[str]) -> tuple[int, str]:
    """``cardaudit ARGS`` in-process: (exit code, everything printed)."""
    printed = io.StringIO()
    saved = sys.argv
    sys.argv = ["cardaudit", *args]
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), \
                pytest.raises(SystemExit) as info:
            cli.main()
    finally:
        sys.argv = saved
    return int(info.value.code or 0), printed.getvalue()


def run_audit(out: Path, *args: object) -> Outcome:
    code, output = run_cli(["audit", *map(str, args), "--as-of", AS_OF, "--out", str(out),
                            "--quiet"])
    return Outcome(code, output, out)


_PARSED: dict[tuple, object] = {}


@pytest.fixture(scope="module", autouse=True)
def _parse_each_rule_file_once():
    """Every run loads and validates the rule pack through its own code; only the pure-Python
    YAML parse of unchanged text is reused (deep-copied), to keep this corpus fast."""
    compose, safe_load = yaml.compose, yaml.safe_load

    def cached(kind: str, parse, copy_result: bool):
        def run(stream, *args, **kwargs):
            if not isinstance(stream, str):
                return parse(stream, *args, **kwargs)
            key = (kind, stream, args, tuple(sorted(kwargs.items())))
            if key not in _PARSED:
                _PARSED[key] = parse(stream, *args, **kwargs)
            return copy.deepcopy(_PARSED[key]) if copy_result else _PARSED[key]
        return run

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml, "compose", cached("compose", compose, False))
        patch.setattr(yaml, "safe_load", cached("safe_load", safe_load, True))
        yield


@pytest.fixture(params=["one-chunk", "small-chunks"])
def audit(request, tmp_path: Path, monkeypatch):
    """audit(*exports, *options) -> Outcome, each call writing into a fresh output folder.

    Every case runs twice: a CSV export read in one chunk, and cut into chunks of about 1 kB
    (a few records each), which must give the same errors, rows and figures."""
    if request.param == "small-chunks":
        from cardaudit import load
        monkeypatch.setattr(load, "CSV_CHUNK_BYTES", 1000)
    calls = iter(range(1, 1000))
    return lambda *args: run_audit(tmp_path / f"out{next(calls)}", *args)


def assert_completed(outcome: Outcome, data_rows: int) -> dict:
    """Exit 0; every data row read, and audited or quarantined (with row and reason)."""
    assert outcome.code == 0, outcome.output
    assert "Traceback" not in outcome.output
    rows = outcome.rows
    assert rows["read"] == data_rows
    assert rows["read"] == rows["audited"] + rows["quarantined"]
    quarantine = outcome.table("quarantine.csv")
    assert len(quarantine) == rows["quarantined"]
    assert Counter(r["原因"] for r in quarantine) == Counter(rows["quarantine_reasons"])
    for row in quarantine:
        assert row["来源文件"] and row["行号"].isdigit() and int(row["行号"]) >= 2, row
    return rows


def assert_error(outcome: Outcome, *needles: str) -> str:
    """Exit 2 with a Chinese message containing every needle; nothing written."""
    assert outcome.code == 2, outcome.output
    assert "Traceback" not in outcome.output
    assert "错误" in outcome.output
    for needle in needles:
        assert needle in outcome.output, (needle, outcome.output)
    assert not (outcome.out / "summary.json").exists()
    return outcome.output


def quarantined_rows(outcome: Outcome) -> dict[tuple[str, int], str]:
    return {(r["来源文件"], int(r["行号"])): r["原因"] for r in outcome.table("quarantine.csv")}


# ---------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------

ROWS_GBK = [record(1, name="欧阳娜娜"), record(2, name="张三"), record(3, name="李四"),
            record(4, name="王五"), record(5, card="", name="赵六")]


@pytest.mark.parametrize(("encoding", "bom", "detected"), [
    ("utf-8", False, "utf-8"), ("utf-8", True, "utf-8-sig"), ("gbk", False, "gb18030"),
    ("gb18030", False, "gb18030"),
])
def test_encodings_are_detected_and_give_the_same_audit(audit, tmp_path, encoding, bom, detected):
    reference = audit(write(tmp_path / "ref" / "导出.csv", csv_bytes(ROWS_GBK)))
    path = write(tmp_path / encoding / "导出.csv",
                 csv_bytes(ROWS_GBK, encoding=encoding, bom=bom, newline="\r\n"))
    outcome = audit(path)
    assert_completed(outcome, 5)
    assert outcome.summary["inputs"][0]["encoding"] == detected
    assert outcome.statistics == reference.statistics
    assert outcome.statistics["customers_4plus"] == 1
    assert outcome.table("findings.csv") == reference.table("findings.csv")
    quarantine = quarantined_rows(outcome)
    assert list(quarantine) == [("导出.csv", 6)] and CARD_EMPTY in quarantine[("导出.csv", 6)]


def test_gb18030_only_characters_survive(audit, tmp_path):
    # 䶮 (CJK Ext. A) and 𠀀 (Ext. B, a four-byte GB18030 sequence) are not in GBK.
    rows = [record(1, name="䶮三丰"), record(2, name="𠀀娜"), record(3), record(4)]
    outcome = audit(write(tmp_path / "gb.csv", csv_bytes(rows, encoding="gb18030")))
    assert_completed(outcome, 4)
    names = {r["姓名"] for r in outcome.findings("CARD-4PLUS")}
    assert {"䶮*丰", "𠀀*"} <= names


def test_gbk_file_declared_utf8_names_file_row_and_fix(audit, tmp_path):
    path = write(tmp_path / "网点导出.csv", csv_bytes(ROWS_GBK, encoding="gbk"))
    outcome = audit(path, "--encoding", "utf-8")
    assert_error(outcome, "网点导出.csv", "第 1 行", "--encoding gb18030")


def test_gbk_data_declared_utf8_names_row_and_column(audit, tmp_path):
    header = ["branch", "customer_id", "name", "id_number", "card_no"]
    rows = [["b1", "c1", "Li", PERSON_A, "1"], ["b2", "c2", "王五", PERSON_B, "2"]]
    path = write(tmp_path / "x.csv", csv_bytes(rows, header=header, encoding="gbk"))
    outcome = audit(path, "--encoding", "utf-8")
    assert_error(outcome, "x.csv", "第 3 行", "「name」列", "--encoding gb18030")


def test_utf8_file_declared_gb18030_names_file_row_and_fix(audit, tmp_path):
    path = write(tmp_path / "u.csv", csv_bytes(ROWS_GBK))
    outcome = audit(path, "--encoding", "gb18030")
    assert_error(outcome, "u.csv", "第 1 行", "--encoding utf-8")


def test_unknown_encoding_name_is_exit_2_with_the_fix(audit, tmp_path):
    path = write(tmp_path / "u.csv", csv_bytes(ROWS_GBK))
    assert_error(audit(path, "--encoding", "gbk2"), "gbk2", "--encoding gb18030")


def test_utf16_without_bom_names_the_encoding_to_use(audit, tmp_path):
    path = write(tmp_path / "u16.csv", csv_bytes(ROWS_GBK, encoding="utf-16-le"))
    assert_error(audit(path), "u16.csv", "第 1 行", "--encoding utf-16-le")
    assert_completed(audit(path, "--encoding", "utf-16-le"), 5)
    with_bom = write(tmp_path / "bom16.csv", csv_bytes(ROWS_GBK, encoding="utf-16"))
    assert_completed(audit(with_bom), 5)


# ---------------------------------------------------------------------------------------------
# Delimiters and quoting
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", ["\t", ";", "|"])
def test_other_delimiters_give_the_same_audit(audit, tmp_path, delimiter):
    reference = audit(write(tmp_path / "comma" / "d.csv", csv_bytes(ROWS_GBK)))
    # '|' with GBK: 0x7C can be a GBK trail byte, the loader transcodes the file first.
    path = write(tmp_path / "other" / "d.csv",
                 csv_bytes(ROWS_GBK, delimiter=delimiter, encoding="gbk"))
    outcome = audit(path)
    assert_completed(outcome, 5)
    assert outcome.summary["inputs"][0]["encoding"] == "gb18030"
    assert outcome.statistics == reference.statistics
    assert quarantined_rows(outcome) == quarantined_rows(reference)


def test_quoted_fields_with_delimiters_quotes_and_line_breaks(audit, tmp_path):
    rows = [
        record(1, name="欧阳,娜娜"),
        record(2, name='外号"小张"', branch="城东\n支行"),  # a line break inside a value
        record(3, name="多行\r\n姓名"),
        record(4, card=""),  # quarantined: its row number must count the line breaks above
    ]
    path = write(tmp_path / "q.csv", csv_bytes(rows, encoding="gbk", newline="\r\n"))
    outcome = audit(path)
    assert_completed(outcome, 4)
    # Row numbers are records as Excel shows them: the header is row 1, record 4 is row 5.
    quarantine = quarantined_rows(outcome)
    assert list(quarantine) == [("q.csv", 5)] and CARD_EMPTY in quarantine[("q.csv", 5)]
    # "城东\n支行" normalises to the same branch as "城东支行".
    assert outcome.statistics["outlets"] == 1
    assert outcome.statistics["customers_4plus"] == 0  # 3 counted cards: row 5 is quarantined


# ---------------------------------------------------------------------------------------------
# Truncated, empty and header-only files
# ---------------------------------------------------------------------------------------------


def test_truncated_last_line_with_missing_fields(audit, tmp_path):
    data = csv_bytes([record(i) for i in range(1, 4)]) + ",".join(record(4)[:3]).encode()
    outcome = audit(write(tmp_path / "cut.csv", data))
    assert_error(outcome, "cut.csv", "第 5 行", "3 个字段", "10 个字段", "被截断", "重新导出")


def test_truncated_last_line_inside_a_gbk_character(audit, tmp_path):
    data = csv_bytes([record(i, name="欧阳娜娜") for i in range(1, 4)], encoding="gbk")
    cut = data.rfind("娜".encode("gbk")) + 1  # half of a two-byte character, no line break
    outcome = audit(write(tmp_path / "cutgb.csv", data[:cut]))
    assert_error(outcome, "cutgb.csv", "第 4 行", "被截断")


def test_truncated_inside_a_quoted_last_field(audit, tmp_path):
    # The export stopped inside the quoted status of the last row: pyarrow alone accepts it.
    data = csv_bytes([record(i) for i in range(1, 4)]) + (
        ",".join(record(4)[:-1]) + ',"正').encode()
    outcome = audit(write(tmp_path / "cutq.csv", data))
    assert_error(outcome, "cutq.csv", "第 5 行", "「卡状态」", "引号", "被截断")


def test_unclosed_quote_in_the_last_line(audit, tmp_path):
    data = csv_bytes([record(i) for i in range(1, 4)]) + (
        ",".join(record(4)[:3]) + ',"张三,' + ",".join(record(4)[4:])).encode()
    outcome = audit(write(tmp_path / "openq.csv", data))
    assert_error(outcome, "openq.csv", "第 5 行", "引号没有结束")


def test_unclosed_quote_in_a_middle_line(audit, tmp_path):
    rows = [record(i) for i in range(1, 40)]
    lines = csv_bytes(rows).decode().split("\n")
    lines[10] = lines[10].replace("张三", '"张三', 1)  # record 10 = row 11
    outcome = audit(write(tmp_path / "midq.csv", "\n".join(lines).encode()))
    assert_error(outcome, "midq.csv", "第 11 行", "引号没有结束")


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n \r\n\t\n"],
                         ids=["zero-bytes", "bom-only", "blank-lines"])
def test_empty_file(audit, tmp_path, data):
    outcome = audit(write(tmp_path / "空文件.csv", data))
    assert_error(outcome, "空文件.csv", "为空", "请确认导出是否成功")


@pytest.mark.parametrize(("encoding", "ending"), [("utf-8", "\n"), ("gbk", "\r\n"), ("gbk", "")])
def test_header_only_export_is_exit_2_not_a_report_of_zeros(audit, tmp_path, encoding, ending):
    path = write(tmp_path / "h.csv", (",".join(HEADER) + ending).encode(encoding))
    outcome = audit(path)
    assert_error(outcome, "h.csv", "只有表头", "没有数据行", "重新导出")


def test_header_only_file_among_others_is_named_in_a_notice(audit, tmp_path):
    empty = write(tmp_path / "h.csv", (",".join(HEADER) + "\n").encode("gbk"))
    full = write(tmp_path / "b.csv", csv_bytes([record(i) for i in range(1, 4)], encoding="gbk"))
    outcome = audit(empty, full)
    assert_completed(outcome, 3)
    assert [n for n in outcome.summary["notices"] if "h.csv" in n] == [
        "导出文件 h.csv 只有表头、没有数据行，未计入任何记录；请确认该文件的导出是否完整。"]
    assert "h.csv 只有表头" in outcome.output


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_row_of_empty_cells_is_read_and_quarantined_never_dropped(audit, tmp_path, delimiter):
    empty = delimiter * (len(HEADER) - 1)
    for name, rows in (("only.csv", [empty]), ("among.csv", [empty, delimiter.join(record(1))])):
        text = delimiter.join(HEADER) + "\n" + "\n".join(rows) + "\n"
        outcome = audit(write(tmp_path / name, text.encode("gbk")))
        assert_completed(outcome, len(rows))
        assert CARD_EMPTY in quarantined_rows(outcome)[(name, 2)]


def test_whitespace_only_line_is_named(audit, tmp_path):
    data = csv_bytes([record(1), record(2)], encoding="gbk") + b"   \r\n"
    assert_error(audit(write(tmp_path / "ws.csv", data)), "ws.csv", "第 4 行", "空白",
                 "请删除这一行")
    data = csv_bytes([], encoding="gbk") + b"  \n"  # header, then only spaces
    assert_error(audit(write(tmp_path / "ws2.csv", data)), "ws2.csv", "第 2 行", "空白")


# ---------------------------------------------------------------------------------------------
# Random bytes, NUL bytes, huge fields
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_are_an_error_naming_file_and_row(audit, tmp_path, seed):
    rnd = random.Random(seed)
    noise = bytes(rnd.randrange(256) for _ in range(4000))
    if seed % 2:  # a real header, then garbage
        noise = (",".join(HEADER) + "\n").encode("gbk") + noise
    outcome = audit(write(tmp_path / f"noise{seed}.csv", noise))
    text = assert_error(outcome, f"noise{seed}.csv")
    assert re.search(r"第 \d+ 行", text), text
    assert any(fix in text for fix in ("--encoding", "重新导出", "另存为", "请删除", "请检查")), text


def test_random_bytes_without_nul(audit, tmp_path):
    rnd = random.Random(7)
    noise = bytes(rnd.randrange(1, 256) for _ in range(4000))
    text = assert_error(audit(write(tmp_path / "noise.csv", noise)), "noise.csv", "第 1 行")
    assert "--encoding" in text


def test_binary_file_with_csv_name(audit, tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert_error(audit(write(tmp_path / "logo.csv", png)), "logo.csv", "空字节", "重新导出")
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.save(tmp_path / "book.csv")
    assert_error(audit(tmp_path / "book.csv"), "book.csv", ".xlsx")


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_nul_byte_far_into_the_file_names_its_row(audit, tmp_path, encoding):
    rows = [record(i) for i in range(1, 3001)]  # > 64 KiB before the NUL
    rows[1999][3] = "张\x00三"  # record 2000 = row 2001
    outcome = audit(write(tmp_path / "nul.csv", csv_bytes(rows, encoding=encoding)))
    assert_error(outcome, "nul.csv", "第 2001 行", "空字节", "重新导出")


def test_300k_character_fields(audit, tmp_path):
    rows = [record(i) for i in range(1, 6)]
    rows[1][3] = "张" + "三," * 150_000  # quoted: full of delimiters
    rows[2][3] = "李\n" * 150_000  # quoted: full of line breaks
    rows[3][6] = "6" * 300_000  # a card number nobody can use, still one row
    rows[4][1] = "支" * 300_000
    for encoding in ("utf-8", "gb18030"):
        outcome = audit(write(tmp_path / encoding / "big.csv", csv_bytes(rows, encoding=encoding)))
        assert_completed(outcome, 5)
        assert outcome.statistics["debit_cards"] == 5
        assert outcome.statistics["outlets"] == 2
        cards = {r["卡号"] for r in outcome.findings("CARD-4PLUS")}
        assert "6" * 300_000 in cards  # the 300k-character value comes through whole


# ---------------------------------------------------------------------------------------------
# Duplicates, dates, full-width digits
# ---------------------------------------------------------------------------------------------


def test_duplicate_card_numbers_are_quarantined_and_counted_once(audit, tmp_path):
    card = "6217790000000000001"
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in card)
    rows = [
        record(1, card=card),
        record(2, id_number=PERSON_B),
        record(3, card=card),  # row 4: exact repeat
        record(4, card=" 6217 7900 0000 0000 001 "),  # row 5: spaces
        record(5, card=fullwidth),  # row 6: full-width digits
        record(6, card=card, entity="云溪农商行"),  # another legal entity: not a duplicate
    ]
    outcome = audit(write(tmp_path / "dup.csv", csv_bytes(rows, encoding="gbk")))
    rows_info = assert_completed(outcome, 6)
    assert rows_info["quarantined"] == 3
    quarantine = quarantined_rows(outcome)
    assert set(quarantine) == {("dup.csv", 4), ("dup.csv", 5), ("dup.csv", 6)}
    assert all(DUPLICATE in reason for reason in quarantine.values())
    assert outcome.statistics["debit_cards"] == 3  # 2 in 青禾 + 1 in 云溪


DATE_FORMATS = ["20240131", "2024/1/31", "2024-01-31", "2024年1月31日", "45322", "2024.1.31",
                "2024-01-31 10:20:30", "2024/01/31", "45322.75", "２０２４年１月３１日",
                "2024 年 1 月 31 日", "20240131103000"]


def test_parse_dates_gives_one_date_for_every_format():
    parsed = parse_dates(pd.Series([*DATE_FORMATS, None, "", "2024-02-30", "20241301", "60"],
                                   dtype="str"))
    assert parsed[: len(DATE_FORMATS)].tolist() == [pd.Timestamp("2024-01-31")] * len(DATE_FORMATS)
    assert parsed[len(DATE_FORMATS):].isna().all()  # 60 is Excel's phantom 1900-02-29


def test_mixed_date_formats_in_open_date_through_the_audit(audit, tmp_path):
    # Listed on 2024-01-31: cards opened that day (in every format) are opened inside the
    # discipline period and flagged; the card opened the day before is not.
    rows = [record(i, id_number=PERSON_B, open_date=text)
            for i, text in enumerate(DATE_FORMATS, start=1)]
    rows.append(record(99, id_number=PERSON_B, open_date="2024/1/30"))
    export = write(tmp_path / "dates.csv", csv_bytes(rows, encoding="gbk"))
    blacklist = write(tmp_path / "list.csv", csv_bytes(
        [[PERSON_B, "张三", "2024年1月31日", "5"]],
        header=["证件号码", "姓名", "列入日期", "惩戒期限(年)"]))
    outcome = audit(export, "--blacklist", blacklist)
    assert_completed(outcome, len(DATE_FORMATS) + 1)
    flagged = {r["开户日期"] for r in outcome.findings("LISTED-OPENED-IN-PERIOD")}
    assert flagged == set(DATE_FORMATS)


def test_discipline_periods_in_years_from_29_february_and_beyond_2262(audit, tmp_path):
    # Listed 2020-02-29 for 3 years: the period ends 2023-02-28 (as DateOffset adds years), so a
    # card opened that day is inside it and one opened 2023-03-01 is not. A 500-year period (a
    # typing error) keeps the person inside it instead of stopping the audit.
    rows = [record(1, id_number=PERSON_A, open_date="2023-02-28"),
            record(2, id_number=PERSON_A, open_date="2023-03-01"),
            record(3, id_number=PERSON_B, open_date="2030-06-30")]
    export = write(tmp_path / "periods.csv", csv_bytes(rows, encoding="gbk"))
    blacklist = write(tmp_path / "list.csv", csv_bytes(
        [[PERSON_A, "张三", "2020-02-29", "3"], [PERSON_B, "李四", "2024-01-31", "500"]],
        header=["证件号码", "姓名", "列入日期", "惩戒期限(年)"]))
    outcome = audit(export, "--blacklist", blacklist)
    assert_completed(outcome, 3)
    flagged = {r["开户日期"] for r in outcome.findings("LISTED-OPENED-IN-PERIOD")}
    assert flagged == {"2023-02-28", "2030-06-30"}


def test_a_list_without_listing_dates_skips_the_period_check_and_says_so(audit, tmp_path):
    # Without a listing date no period can be placed: the check is not run on nothing (which
    # would state "no accounts opened in a discipline period" unchecked); the holding checks
    # still use the list.
    rows = [record(1, id_number=PERSON_A, open_date="2023-02-28"),
            record(2, id_number=PERSON_A, open_date="2023-03-01")]
    export = write(tmp_path / "undated.csv", csv_bytes(rows, encoding="gbk"))
    blacklist = write(tmp_path / "list.csv", csv_bytes([[PERSON_A, "张三"]],
                                                       header=["证件号码", "姓名"]))
    outcome = audit(export, "--blacklist", blacklist)
    assert_completed(outcome, 2)
    assert "规则 LISTED-OPENED-IN-PERIOD（惩戒期内为名单人员新开立账户）未执行：缺少名单文件中的" \
        "「列入日期」" in outcome.output
    assert not outcome.findings("LISTED-OPENED-IN-PERIOD")
    assert outcome.statistics["listed_2plus"] == 1
    # With no list at all, only the list is named as missing (its dates go with it).
    outcome = audit(export)
    assert "规则 LISTED-OPENED-IN-PERIOD（惩戒期内为名单人员新开立账户）未执行：缺少--blacklist " \
        "名单文件。" in outcome.output


def test_list_entries_the_period_check_cannot_date_are_named_by_row(audit, tmp_path):
    rows = [record(1, id_number=PERSON_A, open_date="2023-02-28"),
            record(2, id_number=PERSON_B, open_date="2023-03-01")]
    export = write(tmp_path / "dated.csv", csv_bytes(rows, encoding="gbk"))
    blacklist = write(tmp_path / "list.csv", csv_bytes(
        [[PERSON_A, "张三", "2022-13-45", "3"],   # no such date: left out of the check
         [PERSON_B, "李四", "2023-01-05", "两年"],  # no number of years: the default period
         ["320102197112187039", "王五", "2024-01-01", "5"]],
        header=["证件号码", "姓名", "列入日期", "惩戒期限(年)"]))
    outcome = audit(export, "--blacklist", blacklist)
    assert_completed(outcome, 2)
    notices = outcome.summary["notices"]
    assert any("名单文件 list.csv 中有1条有效记录没有可识别的列入日期（第2行）" in n for n in notices)
    assert any("名单文件 list.csv 中有1条记录的惩戒期限不是年数，也没有截止日期（第3行）：按规则的"
               "默认惩戒期限计" in n for n in notices)
    # Person B opened a card inside the default period from 2023-01-05; person A is not checked.
    assert {r["开户日期"] for r in outcome.findings("LISTED-OPENED-IN-PERIOD")} == {"2023-03-01"}
    assert not any("开户日期为空或无法识别" in n for n in notices)
    assert "张三" not in " ".join(notices) and "李四" not in " ".join(notices)


def test_listed_persons_cards_without_an_opening_date_are_counted_in_a_notice(audit, tmp_path):
    # A card of a listed person with no readable opening date cannot be placed inside or outside
    # the period: it is not flagged, and the notice says how many there are.
    rows = [record(1, id_number=PERSON_A, open_date="2023-02-28"),
            record(2, id_number=PERSON_A, open_date=""),
            record(3, id_number=PERSON_A, open_date="2023-02-30"),
            record(4, id_number=PERSON_B, open_date="")]  # not on the list
    export = write(tmp_path / "opened.csv", csv_bytes(rows, encoding="gbk"))
    blacklist = write(tmp_path / "list.csv", csv_bytes(
        [[PERSON_A, "张三", "2022-01-01", "5"]], header=["证件号码", "姓名", "列入日期", "惩戒期限(年)"]))
    outcome = audit(export, "--blacklist", blacklist)
    assert_completed(outcome, 4)
    assert {r["开户日期"] for r in outcome.findings("LISTED-OPENED-IN-PERIOD")} == {"2023-02-28"}
    assert any(n.startswith("名单人员名下有2张卡的开户日期为空或无法识别")
               for n in outcome.summary["notices"])
    assert [e["warnings"]["listed_undated_cards"]
            for e in outcome.summary["entities"].values()] == [2]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_fullwidth_spaced_and_lowercase_ids_are_one_person(audit, tmp_path):
    variants = [PERSON_A, _fullwidth(PERSON_A), _fullwidth(PERSON_A.lower()),
                " 110105 19491231 002x ", "110105\u300019491231002X", LEGACY_A]
    rows = [record(i, id_number=v, card=_fullwidth(f"62177900000{i:08d}") if i % 2 else None)
            for i, v in enumerate(variants, start=1)]
    outcome = audit(write(tmp_path / "fw.csv", csv_bytes(rows, encoding="gb18030")))
    assert_completed(outcome, len(variants))
    assert outcome.statistics["customers_4plus"] == 1
    assert outcome.statistics["customers_4plus_cards"] == len(variants)
    flagged = outcome.findings("CARD-4PLUS")
    assert len(flagged) == len(variants)
    assert {r["对象"] for r in flagged} == {"1101**********002X"}
    # Full-width card numbers are stored normalised (half-width digits).
    assert {r["卡号"] for r in flagged} == {f"62177900000{i:08d}" for i in range(1, 7)}


def test_flagged_rows_with_empty_optional_fields_in_every_output_format(audit, tmp_path):
    rows = [record(1, open_date=""), record(2, status=""), record(3), record(4)]
    rows[2][7] = ""  # no product
    rows[3][2] = ""  # no customer number (the ID number identifies the person)
    export = write(tmp_path / "gaps.csv", csv_bytes(rows, encoding="gbk"))
    outcome = audit(export, "--format", "md,html,xlsx,json")
    assert_completed(outcome, 4)
    flagged = outcome.findings("CARD-4PLUS")
    assert len(flagged) == 4 and {r["开户日期"] for r in flagged} >= {"", "2020-01-02"}
    assert {"findings.json", "findings.parquet", "findings.xlsx"} <= {
        p.name for p in outcome.out.iterdir()}


# ---------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------

EXACT_PLACEHOLDER = 987654321  # written by openpyxl as <v>987654321</v>, then patched


def _patch_sheet_value(path: Path, old: str, new: str) -> None:
    """Rewrite one numeric cell value in the workbook's XML (as a core system would write it)."""
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    hits = 0
    for name, data in members.items():
        if name.startswith("xl/worksheets/") and old.encode() in data:
            members[name] = data.replace(old.encode(), new.encode())
            hits += 1
    assert hits == 1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            target.writestr(name, data)


def test_xlsx_numbers_several_sheets_and_blank_rows(audit, tmp_path):
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "说明"
    notes.append(["借记卡开户明细（核心系统导出）"])
    notes.append(["导出日期", "2026-10-31"])
    first = book.create_sheet("明细1")
    first.append(["借记卡开户明细表"])  # row 1: title
    first.append([])  # row 2: blank
    first.append(HEADER)  # row 3
    legacy = record(1)
    legacy[5] = int(LEGACY_A)  # row 4: 15 digits as a number: exact, upgraded to PERSON_A
    first.append(legacy)
    first.append([None] * 10)  # row 5: blank
    exact = record(2)
    exact[5] = EXACT_PLACEHOLDER  # row 6: 18 digits written exactly as a number
    first.append(exact)
    mangled = record(3)
    mangled[5] = float(PERSON_C)  # row 7: as Excel stores it, 15 significant digits
    first.append(mangled)
    first.append(["  ", None, "\t"])  # row 8: blank (white space only)
    first.append(record(4, open_date=None))  # row 9
    first.append(record(5))  # row 10
    second = book.create_sheet("明细2")  # the export continues on a second sheet
    second.append(HEADER)
    second.append(record(6))  # row 2
    second.append(record(7, card=""))  # row 3: quarantined
    path = tmp_path / "导出.xlsx"
    book.save(path)
    assert PERSON_B.isdigit()
    _patch_sheet_value(path, f"<v>{EXACT_PLACEHOLDER}</v>", f"<v>{PERSON_B}</v>")

    outcome = audit(path)
    assert_completed(outcome, 7)
    quarantine = quarantined_rows(outcome)
    assert list(quarantine) == [("导出.xlsx[明细2]", 3)]
    assert CARD_EMPTY in quarantine[("导出.xlsx[明细2]", 3)]
    statistics = outcome.statistics
    # PERSON_A: the legacy number (明细1 row 4), 明细1 rows 9 and 10, 明细2 row 2.
    assert statistics["customers_4plus"] == 1 and statistics["customers_4plus_cards"] == 4
    assert statistics["id_legacy15"] == 1
    assert statistics["id_nonexistent"] == 1  # the float: its last digits are lost
    where = {(r["来源文件"], r["行号"]) for r in outcome.findings("CARD-4PLUS")}
    assert where == {("导出.xlsx[明细1]", "4"), ("导出.xlsx[明细1]", "9"),
                     ("导出.xlsx[明细1]", "10"), ("导出.xlsx[明细2]", "2")}
    # Only the float is nonexistent (row 6, written exactly, is valid); that person is keyed
    # by the customer number, never merged by a mangled ID number.
    nonexistent = outcome.findings("ID-NONEXISTENT")
    assert [(r["来源文件"], r["行号"], r["对象"]) for r in nonexistent] == [
        ("导出.xlsx[明细1]", "7", "C:C00003")]
    assert nonexistent[0]["证件号码"].endswith("E+17")


def test_xlsx_sheet_with_known_headers_but_missing_columns_is_named(audit, tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "明细"
    book.active.append(HEADER)
    book.active.append(record(1))
    extra = book.create_sheet("问题卡")
    extra.append(["卡号", "客户姓名", "备注"])
    extra.append(["6217", "张三", "待核实"])
    path = tmp_path / "two.xlsx"
    book.save(path)
    assert_error(audit(path), "two.xlsx", "工作表「问题卡」", "缺少必需列", "证件号码", "--mapping")


def test_xlsx_card_numbers_stored_as_numbers_are_quarantined_as_mangled(audit, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    for i in range(1, 4):
        row = record(i)
        row[6] = float(f"62177900000{i:08d}")  # Excel keeps 15 significant digits
        book.active.append(row)
    path = tmp_path / "cards.xlsx"
    book.save(path)
    outcome = audit(path)
    assert_completed(outcome, 3)
    reasons = quarantined_rows(outcome)
    assert set(reasons) == {("cards.xlsx", 2), ("cards.xlsx", 3), ("cards.xlsx", 4)}
    assert not any(DUPLICATE in reason for reason in reasons.values())
    assert all("科学计数法" in reason for reason in reasons.values())


# ---------------------------------------------------------------------------------------------
# Formulas and HTML in names and branches
# ---------------------------------------------------------------------------------------------

HOSTILE = ["<script>alert(1)</script>", '=HYPERLINK("http://evil.example","点我")', "+1",
           "@SUM(A1)", "-2+3", "=cmd|' /C calc'!A0"]
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def test_formulas_and_html_are_neutralised_in_csv_outputs(audit, tmp_path):
    rows = [record(i, name=text, branch=text) for i, text in enumerate(HOSTILE, start=1)]
    rows[0][6] = ""  # quarantined (empty card): its branch goes to quarantine.csv
    rows[1][6] = ""
    outcome = audit(write(tmp_path / "evil.csv", csv_bytes(rows)), "--format", "md,html,xlsx,json")
    assert_completed(outcome, len(HOSTILE))
    findings = outcome.raw_table("findings.csv")
    quarantine = outcome.raw_table("quarantine.csv")
    assert len(findings) > 1 and len(quarantine) == 1 + 2  # header + the two empty cards
    cells = [cell for table in (findings, quarantine) for row in table for cell in row]
    assert not [cell for cell in cells if _FORMULA_START.match(cell)]
    branches = ({r["开户机构"] for r in outcome.findings()}
                | {r["开户机构"] for r in outcome.table("quarantine.csv")})
    for text in HOSTILE:
        expected = "'" + text if _FORMULA_START.match(text) else text
        compact = "".join(expected.split())  # branches are compared without white space
        assert compact in branches, (compact, branches)
    # The workbook stores them as text cells, never as formulas; reports escape the HTML.
    book = openpyxl.load_workbook(outcome.out / "findings.xlsx")
    assert not [c.coordinate for sheet in book.worksheets for row in sheet.iter_rows()
                for c in row if c.data_type == "f"]
    for report in outcome.out.glob("report_*"):
        if report.suffix in {".md", ".html"}:
            assert "<script>alert" not in report.read_text(encoding="utf-8"), report.name


def test_html_in_legal_entity_is_escaped_in_reports(audit, tmp_path):
    rows = [record(i, entity="<script>alert(1)</script>") for i in range(1, 4)]
    outcome = audit(write(tmp_path / "e.csv", csv_bytes(rows)))
    assert_completed(outcome, 3)
    reports = [p for p in outcome.out.iterdir() if p.suffix in {".md", ".html"}]
    assert reports
    for report in reports:
        assert "<script>" not in report.read_text(encoding="utf-8-sig"), report.name


# ---------------------------------------------------------------------------------------------
# Blacklist and mapping
# ---------------------------------------------------------------------------------------------


def test_blacklist_with_mangled_numbers_reports_faults_and_never_matches(audit, tmp_path):
    mangled = "4.30522E+17"
    header = ["证件号码", "姓名", "列入日期", "惩戒期限(年)", "来源", "原因"]
    entries = [
        [PERSON_A, "张三", "2024-01-01", "5", "公安", "出售账户"],  # row 2: valid
        [mangled, "李四", "2024-01-01", "5", "公安", "出售账户"],  # row 3: spreadsheet float
        [PERSON_B[:-1], "王五", "2024-01-01", "5", "公安", "出售账户"],  # row 4: 17 digits
        ["", "赵六", "2024-01-01", "5", "公安", "出售账户"],  # row 5: empty
        [PERSON_C[:-1] + ("0" if PERSON_C[-1] != "0" else "1"), "钱七", "2024-01-01", "5", "公安",
         "出售账户"],  # row 6: wrong check character
        [LEGACY_A, "孙八", "2024-01-01", "5", "公安", "=1+1"],  # row 7: 15-digit
        [_fullwidth(PERSON_C.lower()), "周九", "2024/1/1", "5", "公安", "出售账户"],  # row 8: valid
    ]
    blacklist = write(tmp_path / "名单.csv", csv_bytes(entries, header=header, encoding="gbk"))
    rows = [record(1), record(2),  # PERSON_A: 2 cards, listed
            record(3, id_number=mangled), record(4, id_number=mangled),  # never matched
            record(5, id_number=PERSON_B), record(6, id_number=PERSON_B),  # listed only mangled
            record(7, id_number=PERSON_C), record(8, id_number=PERSON_C)]  # listed full-width
    outcome = audit(write(tmp_path / "ex.csv", csv_bytes(rows)), "--blacklist", blacklist)
    assert_completed(outcome, 8)
    faults = outcome.table("blacklist_faults.csv")
    assert [(r["来源文件"], r["行号"]) for r in faults] == [
        ("名单.csv", str(n)) for n in (3, 4, 5, 6, 7)]
    assert all(r["原因"] for r in faults)
    assert outcome.summary["blacklist"]["faults"] == 5
    assert outcome.summary["blacklist"]["valid_entries"] == 2
    assert outcome.statistics["listed_2plus"] == 2
    matched = {r["客户号"] for r in outcome.findings("LISTED-2PLUS")}
    assert matched == {"C00001", "C00002", "C00007", "C00008"}


def test_mapping_naming_absent_columns_lists_the_headers_found(audit, tmp_path):
    export = write(tmp_path / "ex.csv", csv_bytes([record(1)]))
    mapping = tmp_path / "map.yaml"
    mapping.write_text("id_number: 身份证件号\n", encoding="utf-8")
    assert_error(audit(export, "--mapping", mapping), "ex.csv", "「身份证件号」", "已找到的列：",
                 "法人机构、开户机构、客户号", "请修改 --mapping 文件")


def test_missing_required_column_without_mapping_names_the_fix(audit, tmp_path):
    header = [h for h in HEADER if h != "证件号码"]
    rows = [[v for h, v in zip(HEADER, record(1), strict=True) if h != "证件号码"]]
    export = write(tmp_path / "noid.csv", csv_bytes(rows, header=header))
    assert_error(audit(export), "noid.csv", "缺少必需列「证件号码」", "已找到的列：", "--mapping")


# ---------------------------------------------------------------------------------------------
# The command line itself
# ---------------------------------------------------------------------------------------------


def test_unknown_option_is_a_usage_error_not_a_traceback(audit, tmp_path):
    export = write(tmp_path / "ex.csv", csv_bytes([record(1)]))
    outcome = audit(export, "--encodingg", "gbk")
    assert outcome.code == 2 and "Traceback" not in outcome.output
    assert "--encodingg" in outcome.output and "--help" in outcome.output


def test_internal_error_is_exit_3_without_traceback(audit, tmp_path, monkeypatch):
    from cardaudit import engine

    def broken(*args, **kwargs):
        raise RuntimeError("430522199001011234")  # a bug; its message must not be shown

    monkeypatch.setattr(engine, "audit", broken)
    outcome = audit(write(tmp_path / "ex.csv", csv_bytes([record(1)])))
    assert outcome.code == 3
    assert "Traceback" not in outcome.output and "430522199001011234" not in outcome.output


# ---------------------------------------------------------------------------------------------
# Determinism: the same rows in another order
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory) -> dict:
    """The bundled sample and the same rows shuffled (both named export.csv), each audited
    once; with the map from a shuffled row number to its original row number, and from an
    original row number to the first row of its identical twins (of repeated rows, either
    one may be the row kept)."""
    raw = (SAMPLE / "export.csv").read_bytes()
    text = raw.decode("gb18030")
    assert '"' not in text  # one record per line
    header, *body = text.splitlines(keepends=True)
    order = list(range(len(body)))
    random.Random(20261031).shuffle(order)
    folder = tmp_path_factory.mktemp("shuffled")
    shuffled = folder / "export.csv"
    shuffled.write_bytes((header + "".join(body[i] for i in order)).encode("gb18030"))
    first_twin: dict[str, int] = {}
    canonical = {i + 2: first_twin.setdefault(line.rstrip("\r\n"), i + 2)
                 for i, line in enumerate(body)}
    runs = {}
    for name, path in (("original", SAMPLE / "export.csv"), ("shuffled", shuffled)):
        runs[name] = run_audit(folder / f"out_{name}", path, "--blacklist",
                               SAMPLE / "blacklist.csv")
        assert runs[name].code == 0, runs[name].output
    return {**runs, "rows": len(body), "canonical": canonical,
            "to_original": {position + 2: order[position] + 2 for position in range(len(body))}}


def _as_original(table: list[list[str]], rows: dict[int, int] | None,
                 canonical: dict[int, int]) -> list[list[str]]:
    """Rows of an output CSV with 行号 turned into the original file's (canonical) row."""
    header, *body = table
    at = header.index("行号")
    out = [header]
    for row in body:
        number = int(row[at])
        number = rows[number] if rows else number
        out.append([*row[:at], str(canonical[number]), *row[at + 1:]])
    return out


def _same_file(runs: dict, name: str) -> None:
    a = _as_original(runs["original"].raw_table(name), None, runs["canonical"])
    b = _as_original(runs["shuffled"].raw_table(name), runs["to_original"], runs["canonical"])
    assert sorted(a[1:]) == sorted(b[1:])  # the same rows ...
    assert a == b  # ... in the same order


def test_shuffled_rows_give_identical_figures(sample_runs):
    assert_completed(sample_runs["shuffled"], sample_runs["rows"])

    def comparable(summary: dict) -> str:
        """summary.json without what must differ: generation time, input hashes and names."""
        summary = dict(summary)
        summary.pop("generated_at")
        summary["inputs"] = [{k: v for k, v in i.items() if k not in {"sha256", "file"}}
                             for i in summary["inputs"]]
        assert [i["rows"] for i in summary["inputs"]] == [sample_runs["rows"]]
        return json.dumps(summary, ensure_ascii=False, indent=1)  # key order matters too

    assert comparable(sample_runs["original"].summary) == comparable(
        sample_runs["shuffled"].summary)


def test_shuffled_rows_give_identical_findings_file(sample_runs):
    _same_file(sample_runs, "findings.csv")


def test_shuffled_rows_give_identical_quarantine_file(sample_runs):
    _same_file(sample_runs, "quarantine.csv")


def test_conflicting_duplicate_cards_do_not_make_figures_depend_on_row_order(audit, tmp_path):
    shared = record(4, id_number=PERSON_A)
    other = record(5, id_number=PERSON_B, name="李四", card=shared[6])
    base = [record(i, id_number=PERSON_A) for i in range(1, 4)]
    forward = audit(write(tmp_path / "ab" / "x.csv", csv_bytes([*base, shared, other])))
    backward = audit(write(tmp_path / "ba" / "x.csv", csv_bytes([*base, other, shared])))
    assert_completed(forward, 5)
    assert_completed(backward, 5)
    assert forward.statistics == backward.statistics


def test_undecodable_cell_in_a_column_of_few_values_names_its_own_row(audit, tmp_path):
    """A column of few distinct values is decoded once per distinct value: a bad value is still
    reported at the first row that holds it."""
    header = ["branch", "customer_id", "name", "id_number", "card_no", "status"]
    rows = [["b1", f"c{i}", "Li", PERSON_A, str(6217000000000000 + i), "正常"] for i in range(3000)]
    lines = csv_bytes(rows, header=header, encoding="gb18030").split(b"\n")
    for row in (2001, 2501):  # data rows: the file's rows 2002 and 2502
        lines[row] = lines[row].replace("正常".encode("gb18030"), b"\xff\xfe")
    path = write(tmp_path / "状态.csv", b"\n".join(lines))
    outcome = audit(path, "--encoding", "gb18030")
    assert_error(outcome, "状态.csv", "第 2002 行", "「status」列")
