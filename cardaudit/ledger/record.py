"""Record one audit run in the ledger: new findings, carried outcomes, and what is resolved.

New findings enter as 待核查; a finding seen before keeps its recorded outcome; a finding no
longer found becomes 已整改, but only for the legal entities and rules this run audited (a branch's
own export never resolves another entity's findings, a skipped rule never resolves its own).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cardaudit.errors import ConfigError
from cardaudit.ledger import PENDING, RESOLVED
from cardaudit.ledger.db import Ledger, events, findings, now, runs

AUDIT_SOURCE = "审计"
CARD_FIELDS = ("card_no", "branch", "product", "status", "open_date")


@dataclass
class RunRecord:
    run_id: int
    found: int
    new: int
    reopened: int
    carried: int
    resolved: int


def responsible_branch(branches: list[str]) -> str:
    """The branch holding most of the finding's cards (ties: the first by name) works it."""
    counts = Counter(branches)
    return min(counts, key=lambda b: (-counts[b], b)) if counts else ""


def ledger_row(record: dict[str, Any]) -> dict[str, Any]:
    """The ledger's columns of one finding record (no names, no ID numbers beyond `subject`)."""
    rows = record["rows"]
    cards = [{k: r.get(k) for k in CARD_FIELDS} for r in rows]
    return {
        "fingerprint": record["fingerprint"], "rule_id": record["rule_id"],
        "rule_title": record["rule_title"], "severity": record["severity"],
        "legal_entity": record["legal_entity"],
        "branch": responsible_branch([r["branch"] or "" for r in rows]),
        "subject_kind": record["subject_kind"], "subject": record["subject"],
        "customer_ids": json.dumps(sorted({r["customer_id"] for r in rows if r["customer_id"]}),
                                   ensure_ascii=False),
        "cards": json.dumps(cards, ensure_ascii=False),
        "card_count": len({c["card_no"] for c in cards}),
        "reason": record["reason"] or "",
    }


def _lock(conn: Connection) -> None:
    """Imports wait while a run is recorded (SQLite's BEGIN IMMEDIATE already serialises)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE findings IN SHARE ROW EXCLUSIVE MODE"))


def record_run(ledger: Ledger, records: list[dict[str, Any]], *, as_of: str, entities: list[str],
               rules: list[str], trail: dict[str, Any], figures: dict[str, Any],
               actor: str) -> RunRecord:
    """Write one audit run and its findings in one transaction."""
    current = {r["fingerprint"]: ledger_row(r) for r in records}
    stamp = now()
    with ledger.transaction() as conn:
        _lock(conn)
        _refuse_older(conn, as_of, entities)
        ran = set(rules)
        run_id = conn.execute(runs.insert().values(
            as_of=as_of, recorded_at=stamp, actor=actor, tool_version=trail["tool_version"],
            pack_name=trail["pack_name"], pack_version=trail["pack_version"],
            pack_hash=trail["pack_hash"],
            inputs=json.dumps([{k: f.get(k) for k in ("file", "sha256", "rows")}
                               for f in trail["inputs"]], ensure_ascii=False),
            entities=json.dumps(entities, ensure_ascii=False),
            rules=json.dumps(rules), figures=json.dumps(figures, ensure_ascii=False),
            found=len(current), new=0, reopened=0, resolved=0,
        )).inserted_primary_key[0]
        stored = conn.execute(
            sa.select(findings.c.fingerprint, findings.c.status, findings.c.rule_id)
            .where(findings.c.legal_entity.in_(entities))).all() if entities else []
        known = {fp: status for fp, status, _ in stored}
        rule_of = {fp: rule for fp, _, rule in stored}
        event = {"at": stamp, "actor": actor, "source": AUDIT_SOURCE, "run_id": run_id,
                 "import_id": None, "contact_date": None, "against_will_cards": None}

        new = [fp for fp in current if fp not in known]
        if new:
            conn.execute(findings.insert(), [
                {**current[fp], "status": PENDING, "contact_date": None,
                 "against_will_cards": None, "note": None, "first_run": run_id,
                 "last_run": run_id, "updated_at": stamp, "updated_by": actor, "revision": 0}
                for fp in new])
            conn.execute(events.insert(), [
                {**event, "fingerprint": fp, "old_status": None, "new_status": PENDING,
                 "note": "首次发现"} for fp in new])

        seen = [fp for fp in current if fp in known]
        if seen:
            refreshed = ("rule_title", "severity", "branch", "subject", "customer_ids", "cards",
                         "card_count", "reason")
            conn.execute(
                findings.update().where(findings.c.fingerprint == sa.bindparam("fp"))
                .values({c: sa.bindparam(f"v_{c}") for c in refreshed} | {"last_run": run_id}),
                [{"fp": fp, **{f"v_{c}": current[fp][c] for c in refreshed}} for fp in seen])

        reopened = [fp for fp in seen if known[fp] == RESOLVED]
        resolved = [fp for fp, status in known.items()
                    if fp not in current and status != RESOLVED and rule_of[fp] in ran]
        _set_status(conn, reopened, PENDING, stamp, actor,
                    {**event, "old_status": RESOLVED, "note": "再次发现"},
                    clear_outcome=True)
        _set_status(conn, resolved, RESOLVED, stamp, actor,
                    {**event, "note": "本次审计不再发现"}, old=known)
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            new=len(new), reopened=len(reopened), resolved=len(resolved)))
    return RunRecord(run_id=run_id, found=len(current), new=len(new), reopened=len(reopened),
                     carried=len(seen) - len(reopened), resolved=len(resolved))


def _set_status(conn: Connection, fingerprints: list[str], status: str, stamp: str, actor: str,
                event: dict[str, Any], *, old: dict[str, str] | None = None,
                clear_outcome: bool = False) -> None:
    if not fingerprints:
        return
    values: dict[str, Any] = {"status": status, "updated_at": stamp, "updated_by": actor,
                              "revision": findings.c.revision + 1}
    if clear_outcome:
        values |= {"contact_date": None, "against_will_cards": None}
    conn.execute(findings.update().where(findings.c.fingerprint == sa.bindparam("fp"))
                 .values(values), [{"fp": fp} for fp in fingerprints])
    conn.execute(events.insert(), [
        {**event, "fingerprint": fp, "new_status": status,
         **({"old_status": old[fp]} if old else {})} for fp in fingerprints])


def _refuse_older(conn: Connection, as_of: str, entities: list[str]) -> None:
    """The ledger moves forward in time: a run older than one already recorded is refused."""
    later = conn.execute(sa.select(runs.c.as_of, runs.c.entities).where(runs.c.as_of > as_of)
                         .order_by(runs.c.as_of.desc())).all()
    for later_as_of, names in later:
        overlap = sorted(set(json.loads(names)) & set(entities))
        if overlap:
            raise ConfigError(
                f"台账中已有截至 {later_as_of} 的审计记录（法人机构：{'、'.join(overlap)}），"
                f"晚于本次截至日期 {as_of}。台账只能按时间先后记录；请核对 --as-of，"
                "或换用新的台账。")
