"""The command line as a user meets it: exit codes, Chinese messages, no personal data shown."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cardaudit import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def run(args: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["cardaudit", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out + captured.err


@pytest.fixture
def cli_run(capsys, monkeypatch):
    return lambda *args: run(list(args), capsys, monkeypatch)


def sample_args(out: Path) -> list[str]:
    return ["audit", str(SAMPLE / "export.csv"), "--blacklist", str(SAMPLE / "blacklist.csv"),
            "--as-of", "2026-10-31", "--out", str(out)]


def test_audit_sample_writes_outputs_and_shows_figures(cli_run, tmp_path: Path) -> None:
    code, output = cli_run(*sample_args(tmp_path / "out"))
    assert code == 0, output
    assert "断卡自查统计" in output and "合计" in output
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"summary.json", "findings.csv", "quarantine.csv", "blacklist_faults.csv"} <= names
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    reports = [n for n in names if n.startswith("report_")]
    # One report per legal entity plus the consolidated one (report_合计.md).
    assert len(reports) == len(summary["entities"]) + 1 == 3
    assert "report_合计.md" in reports
    # Output files are owner-only.
    assert ((tmp_path / "out" / "summary.json").stat().st_mode & 0o077) == 0


def test_report_reads_like_the_seed_with_real_figures(cli_run, tmp_path: Path) -> None:
    cli_run(*sample_args(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    for name, entity in summary["entities"].items():
        s = entity["statistics"]
        text = next(tmp_path.glob(f"report_{name}.md")).read_text(encoding="utf-8")
        assert text.startswith(f"# {name} 关于打击治理电信网络新型违法犯罪有关工作开展情况自查工作的汇报")
        for heading in ("## 一、基本情况", "## 二、自查情况", "## 三、存在的问题", "## 四、今后工作打算"):
            assert heading in text
        assert (f"我行下辖{s['outlets']}个营业网点，至2026年10月末共发行各类银行卡"
                f"{s['cards_not_closed']}张") in text
        assert f"我行共发行借记卡数量{s['debit_cards']}张（不含社保IC卡）" in text
        assert f"同一客户开立4张以上借记卡的客户数量{s['customers_4plus']}户" in text
        assert f"拥有4张以上借记卡客户的银行卡数量{s['customers_4plus_cards']}张" in text
        assert f"同一代理人代理开立3张以上借记卡的代理人{s['agents_3plus']}人" in text
        assert f"同一代理人代理开立3张以上借记卡的数量{s['agents_3plus_cards']}张" in text
        assert f"借记卡账户2个（含）以上的客户数量为{s['listed_2plus']}户" in text
        assert (f"留存的开卡身份信息不合规户数共{s['id_noncompliant']}户，其中姓名与身份证号不匹配的"
                f"{s['id_mismatch']}户，证件号码不存在的{s['id_nonexistent']}户") in text
        assert "XXXX" not in text
        assert "附录一、统计口径与数据来源" in text and "4张（含）以上" in text


def test_no_full_id_name_or_phone_in_console_or_outputs(cli_run, tmp_path: Path) -> None:
    code, output = cli_run(*sample_args(tmp_path))
    assert code == 0
    export = pd.read_csv(SAMPLE / "export.csv", encoding="gb18030", dtype=str)
    ids = set(export["证件号码"].dropna()) | set(export["代理人证件号码"].dropna())
    ids = {i for i in ids if len(i) >= 15 and "E+" not in i}
    names = {n for n in export["客户姓名"].dropna() if len(n) >= 2}
    phones = set(export["预留手机号"].dropna())
    texts = [output] + [p.read_text(encoding="utf-8-sig") for p in tmp_path.iterdir()
                        if p.suffix != ".parquet"]
    # findings.parquet (written with the default json format) holds the same masked records.
    import pyarrow.parquet as pq

    texts.append(json.dumps(pq.read_table(tmp_path / "findings.parquet").to_pylist(),
                            ensure_ascii=False))
    for text in texts:
        leaked = [v for v in ids | names | phones if v in text]
        assert not leaked, leaked[:5]


def test_missing_required_column_is_exit_2_with_headers_listed(cli_run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("开户机构,客户号,客户姓名,卡号\n01,C1,张三,6201\n", encoding="utf-8")
    code, output = cli_run("audit", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "bad.csv" in output and "证件号码" in output and "客户姓名" in output
    assert "Traceback" not in output


def test_missing_input_file_is_exit_2(cli_run, tmp_path: Path) -> None:
    code, output = cli_run("audit", str(tmp_path / "nope.csv"))
    assert code == 2 and "找不到输入文件：nope.csv" in output


def test_bad_as_of_and_fail_on_values_are_exit_2(cli_run, tmp_path: Path) -> None:
    code, output = cli_run(*sample_args(tmp_path)[:-4], "--as-of", "2026/10/31")
    assert code == 2 and "YYYY-MM-DD" in output
    code, output = cli_run(*sample_args(tmp_path), "--fail-on", "严重")
    assert code == 2 and "--fail-on 取值无效" in output


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "duckdb"], "--engine 取值无效：duckdb"),
    (["--spark-master", "local[2]"], "--spark-master 与 --spark-table 只用于 --engine spark"),
    (["--mapping", "{bad}"], "映射文件 bad.yaml:2: YAML 语法错误"),
    (["--mapping", "{gbk}"], "映射文件 gbk.yaml:2: 文件不是 UTF-8 编码，看来是 GBK/GB18030 编码"),
    (["--mapping", "{tag}"], "映射文件 tag.yaml:1: 不允许的 YAML 标签"),
    (["--mapping", "{none}"], "找不到映射文件：none.yaml"),
    (["--mapping", "{list}"], "list.yaml 须为“标准列名: 导出文件列名”的键值对"),
])
def test_bad_audit_options_are_exit_2_with_the_fix(cli_run, tmp_path: Path, args, message) -> None:
    (tmp_path / "bad.yaml").write_text("id_number: [证件号码\n", encoding="utf-8")
    (tmp_path / "list.yaml").write_text("- 证件号码\n", encoding="utf-8")
    (tmp_path / "gbk.yaml").write_bytes("id_number: ID\nname: 客户姓名\n".encode("gbk"))
    (tmp_path / "tag.yaml").write_text("id_number: !!python/object/apply:os.system [ls]\n",
                                       encoding="utf-8")
    given = [a.format(**{n: tmp_path / f"{n}.yaml" for n in ("bad", "list", "gbk", "tag", "none")})
             for a in args]
    code, output = cli_run(*sample_args(tmp_path / "out"), *given)
    assert code == 2 and message in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_audit_without_exports_and_sample_with_a_bad_format_are_exit_2(cli_run) -> None:
    code, output = cli_run("audit", "-q")
    assert code == 2 and "缺少参数 EXPORTS" in output
    code, output = cli_run("sample", "--format", "xlsx")
    assert code == 2 and "--format 取值无效：xlsx。可选：csv、parquet" in output


def test_fail_on_severity_sets_exit_1(cli_run, tmp_path: Path) -> None:
    code, _ = cli_run(*sample_args(tmp_path), "--fail-on", "违规")
    assert code == 1
    code, _ = cli_run(*sample_args(tmp_path), "--fail-on", "breach", "--disable",
                      "CARD-OVER-LIMIT")
    assert code == 1  # other breach rules still flag


def test_invalid_rule_pack_fails_audit_and_check_with_file_line(cli_run, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "card_4plus.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("kind:", "kinds:"), encoding="utf-8")
    code, output = cli_run("rules", "check", str(rules))
    assert code == 2 and "card_4plus.yaml:4: kinds: 未知的键" in output
    code, output = cli_run(*sample_args(tmp_path / "o"), "--rules", str(rules))
    assert code == 2 and "card_4plus.yaml:4" in output
    assert not (tmp_path / "o" / "summary.json").exists()


def test_rules_test_fails_when_a_threshold_changes(cli_run, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    code, output = cli_run("rules", "test", str(rules))
    assert code == 0, output
    path = rules / "agent_3plus.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("at_least: 3", "at_least: 4", 1),
                    encoding="utf-8")
    code, output = cli_run("rules", "test", str(rules))
    assert code == 1
    assert "失败 AGENT-3PLUS / three_cards_flagged_normalised_id" in output


def test_every_command_has_chinese_help(cli_run) -> None:
    for args in (["--help"], ["audit", "--help"], ["sample", "--help"], ["rules", "--help"],
                 ["rules", "check", "--help"], ["rules", "test", "--help"],
                 ["rules", "list", "--help"]):
        code, output = cli_run(*args)
        assert code == 0, args
        assert any("\u4e00" <= ch <= "\u9fff" for ch in output), args


def test_python_dash_m_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "cardaudit", "version"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("cardaudit ")


def test_config_file_layers_over_the_pack_and_is_recorded(cli_run, tmp_path: Path) -> None:
    config = tmp_path / "bank.yaml"
    config.write_text("settings:\n  excluded_products: [社保IC卡, 福祥医疗卡]\n"
                      "disabled_rules: [PHONE-SHARED]\n"
                      "rules:\n  CARD-4PLUS: {params: {at_least: 5}, severity: 违规}\n",
                      encoding="utf-8")
    baseline, _ = cli_run(*sample_args(tmp_path / "a"))
    code, output = cli_run(*sample_args(tmp_path / "b"), "--config", str(config))
    assert baseline == code == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
    # at_least 5 makes the 4+ figure equal the over-limit figure (both ">= 5").
    assert b["total"]["statistics"]["customers_4plus"] == a["total"]["statistics"][
        "customers_over_limit"]
    # 福祥医疗卡 no longer counts as a debit card.
    medical = a["total"]["statistics"]["cards_by_product"]["福祥医疗卡"]
    assert b["total"]["statistics"]["debit_cards"] == a["total"]["statistics"]["debit_cards"] - medical
    assert b["config"]["file"] == "bank.yaml" and len(b["config"]["sha256"]) == 64
    rules = {r["id"]: r for r in b["rule_pack"]["rules"]}
    assert rules["PHONE-SHARED"]["enabled"] is False
    assert rules["CARD-4PLUS"]["severity"] == "违规" and rules["CARD-4PLUS"]["params"] == {
        "at_least": 5}
    assert "CARD-4PLUS 5张（含）以上" in output


def test_report_states_the_thresholds_in_force(cli_run, tmp_path: Path) -> None:
    """A bank that sets its own thresholds gets them stated in every label, title and sentence
    of the filing, not the defaults its figures were no longer counted by. (A bound given in the
    config replaces the rule file's other bound: at_least 8 over a file's more_than 4.)"""
    config = tmp_path / "bank.yaml"
    config.write_text("rules:\n  CARD-4PLUS: {params: {at_least: 6}}\n"
                      "  CARD-OVER-LIMIT: {params: {at_least: 8}}\n"
                      "  AGENT-3PLUS: {params: {more_than: 4}}\n"
                      "  LISTED-2PLUS: {params: {at_least: 3}}\n"
                      "  ACCOUNT-CLASS-LIMIT: {params: {most: {I: 1}}}\n", encoding="utf-8")
    code, output = cli_run(*sample_args(tmp_path / "b"), "--config", str(config), "--format",
                           "md,json,xlsx")
    assert code == 0, output
    report = (tmp_path / "b" / "report_合计.md").read_text(encoding="utf-8")
    for text in ("| 同一客户开立6张以上借记卡的客户数（户） |", "| 借记卡超过7张（超限）的客户数（户） |",
                 "| 同一代理人代理开立5张以上借记卡的代理人数（人） |",
                 "| 名单客户持有3个（含）以上借记卡账户的客户数（户） |",
                 "其中同一客户开立6张以上借记卡的客户数量", "代理开立5张以上借记卡的代理人",
                 "借记卡账户3个（含）以上的客户数量", "此外，借记卡超过7张（超限）的客户",
                 "| CARD-4PLUS | 同一客户开立6张（含）以上借记卡 |",
                 "| CARD-OVER-LIMIT | 同一客户借记卡超过7张（超限） |",
                 "| AGENT-3PLUS | 同一代理人代理开立5张（含）以上借记卡 |",
                 "| ACCOUNT-CLASS-LIMIT | 同一客户Ⅰ类户超过1个 |"):
        assert text in report, text
    for default in ("开立4张以上", "借记卡超过4张（超限）", "代理开立3张以上", "2个（含）以上借记卡"):
        assert default not in report, default
    summary = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
    assert summary["rule_pack"]["figure_thresholds"] == {
        "customers_4plus": 6, "customers_over_limit": 8, "agents_3plus": 5, "listed_2plus": 3,
        "id_mismatch": 2}
    titles = {r["id"]: r["title"] for r in summary["rule_pack"]["rules"]}
    assert titles["CARD-OVER-LIMIT"] == "同一客户借记卡超过7张（超限）"
    findings = pd.read_csv(tmp_path / "b" / "findings.csv", dtype=str)
    assert set(findings.loc[findings["规则编号"] == "ACCOUNT-CLASS-LIMIT", "规则"]) == {
        "同一客户Ⅰ类户超过1个"}
    assert "6张以上客户" in output  # the console's figure table


def test_config_that_leaves_a_title_placeholder_unset_is_exit_2(cli_run, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "card_4plus.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{minimum}", "{at_least}"),
                    encoding="utf-8")
    config = tmp_path / "bank.yaml"
    config.write_text(f"rules_dir: {rules.as_posix()}\nrules:\n"
                      "  CARD-4PLUS:\n    params: {more_than: 4, at_least: null}\n",
                      encoding="utf-8")
    code, output = cli_run(*sample_args(tmp_path / "o"), "--config", str(config))
    assert code == 2, output
    assert "bank.yaml:4: rules.CARD-4PLUS.params:" in output and "{at_least} 不是本规则的参数" in output


def test_config_that_leaves_a_description_placeholder_unset_is_exit_2(cli_run,
                                                                     tmp_path: Path) -> None:
    """The description states the threshold too (`rules explain` shows it): a config dropping
    the param it names is the same file:line error for the audit and for `rules explain`, never
    a traceback."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "card_4plus.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "description: >-\n", "description: >-\n  至少{at_least}张。\n"), encoding="utf-8")
    code, output = cli_run("rules", "explain", "CARD-4PLUS", "--rules", str(rules))
    assert code == 0 and "说明：至少4张。" in output, output
    config = tmp_path / "bank.yaml"
    config.write_text(f"rules_dir: {rules.as_posix()}\nrules:\n"
                      "  CARD-4PLUS:\n    params: {more_than: 4}\n", encoding="utf-8")
    for args in (sample_args(tmp_path / "o"), ["rules", "explain", "CARD-4PLUS"]):
        code, output = cli_run(*args, "--config", str(config))
        assert code == 2, output
        assert "bank.yaml:4: rules.CARD-4PLUS.params: 规则说明「至少{at_least}张。" in output
        assert "{at_least} 不是本规则的参数" in output and "Traceback" not in output


