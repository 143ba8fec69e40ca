"""The Spark engine gives the pandas engine's figures and findings, and fails one entity at a time.

Run on `local[2]` with one SparkSession for the module. Skipped only where pyspark or Java is
missing and CARDAUDIT_REQUIRE_SPARK is unset; CI sets it, so there a missing Spark fails.
Deselect locally with `pytest -m "not spark"`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import generated_parquet, run, with_entity
from test_audit_truth import assert_matches_truth

AS_OF = "2026-10-31"
# The truth file tracks Ⅰ类户 only for the account-class rule (see test_audit_truth).
CLASS1_ONLY = "rules:\n  ACCOUNT-CLASS-LIMIT: {params: {most: {I: 1}}}\n"


def _require_spark() -> None:
    required = os.environ.get("CARDAUDIT_REQUIRE_SPARK") == "1"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("CARDAUDIT_REQUIRE_SPARK=1 but pyspark is not installed: "
                        "pip install -e '.[test,spark]'")
        pytest.skip("pyspark is not installed (pip install -e '.[spark]')")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        if required:
            pytest.fail("CARDAUDIT_REQUIRE_SPARK=1 but Java is not installed")
        pytest.skip("Java is not installed")


@pytest.fixture(scope="module")
def spark():
    _require_spark()
    from cardaudit.spark_engine import start_session

    session = start_session("local[2]", {"spark.sql.shuffle.partitions": "2",
                                         "spark.ui.enabled": "false"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 3-entity export, written by `cardaudit sample`, split into a two-file Parquet
    dataset; a few rows of one entity spell its name with extra white space (the same entity)."""
    root = tmp_path_factory.mktemp("spark_sample")
    table = generated_parquet(root, rows=4000, seed=3, entities=3)
    entity = table.column("法人机构")
    first = entity[0].as_py()
    table = with_entity(table, pc.and_(pc.equal(entity, first),
                                       pa.array([i % 7 == 0 for i in range(table.num_rows)])),
                        f"　{first[:3]} {first[3:]} ")
    dataset = root / "export"
    dataset.mkdir()
    half = table.num_rows // 2 + 17  # the files' boundary falls inside an entity
    pq.write_table(table.slice(0, half), dataset / "part-00000.parquet")
    pq.write_table(table.slice(half), dataset / "part-00001.parquet")
    (root / "bank.yaml").write_text(CLASS1_ONLY, encoding="utf-8")
    return root


def _audit(monkeypatch, capsys, export: Path, out: Path, *extra: str) -> tuple[int, str]:
    return run(monkeypatch, capsys, "audit", str(export / "export"), "--blacklist",
               str(export / "blacklist.csv"), "--config", str(export / "bank.yaml"),
               "--as-of", AS_OF, "--out", str(out), "--format", "md,json", *extra)


def _load(out: Path) -> tuple[dict, list, str, str]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"]
    return (summary, findings, (out / "findings.csv").read_text(encoding="utf-8"),
            (out / "quarantine.csv").read_text(encoding="utf-8"))


@pytest.mark.spark
def test_spark_engine_equals_pandas_engine_and_truth(spark, export: Path, tmp_path: Path,
                                                     monkeypatch, capsys) -> None:
    code, _ = _audit(monkeypatch, capsys, export, tmp_path / "pandas", "--engine", "pandas")
    assert code == 0
    code, output = _audit(monkeypatch, capsys, export, tmp_path / "spark", "--engine", "spark",
                          "--spark-master", "local[2]")
    assert code == 0, output
    pd_summary, pd_findings, pd_csv, pd_quarantine = _load(tmp_path / "pandas")
    sp_summary, sp_findings, sp_csv, sp_quarantine = _load(tmp_path / "spark")

    assert len(sp_summary["entities"]) == 3
    assert sp_summary["entities"] == pd_summary["entities"]
    assert sp_summary["total"] == pd_summary["total"]
    assert sp_summary["rows"] == pd_summary["rows"]
    assert sp_summary["notices"] == pd_summary["notices"]
    assert sp_summary["inputs"] == pd_summary["inputs"]  # names, rows and SHA-256 of both files
    assert [f["file"] for f in sp_summary["inputs"]] == ["export/part-00000.parquet",
                                                         "export/part-00001.parquet"]
    assert sp_findings == pd_findings and len(sp_findings) > 50
    assert sp_csv == pd_csv  # every row behind every finding, with its file and row number
    assert sp_quarantine == pd_quarantine
    assert sp_summary["engine"]["name"] == "spark"
    assert pd_summary["engine"] == {"name": "pandas", "mode": "by_entity"}
    assert sp_summary["complete"] is True and sp_summary["failed_entities"] == []

    truth = json.loads((export / "truth.json").read_text(encoding="utf-8"))
    assert_matches_truth(sp_summary, truth)
    # Row numbers are each file's own (data row + 1, as if it had a header row).
    sizes = {f"export/{p.name}": pq.read_metadata(p).num_rows
             for p in (export / "export").glob("*.parquet")}
    rows = [(r["source_file"], r["source_row"]) for f in sp_findings for r in f["rows"]]
    assert {name for name, _ in rows} == set(sizes)
    assert all(2 <= n <= sizes[name] + 1 for name, n in rows)


