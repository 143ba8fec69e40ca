"""Run a rule pack over normalised rows, one legal entity at a time, and sum the figures.

The engine never reads files and never prints: it receives frames and hands back figures and
one findings table with fixed columns that every renderer reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from cardaudit.blacklist import Blacklist, available
from cardaudit.checks import EntityContext, Hits, Keys, listed_undated_cards, run_check
from cardaudit.normalize import (
    Distinct,
    Normalised,
    gather,
    person_texts,
    quarantine_order,
    sort_order,
)
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
    # Where the findings wait on disk when the run keeps them out of memory (see `spill`).
    spilled: Path | None = None

    def spill(self, folder: Path) -> None:
        """Move the findings to an Arrow file in `folder`; `finding_rows()` reads them back."""
        path = folder / f"findings-{id(self):x}.arrow"
        table = pa.Table.from_pandas(self.findings, preserve_index=False)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        # A fresh empty frame: a zero-row slice would keep the whole frame's buffers alive.
        self.spilled = path
        self.findings = pd.DataFrame({c: pd.Series(dtype=t) for c, t in self.findings.dtypes.items()})

    def finding_rows(self) -> pd.DataFrame:
        """This entity's findings (fixed columns), from memory or from the spilled file."""
        if self.spilled is None:
            return self.findings
        with pa.memory_map(str(self.spilled)) as source:
            return pa.ipc.open_file(source).read_all().to_pandas()


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


# Per-row columns the checks read; everything else stays in the full frame for findings.
WORK_COLUMNS = ("person_code", "agent_code", "name_code", "phone_code", "branch_code",
                "product_code", "class_code", "counted", "not_closed", "id_class",
                "region_unknown", "open_dt", "verified_mismatch", "verified_nonexistent")


def audit_entity(name: str, frame: pd.DataFrame, pack: RulePack, blacklist: Blacklist,
                 keys: Keys, full: pd.DataFrame, quarantined: int = 0,
                 on_rule: Callable[[str], None] | None = None) -> EntityResult:
    """All figures and findings of one legal entity.

    `frame` holds this entity's work columns plus `_pos`, each row's position in `full`.
    """
    ctx = EntityContext(frame=frame, keys=keys, blacklist=blacklist)
    titles = {r.id: r.heading for r in pack.rules}
    statistics: dict[str, object] = dict.fromkeys(STATISTICS)
    not_closed = ctx.not_closed
    branch_codes = frame["branch_code"].to_numpy()
    statistics["outlets"] = int(np.count_nonzero(np.bincount(branch_codes + 1)))  # distinct
    statistics["cards_not_closed"] = int(not_closed.sum())
    statistics["cards_by_product"] = _products(frame["product_code"].to_numpy()[not_closed],
                                               keys["product_code"])
    statistics["debit_cards"] = int(ctx.counted.sum())

    outcomes: dict[str, RuleOutcome] = {}
    parts = []
    for rule in _rule_order(pack.enabled()):
        if on_rule:
            on_rule(rule.id)
        hits = run_check(rule, ctx, titles)
        ctx.results[rule.id] = hits
        outcomes[rule.id] = RuleOutcome(rule, hits.size, hits.counted_cards, len(hits.rows))
        if rule.figures.subjects:
            statistics[rule.figures.subjects] = hits.size
        if rule.figures.cards:
            statistics[rule.figures.cards] = hits.counted_cards
        if len(hits.rows):
            parts.append((rule, hits))
    findings = _findings(parts, frame["_pos"].to_numpy(), full, keys["person_code"])
    unknown = frame["region_unknown"].to_numpy(dtype=bool)
    warnings = {"region_unknown_persons": len(np.unique(ctx.person[0][unknown]))}
    for rule in pack.enabled():  # (the pack holds only rules whose needs are there)
        if rule.kind == "listed_opened_in_period":
            warnings["listed_undated_cards"] = max(  # of two such rules, the wider scope
                warnings.get("listed_undated_cards", 0),
                listed_undated_cards(ctx, rule.parsed_params()))
    return EntityResult(
        name=name,
        rows={"read": len(frame) + quarantined, "audited": len(frame),
              "quarantined": quarantined},
        statistics=statistics, outcomes=outcomes, findings=findings,
        branches=_branches(frame, findings, ctx),
        warnings=warnings,
        card_distribution=_distribution(ctx.counted_per_person),
    )


