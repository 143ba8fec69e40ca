"""Run a rule's named cases through the same normalise + engine code as `audit`.

Used by `cardaudit rules test` and by the project's own pytest, so a bank's CI and ours check rule
behaviour the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from cardaudit import blacklist as blacklist_mod
from cardaudit import engine
from cardaudit.normalize import normalise
from cardaudit.rules import Case, Rule, RulePack
from cardaudit.schema import ALIAS_INDEX, SOURCE_FILE, SOURCE_ROW, header_key

CASE_DEFAULTS = {"branch": "B1", "name": "测试客户", "product": "借记卡", "status": "正常"}
RULE_KEYS = ("subjects", "cards", "rows")


@dataclass
class CaseResult:
    rule_id: str
    case: str
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def case_frame(case: Case, source: str) -> pd.DataFrame:
    """The case's rows as an export frame: Chinese or canonical headers, defaults filled."""
    records = []
    for row in case.rows:
        record = {}
        for key, value in row.items():
            canonical = ALIAS_INDEX.get(header_key(key), key)
            record[canonical] = None if value is None else str(value)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for column, default in CASE_DEFAULTS.items():
        if column not in frame:
            frame[column] = default
    if "customer_id" not in frame:
        frame["customer_id"] = [f"R{i + 1}" for i in range(len(frame))]
    frame = frame.astype("str").replace("", pd.NA) if len(frame) else frame
    frame[SOURCE_FILE] = source
    frame[SOURCE_ROW] = range(2, len(frame) + 2)
    return frame


def case_blacklist(case: Case) -> pd.DataFrame:
    """The case's list entries: bare ID numbers or rows with listing dates."""
    records = []
    for entry in case.blacklist:
        row = {"id_number": entry} if isinstance(entry, str) else entry
        records.append({ALIAS_INDEX.get(header_key(k), k): None if v is None else str(v)
                        for k, v in row.items()})
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(
        {"id_number": pd.Series(dtype="str")})
    return frame.astype("str")


def run_case(pack: RulePack, rule: Rule, case: Case, as_of: date | None = None) -> CaseResult:
    """Run the whole pack on the case's rows (with the case's overrides) and check one rule."""
    as_of = as_of or date.today()
    result = CaseResult(rule.id, case.name)
    settings = pack.settings.model_copy(update=case.settings) if case.settings else pack.settings
    tested = rule.model_copy(update={"params": rule.merged_params(case.params), "enabled": True})
    rules = [tested if r.id == rule.id else r for r in pack.rules]
    case_pack = type(pack)(meta=pack.meta.model_copy(update={"settings": settings}),
                           rules=rules, hash=pack.hash)
    frame = case_frame(case, f"{rule.id}:{case.name}")

    listed = blacklist_mod.from_frame(case_blacklist(case), as_of)
    normalised = normalise(frame, settings, as_of)
    audit = engine.audit(normalised, case_pack, listed if case.blacklist else None)
    missing = next((m for r, m in audit.skipped if r.id == rule.id), None)
    if missing:
        result.problems.append(f"用例缺少规则所需的列：{'、'.join(missing)}")
        return result
    entity = audit.entities[0] if audit.entities else None
    findings = entity.findings if entity else pd.DataFrame(columns=engine.FINDING_COLUMNS)
    mine = findings[findings["rule_id"] == rule.id]
    flagged = set(mine["subject_key"].dropna()) | set(mine["card_no"].dropna())
    for key in case.expect.flagged:
        if key not in flagged:
            result.problems.append(f"应标记 {key}，实际未标记")
    for key in case.expect.not_flagged:
        if key in flagged:
            result.problems.append(f"不应标记 {key}，实际被标记")
    outcome = entity.outcomes.get(rule.id) if entity else None
    for name, expected in case.expect.figures.items():
        if name in RULE_KEYS:
            actual = getattr(outcome, name) if outcome else 0
        elif name == "quarantined":
            actual = len(audit.quarantined)
        elif name in engine.STATISTICS:
            actual = entity.statistics.get(name) if entity else 0
        else:
            result.problems.append(f"未知的统计项 {name}")
            continue
        if actual != expected:
            result.problems.append(f"统计项 {name} 应为 {expected}，实际为 {actual}")
    return result


def run_pack_cases(pack: RulePack, as_of: date | None = None) -> list[CaseResult]:
    """Every case of every rule in the pack, in file order."""
    return [run_case(pack, rule, case, as_of) for rule in pack.rules for case in rule.cases]


def write_junit(results: list[CaseResult], path: Path, suite_name: str) -> None:
    """JUnit XML, one testcase per rule case, for a bank's CI (Jenkins, GitLab)."""
    from xml.etree import ElementTree as ET

    failures = sum(not r.passed for r in results)
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(results)),
                       failures=str(failures), errors="0", skipped="0")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.rule_id, name=r.case)
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=r.problems[0])
            failure.text = "\n".join(r.problems)
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
