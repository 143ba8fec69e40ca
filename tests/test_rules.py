"""Rule pack loading: the bundled pack is valid; every bad file is reported with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cardaudit.errors import RuleError
from cardaudit.rules import PackProblems, default_rules_dir, load_pack

BUNDLED = default_rules_dir()


@pytest.fixture
def pack_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(BUNDLED, target)
    return target


def test_bundled_pack_loads_with_every_report_figure_owned() -> None:
    pack = load_pack()
    owned = {f for r in pack.enabled() for f in (r.figures.subjects, r.figures.cards) if f}
    assert owned == {
        "customers_4plus", "customers_4plus_cards", "customers_over_limit", "agents_3plus",
        "agents_3plus_cards", "listed_2plus", "id_mismatch", "id_nonexistent", "id_legacy15",
        "id_noncompliant",
    }
    assert len(pack.hash) == 64
    # Every shipped rule carries at least one flagging and one non-flagging case.
    for rule in pack.rules:
        assert any(c.expect.flagged for c in rule.cases), rule.id
        if rule.kind != "union":
            assert any(c.expect.not_flagged for c in rule.cases), rule.id


def test_pack_hash_changes_with_a_threshold(pack_copy: Path) -> None:
    before = load_pack(pack_copy).hash
    path = pack_copy / "card_4plus.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("at_least: 4", "at_least: 3", 1),
                    encoding="utf-8")
    after = load_pack(pack_copy)
    assert after.hash != before
    assert after.by_id("CARD-4PLUS").params["at_least"] == 3


def _problems(directory: Path) -> list[str]:
    with pytest.raises(PackProblems) as info:
        load_pack(directory)
    return [str(p) for p in info.value.problems]


def test_unknown_key_is_reported_with_file_and_line(pack_copy: Path) -> None:
    path = pack_copy / "agent_3plus.yaml"
    text = path.read_text(encoding="utf-8").replace("severity: 警告", "severity: 警告\nseverety: 违规")
    path.write_text(text, encoding="utf-8")
    problems = _problems(pack_copy)
    assert problems == ["agent_3plus.yaml:4: severety: 未知的键（请检查拼写，不允许多余的键）"]


def test_unknown_param_wrong_type_and_bad_kind_all_reported_at_once(pack_copy: Path) -> None:
    (pack_copy / "card_4plus.yaml").write_text(
        (pack_copy / "card_4plus.yaml").read_text(encoding="utf-8")
        .replace("  at_least: 4\n", "  at_least: four\n", 1), encoding="utf-8")
    (pack_copy / "id_missing.yaml").write_text(
        (pack_copy / "id_missing.yaml").read_text(encoding="utf-8")
        .replace("kind: id_class", "kind: magic"), encoding="utf-8")
    problems = _problems(pack_copy)
    assert any(p.startswith("card_4plus.yaml:6: params.at_least: 类型错误") for p in problems), problems
    assert any(p.startswith("id_missing.yaml:1:") and "未知的检查类型 kind「magic」" in p
               for p in problems), problems


def test_empty_title_and_empty_class_list_are_named_in_chinese(pack_copy: Path) -> None:
    path = pack_copy / "id_missing.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: 居民身份证号码为空", 'title: ""'), encoding="utf-8")
    assert "id_missing.yaml:2: title: 至少须有 1 个字符（实际为「」）" in _problems(pack_copy)
    path.write_text(text.replace("classes: [missing]", "classes: []"), encoding="utf-8")
    assert "id_missing.yaml:6: params.classes: 至少须有 1 项" in _problems(pack_copy)


def test_python_tag_is_refused_not_constructed(pack_copy: Path) -> None:
    (pack_copy / "evil.yaml").write_text(
        "id: EVIL\ntitle: x\nseverity: 提示\nkind: id_class\n"
        "params: !!python/object/apply:os.system ['echo pwned']\n", encoding="utf-8")
    problems = _problems(pack_copy)
    assert len(problems) == 1
    assert problems[0].startswith("evil.yaml:5: 不允许的 YAML 标签")


def test_yaml_syntax_error_has_line(pack_copy: Path) -> None:
    (pack_copy / "broken.yaml").write_text("id: X\ntitle: [unclosed\nseverity: 提示\n",
                                           encoding="utf-8")
    problems = _problems(pack_copy)
    assert len(problems) == 1 and problems[0].startswith("broken.yaml:")
    assert "YAML 语法错误" in problems[0]


def test_duplicate_rule_id_and_duplicate_figure_owner(pack_copy: Path) -> None:
    shutil.copy(pack_copy / "card_4plus.yaml", pack_copy / "zz_copy.yaml")
    problems = _problems(pack_copy)
    assert problems == ["zz_copy.yaml:1: 规则编号 CARD-4PLUS 重复（已在 card_4plus.yaml:1 定义）"]


def test_threshold_needs_exactly_one_bound(pack_copy: Path) -> None:
    path = pack_copy / "card_over_limit.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  more_than: 4\n", "  more_than: 4\n  at_least: 5\n", 1), encoding="utf-8")
    problems = _problems(pack_copy)
    assert problems == ["card_over_limit.yaml:5: params: at_least 与 more_than 必须且只能设置其中一个"]


def test_union_member_missing(pack_copy: Path) -> None:
    (pack_copy / "id_missing.yaml").unlink()
    problems = _problems(pack_copy)
    assert problems == ["id_noncompliant.yaml:1: 合并规则引用的规则 ID-MISSING 不存在或已停用"]


def test_disabling_unknown_rule_is_an_error() -> None:
    with pytest.raises(RuleError, match="要停用的规则不存在：NOPE（见 --disable 或本行配置文件）。"
                       "规则包中的规则：ACCOUNT-CLASS-LIMIT、") as caught:
        load_pack(disabled=["NOPE"])
    assert "pack.yaml" not in str(caught.value)  # the pack does not name it


def test_title_placeholders_name_params_only(pack_copy: Path) -> None:
    from cardaudit.rules import Threshold, fill_params

    assert load_pack(pack_copy).by_id("CARD-OVER-LIMIT").heading == "同一客户借记卡超过4张（超限）"
    params = Threshold(more_than=4)
    assert fill_params("{limit}/{minimum}/{more_than}", params) == "4/5/4"
    for bad in ("{at_least}", "{minimum.__class__}", "{__class__}", "{0}", "{}"):
        with pytest.raises(ValueError, match="不是本规则的参数"):
            fill_params(bad, params)
    path = pack_copy / "agent_3plus.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{minimum}", "{minimum.real}"),
                    encoding="utf-8")
    path = pack_copy / "phone_shared.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("description: >-",
                                                             "description: >-\n  {years}"),
                    encoding="utf-8")
    assert _problems(pack_copy) == [
        "agent_3plus.yaml:2: title: {minimum.real} 不是本规则的参数（可用：{at_least}、{minimum}、{limit}）",
        "phone_shared.yaml:9: description: {years} 不是本规则的参数（可用：{at_least}、{scope}）"]


def test_a_case_bound_replaces_the_files_and_must_keep_the_title_filled(pack_copy: Path) -> None:
    """A case's at_least replaces the file's more_than (as a config's does); a title naming the
    bound the case drops is a rules-check problem at the case, not a crash when the case runs."""
    path = pack_copy / "card_over_limit.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  - name: five_cards_breach\n", "  - name: five_cards_breach\n    params: {at_least: 5}\n")
    path.write_text(text, encoding="utf-8")
    from cardaudit.casetest import run_case

    pack = load_pack(pack_copy)
    rule = pack.by_id("CARD-OVER-LIMIT")
    assert rule.parsed_params(rule.cases[0].params).minimum == 5  # not "both bounds set"
    assert run_case(pack, rule, rule.cases[0]).passed  # five cards, at_least 5: flagged
    path.write_text(text.replace("超过{limit}张（超限）", "超过{more_than}张（超限）", 1),
                    encoding="utf-8")
    assert _problems(pack_copy) == [
        "card_over_limit.yaml:14: cases[0].params: title: {more_than} 不是本规则的参数"
        "（可用：{at_least}、{minimum}、{limit}）"]
    # The description is held to the same: it is what `rules explain` shows.
    path.write_text(text.replace("description: >-\n", "description: >-\n  {more_than}\n", 1),
                    encoding="utf-8")
    assert _problems(pack_copy) == [
        "card_over_limit.yaml:15: cases[0].params: description: {more_than} 不是本规则的参数"
        "（可用：{at_least}、{minimum}、{limit}）"]