def _products(codes: np.ndarray, names: np.ndarray) -> dict[str, int]:
    """Cards per product, most issued first (ties by name), like the bank's own list."""
    counts = np.bincount(codes + 1, minlength=len(names) + 1)
    labelled = [(UNFILLED_PRODUCT if i == 0 else str(names[i - 1]), int(c))
                for i, c in enumerate(counts) if c]
    return dict(sorted(labelled, key=lambda kv: (-kv[1], kv[0])))


def _distribution(counts: np.ndarray) -> dict[int, int]:
    """How many persons hold 1, 2, 3... counted cards (persons with none left out)."""
    held = np.bincount(counts)
    return {int(n): int(held[n]) for n in range(1, len(held)) if held[n]}


DISPLAY_COLUMNS = ("legal_entity", "branch", "person_key", "customer_id", "card_no", "product",
                   "status", "open_date", "name", "id_number", SOURCE_FILE)


def _findings(parts: list[tuple[Rule, Hits]], positions: np.ndarray,
              full: pd.DataFrame, persons: Distinct) -> pd.DataFrame:
    """The rows behind every rule's hits, in the fixed findings columns (one take of `full`;
    person keys from their codes and `persons`)."""
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in FINDING_COLUMNS})
    rows = np.concatenate([positions[h.rows] for _, h in parts])
    part = np.repeat(np.arange(len(parts)), [len(h.rows) for _, h in parts])
    subject = pa.concat_arrays([h.row_subject for _, h in parts])
    rule_ids = pa.array([r.id for r, _ in parts], pa.large_string()).take(pa.array(part))
    # Content order, never input order: the same rows in any order give the same findings. The
    # order is found from the sort keys alone, then every column is gathered once in that order.
    order = sort_order([rule_ids, full["branch"].take(rows),
                        subject, full["card_no"].take(rows), full[SOURCE_FILE].take(rows),
                        full[SOURCE_ROW].to_numpy()[rows]])
    rows, part = rows[order], part[order]
    present = [c for c in (*DISPLAY_COLUMNS, SOURCE_ROW) if c in full]
    taken = gather(full, present, rows)
    taken["person_key"] = _text(person_texts(full["person_code"].to_numpy()[rows], persons))

    def per_part(values: list[str]) -> pd.Series:
        """One text per rule, repeated over its rows (taken by Arrow from the few texts)."""
        return pd.Series(pd.array(pa.array(values, pa.large_string()).take(pa.array(part)),
                                  dtype="str"))

    out = pd.DataFrame({
        "rule_id": per_part([r.id for r, _ in parts]),
        "rule_title": per_part([r.heading for r, _ in parts]),
        "severity": per_part([r.severity for r, _ in parts]),
        "subject_kind": per_part([h.subject_kind for _, h in parts]),
        "subject_key": _text(subject.take(pa.array(order))),
        "reason": _text(pa.concat_arrays([h.reason for _, h in parts]).take(pa.array(order))),
    })
    for column in DISPLAY_COLUMNS:
        out[column] = taken.get(column, None)
    out["source_file"] = out.pop(SOURCE_FILE)
    out["source_row"] = taken[SOURCE_ROW].to_numpy()
    return out[list(FINDING_COLUMNS)]


def _text(values: pa.Array) -> pd.Series:
    """Arrow text as a text column."""
    return pd.Series(pd.array(values, dtype="str"))


