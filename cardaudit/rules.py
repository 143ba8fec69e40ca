"""Rule packs: one YAML file per rule plus `pack.yaml`, validated with file:line in every error.

Rule files are data. They are read with PyYAML's safe loader (a tag that would construct a Python
object is an error), validated against pydantic models that forbid unknown keys, and never
evaluated. Every problem in a pack is collected before anything is reported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cardaudit.errors import RuleError
from cardaudit.settings import Settings

SEVERITIES = ("提示", "警告", "违规")
SEVERITY_ALIASES = {"info": "提示", "warning": "警告", "breach": "违规"}
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# Statistics a rule may feed; the other report statistics come from the pack settings.
RULE_FIGURES = (
    "customers_4plus", "customers_4plus_cards", "customers_over_limit", "agents_3plus",
    "agents_3plus_cards", "listed_2plus", "id_mismatch", "id_nonexistent", "id_legacy15",
    "id_noncompliant",
)

PACK_FILE = "pack.yaml"
_CJK_GAP = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Threshold(_Strict):
    """Exactly one of at_least (>=, 以上/含) or more_than (>, 超过)."""

    at_least: Annotated[int, Field(ge=1)] | None = None
    more_than: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if (self.at_least is None) == (self.more_than is None):
            raise ValueError("at_least 与 more_than 必须且只能设置其中一个")
        return self

    @property
    def minimum(self) -> int:
        """The smallest count that is flagged."""
        return self.at_least if self.at_least is not None else self.more_than + 1  # type: ignore[operator]

    def placeholders(self) -> dict[str, int]:
        """{minimum} (smallest count flagged) and {limit} (largest allowed) for a title."""
        return {"minimum": self.minimum, "limit": self.minimum - 1}

    def describe(self, unit: str) -> str:
        if self.at_least is not None:
            return f"{self.at_least}{unit}（含）以上"
        return f"超过{self.more_than}{unit}（即{self.minimum}{unit}及以上）"


Scope = Literal["all", "not_closed", "counted"]
SCOPE_TEXT = {"all": "全部可审计记录（含已销户卡与不计入卡产品）",
              "not_closed": "未销户的卡（含不计入的卡产品）", "counted": "计入的借记卡"}


CLASS_TEXT = {"legacy15": "15位旧号码", "missing": "号码为空", "nonexistent": "号码不存在"}


class IdClassParams(_Strict):
    classes: list[Literal["legacy15", "missing", "nonexistent"]] = Field(min_length=1)
    scope: Scope = "all"

    def describe(self, unit: str = "") -> str:
        classes = "、".join(CLASS_TEXT[c] for c in self.classes)
        return f"号码类别：{classes}；范围：{SCOPE_TEXT[self.scope]}"


class NameMismatchParams(_Strict):
    min_names: Annotated[int, Field(ge=2)] = 2
    scope: Scope = "counted"

    @property
    def minimum(self) -> int:
        return self.min_names

    def describe(self, unit: str = "") -> str:
        return f"同一客户{self.min_names}个（含）以上不同姓名；范围：{SCOPE_TEXT[self.scope]}"


class ListedHoldingParams(_Strict):
    at_least: Annotated[int, Field(ge=1)] = 2

    @property
    def minimum(self) -> int:
        return self.at_least

    def describe(self, unit: str = "") -> str:
        return f"名单客户持有{self.at_least}个（含）以上计入的借记卡账户"


class UnionParams(_Strict):
    of: list[str] = Field(min_length=2)

    def describe(self, unit: str = "") -> str:
        return "以下规则的客户去重合计：" + "、".join(self.of)


class SharedPhoneParams(_Strict):
    at_least: Annotated[int, Field(ge=2)] = 3
    scope: Scope = "not_closed"

    def describe(self, unit: str = "") -> str:
        return f"同一手机号码被{self.at_least}个（含）以上不同客户预留；范围：{SCOPE_TEXT[self.scope]}"


ACCOUNT_CLASSES = ("I", "II", "III")
ROMAN = {"I": "Ⅰ", "II": "Ⅱ", "III": "Ⅲ"}


class AccountClassParams(_Strict):
    """Most accounts of each class one person may hold (Ⅰ/Ⅱ/Ⅲ written I/II/III)."""

    most: dict[Literal["I", "II", "III"], Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {"I": 1, "II": 5, "III": 5})
    scope: Scope = "not_closed"

    def placeholders(self) -> dict[str, str]:
        """{limits} for a title: 'Ⅰ类户超过1个、Ⅱ类户超过5个或Ⅲ类户超过5个'."""
        parts = [f"{ROMAN[k]}类户超过{v}个" for k, v in self.most.items()] or ["账户类别无上限"]
        text = parts[-1] if len(parts) < 2 else "、".join(parts[:-1]) + "或" + parts[-1]
        return {"limits": text}

    def describe(self, unit: str = "") -> str:
        limits = "，".join(f"{k}类户不超过{v}个" for k, v in self.most.items())
        return f"{limits}；范围：{SCOPE_TEXT[self.scope]}"


class ListedPeriodParams(_Strict):
    years: Annotated[int, Field(ge=1, le=50)] = 5
    scope: Scope = "all"

    def describe(self, unit: str = "") -> str:
        return (f"名单人员在列入日至惩戒期结束（名单未载明时按{self.years}年）期间新开卡；"
                f"范围：{SCOPE_TEXT[self.scope]}")


class ListedAgentParams(_Strict):
    scope: Scope = "all"

    def describe(self, unit: str = "") -> str:
        return f"代理人证件号码与名单有效号码一致；范围：{SCOPE_TEXT[self.scope]}"


class AgentHoldingParams(_Strict):
    holder_at_least: Annotated[int, Field(ge=1)] = 4

    def describe(self, unit: str = "") -> str:
        return f"代理人本人持有{self.holder_at_least}张（含）以上计入的借记卡"


PARAMS_BY_KIND: dict[str, type[BaseModel]] = {
    "person_card_count": Threshold,
    "agent_card_count": Threshold,
    "id_class": IdClassParams,
    "name_mismatch": NameMismatchParams,
    "listed_holding": ListedHoldingParams,
    "union": UnionParams,
    "shared_phone": SharedPhoneParams,
    "account_class_limit": AccountClassParams,
    "listed_opened_in_period": ListedPeriodParams,
    "listed_agent": ListedAgentParams,
    "agent_holding": AgentHoldingParams,
}

# Canonical columns (or "blacklist"; "blacklist_dates": some valid list entry has a listing date)
# a check kind needs; a rule whose needs the input lacks is skipped with a notice instead of
# failing the audit (never run on nothing, which would report no findings as if checked).
# How the needs that are not export columns are named (a notice, `rules explain`).
NEED_LABELS = {"blacklist": "--blacklist 名单文件", "blacklist_dates": "名单文件中的「列入日期」"}
REQUIRES: dict[str, tuple[str, ...]] = {
    "agent_card_count": ("agent_id",),
    "listed_holding": ("blacklist",),
    "shared_phone": ("phone",),
    "account_class_limit": ("account_class",),
    "listed_opened_in_period": ("open_date", "blacklist", "blacklist_dates"),
    "listed_agent": ("agent_id", "blacklist"),
    "agent_holding": ("agent_id",),
}


class Figures(_Strict):
    subjects: Literal[RULE_FIGURES] | None = None  # type: ignore[valid-type]
    cards: Literal[RULE_FIGURES] | None = None  # type: ignore[valid-type]


class Expect(_Strict):
    flagged: list[str] = Field(default_factory=list)
    not_flagged: list[str] = Field(default_factory=list)
    figures: dict[str, int] = Field(default_factory=dict)


class Case(_Strict):
    """A named behaviour case: a few rows, optional overrides, what must and must not be flagged."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    blacklist: list[str | dict[str, str | int | None]] = Field(default_factory=list)
    rows: list[dict[str, str | int | None]] = Field(min_length=1)
    expect: Expect