def test_bad_config_is_exit_2_with_file_line(cli_run, tmp_path: Path) -> None:
    config = tmp_path / "bank.yaml"
    config.write_text("rules:\n  CARD-4PLUS:\n    params: {at_leest: 3}\n", encoding="utf-8")
    code, output = cli_run(*sample_args(tmp_path), "--config", str(config))
    assert code == 2 and "bank.yaml:3: rules.CARD-4PLUS.params.at_leest: 未知的键" in output


@pytest.mark.parametrize(("text", "message"), [
    ("rules:\n  NO-SUCH-RULE: {params: {}}\n", "bank.yaml:2: rules.NO-SUCH-RULE: 规则包中没有该规则"),
    ("rules:\n  CARD-4PLUS:\n    severity: 严重\n",
     "bank.yaml:3: rules.CARD-4PLUS.severity: 须为 提示/警告/违规 之一"),
    ("rules:\n  CARD-4PLUS:\n    params: {at_least: four}\n",
     "bank.yaml:3: rules.CARD-4PLUS.params.at_least: 类型错误：须为整数（实际为「four」）"),
    ("rules:\n  CARD-4PLUS:\n    params: {at_least: 0}\n",
     "bank.yaml:3: rules.CARD-4PLUS.params.at_least: 取值须不小于1（实际为「0」）"),
    ("settings:\n  excluded_products: 社保IC卡\n",
     "bank.yaml:2: settings.excluded_products: 类型错误：须为列表（如 [甲, 乙]）（实际为「社保IC卡」）"),
    ("rules: [CARD-4PLUS]\n", "bank.yaml:1: rules: 类型错误：须为键值对（如 键: 值）"),
])
def test_each_kind_of_config_mistake_is_named_in_chinese_at_its_line(cli_run, tmp_path: Path,
                                                                    text, message) -> None:
    config = tmp_path / "bank.yaml"
    config.write_text(text, encoding="utf-8")
    code, output = cli_run(*sample_args(tmp_path / "out"), "--config", str(config))
    assert code == 2 and message in output, output
    assert "本行配置文件有 1 处问题" in output  # the bank's config, not the rule pack
    assert "Input should" not in output and not (tmp_path / "out").exists()


