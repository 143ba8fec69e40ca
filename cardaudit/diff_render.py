"""Write a month-over-month comparison as Markdown (templates/diff.md.j2) or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cardaudit import report
from cardaudit.diff import STATE_LABELS, delta_text
from cardaudit.outputs.files import atomic_write


def comparison_markdown(comparison: dict[str, Any], templates: Path | None = None) -> str:
    """The comparison as a Markdown document, rendered in the report sandbox."""
    figures = {name: [{**row, "delta_text": delta_text(row["delta"])} for row in rows]
               for name, rows in comparison["figures"]["entities"].items()}
    total = [{**row, "delta_text": delta_text(row["delta"])}
             for row in comparison["figures"]["total"]]
    ctx = report.ReportContext({"c": comparison, "entity_figures": figures, "total_figures": total,
                                "state_labels": STATE_LABELS})
    return report.render("diff.md.j2", ctx, templates)


def write_comparison(path: Path, comparison: dict[str, Any]) -> Path:
    """`.json`: the full comparison; `.md`: the Markdown document."""
    with atomic_write(path) as handle:
        if path.suffix.lower() == ".json":
            json.dump(comparison, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        else:
            handle.write(comparison_markdown(comparison))
    return path
