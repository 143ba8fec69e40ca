"""Entity by entity (Parquet) gives exactly the whole-export audit's figures, findings and rows."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from helpers import generated_parquet, with_entity
from test_audit_truth import assert_matches_truth

from cardaudit import load, schema, stream
from cardaudit.config import resolve_pack
from cardaudit.job import AuditOptions, run_audit

CLASS1_ONLY = "rules:\n  ACCOUNT-CLASS-LIMIT: {params: {most: {I: 1}}}\n"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 3-entity export as a two-file dataset with small row groups; one entity's name
    is sometimes spelled with extra spaces, a few rows have no entity, one card is repeated."""
    root = tmp_path_factory.mktemp("stream")
    table = generated_parquet(root, rows=5000, seed=9, entities=3)
    first = table.column("法人机构")[0].as_py()
    n = table.num_rows
    table = with_entity(table, pa.array([i % 11 == 0 for i in range(n)]),
                        f" {first[:3]}　{first[3:]}")
    table = with_entity(table, pa.array([i % 997 == 5 for i in range(n)]),
                        pa.scalar(None, pa.string()))
    table = pa.concat_tables([table, table.slice(100, 1)])  # a repeated card number
    folder = root / "export"
    folder.mkdir()
    half = table.num_rows // 2 + 31
    pq.write_table(table.slice(0, half), folder / "part-0.parquet", row_group_size=700)
    pq.write_table(table.slice(half), folder / "part-1.parquet", row_group_size=900)
    (root / "bank.yaml").write_text(CLASS1_ONLY, encoding="utf-8")
    return root


def outputs(out: Path) -> tuple[dict, list, str, str]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"]
    return (summary, findings, (out / "findings.csv").read_text(encoding="utf-8"),
            (out / "quarantine.csv").read_text(encoding="utf-8"))


def audit_whole_and_split(export: Path, dataset: Path, tmp_path: Path) -> tuple[tuple, list]:
    """Audit the export whole and entity by entity; assert the two give identical outputs.
    Returns the whole audit's outputs and the split audit's progress lines."""
    pack = resolve_pack(dataset / "bank.yaml", None, None)[0]
    base = AuditOptions(exports=[export], out_dir=tmp_path / "whole", pack=pack,
                        as_of=date(2026, 10, 31), blacklist=dataset / "blacklist.csv",
                        formats=["md", "json"], by_entity=False)
    steps: list[str] = []
    run_audit(base)
    run_audit(replace(base, out_dir=tmp_path / "split", by_entity=True), progress=steps.append)
    whole, split = outputs(tmp_path / "whole"), outputs(tmp_path / "split")
    assert whole[0]["engine"] == {"name": "pandas"}
    assert split[0]["engine"] == {"name": "pandas", "mode": "by_entity"}
    for key in ("entities", "total", "rows", "notices", "inputs"):
        assert split[0][key] == whole[0][key], key
    assert split[1] == whole[1] and len(whole[1]) > 50
    assert split[2] == whole[2]
    assert split[3] == whole[3]
    return whole, steps


def test_by_entity_equals_the_whole_export(dataset: Path, tmp_path: Path) -> None:
    whole, steps = audit_whole_and_split(dataset / "export", dataset, tmp_path)
    reasons = whole[0]["rows"]["quarantine_reasons"]
    # 6 rows lost their entity; the repeated card adds one to the generator's own 3 duplicates.
    assert reasons["法人机构为空"] == 6 and reasons["卡号重复（同一法人机构内已出现，仅计一次）"] == 4
    entities = [s for s in steps if s.startswith("审计法人机构") and "规则" not in s]
    assert len(entities) == 4 and "法人机构为空" in entities[-1], entities  # 3 entities, the rest
    assert entities[0].startswith("审计法人机构 1/4：") and "条）" in entities[0]
    rules = [s for s in steps if "· 规则 CARD-4PLUS" in s]
    assert len(rules) == 3 and rules[0].startswith(entities[0])  # per entity with rows, per rule


