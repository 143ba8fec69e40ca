"""Prototype split of one legal entity into hash buckets: summed figures equal the whole entity's."""

from __future__ import annotations

from datetime import date

import pytest

from cardaudit import blacklist as blacklist_mod
from cardaudit import engine, load
from cardaudit.normalize import normalise
from cardaudit.rules import load_pack
from cardaudit.sample import generate, write_sample
from cardaudit.split import PASSES, bucket_of, split_audit

AS_OF = date(2026, 10, 31)


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("split")
    write_sample(generate(rows=20_000, seed=5, entities=1, as_of=AS_OF), folder, fmt="parquet")
    loaded = load.load_exports([folder / "export.parquet"])
    normalised = normalise(loaded.frame, load_pack().settings, AS_OF)
    listed = blacklist_mod.from_frame(load.load_blacklist(folder / "blacklist.csv").frame, AS_OF)
    whole = engine.audit(normalised, load_pack(), listed)
    return normalised, listed, whole


@pytest.mark.parametrize("buckets", [1, 3, 8])
def test_bucket_sums_equal_the_whole_entity(audited, buckets: int) -> None:
    normalised, listed, whole = audited
    (entity,) = whole.entities
    split = split_audit(normalised, load_pack(), listed, buckets=buckets)
    assert set(split) == set(entity.outcomes)
    for rule_id, outcome in entity.outcomes.items():
        got = split[rule_id]
        assert (got.subjects, got.cards, got.rows) == (outcome.subjects, outcome.cards,
                                                       outcome.rows), rule_id
    # The sample plants every kind, so each pass has something to find.
    assert all(entity.outcomes[r].subjects > 0 for r in (
        "CARD-4PLUS", "AGENT-3PLUS", "PHONE-SHARED", "AGENT-HOLDING-4PLUS", "ID-NONCOMPLIANT"))


def test_every_bundled_check_kind_has_a_pass() -> None:
    kinds = {r.kind for r in load_pack().rules}
    assert kinds <= set().union(*(k for _, _, k in PASSES))


def test_buckets_are_a_stable_function_of_the_key() -> None:
    keys = ["110101199003071234", "C:0001", None, "110101199003071234"]
    placed = bucket_of(keys, 5)
    assert placed[0] == placed[3] and placed[2] == -1 and 0 <= placed[1] < 5
    assert (bucket_of(keys, 5) == placed).all()
