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
import pyarrow as pa
import pyarrow.compute as pc

from cardaudit.blacklist import Blacklist
from cardaudit.normalize import Distinct, pick_text, text_scalar
from cardaudit.rules import (
    ACCOUNT_CLASSES,
    AccountClassParams,
    AgentHoldingParams,
    IdClassParams,
    ListedAgentParams,
    ListedHoldingParams,
    ListedPeriodParams,
    NameMismatchParams,
    Rule,
    SharedPhoneParams,
    Threshold,
    UnionParams,
)

ID_CLASS_TEXT = {"valid": "有效", "legacy15": "15位旧号码（未升位）", "missing": "证件号码为空",
                 "nonexistent": "证件号码不存在（结构无效）"}


class Keys(dict):
    """Code column -> the distinct values behind its codes, shared by all entities.

    Derived look-ups (which persons are listed) are computed once per run, not per entity.
    """

    def __init__(self, tables: dict[str, Distinct]):
        super().__init__(tables)
        self._listed: dict[frozenset[str], np.ndarray] = {}

    def text(self, column: str) -> pa.Array:
        """The distinct values of a code column as Arrow text (empty if the column is absent)."""
        return self[column].arrow if column in self else pa.array([], pa.large_string())

    def agent_as_person(self) -> np.ndarray:
        """Per agent code: the person code with the same key, or -1 (computed once)."""
        if "_agent_as_person" not in self.__dict__:
            agents = self.text("agent_code")
            # Agents are far fewer than persons: hash the agents, look every person up.
            found = pc.index_in(self.text("person_code"), value_set=agents).fill_null(-1) \
                .to_numpy(zero_copy_only=False)
            matched = np.flatnonzero(found >= 0)
            as_person = np.full(len(agents), -1, dtype=np.int64)
            as_person[found[matched]] = matched
            self.__dict__["_agent_as_person"] = as_person
        return self.__dict__["_agent_as_person"]

    def listed(self, column: str, ids: frozenset[str]) -> np.ndarray:
        """Boolean per code of `column`: is the value one of the listed ID numbers?"""
        key = frozenset({column}) | ids
        if key not in self._listed:
            values = self.text(column)
            wanted = pa.array(sorted(ids), pa.large_string())
            self._listed[key] = pc.is_in(values, value_set=wanted).to_numpy(
                zero_copy_only=False) if ids else np.zeros(len(values), dtype=bool)
        return self._listed[key]


@dataclass
class EntityContext:
    """One legal entity's audited rows (integer code columns) and the shared code tables."""

    frame: pd.DataFrame
    keys: Keys
    blacklist: Blacklist = field(default_factory=Blacklist)
    results: dict[str, Hits] = field(default_factory=dict)

    @property
    def listed(self) -> frozenset[str]:
        return self.blacklist.ids

    def codes(self, column: str) -> tuple[np.ndarray, Distinct]:
        """(codes of this entity's rows, distinct values); all -1 if the column is absent."""
        if column not in self.frame:
            return np.full(len(self.frame), -1, dtype=np.int64), Distinct(pa.array([], pa.string()))
        return self.frame[column].to_numpy(), self.keys[column]

    @cached_property
    def person(self) -> tuple[np.ndarray, Distinct]:
        return self.codes("person_code")

    @cached_property
    def id_classes(self) -> tuple[np.ndarray, list[str]]:
        """Each row's ID class (normalise's Categorical) as a code into the class names (-1:
        none, non-resident rows)."""
        classes = self.frame["id_class"].cat
        return classes.codes.to_numpy(), [str(c) for c in classes.categories]

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
    row_subject: pa.Array  # flagged key per row (Arrow text: no Python string per row)
    reason: pa.Array  # reason text per row (Arrow text)
    counted_cards: int  # counted cards among the rows

    @property
    def size(self) -> int:
        return len(self.subjects)


def _empty(kind: str) -> Hits:
    none = pa.array([], pa.large_string())
    return Hits(kind, np.array([], dtype=object), np.array([], dtype=np.int64), none, none, 0)


def _text(values: pa.Array | np.ndarray | pd.Series) -> pa.Array:
    """Texts per row as an Arrow large_string array (None/NA: null)."""
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    return pa.array(values, pa.large_string(), from_pandas=True)


def _fmt(prefix: str, numbers: np.ndarray, suffix: str) -> pa.Array:
    """Vectorised f"{prefix}{n}{suffix}" over an integer array, as Arrow text."""
    digits = pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.large_string())
    return pc.binary_join_element_wise(text_scalar(prefix), digits, text_scalar(suffix), text_scalar(""))


