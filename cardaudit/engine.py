"""Run a rule pack over normalised rows, one legal entity at a time, and sum the figures.

The engine never reads files and never prints: it receives frames and hands back figures and
one findings table with fixed columns that every renderer reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardaudit.blacklist import Blacklist
from cardaudit.checks import EntityContext, Hits, run_check
from cardaudit.normalize import Normalised
from cardaudit.rules import RULE_FIGURES, Rule, RulePack
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW

UNFILLED_PRODUCT = "（未填写）"

STATISTICS = (
    "outlets", "cards_not_closed", "cards_by_product", "debit_cards", *RULE_FIGURES,
)

FINDING_COLUMNS = (
    "rule_id", "rule_title", "severity", "legal_entity", "branch", "subject_kind", "subject_key",
    "person_key", "customer_id", "card_no", "product", "status", "open_date", "name",
    "id_number", "reason", "source_file", "source_row",
)


@dataclass
class RuleOutcome:
    """A rule's result in one entity: flagged subjects, their counted cards and rows."""

    rule: Rule
    subjects: int
    cards: int
    rows: int


@dataclass
class EntityResult:
    name: str
    rows: dict[str, int]
    statistics: dict[str, object]
    outcomes: dict[str, RuleOutcome]
    findings: pd.DataFrame
    branches: pd.DataFrame
    warnings: dict[str, int] = field(default_factory=dict)
    # Persons by their number of counted cards: {1: persons, 2: persons, ...}.
    card_distribution: dict[int, int] = field(default_factory=dict)


@dataclass
class AuditResult:
    entities: list[EntityResult]
    total: dict[str, object]
    quarantined: pd.DataFrame
    pack: RulePack  # as run: rules the input cannot support are disabled
    skipped: list[tuple[Rule, list[str]]] = field(default_factory=list)


def _rule_order(rules: list[Rule]) -> list[Rule]:
    """Plain checks first, then unions (which read the others' hits)."""
    return [r for r in rules if r.kind != "union"] + [r for r in rules if r.kind == "union"]


def audit_entity(name: str, frame: pd.DataFrame, pack: RulePack, blacklist: Blacklist,
                 quarantined: int = 0) -> EntityResult:
    """All figures and findings of one legal entity."""
    ctx = EntityContext(frame=frame, blacklist=blacklist)
    titles = {r.id: r.title for r in pack.rules}
    statistics: dict[str, object] = dict.fromkeys(STATISTICS)
    not_closed = ctx.not_closed
    statistics["outlets"] = int(frame["branch"].nunique())
    statistics["cards_not_closed"] = int(not_closed.sum())
    products = frame.loc[not_closed, "product"].fillna(UNFILLED_PRODUCT)
    counts = products.value_counts(sort=False)
    # Most issued product first, ties by name, so the report reads like the bank's own list.
    order = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    statistics["cards_by_product"] = {str(k): int(v) for k, v in order}
    statistics["debit_cards"] = int(ctx.counted.sum())

    outcomes: dict[str, RuleOutcome] = {}
    parts = []
    for rule in _rule_order(pack.enabled()):
        hits = run_check(rule, ctx, titles)
        ctx.results[rule.id] = hits
        outcomes[rule.id] = RuleOutcome(rule, hits.size, hits.counted_cards, len(hits.rows))
        if rule.figures.subjects:
            statistics[rule.figures.subjects] = hits.size
        if rule.figures.cards:
            statistics[rule.figures.cards] = hits.counted_cards
        if len(hits.rows):
            parts.append(_findings(rule, frame, hits))
    findings = (pd.concat(parts, ignore_index=True) if parts
                else pd.DataFrame({c: pd.Series(dtype="str") for c in FINDING_COLUMNS}))
    persons_unknown_region = frame.loc[frame["region_unknown"].to_numpy(dtype=bool), "person_key"]
    return EntityResult(
        name=name,
        rows={"read": len(frame) + quarantined, "audited": len(frame),
              "quarantined": quarantined},
        statistics=statistics, outcomes=outcomes, findings=findings,
        branches=_branches(frame, findings, ctx),
        warnings={"region_unknown_persons": int(persons_unknown_region.nunique())},
        card_distribution=_distribution(ctx.counted_per_person),
    )


