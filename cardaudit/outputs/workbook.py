"""The findings workbook (findings.xlsx): a summary sheet, then one sheet per rule that flagged.

Every cell is written with an explicit type: text with write_string (so "=1+1" stays text, never
a formula), integers with write_number. Sheet names follow Excel's rules (31 characters, none
of []:*?/\\).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from cardaudit.engine import AuditResult
from cardaudit.figures import OFFLINE_METHOD, figures_for
from cardaudit.outputs.consolidated import entity_table
from cardaudit.outputs.files import atomic_path
from cardaudit.report import UNMASKED_BANNER
from cardaudit.rules import RulePack

EXCEL_MAX_ROWS = 1_048_576
MAX_WIDTH = 60
RULE_SHEET_COLUMNS = (
    ("legal_entity", "法人机构"), ("branch", "开户机构"), ("subject", "对象"),
    ("customer_id", "客户号"), ("id_number", "证件号码"), ("name", "姓名"), ("card_no", "卡号"),
    ("product", "卡产品"), ("status", "卡状态"), ("open_date", "开户日期"), ("reason", "原因"),
    ("fingerprint", "问题指纹"), ("source_file", "来源文件"), ("source_row", "行号"),
)
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_name(name: str, used: set[str]) -> str:
    """An Excel-legal, unique sheet name (case-insensitive) of at most 31 characters."""
    base = _BAD_SHEET_CHARS.sub("_", name).strip("'") or "Sheet"
    candidate, n = base[:31], 1
    while candidate.lower() in used:
        n += 1
        suffix = f"~{n}"
        candidate = base[:31 - len(suffix)] + suffix
    used.add(candidate.lower())
    return candidate


def display_width(values: pd.Series) -> int:
    """Column width in Excel units: CJK characters count twice."""
    text = values.astype("str").fillna("")
    if not len(text):
        return 0
    return int((text.str.len() + text.str.count(r"[^\x00-\x7f]")).max())


def _cell(sheet: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
    """Write one value with an explicit type; text is never read as a formula or number."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        sheet.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        sheet.write_string(row, col, "是" if value else "否", fmt)
    elif isinstance(value, int | float):
        sheet.write_number(row, col, value, fmt)
    else:
        sheet.write_string(row, col, str(value), fmt)


def _banner(sheet: Any, width: int, fmt: Any, unmasked: bool) -> int:
    """The unmasked warning as the first row and the printed page header; returns next row."""
    if not unmasked:
        return 0
    sheet.merge_range(0, 0, 0, max(width - 1, 1), "", fmt)
    sheet.write_string(0, 0, f"{UNMASKED_BANNER}（按 --unmasked 生成，仅限授权人员查阅，不得外传）", fmt)
    sheet.set_header(f"&C&\"黑体,Bold\"{UNMASKED_BANNER}")
    return 1


def _summary_sheet(book: Any, result: AuditResult, pack: RulePack, as_of: str,
                   unmasked: bool, formats: dict[str, Any], used: set[str]) -> None:
    names = [e.name for e in result.entities]
    sheet = book.add_worksheet(sheet_name("汇总", used))
    row = _banner(sheet, len(names) + 3, formats["banner"], unmasked)
    sheet.write_string(row, 0, f"断卡自查统计（截止 {as_of}；各法人机构分别统计，合计为各法人机构之和）",
                       formats["title"])
    row += 2
    header = ["统计项", "单位", *names, "合计"]
    for col, text in enumerate(header):
        _cell(sheet, row, col, text, formats["header"])
    sheet.freeze_panes(row + 1, 1)
    for item in entity_table(result):
        row += 1
        cells = [item["label"], item["unit"], *item["cells"], item["total"]]  # type: ignore[misc]
        for col, text in enumerate(cells):
            value: object = int(text) if col >= 2 and str(text).isdigit() else text
            _cell(sheet, row, col, value)
    row += 2
    rule_header = ["规则编号", "规则", "级别", "阈值/参数", *[f"{n}（户/人）" for n in names],
                   "合计（户/人）"]
    for col, text in enumerate(rule_header):
        _cell(sheet, row, col, text, formats["header"])
    for rule in pack.rules:
        row += 1
        counts = [e.outcomes[rule.id].subjects if rule.id in e.outcomes else None
                  for e in result.entities]
        total = sum(c for c in counts if c is not None) if any(c is not None for c in counts) else None
        threshold = rule.parsed_params().describe("张")  # type: ignore[attr-defined]
        for col, value in enumerate([rule.id, rule.heading, rule.severity, threshold, *counts, total]):
            _cell(sheet, row, col, "（未执行）" if value is None else value)
    row += 2
    for col, text in enumerate(["统计项", "口径", "方法"]):
        _cell(sheet, row, col, text, formats["header"])
    for figure in figures_for(pack.figure_thresholds()):
        row += 1
        for col, text in enumerate([figure.label, figure.definition,
                                    OFFLINE_METHOD.get(figure.key, "")]):
            _cell(sheet, row, col, text, formats["wrap"] if col else None)
    for label, value in pack.settings.describe():
        row += 1
        _cell(sheet, row, 0, label, formats["wrap"])
        _cell(sheet, row, 1, value, formats["wrap"])
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, 1, 60)
    sheet.set_column(2, len(header), 22)


def _rule_sheet(book: Any, name: str, rows: pd.DataFrame, unmasked: bool,
                formats: dict[str, Any]) -> None:
    sheet = book.add_worksheet(name)
    first = _banner(sheet, len(RULE_SHEET_COLUMNS), formats["banner"], unmasked)
    limit = EXCEL_MAX_ROWS - first - 1
    body = rows.head(limit)
    for col, (key, label) in enumerate(RULE_SHEET_COLUMNS):
        _cell(sheet, first, col, label, formats["header"])
        values = body[key]
        for i, value in enumerate(values.tolist()):
            _cell(sheet, first + 1 + i, col, value)
        width = max(display_width(pd.Series([label])), display_width(values)) + 2
        sheet.set_column(col, col, min(width, MAX_WIDTH))
    sheet.freeze_panes(first + 1, 0)
    sheet.autofilter(first, 0, first + len(body), len(RULE_SHEET_COLUMNS) - 1)


def write_workbook(path: Path, result: AuditResult, shown: pd.DataFrame, pack: RulePack, *,
                   as_of: str, unmasked: bool) -> Path:
    """Write findings.xlsx from the shown (masked unless --unmasked) findings."""
    import xlsxwriter

    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False,
                                              "strings_to_numbers": False, "strings_to_urls": False})
        formats = {
            "banner": book.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#B03A2E",
                                       "align": "center"}),
            "title": book.add_format({"bold": True, "font_size": 13}),
            "header": book.add_format({"bold": True, "bg_color": "#EEF2F6", "border": 1,
                                       "text_wrap": True, "valign": "top"}),
            "wrap": book.add_format({"text_wrap": True, "valign": "top"}),
        }
        used: set[str] = set()
        _summary_sheet(book, result, pack, as_of, unmasked, formats, used)
        ordered = shown.sort_values(["legal_entity", "subject", "branch", "card_no"], kind="stable")
        groups = dict(tuple(ordered.groupby("rule_id", sort=False)))
        for rule in pack.rules:
            if rule.id in groups:
                _rule_sheet(book, sheet_name(rule.id, used), groups[rule.id], unmasked, formats)
        book.close()
    return path
