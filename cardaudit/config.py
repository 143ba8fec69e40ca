"""A bank's own configuration layered over the rule pack: defaults < --config file < flags.

The config file (YAML, safe-loaded, unknown keys are errors with file:line) may name the rule
directory, override pack settings, disable rules, and change a rule's params or severity:

    rules_dir: ../rules            # relative to this file
    settings:
      excluded_products: [社保IC卡, 福祥医疗卡]
    disabled_rules: [PHONE-SHARED]
    rules:
      CARD-4PLUS: {params: {at_least: 4}, severity: 违规}
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cardaudit.errors import RuleError
from cardaudit.rules import (
    SEVERITIES,
    SEVERITY_ALIASES,
    PackProblems,
    Problem,
    RulePack,
    _compose,
    _line_of,
    _validation_problems,
    load_pack,
)
from cardaudit.settings import Settings

CONFIG_FILE = "本行配置文件"  # how errors name a config file (not the rule pack)


class RuleOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    severity: str | None = None
    enabled: bool | None = None


class BankConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules_dir: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    disabled_rules: list[str] = Field(default_factory=list)
    rules: dict[str, RuleOverride] = Field(default_factory=dict)


@dataclass
class LoadedConfig:
    path: Path
    sha256: str
    config: BankConfig
    node: Any


def read_config(path: Path) -> LoadedConfig:
    """Safe-load and validate a config file; every problem reported with file:line."""
    problems: list[Problem] = []
    if not path.is_file():
        raise RuleError(f"找不到配置文件：{path.name}。请检查 --config 参数。")
    data, node = _compose(path, problems)
    if problems:
        raise PackProblems(problems, CONFIG_FILE)
    try:
        config = BankConfig.model_validate(data or {})
    except ValidationError as exc:
        raise PackProblems(_validation_problems(path, node, exc), CONFIG_FILE) from None
    return LoadedConfig(path, hashlib.sha256(path.read_bytes()).hexdigest(), config, node)


def resolve_pack(config_path: Path | None, rules_dir: Path | None,
                 disabled: list[str] | None) -> tuple[RulePack, LoadedConfig | None]:
    """The effective rule pack: bundled or chosen pack, then the config file, then the flags."""
    loaded = read_config(config_path) if config_path else None
    config = loaded.config if loaded else BankConfig()
    directory = rules_dir
    if directory is None and config.rules_dir:
        directory = (loaded.path.parent / config.rules_dir) if loaded else Path(config.rules_dir)
    switched_off = [rule_id for rule_id, o in config.rules.items() if o.enabled is False]
    pack = load_pack(directory, [*config.disabled_rules, *switched_off, *(disabled or [])])
    if loaded:
        pack = apply_config(pack, loaded)
    return pack, loaded


def apply_config(pack: RulePack, loaded: LoadedConfig) -> RulePack:
    """Overlay settings and rule overrides; validate the result against the same models."""
    config, path, node = loaded.config, loaded.path, loaded.node
    problems: list[Problem] = []
    settings = pack.settings
    if config.settings:
        try:
            settings = Settings.model_validate({**pack.settings.model_dump(), **config.settings})
        except ValidationError as exc:
            problems.extend(_validation_problems(path, node, exc, ("settings",)))
    known = {r.id: r for r in pack.rules}
    rules = []
    for rule_id in config.rules:
        if rule_id not in known:
            problems.append(Problem(path, _line_of(node, ("rules", rule_id)),
                                    f"rules.{rule_id}: 规则包中没有该规则"))
    for rule in pack.rules:
        override = config.rules.get(rule.id)
        if override is None:
            rules.append(rule)
            continue
        update: dict[str, Any] = {"params": rule.merged_params(override.params)}
        if override.severity is not None:
            severity = SEVERITY_ALIASES.get(override.severity, override.severity)
            if severity not in SEVERITIES:
                problems.append(Problem(path, _line_of(node, ("rules", rule.id, "severity")),
                                        f"rules.{rule.id}.severity: 须为 {'/'.join(SEVERITIES)} 之一"))
                continue
            update["severity"] = severity
        if override.enabled:
            update["enabled"] = True
        changed = rule.model_copy(update=update)
        try:
            params = changed.parsed_params()
        except ValidationError as exc:
            problems.extend(_validation_problems(path, node, exc, ("rules", rule.id, "params")))
        else:  # title and description state the threshold: they must name params still set
            for name, why in changed.unfilled(params):
                what = "标题" if name == "title" else "说明"
                problems.append(Problem(path, _line_of(node, ("rules", rule.id, "params")),
                                        f"rules.{rule.id}.params: 规则{what}「{getattr(changed, name)}」"
                                        f"中的{why}。请改用{what}引用的参数，或在规则文件中修改{what}"))
        rules.append(changed)
    if problems:
        raise PackProblems(problems, CONFIG_FILE)
    meta = pack.meta.model_copy(update={"settings": settings})
    return RulePack(meta=meta, rules=rules, hash=pack.hash, files=pack.files)