def _distribution(counts: np.ndarray) -> dict[int, int]:
    """How many persons hold 1, 2, 3... counted cards (persons with none left out)."""
    held = np.bincount(counts)
    return {int(n): int(held[n]) for n in range(1, len(held)) if held[n]}


def _findings(rule: Rule, frame: pd.DataFrame, hits: Hits) -> pd.DataFrame:
    """The rows behind one rule's hits, in the fixed findings columns."""
    rows = frame.take(hits.rows)
    n = len(rows)

    def col(name: str) -> np.ndarray:
        return rows[name].to_numpy(dtype=object, na_value=None) if name in rows else \
            np.full(n, None, dtype=object)

    return pd.DataFrame({
        "rule_id": rule.id, "rule_title": rule.title, "severity": rule.severity,
        "legal_entity": col("legal_entity"), "branch": col("branch"),
        "subject_kind": hits.subject_kind, "subject_key": hits.row_subject,
        "person_key": col("person_key"), "customer_id": col("customer_id"),
        "card_no": col("card_no"), "product": col("product"), "status": col("status"),
        "open_date": col("open_date"), "name": col("name"), "id_number": col("id_number"),
        "reason": hits.reason, "source_file": col(SOURCE_FILE),
        "source_row": rows[SOURCE_ROW].to_numpy(),
    }, columns=list(FINDING_COLUMNS))


def _branches(frame: pd.DataFrame, findings: pd.DataFrame, ctx: EntityContext) -> pd.DataFrame:
    """Per branch: cards not closed, counted cards, and distinct flagged subjects per rule."""
    base = pd.DataFrame({"branch": frame["branch"], "not_closed": ctx.not_closed,
                         "counted": ctx.counted}).groupby("branch", sort=True).sum()
    base.columns = ["cards_not_closed", "debit_cards"]
    if len(findings):
        flagged = (findings.groupby(["branch", "rule_id"], sort=True)["subject_key"].nunique()
                   .unstack(fill_value=0))
        base = base.join(flagged, how="left").fillna(0)
    return base.astype("int64")


def audit(normalised: Normalised, pack: RulePack, blacklist: Blacklist | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> AuditResult:
    """Audit every legal entity separately (figures are additive) and total them."""
    audited = normalised.audited
    pack, skipped = pack.supported(set(audited.columns), blacklist is not None)
    q_entities = normalised.quarantined["legal_entity"].value_counts(dropna=True)
    groups = audited.groupby("legal_entity", sort=True).indices
    names = sorted(set(groups) | set(q_entities.index))
    entities = []
    for i, name in enumerate(names):
        if progress:
            progress(name, i, len(names))
        idx = groups.get(name, np.array([], dtype=np.int64))
        # One entity (the usual branch export) needs no copy of the frame.
        frame = audited if len(idx) == len(audited) else audited.take(idx).reset_index(drop=True)
        entities.append(audit_entity(name, frame, pack, blacklist or Blacklist(),
                                     int(q_entities.get(name, 0))))
    return AuditResult(entities=entities, total=_total(entities, normalised),
                       quarantined=normalised.quarantined, pack=pack, skipped=skipped)


def _total(entities: list[EntityResult], normalised: Normalised) -> dict[str, object]:
    """Consolidated figures: sums over entities; a figure absent in any entity stays absent."""
    statistics: dict[str, object] = {}
    for key in STATISTICS:
        values = [e.statistics[key] for e in entities]
        if key == "cards_by_product":
            merged: dict[str, int] = {}
            for v in values:
                for product, count in (v or {}).items():  # type: ignore[union-attr]
                    merged[product] = merged.get(product, 0) + count
            statistics[key] = dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])))
        elif any(v is None for v in values):
            statistics[key] = None
        else:
            statistics[key] = int(sum(values))  # type: ignore[arg-type]
    read = len(normalised.audited) + len(normalised.quarantined)
    return {"rows": {"read": read, "audited": len(normalised.audited),
                     "quarantined": len(normalised.quarantined)},
            "statistics": statistics}
