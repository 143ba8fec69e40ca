"""The installed package (not only the source tree) carries every module, rule and template."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "cardaudit").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    mapped = config["setuptools"]["package-dir"]
    assert (ROOT / mapped["cardaudit.rules"] / "pack.yaml").is_file()
    assert (ROOT / mapped["cardaudit.templates"] / "report.md.j2").is_file()
