"""Console tables of the ledger: findings by status per entity and branch, recent runs and imports."""

from __future__ import annotations

import sqlalchemy as sa
from rich.table import Table

from cardaudit.ledger import STATUSES
from cardaudit.ledger.db import Ledger, findings, imports, runs

RECENT = 5
_COUNTS = ("发现", "新增", "再次发现", "已整改", "行数", "更新", "无变化", "未填写", "拒绝")


def status_counts(ledger: Ledger, entity: str | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """{(legal entity, branch): {status: findings}} over the whole ledger."""
    query = (sa.select(findings.c.legal_entity, findings.c.branch, findings.c.status,
                       sa.func.count())
             .group_by(findings.c.legal_entity, findings.c.branch, findings.c.status))
    if entity is not None:
        query = query.where(findings.c.legal_entity == entity)
    out: dict[tuple[str, str], dict[str, int]] = {}
    with ledger.engine.connect() as conn:
        for name, branch, status, count in conn.execute(query):
            out.setdefault((name, branch), dict.fromkeys(STATUSES, 0))[status] = count
    return dict(sorted(out.items()))


def overview_tables(ledger: Ledger, entity: str | None = None) -> list[Table]:
    """One table per legal entity (findings by branch and status, with a total row), then the
    recent audits and imports. Branch codes and counts are never cut short: a status name folds
    onto two lines when the output is narrow (80 columns when it is not a terminal)."""
    counts = status_counts(ledger, entity)
    tables = []
    for name in dict.fromkeys(name for name, _ in counts):
        table = Table(title=f"核查台账（{ledger.url}）：{name} 各网点事项状态")
        table.add_column("网点", no_wrap=True)
        for status in (*STATUSES, "合计"):
            table.add_column(status, justify="right", overflow="fold", min_width=4)
        totals = dict.fromkeys(STATUSES, 0)
        for (of, branch), row in counts.items():
            if of == name:
                table.add_row(branch or "（无）", *(str(row[s]) for s in STATUSES),
                              str(sum(row.values())))
                totals = {s: totals[s] + row[s] for s in STATUSES}
        table.add_section()
        table.add_row("合计", *(str(totals[s]) for s in STATUSES), str(sum(totals.values())))
        tables.append(table)
    if not tables:
        empty = Table(title=f"核查台账（{ledger.url}）：各网点事项状态")
        empty.add_column("事项")
        empty.add_row(f"台账中没有法人机构「{entity}」的事项" if entity else "台账中尚无事项")
        tables.append(empty)
    with ledger.engine.connect() as conn:
        recent_runs = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(RECENT)).all()
        recent_imports = conn.execute(
            sa.select(imports).order_by(imports.c.id.desc()).limit(RECENT)).all()
    run_table = Table(title="最近的审计记录")
    for column in ("次序", "截至日期", "记录时间", "操作人", "发现", "新增", "再次发现", "已整改"):
        run_table.add_column(column, no_wrap=column != "操作人", overflow="fold",
                             justify="right" if column in _COUNTS else "left")
    for r in recent_runs:
        run_table.add_row(str(r.id), r.as_of, _minute(r.recorded_at), r.actor, str(r.found),
                          str(r.new), str(r.reopened), str(r.resolved))
    import_table = Table(title="最近的清单导入")
    for column in ("次序", "文件", "导入人", "时间", "行数", "更新", "无变化", "未填写", "拒绝"):
        import_table.add_column(column, no_wrap=column not in ("文件", "导入人"),
                                overflow="fold", justify="right" if column in _COUNTS else "left")
    for i in recent_imports:
        import_table.add_row(str(i.id), i.file, i.actor, _minute(i.at), str(i.rows),
                             str(i.changed), str(i.unchanged), str(i.blank), str(i.rejected))
    return [*tables, run_table, import_table]


def _minute(stamp: str) -> str:
    """An ISO timestamp to the minute, as a person reads it: 2026-11-03 09:30."""
    return stamp[:16].replace("T", " ")
