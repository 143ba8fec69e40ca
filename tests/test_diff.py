"""Month over month: planted new and resolved findings are named exactly, by fingerprint.

Month 2 is month 1 with one over-limit customer's rows removed (resolved) and a new customer
holding exactly 4 cards added (new); everything else persists.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import docx
import pandas as pd
import pytest
from conftest import keyed
from helpers import run

from cardaudit import cli
from cardaudit.job import AuditOptions, run_audit
from cardaudit.rules import load_pack
from cardaudit.sample import check_char, generate, normalise_id, write_sample

AS_OF = date(2026, 10, 31)


def fingerprint(rule_id: str, entity: str, key: str) -> str:
    return keyed(f"{rule_id}|{entity}|{key}")


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> dict:
    sample = generate(rows=2000, seed=5, entities=2, as_of=AS_OF)
    month1 = tmp_path_factory.mktemp("month1")
    write_sample(sample, month1)
    out1 = tmp_path_factory.mktemp("out1")
    # Whole, not entity by entity: this reads the findings frames the result keeps in memory.
    outcome = run_audit(AuditOptions(exports=[month1 / "export.csv"], out_dir=out1,
                                     pack=load_pack(), as_of=AS_OF,
                                     blacklist=month1 / "blacklist.csv", by_entity=False))
    entity = outcome.result.entities[0]
    f = entity.findings
    over = f[(f["rule_id"] == "CARD-OVER-LIMIT") & ~f["subject_key"].str.startswith("C:")]
    # An over-limit customer whose 6+ Ⅱ类 accounts also breach the account-class rule.
    class_limited = set(f.loc[f["rule_id"] == "ACCOUNT-CLASS-LIMIT", "subject_key"])
    person = over.loc[over["subject_key"].isin(class_limited), "subject_key"].iloc[0]
    person_rules = set(f.loc[f["subject_key"] == person, "rule_id"])
    counted = int((over["subject_key"] == person).sum())

    export = sample.export
    ids = export["证件号码"].fillna("").map(normalise_id)
    gone = (ids == person) & (export["法人机构"] == entity.name)
    body = "43052219800101987"
    newcomer = body + check_char(body)
    assert newcomer not in set(ids)
    branch = sorted(export.loc[export["法人机构"] == entity.name, "开户机构"].unique())[0]
    new_rows = pd.DataFrame([{
        "法人机构": entity.name, "开户机构": branch, "客户号": "C9990000001", "客户姓名": "测试新",
        "证件类型": "居民身份证", "证件号码": newcomer, "卡号": f"621779000000000{i:04d}",
        "账户类别": "Ⅱ类", "卡产品": "福祥借记卡", "开户日期": "2026-10-15", "卡状态": "正常",
        "预留手机号": "13900009999"} for i in range(4)], columns=export.columns)
    sample.export = pd.concat([export[~gone], new_rows], ignore_index=True)
    month2 = tmp_path_factory.mktemp("month2")
    write_sample(sample, month2)
    out2 = tmp_path_factory.mktemp("out2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["cardaudit", "audit", str(month2 / "export.csv"), "--blacklist",
                                 str(month2 / "blacklist.csv"), "--as-of", AS_OF.isoformat(),
                                 "--out", str(out2), "--format", "md,docx,json",
                                 "--baseline", str(out1), "--quiet"])
        with pytest.raises(SystemExit) as info:
            cli.main()
    assert info.value.code in (0, None)
    old = json.loads((out1 / "findings.json").read_text(encoding="utf-8"))["findings"]
    return {"out1": out1, "out2": out2, "entity": entity.name, "person": person,
            "person_rules": person_rules, "counted": counted, "newcomer": newcomer,
            "branch": branch, "old": {r["fingerprint"] for r in old}}


def expected(m: dict) -> dict[str, set[str]]:
    resolved = {fingerprint(r, m["entity"], m["person"]) for r in m["person_rules"]}
    new = {fingerprint("CARD-4PLUS", m["entity"], m["newcomer"])}
    return {"new": new, "resolved": resolved, "persisting": m["old"] - resolved}


def test_diff_names_planted_new_and_resolved_findings(months: dict, tmp_path: Path,
                                                      monkeypatch, capsys) -> None:
    # The planted over-limit customer: both card-count rules (and, holding several Ⅰ类 cards,
    # the account-class rule) flag them; all of it is resolved when their cards are gone.
    assert months["person_rules"] == {"CARD-4PLUS", "CARD-OVER-LIMIT", "ACCOUNT-CLASS-LIMIT"}
    want = expected(months)
    assert want["resolved"] <= months["old"]
    code, output = run(monkeypatch, capsys, "diff", str(months["out1"]),
                       str(months["out2"] / "summary.json"), "--out", str(tmp_path / "d.json"))
    assert code == 0, output
    assert (f"新增问题 1 个，已整改 3 个，持续存在 {len(want['persisting'])} 个") in output
    assert months["person"] not in output and months["newcomer"] not in output
    comparison = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    for state in ("new", "resolved", "persisting"):
        got = {f["fingerprint"] for f in comparison["findings"][state]}
        assert got == want[state], state
        assert comparison["counts"][state] == len(want[state])
    by_rule = {r["rule_id"]: r for r in comparison["by_rule"]}
    assert (by_rule["CARD-4PLUS"]["new"], by_rule["CARD-4PLUS"]["resolved"]) == (1, 1)
    assert (by_rule["CARD-OVER-LIMIT"]["new"], by_rule["CARD-OVER-LIMIT"]["resolved"]) == (0, 1)
    assert (by_rule["ACCOUNT-CLASS-LIMIT"]["new"],
            by_rule["ACCOUNT-CLASS-LIMIT"]["resolved"]) == (0, 1)
    assert {"legal_entity": months["entity"], "branch": months["branch"], "rule_id": "CARD-4PLUS",
            "new": 1}.items() <= next(
        r for r in comparison["by_branch"] if r["branch"] == months["branch"]
        and r["rule_id"] == "CARD-4PLUS").items()
    # Subjects are masked in the comparison whatever the runs held.
    assert comparison["findings"]["new"][0]["subject"] == months["newcomer"][:4] + "*" * 10 + \
        months["newcomer"][-4:]
    delta = 4 - months["counted"]
    for scope in (comparison["figures"]["entities"][months["entity"]], comparison["figures"]["total"]):
        changes = {f["key"]: f["delta"] for f in scope}
        assert changes["customers_4plus"] == 0
        assert changes["customers_over_limit"] == -1
        assert changes["customers_4plus_cards"] == delta
        assert changes["debit_cards"] == delta
    other = next(n for n in comparison["figures"]["entities"] if n != months["entity"])
    assert all(f["delta"] == 0 for f in comparison["figures"]["entities"][other])


def test_diff_markdown_lists_the_findings_by_state(months: dict, tmp_path: Path, monkeypatch,
                                                   capsys) -> None:
    code, _ = run(monkeypatch, capsys, "diff", str(months["out1"]), str(months["out2"]),
                  "--out", str(tmp_path / "d.md"))
    assert code == 0
    text = (tmp_path / "d.md").read_text(encoding="utf-8")
    want = expected(months)
    new_part = text.split("### 新增")[1].split("### 已整改")[0]
    resolved_part = text.split("### 已整改")[1].split("### 持续存在")[0]
    assert all(fp in new_part for fp in want["new"])
    assert all(fp in resolved_part for fp in want["resolved"])
    assert "### 已整改（3个）" in text and "### 新增（1个）" in text
    assert months["person"] not in text and months["newcomer"] not in text


def test_audit_with_baseline_adds_section_five_and_summary_baseline(months: dict) -> None:
    want = expected(months)
    summary = json.loads((months["out2"] / "summary.json").read_text(encoding="utf-8"))
    assert summary["baseline"]["counts"] == {k: len(v) for k, v in want.items()}
    assert summary["baseline"]["old"]["source"] == months["out1"].name
    entity = months["entity"]
    mine = summary["baseline"]["by_entity"][entity]
    assert (mine["new"], mine["resolved"]) == (1, 3)
    sentence = (f"本期新增问题1个，已整改3个，持续存在{mine['persisting']}个")
    markdown = (months["out2"] / f"report_{entity}.md").read_text(encoding="utf-8")
    assert "## 五、与上期比较" in markdown and sentence in markdown
    before = json.loads((months["out1"] / "summary.json").read_text(encoding="utf-8"))
    old = before["entities"][entity]["statistics"]["customers_over_limit"]
    new = summary["entities"][entity]["statistics"]["customers_over_limit"]
    assert new == old - 1
    assert f"| 借记卡超过4张（超限）的客户数（户） | {old} | {new} | -1 |" in markdown
    word = "\n".join(p.text for p in docx.Document(
        str(months["out2"] / f"report_{entity}.docx")).paragraphs)
    assert "五、与上期比较" in word and sentence in word
    total = (months["out2"] / "report_合计.md").read_text(encoding="utf-8")
    assert f"本期新增问题1个，已整改3个，持续存在{len(want['persisting'])}个" in total


def test_diff_without_findings_json_is_exit_2(months: dict, tmp_path: Path, monkeypatch,
                                              capsys) -> None:
    (tmp_path / "summary.json").write_text(
        (months["out1"] / "summary.json").read_text(encoding="utf-8"), encoding="utf-8")
    code, output = run(monkeypatch, capsys, "diff", str(tmp_path), str(months["out2"]))
    assert code == 2 and "findings.json" in output and "Traceback" not in output
    code, output = run(monkeypatch, capsys, "diff", str(months["out1"]), str(months["out2"]),
                       "--out", str(tmp_path / "d.txt"))
    assert code == 2 and ".md 或 .json" in output


@pytest.mark.parametrize(("summary", "findings", "message"), [
    ("garbage", None, "无法读取汇总文件 summary.json（"),
    ("[1, 2]", None, "不是 cardaudit 写出的 JSON 对象"),
    (None, '{"schema_version": 1}', "findings.json 缺少发现列表（findings），文件不完整"),
    (None, '{"schema_version": 9, "findings": []}', "格式版本 9 不受支持"),
    ('{"as_of": "2026-09-30"}', None, "不是 cardaudit 的 summary.json（缺少 entities/total）"),
])
def test_a_damaged_earlier_run_is_exit_2_naming_the_file(months: dict, tmp_path: Path,
                                                         monkeypatch, capsys, summary, findings,
                                                         message) -> None:
    for name, text in (("summary.json", summary), ("findings.json", findings)):
        source = (months["out1"] / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(source if text is None else text, encoding="utf-8")
    code, output = run(monkeypatch, capsys, "diff", str(tmp_path), str(months["out2"]))
    assert code == 2 and message in output, output
    assert "内部错误" not in output


def test_diff_has_chinese_help(monkeypatch, capsys) -> None:
    code, output = run(monkeypatch, capsys, "diff", "--help")
    assert code == 0 and "已整改" in output and "--out" in output