@pytest.mark.parametrize(("chunk", "open_files"), [(None, 256), (20_000, 256), (20_000, 2)])
def test_a_gb18030_csv_by_entity_equals_the_whole_export(dataset: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         chunk: int | None, open_files: int) -> None:
    """The same rows as one GB18030 CSV: read a chunk at a time (one, or about 40) and parked by
    entity, then normalised and audited entity by entity, with the same outputs as the whole
    audit and the same quarantine counts. With 2 parked files open at most, the 4 entity codes
    keep closing and reopening their files (each entity's rows then lie in many pieces)."""
    if chunk:
        monkeypatch.setattr(load, "CSV_CHUNK_BYTES", chunk)
    monkeypatch.setattr(stream, "MAX_OPEN_PARKED", open_files)
    pieces: list[int] = []
    parked_frame = stream.parked_frame
    monkeypatch.setattr(stream, "parked_frame", lambda parked, code, order: (
        pieces.append(len(parked.pieces[code])), parked_frame(parked, code, order))[1])
    text = io.BytesIO()
    pacsv.write_csv(pq.read_table(dataset / "export"), text)
    export = tmp_path / "export.csv"
    export.write_bytes(text.getvalue().decode("utf-8").encode("gb18030"))
    whole, steps = audit_whole_and_split(export, dataset, tmp_path)
    reasons = whole[0]["rows"]["quarantine_reasons"]
    assert reasons["法人机构为空"] == 6 and reasons["卡号重复（同一法人机构内已出现，仅计一次）"] == 4
    assert whole[0]["inputs"][0]["encoding"] == "gb18030"
    entities = [s for s in steps if s.startswith("审计法人机构") and "规则" not in s]
    assert len(entities) == 4 and "法人机构为空" in entities[-1], entities
    reads = [s for s in steps if s.startswith("读取导出文件 export.csv")]
    # Chunks end at the last record ending within `chunk` bytes.
    assert len(reads) == 1 if chunk is None else len(reads) > export.stat().st_size // chunk
    assert reads[-1].endswith(f"已读 {whole[0]['rows']['read']:,} 条")
    assert not list(tmp_path.glob("**/cardaudit-findings-*"))  # parked rows removed
    assert len(pieces) == 4 and (max(pieces) > 5 if open_files == 2 else max(pieces) == 1), pieces


