"""Write the requested report formats for each legal entity and the consolidated total."""

from __future__ import annotations

from pathlib import Path

from cardaudit import report
from cardaudit.outputs.files import safe_file_name, write_text


def report_stem(name: str) -> str:
    """report_<法人机构> (or report_合计): the file name of one report without its suffix."""
    return f"report_{safe_file_name(name)}"


def render_html(ctx: report.ReportContext, templates: Path | None = None) -> str:
    """The self-contained HTML report: the template plus inline SVG charts."""
    from markupsafe import Markup

    from cardaudit.outputs.charts import charts

    # matplotlib escapes every text it writes into the SVG, so the markup is trusted as is.
    drawn = [{"title": c["title"], "svg": Markup(c["svg"])} for c in charts(ctx.values)]
    return report.render("report.html.j2", ctx, templates, extra={"charts": drawn})


def write_reports(out: Path, stem: str, ctx: report.ReportContext, formats: list[str],
                  templates: Path | None = None) -> list[Path]:
    """One report per requested format (md, html, docx) from the same context."""
    written = []
    if "md" in formats:
        written.append(write_text(out / f"{stem}.md", report.render("report.md.j2", ctx, templates)))
    if "html" in formats:
        written.append(write_text(out / f"{stem}.html", render_html(ctx, templates)))
    if "docx" in formats:
        from cardaudit.outputs.word import write_docx

        written.append(write_docx(out / f"{stem}.docx", ctx, templates))
    return written