class Rule(_Strict):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
    title: str = Field(min_length=1)
    severity: str
    kind: str
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)
    figures: Figures = Field(default_factory=Figures)
    basis: str = ""
    description: str = ""
    cases: list[Case] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _severity_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("severity"), str):
            data = dict(data)
            data["severity"] = SEVERITY_ALIASES.get(data["severity"], data["severity"])
        return data

    @model_validator(mode="after")
    def _check(self) -> Rule:
        # YAML folding puts a space at each line break; between Chinese characters it is noise.
        for name in ("title", "description", "basis"):
            setattr(self, name, _CJK_GAP.sub("", getattr(self, name)))
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity 必须是 {'/'.join(SEVERITIES)} 之一，实际为「{self.severity}」")
        if self.kind not in PARAMS_BY_KIND:
            raise ValueError(f"未知的检查类型 kind「{self.kind}」；可用：{'、'.join(PARAMS_BY_KIND)}")
        return self

    def merged_params(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """The rule file's params with a case's or config's overrides; a count bound given
        there (at_least or more_than) replaces the file's other bound."""
        merged = {**self.params, **(overrides or {})}
        if PARAMS_BY_KIND[self.kind] is Threshold:
            for bound, other in (("at_least", "more_than"), ("more_than", "at_least")):
                if bound in (overrides or {}) and other not in (overrides or {}):
                    merged.pop(other, None)
        return merged

    def parsed_params(self, overrides: dict[str, Any] | None = None) -> BaseModel:
        """The params validated against the kind's model (overrides from a case or config)."""
        return PARAMS_BY_KIND[self.kind].model_validate(self.merged_params(overrides))

    @property
    def heading(self) -> str:
        """The title with its {placeholders} filled from the effective params (what reports show)."""
        return fill_params(self.title, self.parsed_params())

    @property
    def explanation(self) -> str:
        return fill_params(self.description, self.parsed_params())

    def unfilled(self, params: BaseModel) -> list[tuple[str, str]]:
        """(field, why) for the title and the description when one names a placeholder that
        `params` leaves unset (a rule file, one of its cases or a bank config)."""
        found = []
        for name in ("title", "description"):
            try:
                fill_params(getattr(self, name), params)
            except ValueError as exc:
                found.append((name, str(exc)))
        return found


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def fill_params(text: str, params: BaseModel) -> str:
    """`text` with each {name} replaced by that param's value, or by a value the kind derives
    from its params (`placeholders`: {minimum}/{limit} of a count threshold, {limits} of the
    account-class limits).

    Plain name lookups only (no attribute access, no format spec), so a rule file can state its
    threshold in its title without being able to run anything. ValueError names a bad one.
    """
    values = {k: v for k, v in params.model_dump().items()
              if isinstance(v, int | str) and not isinstance(v, bool)}
    derived = getattr(params, "placeholders", None)
    values.update(derived() if derived else {})

    def value_of(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            known = "、".join(f"{{{k}}}" for k in values)
            raise ValueError(f"{{{match.group(1)}}} 不是本规则的参数（可用：{known or '无'}）")
        return str(values[match.group(1)])

    return _PLACEHOLDER.sub(value_of, text)


class PackMeta(_Strict):
    name: str
    version: str = ""
    description: str = ""
    settings: Settings = Field(default_factory=Settings)


@dataclass
class RuleFile:
    path: Path
    rule: Rule
    line: int  # line of the rule's `id:` key


@dataclass
class RulePack:
    """A validated rule pack: meta, settings, enabled rules and a content hash."""

    meta: PackMeta
    rules: list[Rule]
    hash: str
    files: list[RuleFile] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.meta.settings

    def enabled(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def figure_thresholds(self) -> dict[str, int]:
        """Report figure -> the smallest count its rule flags (`minimum`: cards, accounts or
        names), so that figure labels state the threshold in force (`figures.figures_for`)."""
        least: dict[str, int] = {}
        for rule in [*self.enabled(), *self.rules]:
            key = rule.figures.subjects
            minimum = getattr(rule.parsed_params(), "minimum", None)
            if key is not None and key not in least and minimum is not None:
                least[key] = minimum
        return least

    def by_id(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def without(self, rule_ids: set[str]) -> RulePack:
        """The same pack with these rules disabled."""
        rules = [r.model_copy(update={"enabled": False}) if r.id in rule_ids else r
                 for r in self.rules]
        return RulePack(meta=self.meta, rules=rules, hash=self.hash, files=self.files)

    def supported(self, available: set[str]) -> tuple[RulePack, list[tuple[Rule, list[str]]]]:
        """Disable enabled rules whose needs (REQUIRES: columns, the list and its dates) are not
        all `available`; say which and why."""
        skipped = []
        for rule in self.enabled():
            missing = [need for need in REQUIRES.get(rule.kind, ()) if need not in available
                       and not (need == "blacklist_dates" and "blacklist" not in available)]
            if missing:
                skipped.append((rule, missing))
        pack = self.without({r.id for r, _ in skipped}) if skipped else self
        return pack, skipped


@dataclass
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line}: {self.message}"


class PackProblems(RuleError):
    """Every problem of a pack, reported at once."""

    def __init__(self, problems: list[Problem], what: str = "规则包"):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{what}有 {len(problems)} 处问题，请逐一修正：\n{lines}")


def default_rules_dir() -> Path:
    """The bundled rule pack: `rules/` beside the package (source tree) or inside it (wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "rules", here.parent / "rules"):
        if (candidate / PACK_FILE).is_file():
            return candidate
    raise RuleError("找不到内置规则包（rules/pack.yaml）。请用 --rules 指定规则目录。")


def _compose(path: Path, problems: list[Problem]) -> tuple[Any, yaml.Node | None]:
    """Safe-load one YAML file, keeping its node tree for line numbers."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(path, 1, f"无法读取文件：{exc.strerror or exc}"))
        return None, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        try:
            raw.decode("gb18030")
            guess = "，看来是 GBK/GB18030 编码"
        except UnicodeDecodeError:
            guess = ""
        problems.append(Problem(path, line, f"文件不是 UTF-8 编码{guess}（本行有无法识别的字节）。"
                                "请用 UTF-8 编码另存该文件（如记事本“另存为”时编码选 UTF-8）"))
        return None, None
    try:
        # libyaml's safe loader when PyYAML has it (several times faster), same nodes and marks.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        node = yaml.compose(text, Loader=loader)
        data = yaml.load(text, Loader=loader)  # a safe loader: no object construction
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = "不允许的 YAML 标签（YAML 文件中不能构造对象）" if isinstance(
            exc, yaml.constructor.ConstructorError) else "YAML 语法错误"
        problems.append(Problem(path, line, f"{what}：{exc.problem or exc}"))
        return None, None
    except yaml.YAMLError as exc:
        problems.append(Problem(path, 1, f"YAML 错误：{exc}"))
        return None, None
    return data, node


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """A YAML file's data by the safe loader, or the problems that kept it from being read
    (each with its line): the rule files' reading, for other YAML files the user gives."""
    problems: list[Problem] = []
    data, _ = _compose(path, problems)
    return data, problems


def _line_of(node: yaml.Node | None, loc: Iterable[Any]) -> int:
    """Line (1-based) of the deepest node on a pydantic error path that exists in the YAML."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _validation_problems(path: Path, node: yaml.Node | None, exc: ValidationError,
                         prefix: tuple[Any, ...] = ()) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        where = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
        message = _error_text(err)
        problems.append(Problem(path, _line_of(node, loc), f"{where}: {message}" if where
                                else message))
    return problems


def _error_text(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "未知的键（请检查拼写，不允许多余的键）"
    if kind == "missing":
        return "缺少必需的键"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"取值无效，可选值：{expected}"
    given = _given(err.get("input"))
    for prefix, wanted in _WANTED:
        if kind.startswith(prefix) and (kind.endswith("_type") or kind.endswith("_parsing")
                                        or kind.startswith("int_from")):
            return f"类型错误：须为{wanted}{given}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"类型错误：取值的类型不对{given}"
    ctx = err.get("ctx") or {}
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, words = _BOUNDS[kind]
        return f"取值须{words}{ctx[key]}{given}"
    for end, key, words in (("too_short", "min_length", "至少"), ("too_long", "max_length", "至多")):
        if kind.endswith(end) and key in ctx:
            unit = "个字符" if kind.startswith("string") else "项"
            return f"{words}须有 {ctx[key]} {unit}{given}"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


# What a value of each pydantic type must be, for the messages (pydantic's own are English).
_WANTED = (("int", "整数"), ("float", "数字"), ("decimal", "数字"), ("bool", "true 或 false"),
           ("string", "文本"), ("list", "列表（如 [甲, 乙]）"), ("tuple", "列表"),
           ("set", "列表"), ("dict", "键值对（如 键: 值）"), ("model", "键值对（如 键: 值）"),
           ("date", "日期 YYYY-MM-DD"))
_BOUNDS = {"greater_than": ("gt", "大于"), "greater_than_equal": ("ge", "不小于"),
           "less_than": ("lt", "小于"), "less_than_equal": ("le", "不大于")}


def _given(value: Any) -> str:
    """'(given: …)' for a message: the offending value, short."""
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value)
    return f"（实际为「{text if len(text) <= 40 else text[:40] + '…'}」）"


def load_pack(directory: Path | None = None, disabled: Iterable[str] = ()) -> RulePack:
    """Load and validate a rule pack directory; raise PackProblems listing every problem."""
    directory = directory or default_rules_dir()
    problems: list[Problem] = []
    if not directory.is_dir():
        raise RuleError(f"规则目录不存在：{directory.name}。请检查 --rules 参数。")
    pack_path = directory / PACK_FILE
    digest = hashlib.sha256()
    meta = PackMeta(name=directory.name)
    if pack_path.is_file():
        digest.update(pack_path.read_bytes())
        data, node = _compose(pack_path, problems)
        if data is not None:
            try:
                meta = PackMeta.model_validate(data)
            except ValidationError as exc:
                problems.extend(_validation_problems(pack_path, node, exc))
    else:
        problems.append(Problem(pack_path, 1, "缺少 pack.yaml（规则包名称与全局设置）"))

    files: list[RuleFile] = []
    seen: dict[str, RuleFile] = {}
    for path in sorted(directory.glob("*.y*ml")):
        if path.name == PACK_FILE or path.suffix not in (".yaml", ".yml"):
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        data, node = _compose(path, problems)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(path, 1, "规则文件的顶层必须是键值映射（一个文件一条规则）"))
            continue
        try:
            rule = Rule.model_validate(data)
        except ValidationError as exc:
            problems.extend(_validation_problems(path, node, exc))
            continue
        line = _line_of(node, ("id",))
        try:
            params = rule.parsed_params()
        except ValidationError as exc:
            problems.extend(_validation_problems(path, node, exc, ("params",)))
        else:
            for name, why in rule.unfilled(params):
                problems.append(Problem(path, _line_of(node, (name,)), f"{name}: {why}"))
            for i, case in enumerate(rule.cases):
                if not case.params:
                    continue
                try:
                    case_params = rule.parsed_params(case.params)
                except ValidationError as exc:
                    problems.extend(_validation_problems(path, node, exc,
                                                         ("cases", i, "params")))
                    continue
                for name, why in rule.unfilled(case_params):  # a placeholder the case unsets
                    problems.append(Problem(path, _line_of(node, ("cases", i, "params")),
                                            f"cases[{i}].params: {name}: {why}"))
        if rule.id in seen:
            first = seen[rule.id]
            problems.append(Problem(path, line, f"规则编号 {rule.id} 重复（已在 "
                                    f"{first.path.name}:{first.line} 定义）"))
            continue
        seen[rule.id] = RuleFile(path, rule, line)
        files.append(seen[rule.id])

    disabled = set(disabled)
    unknown = disabled - set(seen)
    for rf in files:
        if rf.rule.id in disabled:
            rf.rule.enabled = False
    problems.extend(_cross_checks(files))
    if problems:
        raise PackProblems(problems)
    if unknown:  # named on the command line or in the bank's config, not in the pack
        raise RuleError(f"要停用的规则不存在：{'、'.join(sorted(unknown))}（见 --disable 或本行配置"
                        f"文件）。规则包中的规则：{'、'.join(sorted(seen))}。")
    return RulePack(meta=meta, rules=[rf.rule for rf in files], hash=digest.hexdigest(),
                    files=files)


def _cross_checks(files: list[RuleFile]) -> list[Problem]:
    """Checks across rules: figure owners unique, union members exist and are enabled."""
    problems = []
    owners: dict[str, RuleFile] = {}
    enabled = {rf.rule.id for rf in files if rf.rule.enabled}
    for rf in files:
        rule = rf.rule
        for slot in ("subjects", "cards"):
            figure = getattr(rule.figures, slot)
            if figure is None or not rule.enabled:
                continue
            if figure in owners:
                other = owners[figure]
                problems.append(Problem(rf.path, rf.line, f"统计项 {figure} 已由规则 "
                                        f"{other.rule.id}（{other.path.name}）提供，不能重复"))
            owners[figure] = rf
        if rule.kind == "union" and rule.enabled:
            for member in rule.parsed_params().of:  # type: ignore[attr-defined]
                if member not in enabled:
                    problems.append(Problem(rf.path, rf.line, f"合并规则引用的规则 {member} "
                                            "不存在或已停用"))
    return problems
