"""Rich tables for the console, built from summary.json and comparison values (cli prints them).

Nothing here prints and nothing shows personal data: figures, rule IDs and branch codes only.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from cardaudit.figures import figures_for


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


# More legal entities than this and the console shows the total only (a terminal is too narrow).
MAX_ENTITY_COLUMNS = 3


def figures_table(summary: dict[str, Any]) -> Table:
    """Figures per legal entity (and the total when there are several)."""
    entities = summary["entities"]
    table = Table(title=f"断卡自查统计（截止 {summary['as_of']}）", show_lines=False)
    table.add_column("统计项", no_wrap=True)
    shown = entities if len(entities) <= MAX_ENTITY_COLUMNS else {}
    for name in shown:
        table.add_column(escape(name), justify="right", overflow="fold")
    columns = list(shown.values())
    if len(entities) > 1:
        table.add_column("合计", justify="right")
        columns.append(summary["total"])
    if not shown:
        table.caption = (f"共 {len(entities)} 个法人机构：各机构的数字见 summary.json、各机构报告及"
                         "合计报告中的逐机构对照表。")
    for key, label in (("read", "读取记录"), ("audited", "审计记录"), ("quarantined", "隔离记录")):
        table.add_row(label, *(_cell(c["rows"][key]) for c in columns))
    for figure in figures_for(summary["rule_pack"].get("figure_thresholds", {})):
        table.add_row(f"{figure.short}（{figure.unit}）",
                      *(_cell(c["statistics"][figure.key]) for c in columns))
    return table


def _delta(row: dict[str, Any]) -> str:
    from cardaudit.diff import delta_text

    return f"{_cell(row['old'])} → {_cell(row['new'])}（{delta_text(row['delta'])}）"


def comparison_tables(comparison: dict[str, Any]) -> list[Table]:
    """Figure changes per entity and total; findings by state per rule and per branch."""
    old, new = comparison["old"], comparison["new"]
    names = list(comparison["figures"]["entities"])
    figures = Table(title=f"数字变化（上期 {old['as_of']} → 本期 {new['as_of']}）")
    figures.add_column("统计项", no_wrap=True)
    for name in names:
        figures.add_column(escape(name), justify="right", overflow="fold")
    if len(names) > 1:
        figures.add_column("合计", justify="right")
    per_entity = [comparison["figures"]["entities"][n] for n in names]
    if len(names) > 1:
        per_entity.append(comparison["figures"]["total"])
    for i, figure in enumerate(comparison["figures"]["total"]):
        figures.add_row(f"{figure['short']}（{figure['unit']}）",
                        *(_delta(rows[i]) for rows in per_entity))
    by_rule = Table(title="问题变化（按规则）")
    for column in ("规则编号", "规则", "新增", "已整改", "持续存在"):
        by_rule.add_column(column, justify="right" if column in ("新增", "已整改", "持续存在") else "left")
    for row in comparison["by_rule"]:
        by_rule.add_row(row["rule_id"], escape(row["rule_title"]), str(row["new"]),
                        str(row["resolved"]), str(row["persisting"]))
    counts = comparison["counts"]
    by_rule.add_row("合计", "", str(counts["new"]), str(counts["resolved"]), str(counts["persisting"]))
    by_branch = Table(title="问题变化（按网点与规则）")
    for column in ("法人机构", "网点", "规则编号", "新增", "已整改", "持续存在"):
        by_branch.add_column(column, justify="right" if column in ("新增", "已整改", "持续存在") else "left")
    for row in comparison["by_branch"]:
        by_branch.add_row(escape(row["legal_entity"]), escape(str(row["branch"])), row["rule_id"],
                          str(row["new"]), str(row["resolved"]), str(row["persisting"]))
    return [figures, by_rule, by_branch]