def test_config_saved_as_gbk_names_its_line_and_how_to_save_it(cli_run, tmp_path: Path) -> None:
    """Notepad's 'ANSI' on a Chinese Windows is GBK: the file is named at the line with the first
    byte that is not UTF-8, in Chinese; a UTF-8 file with a BOM (Notepad's UTF-8) is read."""
    config = tmp_path / "bank.yaml"
    config.write_bytes("rules:\n  CARD-4PLUS:\n    # 阈值按总行要求\n    params: {at_least: 5}\n"
                       .encode("gbk"))
    code, output = cli_run(*sample_args(tmp_path / "out"), "--config", str(config))
    assert code == 2 and "bank.yaml:3: 文件不是 UTF-8 编码，看来是 GBK/GB18030 编码" in output
    assert "codec" not in output
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes().decode("gbk").encode("utf-8"))
    code, output = cli_run(*sample_args(tmp_path / "out"), "--config", str(config))
    assert code == 0, output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    card = next(r for r in summary["rule_pack"]["rules"] if r["id"] == "CARD-4PLUS")
    assert card["threshold"] == "5张（含）以上"  # the config took effect


def test_rules_explain_and_list(cli_run) -> None:
    code, output = cli_run("rules", "explain", "agent-3plus")
    assert code == 0
    assert "AGENT-3PLUS" in output and "3张（含）以上" in output and "代理人证件号码" in output
    code, output = cli_run("rules", "explain", "NOPE")
    assert code == 2 and "没有规则 NOPE" in output
    code, output = cli_run("rules", "list")
    assert code == 0 and "LISTED-OPENED-IN-PERIOD" in output


def test_junit_lists_every_case_and_failures(cli_run, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from cardaudit.rules import load_pack

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "card_over_limit.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("more_than: 4", "more_than: 5", 1),
                    encoding="utf-8")
    code, _ = cli_run("rules", "test", str(rules), "--junit", str(tmp_path / "junit.xml"))
    assert code == 1
    root = ET.parse(tmp_path / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == sum(len(r.cases) for r in load_pack().rules)
    failed = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert failed == [("CARD-OVER-LIMIT", "five_cards_breach")]