def _by_group(codes: np.ndarray, uniques: Distinct, flag: np.ndarray, row_mask: np.ndarray,
              kind: str, reason_of: Callable[[np.ndarray, np.ndarray], pa.Array | np.ndarray],
              counted: np.ndarray) -> Hits:
    """Hits for groups flagged by `flag` (per code), keeping the rows in `row_mask`.

    `reason_of(rows, row_codes)` gives the reason text of each kept row.
    """
    if not flag.any():
        return _empty(kind)
    # Code -1 (none) reads the False appended to the flags: no mask of valid codes is needed.
    rows = np.flatnonzero(row_mask & np.append(flag, False)[codes])
    if len(rows) == 0:
        return _empty(kind)
    row_codes = codes[rows]
    # Code tables are shared by all entities: the subjects are those with rows here.
    return Hits(kind, uniques[np.unique(row_codes)], rows,
                uniques.arrow.take(pa.array(row_codes)), _text(reason_of(rows, row_codes)),
                int(counted[rows].sum()))


def _card_threshold(ctx: EntityContext, codes: np.ndarray, uniques: Distinct,
                    counts: np.ndarray, p: Threshold, kind: str, prefix: str) -> Hits:
    """Subjects whose counted cards reach the threshold, with every such card behind them."""
    rule_text = p.describe("张")

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        return _fmt(prefix, counts[row_codes], f"张计入的借记卡（标准：{rule_text}）")

    return _by_group(codes, uniques, counts >= p.minimum, ctx.counted, kind, reason, ctx.counted)


def person_card_count(ctx: EntityContext, p: Threshold) -> Hits:
    codes, uniques = ctx.person
    return _card_threshold(ctx, codes, uniques, ctx.counted_per_person, p, "person",
                           "该客户在本法人机构持有")


def agent_card_count(ctx: EntityContext, p: Threshold) -> Hits:
    codes, uniques = _agent_codes(ctx, ctx.counted)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    return _card_threshold(ctx, codes, uniques, counts, p, "agent", "该代理人代理开立")


def id_class(ctx: EntityContext, p: IdClassParams) -> Hits:
    frame = ctx.frame
    codes, uniques = ctx.person
    class_codes, classes = ctx.id_classes
    wanted = [i for i, c in enumerate(classes) if c in p.classes]
    row_mask = ctx.scope(p.scope) & np.isin(class_codes, wanted)
    verified = np.zeros(len(frame), dtype=bool)
    if "nonexistent" in p.classes and "verified_nonexistent" in frame:
        # 联网核查 judged the number non-existent (resident rows only, like the offline class).
        verified = (ctx.scope(p.scope) & frame["verified_nonexistent"].to_numpy(dtype=bool)
                    & (class_codes >= 0))
        row_mask = row_mask | verified
    flag = np.zeros(len(uniques), dtype=bool)
    flag[codes[row_mask]] = True
    texts = [ID_CLASS_TEXT.get(c) for c in classes] + [None]  # code -1 (none): the last

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        offline = pick_text(texts, np.where(class_codes[rows] >= 0, class_codes[rows], len(classes)))
        return pc.if_else(pa.array(verified[rows]), text_scalar("联网核查：证件号码不存在"), offline)

    return _by_group(codes, uniques, flag, row_mask, "person", reason, ctx.counted)


