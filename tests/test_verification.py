"""联网核查 results feed the mismatch and non-existent figures on top of the offline checks."""

from __future__ import annotations

from datetime import date

import pandas as pd

from cardaudit import engine, verification
from cardaudit.normalize import normalise
from cardaudit.rules import load_pack

PACK = load_pack()
A = "430522199001011235"
B = "110101198506150027"
C = "440305197211304410"


def audit(rows: list[dict[str, str]], results: list[dict[str, str]] | None):
    frame = pd.DataFrame.from_records(rows).astype("str")
    frame["branch"] = "01"
    frame["card_no"] = [str(i) for i in range(len(frame))]
    frame["customer_id"] = [f"C{i}" for i in range(len(frame))]
    norm = normalise(frame, PACK.settings, date(2026, 10, 31))
    if results is not None:
        v = verification.from_frame(pd.DataFrame.from_records(results).astype("str"), "v.csv")
        norm.frame["verified_mismatch"], norm.frame["verified_nonexistent"] = verification.flags(
            norm.frame, v)
    return engine.audit(norm, PACK).entities[0]


ROWS = [{"id_number": A, "name": "张三"}, {"id_number": B, "name": "李 四"},
        {"id_number": C, "name": "王五"}, {"id_number": C, "name": "王武"}]


def test_offline_only_without_a_verification_file() -> None:
    stats = audit(ROWS, None).statistics
    assert (stats["id_mismatch"], stats["id_nonexistent"], stats["id_noncompliant"]) == (1, 0, 1)


def test_verification_results_add_persons_and_reasons() -> None:
    results = [
        {"id_number": A, "name": "张三", "result": "姓名不一致"},
        {"id_number": B.lower(), "name": "李四", "result": "号码不存在"},
        {"id_number": C, "name": "王五", "result": "一致"},
        {"id_number": "999", "name": "x", "result": "系统繁忙"},
    ]
    v = verification.from_frame(pd.DataFrame.from_records(results).astype("str"), "v.csv")
    assert v.unreadable == 1 and v.rows == 4
    entity = audit(ROWS, results)
    stats = entity.statistics
    # A verified mismatched, B verified non-existent, C mismatched offline (two names).
    assert (stats["id_mismatch"], stats["id_nonexistent"], stats["id_noncompliant"]) == (2, 1, 3)
    reasons = dict(zip(entity.findings["subject_key"] + "|" + entity.findings["rule_id"],
                       entity.findings["reason"], strict=False))
    assert reasons[f"{A}|NAME-MISMATCH"] == "联网核查：姓名与身份证号不匹配"
    assert reasons[f"{B}|ID-NONEXISTENT"] == "联网核查：证件号码不存在"
    assert reasons[f"{C}|NAME-MISMATCH"] == "同一客户（证件号码）登记了2个不同姓名"


def test_verification_file_through_the_audit_job(tmp_path) -> None:
    from pathlib import Path

    from cardaudit.job import AuditOptions, run_audit

    sample = Path(__file__).resolve().parent.parent / "sample_data"
    export = pd.read_csv(sample / "export.csv", encoding="gb18030", dtype=str)
    first = export[export["证件类型"] == "居民身份证"].iloc[0]
    rows = [f"{first['证件号码']},{first['客户姓名']},姓名与身份证号不匹配", "x,y,系统繁忙"]
    path = tmp_path / "核查结果.csv"
    path.write_text("证件号码,姓名,核查结果\n" + "\n".join(rows) + "\n", encoding="utf-8")
    base = run_audit(AuditOptions(exports=[sample / "export.csv"], out_dir=tmp_path / "a",
                                  pack=PACK, as_of=date(2026, 10, 31))).summary
    got = run_audit(AuditOptions(exports=[sample / "export.csv"], out_dir=tmp_path / "b",
                                 pack=PACK, as_of=date(2026, 10, 31), verification=path)).summary
    entity = first["法人机构"]
    before, after = base["entities"][entity]["statistics"], got["entities"][entity]["statistics"]
    assert after["id_mismatch"] == before["id_mismatch"] + 1
    assert got["verification"] == {"file": "核查结果.csv", "rows": 2, "unreadable": 1}
    # Named by row, never by its text (a result column mapped by mistake could hold names).
    assert "联网核查结果文件 核查结果.csv 中有1条结果无法识别（为空或写法不认识），未计入统计：" \
        "第3行。" in got["notices"][0]
    assert "系统繁忙" not in " ".join(got["notices"])
    report = next((tmp_path / "b").glob(f"report_{entity}.md")).read_text(encoding="utf-8")
    assert "联网核查结果文件 核查结果.csv（2条，其中无法识别的结果1条）的核查结果" in report


def test_unreadable_results_are_named_by_their_first_rows() -> None:
    frame = pd.DataFrame({"id_number": [f"x{i}" for i in range(8)],
                          "result": ["一致", "?", None, "一致", "a", "b", "c", "d"]}, dtype="str")
    checked = verification.from_frame(frame, "v.csv")
    assert checked.unreadable == 6 and checked.unreadable_rows == (3, 4, 6, 7, 8)
    assert "中有6条结果无法识别（为空或写法不认识），未计入统计：第3、4、6、7、8行等。" in \
        verification.unreadable_notice(checked)
