"""End to end: every figure of the bundled sample and of generated exports equals the planted truth."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cardaudit.job import AuditOptions, run_audit
from cardaudit.rules import RulePack, load_pack
from cardaudit.sample import generate, write_sample

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
STATISTIC_KEYS = {
    "outlets", "cards_not_closed", "cards_by_product", "debit_cards", "customers_4plus",
    "customers_4plus_cards", "customers_over_limit", "agents_3plus", "agents_3plus_cards",
    "listed_2plus", "id_mismatch", "id_nonexistent", "id_legacy15", "id_noncompliant",
}


def class1_only_pack() -> RulePack:
    """The bundled pack with the account-class rule limited to Ⅰ类户, which the truth tracks
    (its 5-7-card persons also hold 6 Ⅱ类户, a real breach the truth file does not count)."""
    pack = load_pack()
    rules = [r.model_copy(update={"params": {**r.params, "most": {"I": 1}}})
             if r.id == "ACCOUNT-CLASS-LIMIT" else r for r in pack.rules]
    return RulePack(meta=pack.meta, rules=rules, hash=pack.hash)


def audit(export: Path, blacklist: Path, out: Path, as_of: date) -> dict:
    options = AuditOptions(exports=[export], out_dir=out, pack=class1_only_pack(), as_of=as_of,
                           blacklist=blacklist)
    return run_audit(options).summary


def assert_matches_truth(summary: dict, truth: dict) -> None:
    assert set(summary["entities"]) == set(truth["entities"])
    for name, expected in truth["entities"].items():
        got = summary["entities"][name]
        assert set(got["statistics"]) == STATISTIC_KEYS
        assert got["statistics"] == expected["statistics"], name
        assert got["rows"] == expected["rows"], name
        rules = got["rules"]
        extra = expected["extra"]
        assert rules["PHONE-SHARED"]["subjects"] == extra["phone_shared_3plus_numbers"], name
        assert rules["ACCOUNT-CLASS-LIMIT"]["subjects"] == extra["class1_multi_persons"], name
        assert rules["LISTED-OPENED-IN-PERIOD"]["rows"] == extra["listed_opened_in_period_cards"]
        assert rules["LISTED-AGENT"]["subjects"] == extra["listed_as_agent"], name
        assert rules["AGENT-HOLDING-4PLUS"]["subjects"] == extra["agent_holding_4plus"], name
    assert summary["total"]["statistics"] == truth["total"]["statistics"]
    rows = summary["rows"]
    assert {k: rows[k] for k in ("read", "audited", "quarantined")} == truth["total"]["rows"]
    assert rows["read"] == rows["audited"] + rows["quarantined"]
    assert summary["blacklist"]["faults"] == truth["list_faults"]


def test_bundled_sample_figures_equal_planted_truth(tmp_path: Path) -> None:
    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
    summary = audit(SAMPLE / "export.csv", SAMPLE / "blacklist.csv", tmp_path,
                    date.fromisoformat(truth["as_of"]))
    assert_matches_truth(summary, truth)
    # The planted kinds the issue names are each present in every entity.
    for entity in truth["entities"].values():
        s = entity["statistics"]
        assert s["customers_4plus"] >= 1 and s["customers_over_limit"] >= 1
        assert s["agents_3plus"] >= 1 and s["listed_2plus"] >= 1 and s["id_mismatch"] >= 1
        assert s["id_nonexistent"] >= 1 and s["id_legacy15"] >= 1
        assert entity["rows"]["quarantined"] >= 1


def test_bundled_sample_exact_totals(tmp_path: Path) -> None:
    """The sample's figures written out, so a change to the sample or the engine is visible."""
    summary = audit(SAMPLE / "export.csv", SAMPLE / "blacklist.csv", tmp_path, date(2026, 10, 31))
    total = summary["total"]["statistics"]
    assert {k: v for k, v in total.items() if k != "cards_by_product"} == {
        "outlets": 7, "cards_not_closed": 274, "debit_cards": 265, "customers_4plus": 8,
        "customers_4plus_cards": 34, "customers_over_limit": 2, "agents_3plus": 2,
        "agents_3plus_cards": 6, "listed_2plus": 2, "id_mismatch": 2, "id_nonexistent": 8,
        "id_legacy15": 2, "id_noncompliant": 14,
    }
    assert total["cards_by_product"]["社保IC卡"] == 9
    assert summary["total"]["rows"] == {"read": 298, "audited": 294, "quarantined": 4}


@pytest.mark.parametrize(("rows", "seed", "entities", "fmt"),
                         [(100_000, 7, 3, "parquet"), (20_000, 11, 2, "csv")])
def test_generated_export_figures_equal_planted_truth(tmp_path: Path, rows: int, seed: int,
                                                      entities: int, fmt: str) -> None:
    sample = generate(rows=rows, seed=seed, entities=entities, as_of=date(2026, 10, 31))
    write_sample(sample, tmp_path / "in", fmt=fmt)
    export = tmp_path / "in" / f"export.{fmt}"
    summary = audit(export, tmp_path / "in" / "blacklist.csv", tmp_path / "out",
                    date(2026, 10, 31))
    assert_matches_truth(summary, sample.truth)
