"""Month over month: which findings are new, resolved (已整改) or persisting, and how figures moved.

Findings are matched by fingerprint (rule, legal entity, subject), so the comparison needs each
run's findings.json beside its summary.json. Subjects are shown masked, whatever the runs held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cardaudit.errors import InputError
from cardaudit.figures import Figure, figures_for
from cardaudit.mask import mask_subjects
from cardaudit.outputs.findings_out import FINDINGS_SCHEMA_VERSION
from cardaudit.report import date_phrase

DIFF_SCHEMA_VERSION = 1
STATES = ("new", "resolved", "persisting")
STATE_LABELS = {"new": "新增", "resolved": "已整改", "persisting": "持续存在"}


@dataclass
class Run:
    """One audit run as the comparison reads it: where from, its summary and its findings."""

    source: str
    summary: dict[str, Any]
    findings: list[dict[str, Any]]


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"找不到{what}：{path}。请指定 cardaudit audit 的输出目录或其中的 summary.json"
                         "（该次审计须以含 json 的 --format 运行，才会写出 findings.json）。") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"无法读取{what}（{path}）：{exc}。文件须为 cardaudit 写出的 JSON。") from None
    if not isinstance(data, dict):
        raise InputError(f"{what}（{path}）不是 cardaudit 写出的 JSON 对象。")
    return data


def load_run(path: Path) -> Run:
    """Read an output folder (or its summary.json) and the findings.json beside it."""
    folder = path if path.is_dir() else path.parent
    summary = _read_json(path / "summary.json" if path.is_dir() else path, "汇总文件 summary.json")
    findings = _read_json(folder / "findings.json", "发现清单 findings.json")
    version = findings.get("schema_version")
    if not isinstance(version, int) or version > FINDINGS_SCHEMA_VERSION:
        raise InputError(f"{folder.name}/findings.json 的格式版本 {version} 不受支持"
                         f"（本工具支持至 {FINDINGS_SCHEMA_VERSION}）。请升级 cardaudit。")
    if not isinstance(findings.get("findings"), list):
        raise InputError(f"{folder.name}/findings.json 缺少发现列表（findings），文件不完整："
                         "请用该次审计的原始输出。")
    if "entities" not in summary or "total" not in summary:
        raise InputError(f"{path.name} 不是 cardaudit 的 summary.json（缺少 entities/total）。")
    return Run(source=folder.resolve().name, summary=summary, findings=findings["findings"])


def _brief(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields a comparison lists, subjects masked (masking is idempotent)."""
    if not records:
        return []
    subjects = mask_subjects(pd.Series([r["subject"] for r in records], dtype="str"),
                                 pd.Series([r["subject_kind"] for r in records], dtype="str"))
    return [{"fingerprint": r["fingerprint"], "rule_id": r["rule_id"],
             "rule_title": r["rule_title"], "legal_entity": r["legal_entity"],
             "subject_kind": r["subject_kind"], "subject": s, "branches": r["branches"]}
            for r, s in zip(records, subjects, strict=True)]


def _figure_rows(old: dict[str, Any] | None, new: dict[str, Any] | None,
                 figures: tuple[Figure, ...]) -> list[dict[str, Any]]:
    rows = []
    for figure in figures:
        a = (old or {}).get("statistics", {}).get(figure.key)
        b = (new or {}).get("statistics", {}).get(figure.key)
        delta = b - a if isinstance(a, int) and isinstance(b, int) else None
        rows.append({"key": figure.key, "label": figure.label, "short": figure.short,
                     "unit": figure.unit, "old": a, "new": b, "delta": delta})
    return rows