def test_a_csv_guessed_utf8_then_gb18030_is_parked_again(dataset: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain ASCII at the start, GB18030 further on: the rows parked as UTF-8 are parked again
    as GB18030, as the whole-file reader decodes them."""
    monkeypatch.setattr(load, "SAMPLE_BYTES", 2000)
    monkeypatch.setattr(load, "CSV_CHUNK_BYTES", 5000)
    table = pq.read_table(dataset / "export")
    ascii_rows = pa.table({name: pa.array([
        v if (v := table.column(name)[i].as_py()) is None or v.isascii() else f"A{i}"
        for i in range(80)], pa.string()) for name in table.column_names})
    ascii_rows = with_entity(ascii_rows, pa.array([True] * 80), "BANK-A")
    both = pa.concat_tables([ascii_rows, table.cast(ascii_rows.schema)])
    # An ASCII header (the canonical names), so that the start of the file is plain ASCII.
    both = both.rename_columns([schema.ALIAS_INDEX[schema.header_key(n)] for n in both.column_names])
    text = io.BytesIO()
    pacsv.write_csv(both, text)
    export = tmp_path / "export.csv"
    export.write_bytes(text.getvalue().decode("utf-8").encode("gb18030"))
    whole, steps = audit_whole_and_split(export, dataset, tmp_path)
    assert whole[0]["inputs"][0]["encoding"] == "gb18030"
    read = [int(s.rsplit("已读 ", 1)[1].split(" ")[0].replace(",", "")) for s in steps
            if "已读" in s]
    assert read[0] < 80 and read != sorted(read)  # ASCII chunks read, then the file again
    assert "BANK-A" in whole[0]["entities"] and len(whole[0]["entities"]) == 4


def test_a_plain_split_keeps_the_planted_truth(dataset: Path, tmp_path: Path) -> None:
    """Without the planted changes (the bundled generator's own file), the truth holds."""
    subprocess.run([sys.executable, "-m", "cardaudit", "sample", "--rows", "3000", "--seed", "4",
                    "--entities", "3", "--format", "parquet", "--out", str(tmp_path / "s")],
                   check=True, capture_output=True)
    pack = resolve_pack(dataset / "bank.yaml", None, None)[0]
    options = AuditOptions(exports=[tmp_path / "s" / "export.parquet"], out_dir=tmp_path / "out",
                           pack=pack, as_of=date(2026, 10, 31),
                           blacklist=tmp_path / "s" / "blacklist.csv", formats=["json"])
    outcome = run_audit(options)
    assert outcome.summary["engine"]["mode"] == "by_entity"
    assert_matches_truth(outcome.summary,
                         json.loads((tmp_path / "s" / "truth.json").read_text(encoding="utf-8")))


def test_a_dataset_generated_in_parts_matches_each_parts_truth(tmp_path: Path) -> None:
    """Parts made with --first-entity hold different legal entities: one dataset, all truths."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    truths = {}
    for part, first in enumerate((0, 2)):
        out = tmp_path / f"part{part}"
        subprocess.run([sys.executable, "-m", "cardaudit", "sample", "--rows", "2400", "--seed",
                        str(part + 1), "--entities", "2", "--first-entity", str(first),
                        "--format", "parquet", "--out", str(out)], check=True, capture_output=True)
        (out / "export.parquet").rename(folder / f"part-{part}.parquet")
        truths.update(json.loads((out / "truth.json").read_text(encoding="utf-8"))["entities"])
    pack = resolve_pack(None, None, ["ACCOUNT-CLASS-LIMIT", "LISTED-2PLUS", "LISTED-AGENT",
                                     "LISTED-OPENED-IN-PERIOD"])[0]
    outcome = run_audit(AuditOptions(exports=[folder], out_dir=tmp_path / "out", pack=pack,
                                     as_of=date(2026, 10, 31), formats=["json"]))
    assert sorted(outcome.summary["entities"]) == sorted(truths) and len(truths) == 4
    for name, truth in truths.items():
        got = outcome.summary["entities"][name]
        assert got["rows"] == truth["rows"], name
        for key in ("outlets", "debit_cards", "customers_4plus", "customers_4plus_cards",
                    "customers_over_limit", "agents_3plus", "agents_3plus_cards", "id_mismatch",
                    "id_nonexistent", "id_legacy15", "id_noncompliant"):
            assert got["statistics"][key] == truth["statistics"][key], (name, key)


def test_console_shows_the_total_only_for_many_entities(dataset: Path, tmp_path: Path) -> None:
    from rich.console import Console

    from cardaudit.console_tables import figures_table

    pack = resolve_pack(dataset / "bank.yaml", None, None)[0]
    summary = run_audit(AuditOptions(exports=[dataset / "export"], out_dir=tmp_path / "o",
                                     pack=pack, as_of=date(2026, 10, 31),
                                     formats=["json"])).summary
    console = Console(record=True, width=200)
    console.print(figures_table(summary))
    three = console.export_text()
    assert all(name in three for name in summary["entities"])  # 3 entities: one column each
    many = {**summary, "entities": {f"{i}号法人机构": e for i, e in
                                    enumerate(list(summary["entities"].values()) * 2)}}
    console.print(figures_table(many))
    text = console.export_text()
    assert "共 6 个法人机构" in text and "0号法人机构" not in text
    total = str(summary["total"]["statistics"]["debit_cards"])
    assert total in text


def test_parked_findings_live_in_the_temp_dir_and_are_removed(monkeypatch, capsys, dataset: Path,
                                                              tmp_path: Path) -> None:
    from helpers import run

    temp = tmp_path / "scratch"
    temp.mkdir()
    seen: list[list[str]] = []
    real = __import__("cardaudit.engine", fromlist=["EntityResult"]).EntityResult.spill

    def spy(self, folder):  # type: ignore[no-untyped-def]
        real(self, folder)
        seen.append(sorted(p.name for p in folder.iterdir()))
        assert folder.parent == temp and oct(folder.stat().st_mode & 0o777) == "0o700"

    monkeypatch.setattr("cardaudit.engine.EntityResult.spill", spy)
    code, output = run(monkeypatch, capsys, "audit", str(dataset / "export"), "--as-of",
                       "2026-10-31", "--out", str(tmp_path / "out"), "--temp-dir", str(temp), "-q")
    assert code == 0, output
    assert [len(s) for s in seen] == [1, 2, 3]  # one file per entity, while the run lasts
    assert list(temp.iterdir()) == []  # nothing left behind
    code, output = run(monkeypatch, capsys, "audit", str(dataset / "export"), "--as-of",
                       "2026-10-31", "--out", str(tmp_path / "out2"), "--temp-dir",
                       str(tmp_path / "missing"), "-q")
    assert code == 2 and "--temp-dir" in output


def test_a_full_temp_dir_is_a_chinese_error_not_a_crash(monkeypatch, capsys, dataset: Path,
                                                       tmp_path: Path) -> None:
    """Parking rows or findings can fail for want of disk space: exit 2 with the fix, the
    parked files removed, never an internal error."""
    import errno

    from helpers import run

    temp = tmp_path / "scratch"
    temp.mkdir()

    def full(self, folder):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("cardaudit.engine.EntityResult.spill", full)
    code, output = run(monkeypatch, capsys, "audit", str(dataset / "export"), "--as-of",
                       "2026-10-31", "--out", str(tmp_path / "out"), "--temp-dir", str(temp), "-q")
    assert code == 2, output
    assert "无法写入暂存目录" in output and "--temp-dir" in output and "Traceback" not in output
    assert list(temp.iterdir()) == []


def test_a_damaged_data_page_is_a_chinese_error_not_a_crash(monkeypatch, capsys, tmp_path) -> None:
    from helpers import run

    subprocess.run([sys.executable, "-m", "cardaudit", "sample", "--rows", "3000", "--entities",
                    "2", "--format", "parquet", "--out", str(tmp_path)], check=True,
                   capture_output=True)
    data = bytearray((tmp_path / "export.parquet").read_bytes())
    for i in range(200, len(data) // 2, 7):  # the pages; the footer (schema) stays readable
        data[i] ^= 0x5A
    (tmp_path / "bad.parquet").write_bytes(bytes(data))
    assert pq.ParquetFile(tmp_path / "bad.parquet").metadata.num_rows > 2900
    code, output = run(monkeypatch, capsys, "audit", str(tmp_path / "bad.parquet"), "--as-of",
                       "2026-10-31", "--out", str(tmp_path / "out"), "-q")
    assert code == 2 and "无法读取 Parquet 文件 bad.parquet" in output and "请重新导出" in output


def test_entity_codes_through_parquet_dictionaries_equal_those_of_the_text(tmp_path) -> None:
    """The first pass reads the legal-entity column dictionary-encoded; every row's code is the
    one its text gives (spelling variants, blanks, nulls, a dictionary per row group)."""
    from cardaudit import stream

    names = ["甲银行", " 甲　银行", "乙银行", "", "  ", None, "乙银行 ", "丙银行"]
    values = [names[(i * 7 + i // 5) % len(names)] for i in range(400)]
    pq.write_table(pa.table({"法人机构": pa.array(values, pa.string())}),
                   tmp_path / "e.parquet", row_group_size=37)
    encoded = pq.read_table(tmp_path / "e.parquet", read_dictionary=["法人机构"]).column(0)
    plain = pq.read_table(tmp_path / "e.parquet").column(0)
    assert pa.types.is_dictionary(encoded.type) and encoded.num_chunks == 11
    by_dictionary: dict[str, int] = {}
    by_text: dict[str, int] = {}
    got = stream._row_codes(encoded, "法人机构", "e.parquet", by_dictionary)
    want = stream._row_codes(plain, "法人机构", "e.parquet", by_text)
    assert by_dictionary.keys() == by_text.keys() == {"甲银行", "乙银行", "丙银行"}
    named = [list(by_dictionary)[c] if c >= 0 else None for c in got]
    assert named == [list(by_text)[c] if c >= 0 else None for c in want]
    assert named.count(None) == sum(v is None or not v.strip() for v in values) > 0


def test_dictionary_encoded_columns_give_the_figures_of_their_text(dataset: Path,
                                                                  tmp_path: Path) -> None:
    """Branch, product, status, ID type, account class and opening date are read as Parquet
    dictionaries and normalised once per distinct value. Spellings that finish alike (spaces,
    full-width), blanks, values held only by other entities' rows of a row group, and a file
    that stores 开户日期 as a date (plain, not a dictionary) while the other stores text: the
    entity-by-entity audit gives the whole audit's outputs, and the variants count as one."""
    table = pq.read_table(dataset / "export")
    n = table.num_rows

    def spelled(column: str, variants: list[object]) -> None:
        nonlocal table
        i = table.schema.get_field_index(column)
        values = table.column(i).to_pylist()
        table = table.set_column(i, column, pa.array(
            [variants[k % len(variants)](v) if k % 5 == 0 and v else v
             for k, v in enumerate(values)], pa.string()))

    spelled("开户机构", [lambda v: f" {v} ", lambda v: v + "\u3000", lambda v: "  "])
    spelled("卡产品", [lambda v: f"　{v}", lambda v: ""])
    spelled("卡状态", [lambda v: f"{v} ", lambda v: None])
    spelled("证件类型", [lambda v: f" {v}"])
    spelled("账户类别", [lambda v: f"{v}\t"])
    folder = tmp_path / "export"
    folder.mkdir()
    half = n // 2
    first = table.slice(0, half)
    i = first.schema.get_field_index("开户日期")
    dates = pc.strptime(first.column(i), format="%Y-%m-%d", unit="s", error_is_null=True)
    first = first.set_column(i, "开户日期", dates.cast(pa.date32()))
    pq.write_table(first, folder / "part-0.parquet", row_group_size=600)
    pq.write_table(table.slice(half), folder / "part-1.parquet", row_group_size=800)
    stored = pq.ParquetFile(folder / "part-1.parquet").metadata.row_group(0)
    assert "RLE_DICTIONARY" in stored.column(table.schema.get_field_index("开户机构")).encodings
    whole, _steps = audit_whole_and_split(folder, dataset, tmp_path)
    reference, _ = audit_whole_and_split(dataset / "export", dataset, tmp_path / "reference")
    # Blanked branches quarantine their rows; the other variants change no figure.
    blanked = whole[0]["rows"]["quarantine_reasons"]["开户机构为空"]
    assert blanked > 0 and "开户机构为空" not in reference[0]["rows"]["quarantine_reasons"]
    ours, theirs = whole[0]["total"]["statistics"], reference[0]["total"]["statistics"]
    assert ours["outlets"] == theirs["outlets"]  # " 0101 " and "0101\u3000" are branch 0101
    assert set(ours["cards_by_product"]) == set(theirs["cards_by_product"]) | {"（未填写）"}


def test_columns_no_check_reads_are_not_read(dataset: Path, tmp_path: Path) -> None:
    """代理人姓名, 代理人证件类型 and 销户日期 are mapped (and named in summary.json) but the entity
    reader leaves them in the file; a parked CSV holds none of them either."""
    from concurrent.futures import ThreadPoolExecutor

    from cardaudit import stream
    from cardaudit.normalize import UNREAD_COLUMNS

    members = stream.members_of(sorted((dataset / "export").glob("*.parquet")), None)
    assert members is not None
    mapped = set(members[0].headers)
    assert {"agent_name", "agent_id_type", "close_date"} <= mapped
    stream._entity_codes(members)
    code = next(iter(members[0].positions))
    with ThreadPoolExecutor(max_workers=2) as pool:
        table = stream._rows_of(members[0], members[0].positions[code], pool)
    assert set(table.column_names) == (mapped - UNREAD_COLUMNS) | {schema.SOURCE_ROW}

    csv = tmp_path / "export.csv"
    pacsv.write_csv(pq.read_table(dataset / "export" / "part-0.parquet"), csv)
    chunked = load.csv_chunks([csv], encoding=None, mapping=None)
    assert chunked is not None
    parked = stream.park_csv(chunked[0], tmp_path, lambda _msg: None)
    path = parked.pieces[0][0][0]
    names = set(pa.ipc.open_stream(pa.OSFile(str(path))).schema.names)
    assert names == (mapped - UNREAD_COLUMNS) | {schema.SOURCE_ROW}


def test_a_parquet_file_given_twice_is_refused_before_any_entity_is_audited(
        dataset: Path, tmp_path: Path) -> None:
    import shutil

    from cardaudit.errors import InputError

    folder = tmp_path / "twice"
    folder.mkdir()
    for name in ("a.parquet", "b.parquet"):
        shutil.copy(dataset / "export" / "part-0.parquet", folder / name)
    pack = resolve_pack(None, None, None)[0]
    steps: list[str] = []
    options = AuditOptions(exports=[folder], out_dir=tmp_path / "out", pack=pack,
                           as_of=date(2026, 10, 31), formats=["md"], by_entity=True)
    with pytest.raises(InputError) as excinfo:
        run_audit(options, progress=steps.append)
    assert "a.parquet" in str(excinfo.value) and "b.parquet" in str(excinfo.value)
    assert steps == ["读取导出文件的法人机构列"]
    assert not (tmp_path / "out").exists()


def test_entity_positions_are_held_compactly_and_given_back_exactly() -> None:
    run = np.arange(5_000, 9_000, dtype=np.int64)  # an entity exported together
    held = stream._held(run)
    assert held == range(5_000, 9_000)
    scattered = np.array([3, 4, 9, 2**31 - 1], dtype=np.int64)
    assert stream._held(scattered).dtype == np.int32
    beyond = np.array([3, 2**31], dtype=np.int64)  # past 32 bits: kept as they are
    assert stream._held(beyond).dtype == np.int64
    for rows in (run, scattered, beyond, np.array([7], dtype=np.int64)):
        back = stream._rows(stream._held(rows))
        assert back.dtype == np.int64 and np.array_equal(back, rows)
