"""Check kinds: each turns one legal entity's audited rows into hits, never prints or reads files.

A check receives an `EntityContext` (the rows plus person codes factorised once) and the rule's
validated params, and returns `Hits`: the flagged subjects (persons or agents), the rows behind
them with a reason each, and the counted cards among those rows. Every grouping is a bincount over
integer codes; there is no per-row Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from cardaudit.rules import (
    SCOPE_TEXT,
    IdClassParams,
    ListedHoldingParams,
    NameMismatchParams,
    Rule,
    Threshold,
    UnionParams,
)

ID_CLASS_TEXT = {"valid": "有效", "legacy15": "15位旧号码（未升位）", "missing": "证件号码为空",
                 "nonexistent": "证件号码不存在（结构无效）"}


@dataclass
class EntityContext:
    """One legal entity's audited rows, with keys factorised once for every check."""

    frame: pd.DataFrame
    listed: frozenset[str] = frozenset()
    results: dict[str, Hits] = field(default_factory=dict)

    @cached_property
    def person(self) -> tuple[np.ndarray, np.ndarray]:
        codes, uniques = pd.factorize(self.frame["person_key"])
        return codes, np.asarray(uniques, dtype=object)

    @cached_property
    def counted(self) -> np.ndarray:
        return self.frame["counted"].to_numpy(dtype=bool)

    @cached_property
    def not_closed(self) -> np.ndarray:
        return self.frame["not_closed"].to_numpy(dtype=bool)

    def scope(self, name: str) -> np.ndarray:
        if name == "counted":
            return self.counted
        if name == "not_closed":
            return self.not_closed
        return np.ones(len(self.frame), dtype=bool)

    @cached_property
    def counted_per_person(self) -> np.ndarray:
        codes, uniques = self.person
        return np.bincount(codes[self.counted], minlength=len(uniques))


@dataclass
class Hits:
    """What one rule flagged in one entity."""

    subject_kind: str  # "person" or "agent"
    subjects: np.ndarray  # distinct flagged keys
    rows: np.ndarray  # row positions in the entity frame behind the findings
    row_subject: np.ndarray  # flagged key per row
    reason: np.ndarray  # reason text per row
    counted_cards: int  # counted cards among the rows

    @property
    def size(self) -> int:
        return len(self.subjects)


def _empty(kind: str) -> Hits:
    none = np.array([], dtype=object)
    return Hits(kind, none, np.array([], dtype=np.int64), none, none, 0)


def _fmt(prefix: str, numbers: np.ndarray, suffix: str) -> np.ndarray:
    """Vectorised f"{prefix}{n}{suffix}" over an integer array."""
    text = prefix + pd.Series(numbers, dtype="int64").astype("str") + suffix
    return text.to_numpy(dtype=object)


def _by_group(codes: np.ndarray, uniques: np.ndarray, flag: np.ndarray, row_mask: np.ndarray,
              kind: str, reason_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
              counted: np.ndarray) -> Hits:
    """Hits for groups flagged by `flag` (per code), keeping the rows in `row_mask`.

    `reason_of(rows, row_codes)` gives the reason text of each kept row.
    """
    if not flag.any():
        return _empty(kind)
    valid = codes >= 0
    rows = np.flatnonzero(row_mask & valid & flag[np.where(valid, codes, 0)])
    if len(rows) == 0:
        return _empty(kind)
    row_codes = codes[rows]
    return Hits(kind, uniques[flag], rows, uniques[row_codes], reason_of(rows, row_codes),
                int(counted[rows].sum()))


def person_card_count(ctx: EntityContext, p: Threshold) -> Hits:
    codes, uniques = ctx.person
    counts = ctx.counted_per_person
    flag = counts >= p.minimum
    rule_text = p.describe("张")

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> np.ndarray:
        return _fmt("该客户在本法人机构持有", counts[row_codes], f"张计入的借记卡（标准：{rule_text}）")

    return _by_group(codes, uniques, flag, ctx.counted, "person", reason, ctx.counted)


def agent_card_count(ctx: EntityContext, p: Threshold) -> Hits:
    agent = ctx.frame["agent_key"].where(ctx.counted)
    codes, uniques = pd.factorize(agent)
    uniques = np.asarray(uniques, dtype=object)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    flag = counts >= p.minimum
    rule_text = p.describe("张")

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> np.ndarray:
        return _fmt("该代理人代理开立", counts[row_codes], f"张计入的借记卡（标准：{rule_text}）")

    return _by_group(codes, uniques, flag, ctx.counted, "agent", reason, ctx.counted)


