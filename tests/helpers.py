"""Shared test helpers: drive the real CLI in-process."""

from __future__ import annotations

import sys

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
