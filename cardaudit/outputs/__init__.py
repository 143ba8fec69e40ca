"""Output formats of an audit run: reports (md, html, docx), the findings workbook and JSON.

Every renderer reads the same ReportContext or findings table; none re-runs a rule.
"""

from __future__ import annotations

from cardaudit.errors import ConfigError

FORMATS = ("md", "html", "docx", "xlsx", "json")
DEFAULT_FORMATS = "md,json"
FORMAT_HELP = {"md": "Markdown 报告", "html": "网页报告（含图表，可打印）", "docx": "Word 报告",
               "xlsx": "发现清单工作簿", "json": "findings.json 与 findings.parquet"}


def parse_formats(text: str) -> list[str]:
    """'md,html' -> ['md', 'html'] in canonical order; an unknown name is a Chinese error."""
    names = [part.strip().lower() for part in text.replace("，", ",").split(",") if part.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        choices = "、".join(f"{f}（{FORMAT_HELP[f]}）" for f in FORMATS)
        what = "、".join(unknown) if unknown else "（空）"
        raise ConfigError(f"--format 取值无效：{what}。可选（逗号分隔）：{choices}。"
                          f"例如 --format {DEFAULT_FORMATS},html。")
    return [f for f in FORMATS if f in names]
