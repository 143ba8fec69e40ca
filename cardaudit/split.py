"""Prototype: one legal entity audited in hash buckets, for an entity larger than one worker.

The Spark engine audits each legal entity whole on one executor. For an entity that does not fit
one worker, its rows are split into buckets by a hash of the key each rule groups on, and every
bucket runs the unchanged checks (`checks.run_check`); a rule's figures are the sums over
buckets. A bucket is exact for the subjects whose key hashes to it, because all of their rows
are in it:

- per-person rules (card counts, ID classes, name mismatch, listed holders, listed openings,
  account classes, and the union of person rules): rows by hash(person key);
- per-agent rules (agent card counts, listed agents): rows by hash(agent key);
- the shared-phone rule: rows by hash(normalised phone);
- AGENT-HOLDING-4PLUS needs an agent's rows and the cards the agent holds as a customer: a row
  goes to the bucket of its agent key and to the bucket of its person key (hashed alike), and a
  bucket keeps only the agents whose key hashes to it.

A subject counts in the bucket of its own key only, so a row copied into a second bucket is never
counted twice. See docs/scale.md for the plan on Spark and what this prototype leaves out (the
codes here are the entity's, where a cluster would code each bucket on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from cardaudit.blacklist import Blacklist, available
from cardaudit.checks import EntityContext, Keys, run_check
from cardaudit.engine import WORK_COLUMNS
from cardaudit.normalize import Normalised, person_texts
from cardaudit.rules import Rule, RulePack

# (name, the key columns whose hash places a row, the check kinds run in that pass)
PASSES: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = (
    ("person", ("person_key",), frozenset({
        "person_card_count", "id_class", "name_mismatch", "listed_holding",
        "listed_opened_in_period", "account_class_limit", "union"})),
    ("agent", ("agent_key",), frozenset({"agent_card_count", "listed_agent"})),
    ("phone", ("phone_norm",), frozenset({"shared_phone"})),
    ("agent_holding", ("agent_key", "person_key"), frozenset({"agent_holding"})),
)


@dataclass
class SplitFigures:
    """One rule's figures summed over buckets (as engine.RuleOutcome counts them)."""

    subjects: int = 0
    cards: int = 0
    rows: int = 0


def bucket_of(values: pd.Series | np.ndarray | pa.Array, buckets: int) -> np.ndarray:
    """The bucket of each key (-1 for a missing key): a stable hash of the text, mod `buckets`."""
    series = pd.Series(pd.array(values, dtype="str") if isinstance(values, pa.Array) else values,
                       dtype="str")
    hashed = pd.util.hash_pandas_object(series, index=False).to_numpy()
    return np.where(series.isna().to_numpy(), -1, (hashed % np.uint64(buckets)).astype(np.int64))


def _key_values(normalised: Normalised, column: str) -> pd.Series | pa.Array:
    """A key column of the normalised rows (person keys from their codes)."""
    if column == "person_key":
        return person_texts(normalised.frame["person_code"].to_numpy(),
                            normalised.keys["person_code"])
    return normalised.frame[column]


def _pass_of(rule: Rule) -> str:
    for name, _, kinds in PASSES:
        if rule.kind in kinds:
            return name
    raise ValueError(f"no split pass for check kind {rule.kind!r}")


def split_audit(normalised: Normalised, pack: RulePack, blacklist: Blacklist | None = None,
                buckets: int = 4, entity: int = 0) -> dict[str, SplitFigures]:
    """Every enabled rule's figures for one legal entity (its code), audited in hash buckets."""
    full = normalised.frame
    pack, _ = pack.supported(set(full.columns) | available(blacklist))
    keys = Keys(normalised.keys)
    titles = {r.id: r.heading for r in pack.rules}
    rules = pack.enabled()
    in_entity = normalised.good & (full["entity_code"].to_numpy() == entity)
    work = full[[c for c in WORK_COLUMNS if c in full]]
    totals = {r.id: SplitFigures() for r in rules}
    for name, columns, _ in PASSES:
        chosen = [r for r in rules if _pass_of(r) == name]
        chosen = [r for r in chosen if r.kind != "union"] + [r for r in chosen if r.kind == "union"]
        present = [c for c in columns if c in full or c == "person_key"]
        if not chosen or not present:
            continue
        placed = [bucket_of(_key_values(normalised, c), buckets) for c in present]
        for b in range(buckets):
            positions = np.flatnonzero(in_entity & np.logical_or.reduce([p == b for p in placed]))
            frame = work.take(positions).reset_index(drop=True)
            ctx = EntityContext(frame=frame, keys=keys, blacklist=blacklist or Blacklist())
            for rule in chosen:
                hits = run_check(rule, ctx, titles)
                ctx.results[rule.id] = hits
                own = bucket_of(hits.subjects, buckets) == b
                own_rows = bucket_of(hits.row_subject, buckets) == b
                figures = totals[rule.id]
                figures.subjects += int(own.sum())
                figures.rows += int(own_rows.sum())
                figures.cards += int(ctx.counted[hits.rows[own_rows]].sum())
    return totals
