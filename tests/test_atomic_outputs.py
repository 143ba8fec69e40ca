"""A run that dies while writing leaves complete files or none, never a half-written report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cardaudit.job import AuditOptions, run_audit
from cardaudit.outputs import files
from cardaudit.rules import load_pack

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
FORMATS = ["md", "json", "html", "xlsx"]


def options(out: Path) -> AuditOptions:
    return AuditOptions(exports=[SAMPLE / "export.csv"], out_dir=out, pack=load_pack(),
                        as_of=date(2026, 10, 31), blacklist=SAMPLE / "blacklist.csv",
                        formats=FORMATS)


def untimed(path: Path) -> str:
    """The text without generation timestamps (the only part that differs between runs)."""
    return re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+\-]\d{2}:\d{2}", "<time>",
                  path.read_text(encoding="utf-8"))


def assert_complete(out: Path, reference: Path) -> None:
    """Every visible file is whole: it parses, and has the reference run's size class."""
    for path in out.iterdir():
        if path.name.startswith("."):
            continue
        assert (reference / path.name).exists(), path.name
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".csv":
            ours = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
            theirs = pd.read_csv(reference / path.name, dtype=str, encoding="utf-8-sig")
            assert len(ours) == len(theirs), path.name
        elif path.suffix in (".md", ".html"):
            assert untimed(path) == untimed(reference / path.name), path.name
        elif path.suffix == ".xlsx":
            import openpyxl

            ours = openpyxl.load_workbook(path, read_only=True).sheetnames
            assert ours == openpyxl.load_workbook(reference / path.name,
                                                  read_only=True).sheetnames, path.name
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            assert pq.read_table(path).num_rows == pq.read_table(reference / path.name).num_rows
        else:
            raise AssertionError(f"unexpected output {path.name}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    run_audit(options(out))
    return out


@pytest.mark.parametrize("fail_at", [1, 3, 6, 9])
def test_fault_in_the_nth_write_leaves_no_partial_file(fail_at: int, reference: Path,
                                                       tmp_path: Path, monkeypatch) -> None:
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        run_audit(options(tmp_path))
    assert calls["n"] == fail_at
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"
    assert_complete(tmp_path, reference)
    # The file being written when the fault hit is absent, not truncated.
    written = [p for p in tmp_path.iterdir()]
    assert len(written) == fail_at - 1


@pytest.mark.parametrize("delay", [0.8, 1.6, 2.4])
def test_killed_run_leaves_complete_files_or_none(delay: float, reference: Path,
                                                  tmp_path: Path) -> None:
    args = [sys.executable, "-m", "cardaudit", "audit", str(SAMPLE / "export.csv"),
            "--blacklist", str(SAMPLE / "blacklist.csv"), "--as-of", "2026-10-31",
            "--format", ",".join(FORMATS), "--quiet", "--out", str(tmp_path)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if tmp_path.exists():
        assert_complete(tmp_path, reference)
    # The next run clears what the killed one left and completes.
    run_audit(options(tmp_path))
    assert not list(tmp_path.glob(".*.tmp"))
    assert_complete(tmp_path, reference)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names open files by /proc")
def test_findings_files_are_synced_early_and_a_failed_early_sync_is_no_error(
        reference: Path, tmp_path: Path, monkeypatch) -> None:
    """After each legal entity the findings files written so far are handed to the disk
    (fdatasync, in a worker thread); that sync is advisory: its failure stops no run."""
    from cardaudit.outputs import findings_out

    synced: list[str] = []

    def failing_fdatasync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(findings_out.os, "fdatasync", failing_fdatasync, raising=False)
    run_audit(options(tmp_path))
    assert_complete(tmp_path, reference)
    # Two legal entities: an early sync after each (the second one is skipped should the first
    # still be running), which gives up at its first failure.
    assert 1 <= len(synced) <= 2
    assert all(re.fullmatch(r"\.findings\.csv\.\w+\.tmp", name) for name in synced), synced
