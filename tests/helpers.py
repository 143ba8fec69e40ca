"""Shared test helpers: drive the real CLI in-process; generated Parquet exports to rework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cardaudit import cli


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        *args: str) -> tuple[int, str]:
    """Run `cardaudit *args` through `cli.main()`; return (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["cardaudit", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out + captured.err


def generated_parquet(root: Path, rows: int, seed: int, entities: int) -> pa.Table:
    """`cardaudit sample` as Parquet into `root` (blacklist and truth stay there); the export as
    a table, its file removed so that the caller writes its own variant of it."""
    subprocess.run([sys.executable, "-m", "cardaudit", "sample", "--rows", str(rows), "--seed",
                    str(seed), "--entities", str(entities), "--format", "parquet", "--out",
                    str(root)], check=True, capture_output=True)
    table = pq.read_table(root / "export.parquet")
    (root / "export.parquet").unlink()
    return table


def with_entity(table: pa.Table, where: pa.Array, value: object) -> pa.Table:
    """The table with 法人机构 set to `value` in the rows `where` marks."""
    i = table.schema.get_field_index("法人机构")
    return table.set_column(i, "法人机构", pc.if_else(where, value, table.column(i)))
