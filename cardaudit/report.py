"""Render the self-inspection report from figures and findings; never re-runs a rule.

Templates are jinja2 files in `templates/`, rendered in a sandbox with undefined names as
errors, so a bank's edited template can format data but cannot reach Python internals or files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cardaudit.engine import EntityResult
from cardaudit.errors import ConfigError
from cardaudit.figures import OFFLINE_METHOD, figures_for
from cardaudit.outputs.consolidated import TOTAL_TITLE
from cardaudit.rules import RulePack
from cardaudit.settings import Settings

TOP_BRANCHES = 3
UNMASKED_BANNER = "本文件含未脱敏个人信息"
# What one flagged subject is, by rule kind; persons are "户" as in the seed report.
SUBJECT_UNITS = {"agent_card_count": "人", "listed_agent": "人", "shared_phone": "个号码"}


@dataclass
class TotalView:
    """What only the consolidated report shows: entity names, the figures table, branch owners."""

    names: list[str]
    table: list[dict[str, Any]]
    branch_entities: list[str]


def default_templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "report.md.j2").is_file():
            return candidate
    raise ConfigError("找不到内置报告模板（templates/report.md.j2）。请用 --templates 指定模板目录。")


def environment(templates: Path | None = None, *, html: bool = False) -> jinja2.Environment:
    """A sandboxed jinja2 environment: a bank's templates first, then the bundled ones.

    HTML templates are autoescaped; Markdown output escapes the characters Markdown would read
    as HTML or table syntax.
    """
    folders = [str(templates)] if templates else []
    folders.append(str(default_templates_dir()))
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined, autoescape=html, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, finalize=None if html else markdown_text)
    env.filters["n"] = figure_text
    return env


_MARKDOWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|"})


def markdown_text(value: Any) -> Any:
    """Data shown in Markdown: no raw HTML, no table breaks (template text is left alone)."""
    return value.translate(_MARKDOWN_ESCAPES) if isinstance(value, str) else value


def figure_text(value: Any) -> str:
    """A figure as a plain integer, or a clear word when the rule producing it is disabled."""
    if value is None:
        return "（未统计）"
    return str(value)


def date_phrase(as_of: date) -> str:
    """'2026年10月末' for a month end, else '2026年10月15日'."""
    next_day = date.fromordinal(as_of.toordinal() + 1)
    if next_day.day == 1:
        return f"{as_of.year}年{as_of.month}月末"
    return f"{as_of.year}年{as_of.month}月{as_of.day}日"


@dataclass
class ReportContext:
    """Everything a report template may read, as plain values."""

    values: dict[str, Any]


def _problems(entity: EntityResult) -> list[dict[str, Any]]:
    """One item per rule that flagged anything: what, how many, where it concentrates."""
    items = []
    branches = entity.branches
    for rule_id, outcome in entity.outcomes.items():
        if not outcome.subjects:
            continue
        top = []
        if rule_id in branches:
            counts = branches[rule_id]
            counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
            top = [{"branch": str(b), "subjects": int(c)} for b, c in
                   counts.head(TOP_BRANCHES).items()]
        items.append({"rule_id": rule_id, "title": outcome.rule.heading,
                      "severity": outcome.rule.severity, "subjects": outcome.subjects,
                      "unit": SUBJECT_UNITS.get(outcome.rule.kind, "户"),
                      "cards": outcome.cards, "top_branches": top,
                      "aggregate": outcome.rule.kind == "union"})
    rank = {"违规": 0, "警告": 1, "提示": 2}
    # Aggregates (unions) after the rules they sum, within each severity.
    return sorted(items, key=lambda i: (rank[i["severity"]], i["aggregate"], -i["subjects"]))


def _excluded_present(entity: EntityResult, settings: Settings) -> list[str]:
    products = entity.statistics.get("cards_by_product") or {}
    present = [p for p in settings.excluded_products if p in products]  # type: ignore[operator]
    return present or settings.excluded_products[:1]


def context(entity: EntityResult, *, pack: RulePack, as_of: date, trail: dict[str, Any],
            bank_name: str | None, addressee: str, blacklist: dict[str, Any],
            verification: str | None = None, unmasked: bool = False,
            notices: list[str] | None = None,
            comparison: dict[str, Any] | None = None,
            total: TotalView | None = None,
            ledger: dict[str, Any] | None = None) -> ReportContext:
    """Build the template values for one legal entity's report (or the consolidated one)."""
    stats = entity.statistics
    today = date.today()
    figures = figures_for(pack.figure_thresholds())
    least = {f.key: f.least for f in figures if f.least is not None}
    methods = dict(OFFLINE_METHOD)
    if verification:
        offline = {"id_mismatch": "离线一致性比对（同一证件号码登记多个姓名）",
                   "id_nonexistent": "离线结构校验（GB 11643-1999）"}
        for key, text in offline.items():
            methods[key] = f"{verification}的核查结果，并入{text}的结果"
        methods["id_noncompliant"] = "上述方法结果的客户去重合计"
    definitions = [{"label": f.label, "key": f.key, "value": figure_text(stats.get(f.key)),
                    "unit": f.unit, "definition": f.definition, "method": methods.get(f.key, "")}
                   for f in figures]
    rules = []
    for rule in pack.rules:
        outcome = entity.outcomes.get(rule.id)
        params = rule.parsed_params()
        threshold = params.describe("张")  # type: ignore[attr-defined]
        rules.append({"id": rule.id, "title": rule.heading, "severity": rule.severity,
                      "enabled": rule.enabled, "threshold": threshold, "basis": rule.basis,
                      "subjects": outcome.subjects if outcome else None,
                      "cards": outcome.cards if outcome else None})
    flagged = [r.id for r in pack.enabled() if r.id in entity.branches.columns]
    owners = total.branch_entities if total else [entity.name] * len(entity.branches)
    branch_rows = []
    for owner, (b, row) in zip(owners, entity.branches.iterrows(), strict=True):
        counts = {k: int(v) for k, v in row.items()}
        branch_rows.append({"branch": str(b), "entity": owner, **counts,
                            "flags": [{"rule_id": c, "subjects": counts[c]}
                                      for c in flagged if counts[c]]})
    values = {
        "bank": bank_name or (TOTAL_TITLE if total else entity.name),
        "entity": TOTAL_TITLE if total else entity.name,
        "we": "各法人机构合计" if total else "我行",
        "consolidated": total is not None,
        "entity_columns": total.names if total else [],
        "entity_table": total.table if total else [],
        "unmasked": unmasked,
        "banner": UNMASKED_BANNER if unmasked else "",
        "comparison": comparison,
        "ledger": ledger,  # 核查 progress from the verification ledger (audit --ledger)
        "addressee": addressee,
        "as_of": as_of.isoformat(),
        "as_of_phrase": date_phrase(as_of),
        "report_date": f"{today.year}年{today.month}月{today.day}日",
        "s": {k: stats.get(k) for k in stats},
        "products": stats.get("cards_by_product") or {},
        "excluded_text": "、".join(_excluded_present(entity, pack.settings)),
        # thresholds in force: smallest counts flagged; over_limit is the largest count allowed
        "t": {"customers": least["customers_4plus"], "agents": least["agents_3plus"],
              "listed": least["listed_2plus"], "over_limit": least["customers_over_limit"] - 1},
        "problems": _problems(entity),
        "rows": entity.rows,
        "warnings": entity.warnings,
        "definitions": definitions,
        "settings": [{"label": label, "value": value}
                     for label, value in pack.settings.describe()],
        "rules": rules,
        "branches": branch_rows,
        "rule_columns": flagged,
        "card_distribution": [{"cards": n, "persons": p}
                              for n, p in sorted(entity.card_distribution.items())],
        "blacklist": blacklist,
        "trail": trail,
        "notices": notices or [],
        "figure_labels": {f.key: f.label for f in figures},
        "labels": {f.key: f.label for f in figures},
    }
    return ReportContext(values)


