"""`audit --ledger`: record the run in the ledger and build the report's 核查 progress section."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from cardaudit.ledger import STATUS_MEANING
from cardaudit.ledger.db import check_key, open_ledger
from cardaudit.ledger.progress import DEFINITIONS, Progress, progress, total
from cardaudit.ledger.record import RunRecord, record_run

# The figure whose rule the report's progress section follows (persons with 4+ debit cards).
PROGRESS_FIGURE = "customers_4plus"
TOTAL_KEY = "合计"


@dataclass
class LedgerOutcome:
    run: RunRecord
    url: str
    unmasked: bool
    views: dict[str, dict[str, Any]]  # entity name (or 合计) -> report values

    def summary(self) -> dict[str, Any]:
        """The ledger section of summary.json: the run and the progress figures."""
        return {"ledger": self.url, "unmasked": self.unmasked, "run_id": self.run.run_id,
                "found": self.run.found, "new": self.run.new, "carried": self.run.carried,
                "reopened": self.run.reopened, "resolved": self.run.resolved,
                "progress": {name: {"rule_id": v["rule_id"], **v["figures"]}
                             for name, v in self.views.items()}}


def actor_name(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "未知用户"


def record(target: str, *, records: list[dict[str, Any]],
           unmasked_records: list[dict[str, Any]] | None, entities: list[str],
           rules: list[Any], trail: dict[str, Any], figures: dict[str, Any],
           actor: str | None, key_id: str) -> LedgerOutcome:
    """Write the run and compute the progress for the report.

    `records` are masked; `unmasked_records` (an --unmasked run) reach only an unmasked ledger,
    and a new ledger is unmasked only when the run that creates it is.
    """
    ledger = open_ledger(target, unmasked=unmasked_records is not None)
    stored = unmasked_records if ledger.unmasked and unmasked_records is not None else records
    try:
        check_key(ledger, key_id)
        run = record_run(ledger, stored, as_of=trail["as_of"], entities=entities,
                         rules=[r.id for r in rules], trail=trail, figures=figures,
                         actor=actor_name(actor))
        views: dict[str, dict[str, Any]] = {}
        rule = next((r for r in rules if r.figures.subjects == PROGRESS_FIGURE), None)
        if rule is not None:
            parts = progress(ledger, run.run_id, rule.id, rule.heading, entities)
            views = {name: report_values(p) for name, p in parts.items()}
            if len(parts) > 1:
                views[TOTAL_KEY] = report_values(total(list(parts.values())))
        return LedgerOutcome(run=run, url=ledger.url, unmasked=ledger.unmasked, views=views)
    finally:
        ledger.dispose()


COLUMN_LABELS = {
    "found": "发现（户）", "contacted": "已联系（户）", "own_will": "本人意愿（户）",
    "against_will": "非本人意愿（户）", "against_will_cards": "非本人意愿（张）",
    "stopped": "已中止服务（户）", "stopped_cards": "已中止服务（张）", "closed": "已销户（户）",
    "unreachable": "无法联系（户）", "pending": "待核查（户）", "resolved": "已整改（户）",
}
BASIS = ("口径：客户按核查台账中的事项（规则、法人机构、客户）计；网点为该客户计入借记卡最多的网点。"
         "各项状态由网点填报核查清单导入台账，「已整改」由审计自动判定。")


def sentence(p: Progress) -> str:
    """The filing's sentence on contacting the customers of the rule (the seed's open problem)."""
    f = p.figures
    text = (f"对{p.rule_title}的{f['found']}户客户，已联系{f['contacted']}户（其中确认本人意愿"
            f"开卡{f['own_will']}户），无法联系{f['unreachable']}户，尚待核查{f['pending']}户；"
            f"经核实有非本人意愿开立借记卡的客户{f['against_will']}户，涉及借记卡"
            f"{f['against_will_cards']}张，已签订处置协议并中止服务{f['stopped']}户"
            f"（{f['stopped_cards']}张），已销户{f['closed']}户；上次审计发现、本次不再发现"
            f"（已整改）{f['resolved']}户。")
    if f["pending"] or f["unreachable"]:
        text += "其余客户的联系核实工作正在开展。"
    return text


def report_values(p: Progress) -> dict[str, Any]:
    """What the report templates read: figures, per-branch rows, and the definitions."""
    return {
        "rule_id": p.rule_id, "rule_title": p.rule_title, "figures": p.figures,
        "sentence": sentence(p), "basis": BASIS,
        "columns": [{"key": k, "label": v} for k, v in COLUMN_LABELS.items()],
        "branches": [{"branch": b, **f} for b, f in p.branches.items()],
        "total_row": {"branch": "合计", **p.figures},
        "definitions": [{"key": k, "text": t} for k, t in DEFINITIONS.items()],
        "statuses": [{"status": s, "meaning": m} for s, m in STATUS_MEANING.items()],
    }
