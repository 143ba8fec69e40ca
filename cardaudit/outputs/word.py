"""The Word report: templates/report.docx (editable by the bank) rendered by docxtpl.

docxtpl renders the document XML with jinja2; here it gets a sandboxed, autoescaping
environment and the same report context as the Markdown report.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cardaudit import report
from cardaudit.errors import ConfigError
from cardaudit.outputs.files import atomic_path

TEMPLATE_NAME = "report.docx"


def template_path(templates: Path | None) -> Path:
    """The bank's report.docx when its templates folder has one, else the bundled one."""
    if templates and (templates / TEMPLATE_NAME).is_file():
        return templates / TEMPLATE_NAME
    return report.default_templates_dir() / TEMPLATE_NAME


def environment() -> jinja2.Environment:
    """Sandboxed, XML-escaping, strict about undefined names (a misspelt tag fails loudly)."""
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)
    env.filters["n"] = report.figure_text
    return env


def render_template(source: Path, values: dict, builder: str) -> Any:
    """A docxtpl document rendered from `source` in the sandbox; errors name the template."""
    from docx.opc.exceptions import PackageNotFoundError
    from docxtpl import DocxTemplate

    try:
        document = DocxTemplate(str(source))
        document.init_docx()
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ConfigError(f"无法读取 Word 模板 {source.name}：{exc}。模板须为 .docx 文件"
                          f"（可用 templates/{builder} 重新生成）。") from None
    try:
        document.render(values, jinja_env=environment(), autoescape=True)
    except Exception as exc:
        raise report.template_error(source.name, exc) from None
    return document


def write_docx(path: Path, ctx: report.ReportContext, templates: Path | None = None) -> Path:
    """Render the Word template with the report context and save it atomically."""
    document = render_template(template_path(templates), ctx.values, "build_report_docx.py")
    fit_tables(document)
    properties = document.docx.core_properties
    properties.title = f"{ctx.values['bank']} 断卡自查工作汇报（截止 {ctx.values['as_of']}）"
    properties.comments = ""
    with atomic_path(path) as tmp:
        document.save(str(tmp))
    return path


def fit_tables(document: object) -> None:
    """Make each table's grid match its first row and fit the text width.

    Column loops ({%tc %}) add or remove cells, so the grid of the template no longer matches.
    """
    from docx.oxml.ns import qn

    doc = document.docx  # type: ignore[attr-defined]
    section = doc.sections[0]
    text_width = section.page_width - section.left_margin - section.right_margin
    for table in doc.tables:
        tbl = table._tbl
        rows = tbl.findall(qn("w:tr"))
        if not rows:
            continue
        widths = []
        for tc in rows[0].findall(qn("w:tc")):
            tcw = tc.find(f"{qn('w:tcPr')}/{qn('w:tcW')}")
            widths.append(int(tcw.get(qn("w:w"))) if tcw is not None else 0)
        if not widths or not all(widths):
            continue
        limit = text_width // 635  # EMU to twips
        scale = min(1.0, limit / sum(widths))
        widths = [int(w * scale) for w in widths]
        grid = tbl.tblGrid
        for col in grid.findall(qn("w:gridCol")):
            grid.remove(col)
        for w in widths:
            grid.add_gridCol().w = w * 635
        for tr in rows:
            cells = tr.findall(qn("w:tc"))
            if len(cells) != len(widths):
                continue
            for tc, w in zip(cells, widths, strict=True):
                tcw = tc.get_or_add_tcPr().get_or_add_tcW()
                tcw.set(qn("w:type"), "dxa")
                tcw.set(qn("w:w"), str(w))
