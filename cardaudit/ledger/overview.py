"""Console tables of the ledger: findings by status per entity and branch, recent runs and imports."""

from __future__ import annotations

import sqlalchemy as sa
from rich.table import Table

from cardaudit.ledger import STATUSES
from cardaudit.ledger.db import Ledger, findings, imports, runs

RECENT = 5


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
    counts = status_counts(ledger, entity)
    by_status = Table(title=f"核查台账（{ledger.url}）：各网点事项状态")
    by_status.add_column("法人机构")
    by_status.add_column("网点")
    for status in STATUSES:
        by_status.add_column(status, justify="right")
    for (name, branch), row in counts.items():
        by_status.add_row(name, branch, *(str(row[s]) for s in STATUSES))
    with ledger.engine.connect() as conn:
        recent_runs = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(RECENT)).all()
        recent_imports = conn.execute(
            sa.select(imports).order_by(imports.c.id.desc()).limit(RECENT)).all()
    run_table = Table(title="最近的审计记录")
    for column in ("次序", "截至日期", "记录时间", "操作人", "发现", "新增", "再次发现", "已整改"):
        run_table.add_column(column)
    for r in recent_runs:
        run_table.add_row(str(r.id), r.as_of, r.recorded_at, r.actor, str(r.found), str(r.new),
                          str(r.reopened), str(r.resolved))
    import_table = Table(title="最近的清单导入")
    for column in ("次序", "文件", "导入人", "时间", "行数", "更新", "无变化", "未填写", "拒绝"):
        import_table.add_column(column)
    for i in recent_imports:
        import_table.add_row(str(i.id), i.file, i.actor, i.at, str(i.rows), str(i.changed),
                             str(i.unchanged), str(i.blank), str(i.rejected))
    return [by_status, run_table, import_table]