def _distinct_pairs(group: np.ndarray, other: np.ndarray, groups: int) -> np.ndarray:
    """Per group code: how many distinct `other` codes occur with it (codes >= 0).

    Most groups (a person's names, a phone's persons) hold one value: a group is 1 unless a row
    differs from the value some row of the group wrote, and only the rows of such mixed groups
    are counted exactly (hash-based, no sort).
    """
    counts = np.zeros(groups, dtype=np.int64)
    if len(group) == 0:
        return counts
    counts[group] = 1
    seen = np.empty(groups, dtype=other.dtype)
    seen[group] = other  # one of each group's values (whichever write lands)
    mixed = np.zeros(groups, dtype=bool)
    mixed[group[other != seen[group]]] = True
    if mixed.any():
        rows = mixed[group]
        group, other = group[rows], other[rows]
        width = int(other.max()) + 1
        pairs = pd.unique(group * width + other)
        counts[mixed] = np.bincount(pairs // width, minlength=groups)[mixed]
    return counts


def name_mismatch(ctx: EntityContext, p: NameMismatchParams) -> Hits:
    codes, uniques = ctx.person
    names, _ = ctx.codes("name_code")
    in_scope = ctx.scope(p.scope) & (names >= 0)
    distinct = _distinct_pairs(codes[in_scope], names[in_scope], len(uniques))
    flag = distinct >= p.min_names
    verified = np.zeros(len(uniques), dtype=bool)
    if "verified_mismatch" in ctx.frame:
        # 联网核查 judged a (number, name) pair of this person mismatched.
        rows = ctx.scope(p.scope) & ctx.frame["verified_mismatch"].to_numpy(dtype=bool)
        verified[codes[rows]] = True
        flag = flag | verified

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        offline = _fmt("同一客户（证件号码）登记了", distinct[row_codes], "个不同姓名")
        keep = ~verified[row_codes] | (distinct[row_codes] >= p.min_names)
        return pc.if_else(pa.array(keep), offline, text_scalar("联网核查：姓名与身份证号不匹配"))

    return _by_group(codes, uniques, flag, ctx.scope(p.scope), "person", reason, ctx.counted)


def listed_holding(ctx: EntityContext, p: ListedHoldingParams) -> Hits:
    codes, uniques = ctx.person
    counts = ctx.counted_per_person
    flag = ctx.keys.listed("person_code", ctx.listed) & (counts >= p.at_least)

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        return _fmt("公安/司法机关名单客户，在本法人机构持有", counts[row_codes], "个计入的借记卡账户")

    return _by_group(codes, uniques, flag, ctx.counted, "person", reason, ctx.counted)


def union(ctx: EntityContext, p: UnionParams, titles: dict[str, str]) -> Hits:
    members = [(ctx.results[m], titles[m]) for m in p.of if m in ctx.results]
    members = [(h, t) for h, t in members if h.size]
    if not members:
        return _empty("person")
    # Each row's set of flagging members, numbered (0 = none), and the first member's subject
    # (its place in the members' subjects one after another).
    n = len(ctx.frame)
    set_of = np.zeros(n, dtype=np.int64)
    sets: list[tuple[str, ...]] = [()]
    starts = np.cumsum([0] + [len(h.rows) for h, _ in members])
    subject_at = np.full(n, -1, dtype=np.int64)
    for (hits, _), start in reversed(list(zip(members, starts[:-1], strict=True))):
        subject_at[hits.rows] = start + np.arange(len(hits.rows))
    for hits, title in members:
        old, inverse = np.unique(set_of[hits.rows], return_inverse=True)
        grown = np.arange(len(sets), len(sets) + len(old))
        sets += [sets[k] + (title,) for k in old.tolist()]
        set_of[hits.rows] = grown[inverse.reshape(-1)]
    rows = np.flatnonzero(set_of)
    # A handful of distinct member sets: their titles are joined once each.
    text = ["身份信息不合规：" + "；".join(titles) for titles in sets]
    subjects = pd.unique(np.concatenate([h.subjects for h, _ in members]))
    subject = pa.concat_arrays([h.row_subject for h, _ in members])
    return Hits("person", np.asarray(subjects, dtype=object), rows,
                subject.take(pa.array(subject_at[rows])), pick_text(text, set_of[rows]),
                int(ctx.counted[rows].sum()))


def shared_phone(ctx: EntityContext, p: SharedPhoneParams) -> Hits:
    person, _ = ctx.person
    codes, uniques = ctx.codes("phone_code")
    in_scope = ctx.scope(p.scope) & (codes >= 0)
    persons = _distinct_pairs(codes[in_scope], person[in_scope], len(uniques))
    flag = persons >= p.at_least

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        return _fmt("该预留手机号码被", persons[row_codes], "个不同客户预留")

    return _by_group(codes, uniques, flag, in_scope, "phone", reason, ctx.counted)


def account_class_limit(ctx: EntityContext, p: AccountClassParams) -> Hits:
    person, uniques = ctx.person
    class_code = ctx.frame["class_code"].to_numpy().astype(np.int64)
    limited = list(ACCOUNT_CLASSES)
    in_scope = ctx.scope(p.scope) & (class_code >= 0)
    width = len(limited)
    pair = person * width + np.maximum(class_code, 0)
    counts = np.bincount(pair[in_scope], minlength=len(uniques) * width)
    # A class without a limit in the params is never over it.
    most = np.array([p.most.get(c, np.iinfo(np.int64).max) for c in limited], dtype=np.int64)
    over_pair = counts > np.tile(most, len(uniques))
    row_over = in_scope & over_pair[pair]
    flag = np.zeros(len(uniques), dtype=bool)
    flag[person[row_over]] = True

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        held = pa.array(counts[pair[rows]]).cast(pa.large_string())
        limit = pa.array(most[class_code[rows]]).cast(pa.large_string())
        return pc.binary_join_element_wise(
            text_scalar("该客户持有"), held, text_scalar("个"), pick_text(limited, class_code[rows]),
            text_scalar("类账户（上限"), limit, text_scalar("个）"), text_scalar(""))

    return _by_group(person, uniques, flag, row_over, "person", reason, ctx.counted)


def _listed_in_scope(ctx: EntityContext, p: ListedPeriodParams) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows in the rule's scope of persons on the list with a listing date, and the dated
    list entries."""
    person, _ = ctx.person
    periods = ctx.blacklist.periods.dropna(subset=["listed_dt"])
    listed = ctx.keys.listed("person_code", frozenset(periods["id18"]))
    return ctx.scope(p.scope) & listed[person], periods


def listed_undated_cards(ctx: EntityContext, p: ListedPeriodParams) -> int:
    """Cards in the period check's scope held by dated list persons whose opening date is missing
    or unreadable: the check cannot place them inside or outside the period."""
    rows, _ = _listed_in_scope(ctx, p)
    return int(np.count_nonzero(rows & ctx.frame["open_dt"].isna().to_numpy()))


def listed_opened_in_period(ctx: EntityContext, p: ListedPeriodParams) -> Hits:
    person, uniques = ctx.person
    in_scope_listed, periods = _listed_in_scope(ctx, p)
    candidate = np.flatnonzero(in_scope_listed)
    if len(candidate) == 0 or not len(periods):
        return _empty("person")
    opened = pd.DataFrame({"row": candidate, "id18": uniques[person[candidate]],
                           "open_dt": ctx.frame["open_dt"].to_numpy()[candidate]})
    joined = opened.merge(periods, on="id18", how="inner")
    default_end = joined["listed_dt"] + pd.DateOffset(years=p.years)
    end = joined["end_dt"].fillna(default_end)
    inside = (joined["open_dt"] >= joined["listed_dt"]) & (joined["open_dt"] <= end)
    hits = joined[inside.to_numpy(dtype=bool)].drop_duplicates("row")
    row_mask = np.zeros(len(ctx.frame), dtype=bool)
    row_mask[hits["row"].to_numpy()] = True
    flag = np.zeros(len(uniques), dtype=bool)
    flag[person[row_mask]] = True
    period_text = dict(zip(hits["row"], "名单人员在惩戒期内（" + hits["listed_dt"].dt.strftime(
        "%Y-%m-%d") + "列入）开卡", strict=True))

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> np.ndarray:
        return pd.Series(rows).map(period_text).to_numpy(dtype=object)

    return _by_group(person, uniques, flag, row_mask, "person", reason, ctx.counted)


def _agent_codes(ctx: EntityContext, mask: np.ndarray) -> tuple[np.ndarray, Distinct]:
    codes, uniques = ctx.codes("agent_code")
    return np.where(mask, codes, -1), uniques


def listed_agent(ctx: EntityContext, p: ListedAgentParams) -> Hits:
    in_scope = ctx.scope(p.scope)
    codes, uniques = _agent_codes(ctx, in_scope)
    flag = ctx.keys.listed("agent_code", ctx.listed)

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        return pick_text(["名单人员作为代理人代理开卡"], np.zeros(len(rows), dtype=np.int64))

    return _by_group(codes, uniques, flag, in_scope, "agent", reason, ctx.counted)


def agent_holding(ctx: EntityContext, p: AgentHoldingParams) -> Hits:
    codes, uniques = _agent_codes(ctx, ctx.counted)
    as_person = ctx.keys.agent_as_person()
    held = np.where(as_person >= 0, ctx.counted_per_person[np.maximum(as_person, 0)], 0)
    flag = held >= p.holder_at_least

    def reason(rows: np.ndarray, row_codes: np.ndarray) -> pa.Array:
        return _fmt("代理人本人持有", held[row_codes], "张计入的借记卡")

    return _by_group(codes, uniques, flag, ctx.counted, "agent", reason, ctx.counted)


CHECKS: dict[str, Callable[..., Hits]] = {
    "person_card_count": person_card_count, "agent_card_count": agent_card_count,
    "id_class": id_class, "name_mismatch": name_mismatch, "listed_holding": listed_holding,
    "shared_phone": shared_phone, "account_class_limit": account_class_limit,
    "listed_opened_in_period": listed_opened_in_period, "listed_agent": listed_agent,
    "agent_holding": agent_holding,
}


def run_check(rule: Rule, ctx: EntityContext, titles: dict[str, str]) -> Hits:
    """Run one rule's check kind (params already validated when the pack was loaded)."""
    params = rule.parsed_params()
    if rule.kind == "union":
        return union(ctx, params, titles)  # type: ignore[arg-type]
    return CHECKS[rule.kind](ctx, params)