def id_class(ctx: EntityContext, p: IdClassParams) -> Hits:
    frame = ctx.frame
    codes, uniques = ctx.person
    id_cls = frame["id_class"].astype("object").to_numpy()
    row_mask = ctx.scope(p.scope) & np.isin(id_cls, list(p.classes))
    flag = np.zeros(len(uniques), dtype=bool)
    flag[codes[row_mask]] = True

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> np.ndarray:
        return pd.Series(id_cls[rows]).map(ID_CLASS_TEXT).to_numpy(dtype=object)

    return _by_group(codes, uniques, flag, row_mask, "person", reason, ctx.counted)


def name_mismatch(ctx: EntityContext, p: NameMismatchParams) -> Hits:
    codes, uniques = ctx.person
    names = ctx.frame["name_norm"]
    in_scope = ctx.scope(p.scope) & names.notna().to_numpy()
    name_codes, _ = pd.factorize(names)
    pairs = pd.DataFrame({"p": codes[in_scope], "n": name_codes[in_scope]}).drop_duplicates()
    distinct = np.bincount(pairs["p"].to_numpy(), minlength=len(uniques))
    flag = distinct >= p.min_names

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> np.ndarray:
        return _fmt("同一客户（证件号码）登记了", distinct[row_codes], "个不同姓名")

    return _by_group(codes, uniques, flag, ctx.scope(p.scope), "person", reason, ctx.counted)


def listed_holding(ctx: EntityContext, p: ListedHoldingParams) -> Hits:
    codes, uniques = ctx.person
    counts = ctx.counted_per_person
    listed = pd.Index(uniques).isin(list(ctx.listed))
    flag = listed & (counts >= p.at_least)

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> np.ndarray:
        return _fmt("公安/司法机关名单客户，在本法人机构持有", counts[row_codes], "个计入的借记卡账户")

    return _by_group(codes, uniques, flag, ctx.counted, "person", reason, ctx.counted)


def union(ctx: EntityContext, p: UnionParams, titles: dict[str, str]) -> Hits:
    members = [(ctx.results[m], titles[m]) for m in p.of if m in ctx.results]
    members = [(h, t) for h, t in members if h.size]
    if not members:
        return _empty("person")
    table = pd.DataFrame({
        "row": np.concatenate([h.rows for h, _ in members]),
        "subject": np.concatenate([h.row_subject for h, _ in members]),
        "title": np.concatenate([np.full(len(h.rows), t, dtype=object) for h, t in members]),
    })
    per_row = table.groupby("row", sort=True).agg(subject=("subject", "first"),
                                                   title=("title", "；".join))
    rows = per_row.index.to_numpy(dtype=np.int64)
    subjects = pd.unique(np.concatenate([h.subjects for h, _ in members]))
    return Hits("person", np.asarray(subjects, dtype=object), rows,
                per_row["subject"].to_numpy(dtype=object),
                ("身份信息不合规：" + per_row["title"]).to_numpy(dtype=object),
                int(ctx.counted[rows].sum()))


def run_check(rule: Rule, ctx: EntityContext, titles: dict[str, str]) -> Hits:
    """Run one rule's check kind (params already validated when the pack was loaded)."""
    params = rule.parsed_params()
    if rule.kind == "union":
        return union(ctx, params, titles)  # type: ignore[arg-type]
    check = {"person_card_count": person_card_count, "agent_card_count": agent_card_count,
             "id_class": id_class, "name_mismatch": name_mismatch,
             "listed_holding": listed_holding}[rule.kind]
    return check(ctx, params)  # type: ignore[operator]


def scope_text(rule: Rule) -> str:
    """The Chinese description of the rows a rule looks at, for the appendix."""
    scope = rule.params.get("scope")
    if rule.kind in ("id_class",):
        return SCOPE_TEXT[scope or "all"]
    if rule.kind == "name_mismatch":
        return SCOPE_TEXT[scope or "counted"]
    if rule.kind == "union":
        return "所引用规则的范围"
    return SCOPE_TEXT["counted"]