def _branches(frame: pd.DataFrame, findings: pd.DataFrame, ctx: EntityContext) -> pd.DataFrame:
    """Per branch: cards not closed, counted cards, and distinct flagged subjects per rule."""
    codes = frame["branch_code"].to_numpy()
    present = np.flatnonzero(np.bincount(codes))  # audited rows always have a branch
    size = int(present[-1]) + 1 if len(present) else 0
    base = pd.DataFrame(
        {"cards_not_closed": np.bincount(codes, ctx.not_closed, size)[present],
         "debit_cards": np.bincount(codes, ctx.counted, size)[present]},
        index=pd.Index(ctx.keys["branch_code"][present], dtype="str", name="branch"),
    ).sort_index()
    if len(findings):
        flagged = (findings.groupby(["branch", "rule_id"], sort=True)["subject_key"].nunique()
                   .unstack(fill_value=0))
        base = base.join(flagged, how="left").fillna(0)
    return base.astype("int64")


def audit(normalised: Normalised, pack: RulePack, blacklist: Blacklist | None = None,
          progress: Callable[[str, int, int, str | None], None] | None = None) -> AuditResult:
    """Audit every legal entity separately (figures are additive) and total them.

    `progress(entity, index, count, rule)` is called as each entity starts (rule None) and
    before each of its rules.
    """
    full = normalised.frame
    good = normalised.good
    pack, skipped = pack.supported(set(full.columns) | available(blacklist))
    keys = Keys(normalised.keys)
    entity_code = full["entity_code"].to_numpy()
    entity_names = normalised.keys["entity_code"]
    audited_per = np.bincount(entity_code[good], minlength=len(entity_names))
    bad_per = np.bincount(entity_code[~good & (entity_code >= 0)], minlength=len(entity_names))
    work = full[[c for c in WORK_COLUMNS if c in full]]
    order = np.argsort(entity_code[good], kind="stable")
    good_positions = np.flatnonzero(good)[order]
    bounds = np.concatenate([[0], np.cumsum(audited_per)])
    entities = []
    for i in sorted(range(len(entity_names)), key=lambda k: str(entity_names[k])):
        name, done = str(entity_names[i]), len(entities)

        def on_rule(rule_id: str, name: str = name, done: int = done) -> None:
            if progress:
                progress(name, done, len(entity_names), rule_id)

        if progress:
            progress(name, done, len(entity_names), None)
        positions = good_positions[bounds[i]:bounds[i + 1]]
        frame = work.take(positions).reset_index(drop=True)
        frame["_pos"] = pd.Series(positions, index=frame.index, copy=False)
        entities.append(audit_entity(name, frame, pack, blacklist or Blacklist(), keys, full,
                                     int(bad_per[i]), on_rule))
    return AuditResult(entities=entities, total=_total(entities, normalised),
                       quarantined=normalised.quarantined, pack=pack, skipped=skipped)


def combine(parts: list[AuditResult]) -> AuditResult:
    """One result from results audited apart (each part holds whole legal entities, as the Spark
    engine's groups do): entities in name order, figures summed, rows counted over all parts."""
    entities = sorted((e for p in parts for e in p.entities), key=lambda e: str(e.name))
    frames = [p.quarantined for p in parts if len(p.quarantined)]
    quarantined = (quarantine_order(pd.concat(frames, ignore_index=True)) if frames
                   else parts[0].quarantined)
    rows = {k: sum(int(p.total["rows"][k]) for p in parts)  # type: ignore[index]
            for k in ("read", "audited", "quarantined")}
    return AuditResult(entities=entities,
                       total={"rows": rows, "statistics": _statistics_total(entities)},
                       quarantined=quarantined, pack=parts[0].pack, skipped=parts[0].skipped)


def _total(entities: list[EntityResult], normalised: Normalised) -> dict[str, object]:
    """Consolidated figures: sums over entities; a figure absent in any entity stays absent."""
    good = int(normalised.good.sum())
    return {"rows": {"read": len(normalised.frame), "audited": good,
                     "quarantined": len(normalised.frame) - good},
            "statistics": _statistics_total(entities)}


def _statistics_total(entities: list[EntityResult]) -> dict[str, object]:
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
    return statistics
