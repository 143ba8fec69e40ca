"""findings.json is assembled by Arrow string kernels: it must equal json.dumps of the records."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cardaudit.outputs.findings_out import ROW_FIELDS, findings_json_body, findings_table

SOME_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
TEXT = st.one_of(st.none(), SOME_TEXT)


def shown_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in frame:
        if column != "source_row":
            frame[column] = frame[column].astype("str")
    return frame


ROW = st.fixed_dictionaries({
    **{f: TEXT for f in ROW_FIELDS if f not in ("branch", "source_row")},
    "branch": st.sampled_from(["43052201", "网点\"甲\"", "b\\2", "分理处\n二"]),
    "source_row": st.integers(min_value=2, max_value=10**9),
    "fingerprint": st.sampled_from(["f1", "f2", "f3"]),
    "rule_id": st.sampled_from(["CARD-4PLUS", "ID-MISSING"]),
    "rule_title": SOME_TEXT, "severity": st.just("违规"),
    "legal_entity": st.sampled_from(["甲行", "乙行"]), "subject_kind": st.just("person"),
    "subject": st.sampled_from(["4305**********1234", "C001"]),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=25))
def test_json_body_equals_json_dumps_of_the_records(rows: list[dict]) -> None:
    # One finding per fingerprint: its head fields come from its first row, as in the engine.
    heads = {}
    for r in rows:
        heads.setdefault(r["fingerprint"], {k: r[k] for k in ("rule_id", "rule_title", "severity",
                                                              "legal_entity", "subject_kind",
                                                              "subject")})
    consistent = [{**r, **heads[r["fingerprint"]]} for r in rows]
    table = findings_table(shown_frame(consistent))
    expected = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in table.to_pylist()]
    assert bytes(findings_json_body(table)).decode("utf-8") == ",".join(expected)
    assert table.num_rows == len(heads)
    assert sum(len(r["rows"]) for r in table.to_pylist()) == len(rows)


def test_control_characters_are_escaped_like_json_dumps() -> None:
    row = {**dict.fromkeys(ROW_FIELDS, "x"), "name": "a\x00b\x1fc\x7f\u2028\"\\\t", "source_row": 5,
           "fingerprint": "f", "rule_id": "R", "rule_title": "T", "severity": "违规",
           "legal_entity": "甲", "subject_kind": "person", "subject": "s"}
    table = findings_table(shown_frame([row]))
    text = bytes(findings_json_body(table)).decode("utf-8")
    assert text == json.dumps(table.to_pylist()[0], ensure_ascii=False, separators=(",", ":"))
    assert "\\u0000" in text and "\\u001f" in text


def test_a_record_count_other_than_the_headers_is_an_error_and_nothing_is_written(
        tmp_path) -> None:
    """findings.json's header is written first with the number of records the caller expects;
    adding another number of records must fail, leaving no findings files behind."""
    import pytest

    from cardaudit.job import findings_csv
    from cardaudit.outputs.findings_out import FindingsFiles

    trail = {"tool_version": "0", "as_of": "2026-10-31", "generated_at": "2026-11-01T00:00:00"}
    with pytest.raises(RuntimeError, match="header says 1"), FindingsFiles(
            tmp_path, json_files=True, trail=trail, unmasked=False, key_id="k",
            csv_frame=findings_csv, count=1):
        pass  # no records added
    assert list(tmp_path.iterdir()) == []
    with FindingsFiles(tmp_path, json_files=True, trail=trail, unmasked=False, key_id="k",
                       csv_frame=findings_csv, count=0):
        pass
    document = json.loads((tmp_path / "findings.json").read_text(encoding="utf-8"))
    assert document["count"] == 0 and document["findings"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "findings.csv", "findings.json", "findings.parquet"]


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=25))
def test_records_are_ordered_by_entity_rule_subject_and_fingerprint_rows_in_order(
        rows: list[dict]) -> None:
    """The records' order is a stable sort of the rows by legal entity, rule, shown subject and
    fingerprint: each record's rows keep the order they came in."""
    heads = {}
    for r in rows:
        heads.setdefault(r["fingerprint"], {k: r[k] for k in ("rule_id", "legal_entity",
                                                              "subject")})
    consistent = [{**r, **heads[r["fingerprint"]]} for r in rows]
    frame = shown_frame(consistent)
    expected = frame.sort_values(["legal_entity", "rule_id", "subject", "fingerprint"],
                                 kind="stable")
    records = findings_table(frame).to_pylist()
    assert [r["fingerprint"] for r in records] == list(dict.fromkeys(expected["fingerprint"]))
    assert [row["source_row"] for r in records for row in r["rows"]] == \
        expected["source_row"].tolist()


@settings(max_examples=80, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=30),
           st.lists(st.sampled_from(["43052201", "4305220", "网点\"甲\"", "b\\2", "Z", None]),
                    min_size=30, max_size=30))
def test_each_record_holds_its_first_rows_fields_its_rows_and_sorted_branches(
        rows: list[dict], branches: list) -> None:
    """Against a plain Python grouping: a record's head fields and reason are its first row's,
    its rows are all its rows in their order, its branches their distinct branches in code-point
    order with a missing branch last."""
    rows = [{**r, "branch": b} for r, b in zip(rows, branches, strict=False)]
    first: dict[str, dict] = {}
    for r in rows:
        first.setdefault(r["fingerprint"], r)
    consistent = [{**r, **{k: first[r["fingerprint"]][k] for k in
                           ("rule_id", "rule_title", "severity", "legal_entity",
                            "subject_kind", "subject")}} for r in rows]
    records = findings_table(shown_frame(consistent)).to_pylist()
    assert len(records) == len(first)
    for record in records:
        mine = [r for r in consistent if r["fingerprint"] == record["fingerprint"]]
        head = mine[0]
        assert {k: record[k] for k in ("rule_id", "rule_title", "severity", "legal_entity",
                                       "subject_kind", "subject", "reason")} == \
            {k: head[k] for k in ("rule_id", "rule_title", "severity", "legal_entity",
                                  "subject_kind", "subject", "reason")}
        assert record["rows"] == [{f: r[f] for f in ROW_FIELDS} for r in mine]
        named = sorted({r["branch"] for r in mine if r["branch"] is not None})
        assert record["branches"] == named + ([None] * any(r["branch"] is None for r in mine))