@pytest.mark.spark
def test_results_travel_in_small_chunks_through_the_python_api(spark, export: Path,
                                                               tmp_path: Path) -> None:
    from dataclasses import replace
    from datetime import date

    from cardaudit.config import resolve_pack
    from cardaudit.job import AuditOptions, masked_quarantine, run_audit
    from cardaudit.spark_engine import SparkEngine

    def options(out: str) -> AuditOptions:
        pack = resolve_pack(export / "bank.yaml", None, None)[0]
        return AuditOptions(exports=[export / "export"], out_dir=tmp_path / out, pack=pack,
                            as_of=date.fromisoformat(AS_OF), blacklist=export / "blacklist.csv")

    # The whole-export pandas run keeps its findings in the result (entity by entity parks them
    # on disk only while the outputs are written).
    pandas_run = run_audit(replace(options("pandas"), by_entity=False))
    spark_run = run_audit(options("spark"), compute=SparkEngine(chunk_bytes=50_000))
    assert spark_run.summary["entities"] == pandas_run.summary["entities"]
    # Integer codes are each group's own; every column the outputs show is equal.
    assert masked_quarantine(spark_run.result.quarantined).equals(
        masked_quarantine(pandas_run.result.quarantined))
    for ours, theirs in zip(spark_run.result.entities, pandas_run.result.entities, strict=True):
        assert ours.findings.equals(theirs.findings)
        assert ours.branches.equals(theirs.branches)


@pytest.mark.spark
def test_failure_in_one_entity_names_it_and_keeps_the_others(spark, export: Path, tmp_path: Path,
                                                             monkeypatch, capsys) -> None:
    from cardaudit.spark_engine import FAIL_ENTITY_ENV

    code, _ = _audit(monkeypatch, capsys, export, tmp_path / "pandas", "--engine", "pandas")
    assert code == 0
    pd_summary = json.loads((tmp_path / "pandas" / "summary.json").read_text(encoding="utf-8"))
    names = sorted(pd_summary["entities"])
    broken = names[1]
    monkeypatch.setenv(FAIL_ENTITY_ENV, broken)  # raised inside that entity's executor task
    code, output = _audit(monkeypatch, capsys, export, tmp_path / "spark", "--engine", "spark")
    assert code == 3
    assert f"法人机构「{broken}」审计失败" in output and "执行器内部错误（RuntimeError）" in output
    assert "本次结果不完整" in output

    summary = json.loads((tmp_path / "spark" / "summary.json").read_text(encoding="utf-8"))
    assert summary["complete"] is False
    assert [f["entity"] for f in summary["failed_entities"]] == [broken]
    assert sorted(summary["entities"]) == [n for n in names if n != broken]
    for name in summary["entities"]:
        assert summary["entities"][name] == pd_summary["entities"][name]
    assert any(broken in n and "审计失败" in n for n in summary["notices"])
    reports = {p.name for p in (tmp_path / "spark").glob("report_*.md")}
    assert f"report_{names[0]}.md" in reports and f"report_{broken}.md" not in reports
    findings = json.loads((tmp_path / "spark" / "findings.json").read_text(encoding="utf-8"))
    assert {f["legal_entity"] for f in findings["findings"]} == set(summary["entities"])


@pytest.mark.spark
def test_catalog_table_gives_the_same_figures(spark, export: Path, tmp_path: Path, monkeypatch,
                                              capsys) -> None:
    spark.read.parquet(str(export / "export")).createOrReplaceTempView("card_export")
    code, _ = _audit(monkeypatch, capsys, export, tmp_path / "pandas", "--engine", "pandas")
    assert code == 0
    code, output = run(monkeypatch, capsys, "audit", "--engine", "spark", "--spark-table",
                       "card_export", "--blacklist", str(export / "blacklist.csv"), "--config",
                       str(export / "bank.yaml"), "--as-of", AS_OF, "--out",
                       str(tmp_path / "spark"))
    assert code == 0, output
    pd_summary, _, _, _ = _load(tmp_path / "pandas")
    sp_summary, sp_findings, _, _ = _load(tmp_path / "spark")
    assert sp_summary["entities"] == pd_summary["entities"]
    assert sp_summary["total"] == pd_summary["total"]
    # A view carries no file metadata: rows are named by the table and Spark's row id.
    assert {r["source_file"] for f in sp_findings for r in f["rows"]} == {"card_export"}
    assert [(f["file"], f["rows"], f["format"]) for f in sp_summary["inputs"]] == [
        ("card_export", pd_summary["rows"]["read"], "table")]


@pytest.mark.spark
def test_spark_engine_reads_no_csv(spark, tmp_path: Path, monkeypatch, capsys) -> None:
    export = Path(__file__).resolve().parent.parent / "sample_data" / "export.csv"
    code, output = run(monkeypatch, capsys, "audit", str(export), "--engine", "spark",
                       "--out", str(tmp_path))
    assert code == 2 and "--engine pandas" in output and "Parquet" in output


def test_unknown_engine_is_a_usage_error(tmp_path: Path, monkeypatch, capsys) -> None:
    code, output = run(monkeypatch, capsys, "audit", "x.parquet", "--engine", "dask",
                       "--out", str(tmp_path))
    assert code == 2 and "--engine 取值无效：dask" in output


def test_spark_engine_without_pyspark_says_how_to_install(tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` raises ImportError
    code, output = run(monkeypatch, capsys, "audit", "x.parquet", "--engine", "spark",
                       "--out", str(tmp_path))
    assert code == 2
    assert "pip install 'cardaudit[spark]'" in output and "未安装" in output
    assert not (tmp_path / "summary.json").exists()


def test_help_does_not_import_pyspark() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys; from cardaudit import cli; "
                           "print('pyspark' in sys.modules)"], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
