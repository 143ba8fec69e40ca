"""核查 progress of one rule's findings, per legal entity and branch, as the report states it.

The population is the rule's findings that the given run found (this month's 4+ customers);
`resolved` counts the rule's findings that this run no longer found. Every count is a number of
customers (findings) except the two card counts, which sum the branches' declared numbers of
cards opened against the customer's will.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from cardaudit.ledger import CLOSED, CONTACTED, OWN_WILL, PENDING, RESOLVED, STOPPED, UNREACHABLE
from cardaudit.ledger.db import Ledger, events, findings

FIELDS = ("found", "contacted", "own_will", "against_will", "against_will_cards", "stopped",
          "stopped_cards", "closed", "unreachable", "pending", "resolved")

DEFINITIONS = {
    "found": "本次审计发现的该规则客户（户）",
    "contacted": "状态为已联系·本人意愿、已联系·非本人意愿、已中止服务或已销户的客户",
    "own_will": "已联系且确认各卡均为本人意愿开立的客户",
    "against_will": "网点登记了非本人意愿开立卡数（大于0）的客户",
    "against_will_cards": "网点登记的非本人意愿开立借记卡张数之和",
    "stopped": "已签订处置协议并中止服务的客户",
    "stopped_cards": "已中止服务客户登记的非本人意愿开立卡数之和",
    "closed": "相关账户已销户的客户",
    "unreachable": "已尝试联系但无法联系的客户",
    "pending": "尚未联系的客户（待核查）",
    "resolved": "上次审计发现、本次审计不再发现的客户（已整改）",
}


@dataclass
class Progress:
    rule_id: str
    rule_title: str
    entity: str
    figures: dict[str, int]
    branches: dict[str, dict[str, int]] = field(default_factory=dict)


def _blank() -> dict[str, int]:
    return dict.fromkeys(FIELDS, 0)


def _add(into: dict[str, int], status: str, against: int | None, count: int = 1) -> None:
    against = against or 0
    into["found"] += count
    into["contacted"] += count if status in CONTACTED else 0
    into["own_will"] += count if status == OWN_WILL else 0
    into["against_will"] += count if against > 0 else 0
    into["against_will_cards"] += against
    into["stopped"] += count if status == STOPPED else 0
    into["stopped_cards"] += against if status == STOPPED else 0
    into["closed"] += count if status == CLOSED else 0
    into["unreachable"] += count if status == UNREACHABLE else 0
    into["pending"] += count if status == PENDING else 0


def progress(ledger: Ledger, run_id: int, rule_id: str, rule_title: str,
             entities: list[str]) -> dict[str, Progress]:
    """Per legal entity: the rule's findings of run `run_id` by status, in total and per branch."""
    out = {e: Progress(rule_id, rule_title, e, _blank()) for e in entities}
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.select(findings.c.legal_entity, findings.c.branch, findings.c.status,
                      findings.c.against_will_cards)
            .where(findings.c.rule_id == rule_id, findings.c.last_run == run_id,
                   findings.c.legal_entity.in_(entities))).all()
        gone = conn.execute(
            sa.select(findings.c.legal_entity, findings.c.branch, sa.func.count())
            .join(events, events.c.fingerprint == findings.c.fingerprint)
            .where(findings.c.rule_id == rule_id, events.c.run_id == run_id,
                   events.c.new_status == RESOLVED, findings.c.legal_entity.in_(entities))
            .group_by(findings.c.legal_entity, findings.c.branch)).all()
    for entity, branch, status, against in rows:
        p = out[entity]
        _add(p.figures, status, against)
        _add(p.branches.setdefault(branch, _blank()), status, against)
    for entity, branch, count in gone:
        p = out[entity]
        p.figures["resolved"] += count
        p.branches.setdefault(branch, _blank())["resolved"] += count
    for p in out.values():
        p.branches = dict(sorted(p.branches.items()))
    return out


def total(parts: list[Progress]) -> Progress:
    """The consolidated progress: every count is additive across legal entities."""
    first = parts[0]
    summed = Progress(first.rule_id, first.rule_title, "合计", _blank())
    for p in parts:
        for k in FIELDS:
            summed.figures[k] += p.figures[k]
        for branch, figures in p.branches.items():
            into = summed.branches.setdefault(f"{p.entity}／{branch}", _blank())
            for k in FIELDS:
                into[k] += figures[k]
    return summed