def _tally(listed: dict[str, list[dict[str, Any]]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Counts of new/resolved/persisting findings per combination of `keys` (branch expands)."""
    counts: dict[tuple[str, ...], dict[str, Any]] = {}
    for state, records in listed.items():
        for r in records:
            for branch in (r["branches"] if "branch" in keys else [None]):
                values = {**r, "branch": branch}
                key = tuple(str(values[k]) for k in keys)
                row = counts.setdefault(key, {**{k: values[k] for k in keys},
                                              **dict.fromkeys(STATES, 0)})
                row[state] += 1
    return [counts[k] for k in sorted(counts)]


def _rule_definitions(summary: dict[str, Any]) -> dict[str, str]:
    """Each rule's effective definition (state, severity, parameters) as comparable text."""
    rules = summary.get("rule_pack", {}).get("rules", [])
    return {r["id"]: json.dumps([r.get("enabled"), r.get("severity"), r.get("params")],
                                ensure_ascii=False, sort_keys=True) for r in rules}


def changed_rules(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Rules added, removed, switched on/off or re-parameterised between two runs."""
    a, b = _rule_definitions(old), _rule_definitions(new)
    return sorted(rid for rid in set(a) | set(b) if a.get(rid) != b.get(rid))


def compare(old: Run, new: Run) -> dict[str, Any]:
    """The full comparison of two runs: findings by state, tallies, and figure changes."""
    keys = [(r.summary.get("fingerprint") or {}).get("key_id") for r in (old, new)]
    if keys[0] != keys[1]:
        raise InputError(
            f"两期结果的指纹密钥不同（{old.source}：{keys[0] or '无密钥'}；{new.source}："
            f"{keys[1] or '无密钥'}），同一问题的指纹对不上，无法比较。请用同一密钥文件"
            "（--fingerprint-key）重新审计其中一期。")
    before = {r["fingerprint"]: r for r in old.findings}
    after = {r["fingerprint"]: r for r in new.findings}
    listed = {"new": _brief([r for fp, r in after.items() if fp not in before]),
              "resolved": _brief([r for fp, r in before.items() if fp not in after]),
              "persisting": _brief([r for fp, r in after.items() if fp in before])}
    titles = {r["rule_id"]: r["rule_title"] for rs in listed.values() for r in rs}
    by_rule = _tally(listed, ("rule_id",))
    for row in by_rule:
        row["rule_title"] = titles[row["rule_id"]]
    names = sorted(set(old.summary["entities"]) | set(new.summary["entities"]))
    by_entity = {}
    for name in names:
        scoped = {s: [r for r in rs if r["legal_entity"] == name] for s, rs in listed.items()}
        entity_rules = _tally(scoped, ("rule_id",))
        for row in entity_rules:
            row["rule_title"] = titles[row["rule_id"]]
        by_entity[name] = {"counts": {s: len(rs) for s, rs in scoped.items()},
                           "by_rule": entity_rules}
    side = {"old": old, "new": new}
    # Labels state this period's thresholds; a changed threshold shows in changed_rules.
    figures = figures_for(new.summary.get("rule_pack", {}).get("figure_thresholds", {}))
    return {
        "schema_version": DIFF_SCHEMA_VERSION, "kind": "cardaudit.diff",
        **{k: {"source": r.source, "as_of": r.summary.get("as_of"),
               "generated_at": r.summary.get("generated_at"),
               "pack_hash": r.summary.get("rule_pack", {}).get("hash")} for k, r in side.items()},
        # Same files can still count differently: --disable, --config and settings matter too.
        "changed_rules": changed_rules(old.summary, new.summary),
        "pack_changed": (old.summary.get("rule_pack", {}).get("hash")
                         != new.summary.get("rule_pack", {}).get("hash")
                         or bool(changed_rules(old.summary, new.summary))
                         or old.summary.get("rule_pack", {}).get("settings")
                         != new.summary.get("rule_pack", {}).get("settings")),
        "counts": {s: len(rs) for s, rs in listed.items()},
        "by_rule": by_rule,
        "by_branch": _tally(listed, ("legal_entity", "branch", "rule_id")),
        "by_entity": by_entity,
        "figures": {"entities": {n: _figure_rows(old.summary["entities"].get(n),
                                                 new.summary["entities"].get(n), figures)
                                 for n in names},
                    "total": _figure_rows(old.summary["total"], new.summary["total"], figures)},
        "findings": listed,
    }


def summary_section(comparison: dict[str, Any]) -> dict[str, Any]:
    """What summary.json records under `baseline`: the source, counts and figure changes."""
    keep = ("old", "pack_changed", "changed_rules", "counts", "by_rule", "by_branch", "figures")
    return {k: comparison[k] for k in keep} | {
        "by_entity": {n: e["counts"] for n, e in comparison["by_entity"].items()}}


def delta_text(value: int | None) -> str:
    """'+3', '-2', '0', or '—' when a figure is missing on either side."""
    if value is None:
        return "—"
    return f"+{value}" if value > 0 else str(value)


def report_section(comparison: dict[str, Any], entity: str | None) -> dict[str, Any]:
    """The values of a report's 五、与上期比较 for one entity (None: the consolidated total)."""
    if entity is None:
        counts, rules = comparison["counts"], comparison["by_rule"]
        figures = comparison["figures"]["total"]
    else:
        scoped = comparison["by_entity"].get(entity, {"counts": dict.fromkeys(STATES, 0),
                                                      "by_rule": []})
        counts, rules = scoped["counts"], scoped["by_rule"]
        figures = comparison["figures"]["entities"].get(entity, [])
    old_as_of = comparison["old"]["as_of"]

    def text(value: int | None) -> str:
        return "（未统计）" if value is None else str(value)

    return {
        "source": comparison["old"]["source"], "old_as_of": old_as_of,
        "old_as_of_phrase": date_phrase(pd.Timestamp(old_as_of).date()) if old_as_of else "上期",
        "pack_changed": comparison["pack_changed"],
        "changed_rules": "、".join(comparison["changed_rules"]), "counts": counts,
        "rules": rules,
        "figures": [{"label": f["label"], "unit": f["unit"], "old": text(f["old"]),
                     "new": text(f["new"]), "delta": delta_text(f["delta"])} for f in figures],
    }
