"""Ledger test support: a fresh database per test on SQLite and on a real PostgreSQL server.

PostgreSQL comes from CARDAUDIT_TEST_POSTGRES (a server URL; `.ci/start-postgres` starts one and
prints it). Without it the PostgreSQL variants skip locally; CI sets CARDAUDIT_REQUIRE_POSTGRES=1,
which turns that skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

SERVER = os.environ.get("CARDAUDIT_TEST_POSTGRES", "")


def postgres_database() -> Iterator[str]:
    """Create a new database on the test server, yield its URL, drop it afterwards."""
    if not SERVER:
        if os.environ.get("CARDAUDIT_REQUIRE_POSTGRES") == "1":
            pytest.fail("CARDAUDIT_TEST_POSTGRES is not set but CI requires the PostgreSQL tests")
        pytest.skip("no PostgreSQL server: set CARDAUDIT_TEST_POSTGRES (see .ci/start-postgres)")
    import psycopg

    plain = SERVER.replace("postgresql+psycopg://", "postgresql://")
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = plain.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ledger_target(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield str(tmp_path / "ledger.db")
    else:
        yield from postgres_database()


def fill_worklists(files: list[Path], outcomes: dict[str, tuple[Any, ...]], out: Path) -> list[Path]:
    """Copy worklists with outcomes written in: {fingerprint: (结果, 非本人意愿卡数, 联系日期, 备注)}."""
    filled = []
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        book = openpyxl.load_workbook(path)
        sheet = book["核查清单"]
        header = [c.value for c in sheet[1]]
        col = {h: i + 1 for i, h in enumerate(header)}
        touched = False
        for r in range(2, sheet.max_row + 1):
            fp = sheet.cell(r, col["指纹"]).value
            if fp in outcomes:
                result, against, day, note = outcomes[fp]
                sheet.cell(r, col["核查结果"]).value = result
                sheet.cell(r, col["非本人意愿卡数"]).value = against
                sheet.cell(r, col["联系日期"]).value = day
                sheet.cell(r, col["备注"]).value = note
                touched = True
        if touched:
            target = out / path.name
            book.save(target)
            filled.append(target)
    return filled