def render(name: str, ctx: ReportContext, templates: Path | None = None,
           extra: dict[str, Any] | None = None) -> str:
    """Render one template with the report context; template errors become ConfigError."""
    env = environment(templates, html=".html" in name)
    try:
        template = env.get_template(name)
        return template.render(**ctx.values, **(extra or {}))
    except Exception as exc:
        raise template_error(name, exc) from None


def template_error(name: str, exc: Exception) -> ConfigError:
    """A Chinese message for a template that failed: sandbox refusal, syntax or data error."""
    where = f"（第{exc.lineno}行）" if getattr(exc, "lineno", None) else ""
    if isinstance(exc, SecurityError) or "unsafe" in str(exc):
        return ConfigError(f"报告模板 {name}{where} 试图访问受限的内部属性或方法，已被安全沙箱拦截。"
                           "模板只能读取报告数据，请删除相关表达式。")
    if isinstance(exc, jinja2.TemplateNotFound):
        return ConfigError(f"找不到报告模板 {name}。请检查 --templates 目录中的文件名。")
    if isinstance(exc, jinja2.TemplateError | ArithmeticError | LookupError | TypeError |
                  ValueError | AttributeError):
        return ConfigError(f"报告模板 {name}{where} 渲染失败：{exc}。请检查模板中的变量名与语法。")
    raise exc
