"""A CSV export read a chunk at a time gives exactly what the whole-file reader gives.

Entity-by-entity audits read CSV exports in chunks of records (`load.csv_chunks`), so memory is
bounded by the chunk, not the file. Every chunk size, down to one record a chunk, must give the
same text, the same row numbers, the same file information and the same errors (naming the same
row and column) as `load_exports`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from cardaudit import load
from cardaudit.errors import InputError
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW

HEADER = "法人机构,开户机构,客户号,客户姓名,证件号码,卡号,卡产品"
SIZES = [1, 7, 64, 333, 1 << 20]


def read_in_chunks(paths: list[Path], chunk: int, monkeypatch: pytest.MonkeyPatch,
                   **options) -> tuple[pd.DataFrame, list[load.FileInfo], int, int]:
    """The loader's frame and file information from chunks of ``chunk`` bytes; how many chunks
    there were, and how many chunks were read before a file had to be read again."""
    monkeypatch.setattr(load, "CSV_CHUNK_BYTES", chunk)
    found = load.csv_chunks(paths, **options)
    assert found is not None
    sources, order = found
    parts, count, wasted = [], 0, 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for source in sources:
            while True:
                chunks = []
                try:
                    for chunk in source.chunks(pool):
                        chunks.append(chunk)
                    break
                except load.RereadCsv:
                    wasted += len(chunks)
            count += len(chunks)
            tables = [pa.table({**columns, SOURCE_ROW: pa.array(rows, pa.int64())})
                      for columns, rows in chunks]
            parts.append((source.display, pa.concat_tables(tables).combine_chunks()))
    frame = load.files_frame(parts, order)
    return frame, [s.info() for s in sources], count, wasted


def assert_same_as_whole(paths: list[Path], monkeypatch: pytest.MonkeyPatch,
                         **options) -> pd.DataFrame:
    whole = load.load_exports(paths, **options)
    for size in SIZES:
        frame, files, count, _wasted = read_in_chunks(paths, size, monkeypatch, **options)
        pd.testing.assert_frame_equal(frame, whole.frame)
        assert files == whole.files, size
        if size == 1:
            assert count >= len(whole.frame)  # one record a chunk: every boundary is exercised
    return whole.frame


def assert_same_error(paths: list[Path], monkeypatch: pytest.MonkeyPatch, **options) -> str:
    with pytest.raises(InputError) as whole:
        load.load_exports(paths, **options)
    for size in SIZES:
        with pytest.raises(InputError) as chunked:
            read_in_chunks(paths, size, monkeypatch, **options)
        assert str(chunked.value) == str(whole.value), size
    return str(whole.value)


def rows(n: int, start: int = 0) -> list[str]:
    entities = ["青禾县农村商业银行", "云溪县农村商业银行", " 青禾县农村 商业银行"]
    return [f"{entities[i % 3]},{430000 + i % 7},C{i:06d},姓名{i},43052219900101{i:04d},"
            f"62170000{i:011d},借记卡" for i in range(start, start + n)]


def test_tricky_gb18030_file_is_read_the_same_in_any_chunks(tmp_path, monkeypatch):
    """Title rows, CRLF, blank lines, quoted values with line breaks, commas and doubled quotes,
    Excel's ="..." text and white space: one chunk or one record a chunk, the same frame."""
    body = [
        *rows(5),
        '云溪县农村商业银行,"4300\r\n01",C1,"王""小""二",="430522199001010011",'
        '"6217,0001","借记\n\nIC卡"',
        "", "",
        *rows(4, 10),
        '"青禾县农村商业银行", 430001 ,C2,  ,430522199001010022,6217000000000000099,"a\r\nb"',
        "",
    ]
    text = "自查导出\r\n日期：2026-10-31\r\n" + HEADER + "\r\n" + "\r\n".join(body) + "\r\n\r\n"
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode("gb18030"))
    frame = assert_same_as_whole([path], monkeypatch)
    assert len(frame) == 11 and frame[SOURCE_ROW].tolist() == [
        4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16]
    assert frame.loc[5, "name"] == '王"小"二'
    assert frame.loc[5, "id_number"] == "430522199001010011"
    assert pd.isna(frame.loc[10, "name"]) and frame.loc[10, "branch"] == "430001"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_two_files_and_encodings(tmp_path, monkeypatch, encoding):
    first, second = tmp_path / "a" / "export.csv", tmp_path / "b" / "export.csv"
    for path, start in ((first, 0), (second, 100)):
        path.parent.mkdir()
        path.write_bytes(("\n".join([HEADER, *rows(30, start)]) + "\n").encode(encoding))
    frame = assert_same_as_whole([first, second], monkeypatch)
    assert frame[SOURCE_FILE].unique().tolist() == ["a/export.csv", "b/export.csv"]


