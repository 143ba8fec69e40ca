"""The consolidated (合计) view of a multi-entity export: every figure summed over entities.

Persons are counted per legal entity, so the sums are exact: a person holding cards at two
entities is two "户", as each entity reports them.
"""

from __future__ import annotations

import pandas as pd

from cardaudit.engine import AuditResult, EntityResult, RuleOutcome
from cardaudit.figures import figures_for

TOTAL_NAME = "合计"
TOTAL_TITLE = "各法人机构（合计）"


def combine(result: AuditResult) -> EntityResult:
    """One EntityResult whose figures, outcomes and branch rows are the entities' sums."""
    entities = result.entities
    outcomes: dict[str, RuleOutcome] = {}
    for e in entities:
        for rule_id, o in e.outcomes.items():
            acc = outcomes.get(rule_id)
            outcomes[rule_id] = (RuleOutcome(o.rule, o.subjects, o.cards, o.rows) if acc is None
                                 else RuleOutcome(acc.rule, acc.subjects + o.subjects,
                                                  acc.cards + o.cards, acc.rows + o.rows))
    branches = pd.concat([e.branches for e in entities]).fillna(0).astype("int64")
    distribution: dict[int, int] = {}
    warnings: dict[str, int] = {}
    for e in entities:
        for n, persons in e.card_distribution.items():
            distribution[n] = distribution.get(n, 0) + persons
        for key, value in e.warnings.items():
            warnings[key] = warnings.get(key, 0) + value
    rows = {k: sum(e.rows[k] for e in entities) for k in ("read", "audited", "quarantined")}
    # The consolidated report reads figures and branch tables; the findings stay per entity.
    findings = entities[0].findings.iloc[:0] if entities else pd.DataFrame()
    return EntityResult(name=TOTAL_NAME, rows=rows, statistics=dict(result.total["statistics"]),  # type: ignore[call-overload]
                        outcomes=outcomes, findings=findings, branches=branches,
                        warnings=warnings, card_distribution=dict(sorted(distribution.items())))


def branch_entities(result: AuditResult) -> list[str]:
    """The legal entity of each row of `combine(result).branches`, in the same order."""
    return [e.name for e in result.entities for _ in range(len(e.branches))]


def _cell(value: object) -> str:
    return "（未统计）" if value is None else str(value)


def entity_table(result: AuditResult) -> list[dict[str, object]]:
    """Rows of figures x (each entity, total): label, unit, per-entity values, total value."""
    total = result.total
    rows: list[dict[str, object]] = []
    for key, label in (("read", "读取记录"), ("audited", "审计记录"), ("quarantined", "隔离记录")):
        rows.append({"key": key, "label": label, "unit": "条",
                     "cells": [str(e.rows[key]) for e in result.entities],
                     "total": str(total["rows"][key])})  # type: ignore[index]
    for figure in figures_for(result.pack.figure_thresholds()):
        rows.append({"key": figure.key, "label": figure.label, "unit": figure.unit,
                     "cells": [_cell(e.statistics.get(figure.key)) for e in result.entities],
                     "total": _cell(total["statistics"].get(figure.key))})  # type: ignore[attr-defined]
    products = total["statistics"].get("cards_by_product") or {}  # type: ignore[attr-defined]
    for product, count in products.items():
        rows.append({"key": f"product:{product}", "label": f"其中：{product}（未销户）", "unit": "张",
                     "cells": [str((e.statistics.get("cards_by_product") or {}).get(product, 0))  # type: ignore[attr-defined]
                                for e in result.entities],
                     "total": str(count)})
    return rows
