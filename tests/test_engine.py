"""Engine and normalisation on small frames whose truth is written out by hand."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from cardaudit import engine
from cardaudit.blacklist import Blacklist
from cardaudit.normalize import QUARANTINE_REASONS, normalise
from cardaudit.rules import load_pack

AS_OF = date(2026, 10, 31)
PACK = load_pack()

A = "430522199001011235"
B = "110101198506150027"
LEGACY = "430522800101015"
LEGACY18 = "430522198001010158"


def frame(rows: list[dict[str, str | None]]) -> pd.DataFrame:
    defaults = {"legal_entity": "甲行", "branch": "01", "customer_id": None, "name": "张三",
                "id_type": "居民身份证", "product": "借记卡", "status": "正常"}
    records = [{**defaults, **row} for row in rows]
    for i, r in enumerate(records):
        r["customer_id"] = r["customer_id"] or f"C{i}"
        r.setdefault("card_no", f"62{i:04d}")
    out = pd.DataFrame.from_records(records).astype("str")
    out["_source_file"] = "t.csv"
    out["_source_row"] = range(2, len(out) + 2)
    return out


def run(rows: list[dict[str, str | None]], listed: frozenset[str] = frozenset(), pack=PACK):
    norm = normalise(frame(rows), pack.settings, AS_OF)
    return engine.audit(norm, pack, Blacklist(ids=listed))


def test_figures_are_per_entity_and_additive() -> None:
    rows = [{"id_number": A} for _ in range(4)]
    rows += [{"id_number": A, "legal_entity": "乙行"} for _ in range(3)]
    result = run(rows)
    by_name = {e.name: e for e in result.entities}
    # 4 cards in 甲行 and 3 in 乙行: a 4+ person in 甲行 only, never 7 cards across entities.
    assert by_name["甲行"].statistics["customers_4plus"] == 1
    assert by_name["乙行"].statistics["customers_4plus"] == 0
    assert result.total["statistics"]["customers_4plus"] == 1
    assert result.total["statistics"]["debit_cards"] == 7
    assert result.total["statistics"]["cards_by_product"] == {"借记卡": 7}


def test_legacy15_and_upgraded_number_are_one_person() -> None:
    rows = [{"id_number": LEGACY, "customer_id": "X1"}, {"id_number": LEGACY18, "customer_id": "X2"},
            {"id_number": LEGACY18}, {"id_number": f" {LEGACY18[:-1]}{LEGACY18[-1].lower()} "}]
    stats = run(rows).entities[0].statistics
    assert stats["customers_4plus"] == 1
    assert stats["customers_4plus_cards"] == 4
    assert stats["id_legacy15"] == 1
    assert stats["id_noncompliant"] == 1


def test_mangled_ids_never_merge_customers() -> None:
    rows = [{"id_number": "4.30522E+17", "customer_id": f"M{i}"} for i in range(4)]
    stats = run(rows).entities[0].statistics
    assert stats["customers_4plus"] == 0
    assert stats["id_nonexistent"] == 4


def test_passport_rows_are_not_validated_and_keyed_by_customer() -> None:
    rows = [{"id_type": "护照", "id_number": "E1234567", "customer_id": "P1"} for _ in range(4)]
    stats = run(rows).entities[0].statistics
    assert stats["id_nonexistent"] == 0 and stats["id_noncompliant"] == 0
    assert stats["customers_4plus"] == 1


def test_card_kind_column_limits_counted_cards_to_debit() -> None:
    rows = [{"id_number": A, "card_kind": "借记卡"} for _ in range(3)]
    rows.append({"id_number": A, "card_kind": "贷记卡"})
    stats = run(rows).entities[0].statistics
    assert stats["debit_cards"] == 3
    assert stats["cards_not_closed"] == 4
    assert stats["customers_4plus"] == 0


def test_quarantine_reasons_and_row_accounting() -> None:
    rows = [
        {"id_number": A, "card_no": "1"},
        {"id_number": A, "card_no": "1"},  # duplicate in the same entity
        {"id_number": A, "card_no": "1", "legal_entity": "乙行"},  # same card, other entity: ok
        {"id_number": A, "card_no": None},
        {"id_number": A, "card_no": "2", "branch": " "},
        {"id_number": "bad", "card_no": "3", "customer_id": ""},
        {"id_number": A, "card_no": "4", "legal_entity": ""},
    ]
    fr = frame(rows)
    fr.loc[5, "customer_id"] = pd.NA
    norm = normalise(fr, PACK.settings, AS_OF)
    reasons = dict(zip(norm.quarantined["_source_row"], norm.quarantined["reason"], strict=True))
    assert reasons == {3: QUARANTINE_REASONS["card_duplicate"],
                       5: QUARANTINE_REASONS["card_empty"],
                       6: QUARANTINE_REASONS["branch_empty"],
                       7: QUARANTINE_REASONS["no_person"],
                       8: QUARANTINE_REASONS["entity_empty"]}
    result = engine.audit(norm, PACK)
    assert result.total["rows"] == {"read": 7, "audited": 2, "quarantined": 5}
    by_name = {e.name: e.rows for e in result.entities}
    assert by_name["甲行"] == {"read": 5, "audited": 1, "quarantined": 4}
    assert by_name["乙行"] == {"read": 1, "audited": 1, "quarantined": 0}


def test_listed_person_needs_threshold_cards_and_exact_key() -> None:
    rows = [{"id_number": A}, {"id_number": A}, {"id_number": B}]
    stats = run(rows, listed=frozenset({A, B})).entities[0].statistics
    assert stats["listed_2plus"] == 1


def test_disabled_rule_leaves_its_figure_empty() -> None:
    pack = load_pack(disabled=["AGENT-3PLUS"])
    stats = run([{"id_number": A}], pack=pack).entities[0].statistics
    assert stats["agents_3plus"] is None and stats["agents_3plus_cards"] is None
    assert stats["customers_4plus"] == 0


def test_findings_table_has_fixed_columns_and_rows_behind_each_finding() -> None:
    rows = [{"id_number": A, "branch": b, "card_no": f"9{i}"} for i, b in
            enumerate(["01", "01", "02", "03", "03"])]
    entity = run(rows).entities[0]
    assert tuple(entity.findings.columns) == engine.FINDING_COLUMNS
    over = entity.findings[entity.findings["rule_id"] == "CARD-OVER-LIMIT"]
    assert sorted(over["card_no"]) == ["90", "91", "92", "93", "94"]
    assert set(over["subject_key"]) == {A}
    assert entity.branches.loc["03", "CARD-OVER-LIMIT"] == 1
    assert entity.branches["debit_cards"].to_dict() == {"01": 2, "02": 1, "03": 2}


@pytest.mark.parametrize("order", [0, 1, 2])
def test_row_order_does_not_change_figures(order: int) -> None:
    rows = ([{"id_number": A} for _ in range(5)] + [{"id_number": B, "name": "李四"},
            {"id_number": B, "name": "李 四"}, {"id_number": B, "name": "王五"}]
            + [{"id_number": "x", "customer_id": "Q"}])
    fr = frame(rows).sample(frac=1, random_state=order).reset_index(drop=True)
    result = engine.audit(normalise(fr, PACK.settings, AS_OF), PACK)
    stats = result.entities[0].statistics
    assert (stats["customers_over_limit"], stats["id_mismatch"], stats["id_nonexistent"],
            stats["id_noncompliant"]) == (1, 1, 1, 2)


def test_unknown_region_code_is_a_warning_not_a_class() -> None:
    from cardaudit.idcard import calc_check_digit

    unknown = "99010119900101123"
    unknown += calc_check_digit(unknown)
    entity = run([{"id_number": unknown}, {"id_number": unknown}, {"id_number": A}]).entities[0]
    assert entity.warnings == {"region_unknown_persons": 1}
    assert entity.statistics["id_nonexistent"] == 0 and entity.statistics["id_noncompliant"] == 0