def test_ascii_start_then_gbk_is_read_again_as_gb18030(tmp_path, monkeypatch):
    """The encoding sample is plain ASCII, so UTF-8 is a guess; a GBK row in a later chunk turns
    the whole file to GB18030, rows read before included."""
    monkeypatch.setattr(load, "SAMPLE_BYTES", 200)
    ascii_rows = [f"BANK-A,4300,C{i},NAME{i},43052219900101{i:04d},62170000{i:011d},CARD"
                  for i in range(20)]
    path = tmp_path / "export.csv"
    header = "legal_entity,branch,customer_id,name,id_number,card_no,product"  # ASCII too
    path.write_bytes(("\n".join([header, *ascii_rows, *rows(3)]) + "\n").encode("gb18030"))
    frame = assert_same_as_whole([path], monkeypatch)
    assert load.load_exports([path]).files[0].encoding == "gb18030"
    # Chunks of a few records: the first ones are plain ASCII, a later one holds the GBK rows.
    _frame, _files, count, wasted = read_in_chunks([path], 300, monkeypatch)
    assert wasted >= 3 and count > wasted
    assert frame["legal_entity"].iloc[-1] == "青禾县农村 商业银行"


@pytest.mark.parametrize("case", ["ragged", "short", "spaces", "nul", "bad-gbk", "utf8-then-gbk",
                                  "unclosed-quote", "forced-utf8"])
def test_errors_name_the_same_row_and_column(tmp_path, monkeypatch, case):
    body = rows(40)
    options: dict = {}
    encoding = "gb18030"
    if case == "ragged":
        body[31] += ",多余的一格"
        expected = "第 33 行"
    elif case == "short":  # the last record of its chunk, but not of the file
        body[20] = body[20].rsplit(",", 1)[0]
        expected = "第 22 行"
    elif case == "spaces":
        body[25] = "   \t "
        expected = "第 27 行"
    elif case == "nul":  # beyond the start the encoding is told from (else read whole)
        monkeypatch.setattr(load, "SAMPLE_BYTES", 300)
        body[37] = body[37].replace("姓名", "姓\x00名")
        expected = "第 39 行"
    elif case == "unclosed-quote":
        body[-1] = body[-1].rsplit(",", 1)[0] + ',"借记卡'
        expected = "第 41 行"
    elif case == "forced-utf8":
        options = {"encoding": "utf-8"}
        expected = "第 1 行"  # the header already
    path = tmp_path / "export.csv"
    data = ("\n".join([HEADER, *body]) + "\n").encode(encoding)
    if case == "bad-gbk":
        data = data.replace("姓名33".encode("gb18030"), b"\x81\x20" + b"33")
        expected = "第 35 行「客户姓名」列"
    if case == "utf8-then-gbk":
        data = ("\n".join([HEADER, *body[:30]]) + "\n").encode("utf-8") + (
            "\n".join(body[30:]) + "\n").encode("gb18030")
        expected = "第 32 行「法人机构」列"
    path.write_bytes(data)
    message = assert_same_error([path], monkeypatch, **options)
    assert "export.csv" in message and expected in message, message


def test_files_that_are_read_whole(tmp_path):
    """Exports the chunked reader leaves to the whole-file reader (which names any problem)."""
    def made(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    text = "\n".join([HEADER, *rows(3)]) + "\n"
    assert load.csv_chunks([made("ok.csv", text.encode("gb18030"))]) is not None
    no_entity = "\n".join(line.split(",", 1)[1] for line in text.splitlines())
    for path in [
        made("utf16.csv", text.encode("utf-16")),
        made("pipe-gbk.csv", text.replace(",", "|").encode("gb18030")),
        made("mac.csv", text.replace("\n", "\r").encode("utf-8")),
        made("nul-in-header.csv", text.replace("卡号", "卡\x00号").encode("utf-8")),
        made("empty.csv", b"  \n\n"),
        made("no-entity.csv", no_entity.encode("utf-8")),
        made("book.xlsx", b"PK\x03\x04"),
    ]:
        assert load.csv_chunks([path]) is None, path.name
    assert load.csv_chunks([tmp_path / "ok.csv", tmp_path / "book.xlsx"]) is None
