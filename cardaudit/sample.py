"""Synthetic, bank-like debit-card exports with planted cases whose true figures are known.

`generate` builds an export in the shape of a rural commercial bank's core-banking extract
(Chinese headers, one row per card), a police blacklist and a `truth` dict. The truth comes from
the generator's own bookkeeping: every person is created as exactly one planted *kind* with a
planned number of counted, closed and 社保IC卡 cards, so every report figure is known by
construction, not by auditing the generated rows. No real personal data: names are drawn from
common surnames and given-name characters, ID numbers are synthesised with real structure and
check characters from a unique person index, so two persons never share a number.

Everything is vectorised with numpy and pyarrow: a loop runs over entities and planted kinds,
never over rows.

Person kinds (each planted person is exactly one kind; per legal entity, at least one of each):
- ``customer_4``: exactly 4 counted cards (the 4th in a non-normal but counting status).
- ``customer_5plus``: 5-7 counted cards over two branches (4plus and over the limit).
- ``closed_and_social_not_counted``: 3 counted + 1 closed + 1 not-closed 社保IC卡 (not 4plus).
- ``agent_3plus`` / ``agent_2`` / ``agent_3rd_closed``: agents (not card holders) on 3-4, 2, and
  2 counted + 1 closed cards, each card held by a different background-like client. The first
  ``agent_3plus`` agent of each entity has an ID ending in X, written canonically, with a
  lower-case x, and in full-width digits with an embedded space (``agent_id_variants``).
- ``id_nonexistent_float`` ("4.30522E+17"), ``id_nonexistent_checksum`` (wrong check char),
  ``id_nonexistent_length`` (last digit lost), ``id_nonexistent_date`` (Feb 30); ``id_missing``
  (empty); ``id_legacy15`` (15 digits; every other one also has a card under the upgraded 18).
- ``name_mismatch`` (two names on counted cards); ``name_variant_only`` (names differ only by
  white space, not a mismatch); ``name_differs_on_closed_only`` (not a mismatch).
- ``passport``: 2 cards under 护照, never validated.
- ``listed_2plus`` (2-3 counted cards), ``listed_1_counted`` (1 counted + 1 closed),
  ``listed_opened_in_period`` (1 counted card opened after the listing date), ``listed_as_agent``
  (an agent on the blacklist), and list faults (float-mangled or truncated list numbers).
- ``agent_holding_4plus``: holds exactly 4 counted cards AND opened one card as an agent; the only
  overlap, counted in customers_4plus and customers_4plus_cards.
- ``class1_multi``: 2 counted Ⅰ类 cards; ``phone_shared``: groups of 3-4 persons on one phone.
- Quarantine: copies of background rows with the card number emptied ("卡号为空") or repeated
  later in the same entity ("卡号重复").
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

AS_OF = dt.date(2026, 10, 31)
BUNDLED_SEED = 20161
BUNDLED_ROWS = 300
BUNDLED_ENTITIES = 2

EXPORT_COLUMNS: tuple[str, ...] = (
    "法人机构", "开户机构", "客户号", "客户姓名", "证件类型", "证件号码", "卡号", "账户类别",
    "卡产品", "开户日期", "卡状态", "销户日期", "代理人姓名", "代理人证件类型", "代理人证件号码",
    "预留手机号",
)
BLACKLIST_COLUMNS: tuple[str, ...] = (
    "证件号码", "姓名", "列入日期", "惩戒期限(年)", "来源", "原因")

PRODUCTS = ("福祥借记卡", "福祥便民卡", "福祥福农卡", "福祥借记IC卡", "社保IC卡", "福祥医疗卡",
            "福祥惠民卡")
SOCIAL = PRODUCTS.index("社保IC卡")
_COUNTED_PRODUCTS = np.array([0, 3, 1, 2, 6, 5], dtype=np.int8)
_COUNTED_PRODUCT_P = (0.55, 0.20, 0.08, 0.07, 0.05, 0.05)
STATUSES = ("正常", "未激活", "冻结", "挂失", "久悬", "睡眠", "销户")
CLOSED = STATUSES.index("销户")
_OPEN_STATUS_P = (0.88, 0.03, 0.02, 0.02, 0.03, 0.02)
CLASSES = ("Ⅰ类", "Ⅱ类", "Ⅲ类")
ID_TYPES = ("居民身份证", "护照")
REGIONS = ("430522", "110101", "440305", "320102", "510104", "430521", "430102", "330106")
COUNTIES = ("青禾", "云溪", "松岭", "鹿鸣", "桐川", "梅岭", "石湾", "兰亭")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英霞平刚桂华建国志红玉兰"
         "文辉鹏飞云海波宁斌宇浩凯俊峰丹颖琳雪梅兵林春晓东亮成")
REASONS = ("出租出借银行账户", "出售银行账户", "购买银行账户", "为电信网络诈骗提供支付结算帮助")
CARD_PREFIX = "621779"

_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_REGION_DIGITS = np.frombuffer("".join(REGIONS).encode(), dtype=np.uint8).reshape(-1, 6)
_BIRTH0 = np.datetime64("1950-01-01", "D")
_N_DAYS = 20089  # birth dates 1950-01-01 .. 2004-12-31
_N_DAYS_SPECIAL = 18262  # 1950-01-01 .. 1999-12-31: legacy 15-digit numbers need 19YY
_OPEN_SPAN = 3650  # open dates within 10 years before as_of
# Bijections person index -> (region, birth date, sequence): ordinary persons use sequence
# 001-899, "special" persons (legacy15 holders, the X agent) 900-999, so they never collide.
_N1 = len(REGIONS) * _N_DAYS * 899
_N2 = len(REGIONS) * _N_DAYS_SPECIAL * 100
_A1, _A2 = 1_000_003, 999_983

# ID forms of a card row
F_VALID, F_LEGACY15, F_FLOAT, F_CHECK, F_LENGTH, F_DATE, F_MISSING, F_PASSPORT = range(8)
# Person ID classes for the bookkeeping
C_VALID, C_LEGACY15, C_NONEXISTENT, C_MISSING, C_OTHER = range(5)
_FORM_CLASS = {F_VALID: C_VALID, F_LEGACY15: C_LEGACY15, F_FLOAT: C_NONEXISTENT,
               F_CHECK: C_NONEXISTENT, F_LENGTH: C_NONEXISTENT, F_DATE: C_NONEXISTENT,
               F_MISSING: C_MISSING, F_PASSPORT: C_OTHER}

KINDS = (
    "background", "customer_4", "customer_5plus", "closed_and_social_not_counted",
    "agent_client", "id_nonexistent_float", "id_nonexistent_checksum", "id_nonexistent_length",
    "id_nonexistent_date", "id_missing", "id_legacy15", "name_mismatch", "name_variant_only",
    "name_differs_on_closed_only", "passport", "listed_2plus", "listed_1_counted",
    "listed_opened_in_period", "agent_holding_4plus", "class1_multi", "phone_shared",
    "agent", "blacklist_only",
)
_K = {name: i for i, name in enumerate(KINDS)}

_CARD_FIELDS: dict[str, type] = {
    "ent": np.int16, "holder": np.int64, "kind": np.int8, "product": np.int8,
    "status": np.int8, "klass": np.int8, "open_off": np.int32, "close_off": np.int32,
    "agent": np.int64, "agent_var": np.int8, "name_var": np.int8, "form": np.int8,
    "phone_of": np.int64, "branch_of": np.int64, "shift": np.int8,
}
_PERSON_FIELDS: dict[str, type] = {
    "ent": np.int16, "kind": np.int8, "special": np.int64, "id_class": np.int8,
    "mismatch": np.bool_, "listed": np.bool_,
}

NOTES = {
    "person_keys": "valid 18-digit ID; legacy 15-digit IDs upgraded to 18; otherwise 'C:'+客户号",
    "planted": "person keys, except agent kinds (canonical agent ID numbers), "
               "phone_shared_numbers (phone numbers), quarantine_duplicate_card (card numbers) "
               "and quarantine_empty_card (person keys of the copied rows)",
    "disjoint": "every planted person is exactly one kind; background persons hold 1-3 counted "
                "cards and are never flagged",
    "overlap": "agent_holding_4plus persons hold exactly 4 counted cards and are counted in "
               "customers_4plus and customers_4plus_cards; agent_id_variants is a subset of "
               "agent_3plus",
    "quarantine": "quarantined rows are copies of background rows in existing branches; they are "
                  "in rows.read only and count in no figure",
    "listed_opened_in_period": "cards opened on/after the listing date, within the 5-year "
                               "period, for listed persons; all other listed persons' cards "
                               "were opened before their listing date",
}


@dataclass
class Sample:
    """A generated export, its blacklist and the figures planted in it."""

    export: pd.DataFrame
    blacklist: pd.DataFrame
    truth: dict


# ---------------------------------------------------------------------------------------------
# Vectorised string building


_QUADS = np.frombuffer("".join(f"{i:04d}" for i in range(10000)).encode(), dtype=np.uint32)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) uint8 ASCII zero-padded decimal digits, four at a time from a table."""
    chunks = -(-width // 4)
    out = np.empty((values.size, chunks * 4), dtype=np.uint8)
    quads = out.view(np.uint32)
    v = values.astype(np.int64)
    for c in range(chunks - 1, -1, -1):
        rest = v // 10000
        quads[:, c] = _QUADS[v - rest * 10000]
        v = rest
    return out[:, chunks * 4 - width:]


def _put_digits(mat: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    """Write `values` as zero-padded ASCII digits into mat[:, col:col+width]."""
    mat[:, col:col + width] = _digits(values, width)


def _mix(x: np.ndarray, bits: int, salt: int) -> np.ndarray:
    """A bijection of [0, 2**bits) that looks random: odd multiplies and xor-shifts."""
    mask = np.uint64((1 << bits) - 1)
    v = x.astype(np.uint64)
    for mult, shift in ((0x9E3779B97F4A7C15, bits // 2), (0xBF58476D1CE4E5B9, bits // 3)):
        v = ((v ^ np.uint64(salt & ((1 << bits) - 1))) * np.uint64(mult)) & mask
        v ^= v >> np.uint64(shift)
    return v.astype(np.int64)


def _spread(x: np.ndarray, width: int, salt: int) -> np.ndarray:
    """A one-to-one map of [0, 10**width) onto itself that looks random.

    `_mix` on the largest power of two below 10**width, then an affine map modulo 10**width
    with a golden-ratio multiplier; the product is split so nothing overflows int64.
    """
    bits = int(width * math.log2(10))
    if x.size and int(x.max()) >= 1 << bits:
        raise ValueError(f"too many values for {width}-digit numbers")
    v = _mix(x, bits, salt)
    m, k = 10**width, width // 2
    a = int(m * 0.6180339887498949) | 1
    while math.gcd(a, 10) != 1:
        a += 2
    a_hi, a_lo = divmod(a, 10**k)
    prod = (a_hi * v) % 10 ** (width - k) * 10**k + a_lo * v
    return (prod + salt % m) % m


def _check_index(mat: np.ndarray) -> np.ndarray:
    """Index into "10X98765432" of the ISO 7064 MOD 11-2 check char of 17-digit rows."""
    total = np.zeros(mat.shape[0], dtype=np.int32)
    for i, w in enumerate(_WEIGHTS):
        total += (mat[:, i].astype(np.int32) - 48) * w
    return total % 11


def check_char(body17: str) -> str:
    """The check character of a 17-digit resident ID body (for tests and callers)."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _WEIGHTS, strict=True)) % 11]


def _id18(region: np.ndarray, day: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """(n, 18) uint8 ASCII of valid resident IDs."""
    n = region.size
    dates = _BIRTH0 + day.astype("timedelta64[D]")
    months = dates.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    mday = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    mat = np.empty((n, 18), dtype=np.uint8)
    mat[:, :6] = _REGION_DIGITS[region]
    _put_digits(mat, 6, year, 4)
    _put_digits(mat, 10, month, 2)
    _put_digits(mat, 12, mday, 2)
    _put_digits(mat, 14, seq, 3)
    mat[:, 17] = _CHECK[_check_index(mat)]
    return mat


def _strings(mat: np.ndarray, lens: np.ndarray | None = None, rows: np.ndarray | None = None,
             n: int | None = None) -> pa.Array:
    """A large_string array from a padded ASCII/UTF-8 byte matrix; length 0 means null.

    With `rows`, `mat` and `lens` hold only those rows of an n-row array; the others are null.
    """
    width = mat.shape[1]
    if lens is None:
        lens = np.full(mat.shape[0], width, dtype=np.int64)
    lens = lens.astype(np.int64, copy=False)
    if rows is not None:
        full = np.zeros(n, dtype=np.int64)
        full[rows] = lens
        lens = full
    else:
        n = mat.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    sub = lens if rows is None else lens[rows]
    if (sub == width).all():
        data = np.ascontiguousarray(mat).reshape(-1)
    elif ((sub == width) | (sub == 0)).all():
        data = np.ascontiguousarray(mat[sub == width]).reshape(-1)
    else:
        data = mat[np.arange(width)[None, :] < sub[:, None]]
    valid = lens > 0
    null_count = int(n - np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if null_count else None
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, null_count)


def _rows(mat: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """mat[idx] for a (n, w) uint8 matrix, gathered as fixed-width bytes (much faster)."""
    width = mat.shape[1]
    return np.ascontiguousarray(mat).view(f"S{width}").ravel()[idx].view(np.uint8).reshape(
        -1, width)


def _take(values: list[str] | tuple[str, ...] | pa.Array, idx: np.ndarray,
          null: np.ndarray | None = None) -> pa.Array:
    """values[idx] as a large_string array, null where `null`."""
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), type=pa.large_string())
    return values.take(pa.array(idx, mask=null))


def _dates(as_of: dt.date, off: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """as_of minus `off` days as YYYY-MM-DD strings (a small dictionary, then a take)."""
    span = int(off.max()) + 1 if off.size else 1
    days = np.datetime64(as_of, "D") - np.arange(span).astype("timedelta64[D]")
    table = pa.array(days).cast(pa.large_string())
    return table.take(pa.array(off.astype(np.int64), mask=null))


@lru_cache(maxsize=1)
def _name_table() -> tuple[str, ...]:
    """All names: plain, then with a space, then with an ideographic space after the surname."""
    givens = list(GIVEN) + [a + b for a in GIVEN for b in GIVEN]
    plain = [(s, g) for g in givens for s in SURNAMES]  # index = surname + S * given
    return (tuple(s + g for s, g in plain) + tuple(s + " " + g for s, g in plain)
            + tuple(s + "\u3000" + g for s, g in plain))


_N_NAMES = len(SURNAMES) * (len(GIVEN) + len(GIVEN) ** 2)


def _alt_name(idx: np.ndarray, r: np.ndarray) -> np.ndarray:
    """A different name with the same surname: the last given character changed."""
    s, g = len(SURNAMES), len(GIVEN)
    sur, rest = idx % s, idx // s
    single = rest < g
    last = np.where(single, rest, (rest - g) % g)
    new_last = (last + 1 + r % (g - 1)) % g
    new_rest = np.where(single, new_last, rest - last + new_last)
    return sur + s * new_rest


def _entity_name(e: int) -> str:
    county = COUNTIES[e % len(COUNTIES)] + ("" if e < len(COUNTIES) else str(e // len(COUNTIES)))
    return f"{county}县农村商业银行股份有限公司"


def _county(e: int) -> str:
    return _entity_name(e).split("县")[0] + "县"


# ---------------------------------------------------------------------------------------------
# The generator


class _Builder:
    def __init__(self, seed: int, entities: int, as_of: dt.date, first: int = 0) -> None:
        self.first = first  # index of the first legal entity's name (for exports made in parts)
        self.rng = np.random.default_rng(seed)
        self.seed, self.entities, self.as_of = seed, entities, as_of
        offs = self.rng.integers(0, 2**62, size=6)
        self.b1, self.b2 = int(offs[0] % _N1), int(offs[1] % _N2)
        self.b_cust, self.b_phone, self.b_pass, self.b_card = map(int, offs[2:])
        self.n_persons = 0
        self.n_special = 0
        self.n_cards = 0
        self.persons: list[dict[str, np.ndarray]] = []
        self.cards: list[dict[str, np.ndarray]] = []
        self.counted: list[tuple[np.ndarray, np.ndarray]] = []
        self.agents: list[tuple[int, str, np.ndarray, np.ndarray, bool]] = []
        self.listing: list[dict[str, np.ndarray]] = []
        self.quarantine: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.planted: list[dict[str, list]] = [{} for _ in range(entities)]
        self.branches = [0] * entities

    # -- identity parts ------------------------------------------------------------------------
    def _normal_parts(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if p.size and int(p.max()) >= 1 << 27:
            raise ValueError("too many persons for distinct synthetic ID numbers")
        j = (_A1 * _mix(p, 27, self.b1) + self.b1) % _N1
        region, j = j % len(REGIONS), j // len(REGIONS)
        return region, j % _N_DAYS, j // _N_DAYS + 1

    def _special_parts(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if s.size and int(s.max()) >= 1 << 23:
            raise ValueError("too many legacy-ID persons for distinct synthetic ID numbers")
        j = (_A2 * _mix(s, 23, self.b2) + self.b2) % _N2
        region, j = j % len(REGIONS), j // len(REGIONS)
        return region, j % _N_DAYS_SPECIAL, j // _N_DAYS_SPECIAL + 900

    def _special_ending_x(self) -> int:
        s = self.n_special
        while _CHECK[_check_index(_id18(*self._special_parts(np.array([s]))))[0]] != ord("X"):
            s += 1
        self.n_special = s + 1
        return s

    # -- persons and cards ---------------------------------------------------------------------
    def _new_persons(self, e: int, n: int, kind: str, *, special: bool = False,
                     id_class: int = C_VALID, special_ids: np.ndarray | None = None
                     ) -> np.ndarray:
        p = np.arange(self.n_persons, self.n_persons + n, dtype=np.int64)
        self.n_persons += n
        if special_ids is None and special:
            special_ids = np.arange(self.n_special, self.n_special + n, dtype=np.int64)
            self.n_special += n
        self.persons.append({
            "ent": np.full(n, e), "kind": np.full(n, _K[kind]),
            "special": special_ids if special_ids is not None else np.full(n, -1),
            "id_class": np.full(n, id_class), "mismatch": np.zeros(n, bool),
            "listed": np.zeros(n, bool),
        })
        return p

    def _batch(self, e: int, holders: np.ndarray, kind: str, n_counted, n_closed=0,
               n_social=0, form: int = F_VALID) -> tuple[dict[str, np.ndarray], dict]:
        """Cards of `holders`: counted first, then closed, then 社保IC卡 cards."""
        rng, n = self.rng, holders.size
        n_c = np.broadcast_to(np.asarray(n_counted, dtype=np.int64), (n,)).copy()
        n_x = np.broadcast_to(np.asarray(n_closed, dtype=np.int64), (n,)).copy()
        n_s = np.broadcast_to(np.asarray(n_social, dtype=np.int64), (n,)).copy()
        tot = n_c + n_x + n_s
        total = int(tot.sum())
        starts = np.cumsum(tot) - tot
        pos = (np.arange(total) - np.repeat(starts, tot)).astype(np.int32)
        nc_r = np.repeat(n_c.astype(np.int32), tot)
        ncx_r = nc_r + np.repeat(n_x.astype(np.int32), tot)
        role = (pos >= nc_r).astype(np.int8) + (pos >= ncx_r)  # 0 counted, 1 closed, 2 social
        rank = pos - np.where(role == 0, 0, np.where(role == 1, nc_r, ncx_r))
        del pos, nc_r, ncx_r
        holder_r = np.repeat(holders, tot)
        u = rng.random(total)
        product = np.where(role == 2, SOCIAL, _COUNTED_PRODUCTS[
            np.searchsorted(np.cumsum(_COUNTED_PRODUCT_P)[:-1], u, side="right")])
        u = rng.random(total)
        status = np.where(role == 0, np.searchsorted(np.cumsum(_OPEN_STATUS_P)[:-1], u,
                                                     side="right"),
                          np.where((role == 1) | (u < 0.05), CLOSED, 0)).astype(np.int8)
        u = (u * 1024) % 1.0  # a second uniform, independent enough of the status draw
        klass = np.where(role == 0, np.where(u < 0.1, 2, 1), np.where(u < 0.5, 0, 1))
        klass[role == 2] = 1
        klass[(role == 0) & (rank == 0)] = 0
        draw = rng.integers(0, _OPEN_SPAN, total, dtype=np.int32)
        open_off = np.where(status == CLOSED, 30 + draw % (_OPEN_SPAN - 30), draw)
        cards = {
            "ent": np.full(total, e, np.int16), "holder": holder_r,
            "kind": np.full(total, _K[kind], np.int8), "product": product.astype(np.int8),
            "status": status, "klass": klass.astype(np.int8), "open_off": open_off,
            "close_off": None, "agent": np.full(total, -1, np.int64),
            "agent_var": np.zeros(total, np.int8), "name_var": np.zeros(total, np.int8),
            "form": np.full(total, form, np.int8), "phone_of": holder_r.copy(),
            "branch_of": holder_r.copy(), "shift": np.zeros(total, np.int8),
        }
        self._reclose(cards)
        self.counted.append((holders, n_c))
        return cards, {"starts": starts, "tot": tot, "n_c": n_c, "role": role, "rank": rank}

    def _reclose(self, cards: dict[str, np.ndarray]) -> None:
        closed = cards["status"] == CLOSED
        draw = (self.rng.random(closed.size) * cards["open_off"]).astype(np.int32)
        cards["close_off"] = np.where(closed, draw, np.int32(-1))

    def _add(self, cards: dict[str, np.ndarray]) -> int:
        start = self.n_cards
        self.cards.append({k: np.asarray(cards[k]).astype(t, copy=False)
                           for k, t in _CARD_FIELDS.items()})
        self.n_cards += len(cards["holder"])
        return start

    def _plant(self, e: int, kind: str, values: np.ndarray, how: str = "person") -> None:
        self.planted[e].setdefault(kind, []).append((how, np.asarray(values)))

    def _list(self, e: int, persons: np.ndarray, list_off: np.ndarray,
              period: np.ndarray | int | None = None, form: int = F_VALID) -> None:
        n = persons.size
        if period is None:
            period = self.rng.choice(np.array([2, 3, 5]), size=n)
        self.listing.append({
            "person": persons, "ent": np.full(n, e), "form": np.full(n, form),
            "list_off": np.asarray(list_off), "period": np.broadcast_to(period, (n,)),
            "reason": self.rng.integers(0, len(REASONS), n),
        })

    def _agents(self, e: int, kind: str, per_agent: np.ndarray, *,
                agents: np.ndarray | None = None, closed_last: bool = False,
                listed: bool = False, variants: bool = False) -> np.ndarray:
        """Agents each opening per_agent[i] cards, one per distinct client."""
        rng = self.rng
        n = per_agent.size
        if agents is None and variants:  # the first agent's ID ends in X: x and full-width forms
            first = self._new_persons(e, 1, "agent",
                                      special_ids=np.array([self._special_ending_x()]))
            agents = np.concatenate([first, self._new_persons(e, n - 1, "agent")])
        elif agents is None:
            agents = self._new_persons(e, n, "agent")
        n_clients = int(per_agent.sum())
        clients = self._new_persons(e, n_clients, "agent_client")
        client_agent = np.repeat(agents, per_agent)
        in_group = np.arange(n_clients) - np.repeat(np.cumsum(per_agent) - per_agent, per_agent)
        last = in_group == np.repeat(per_agent, per_agent) - 1
        n_c = rng.integers(1, 3, n_clients)
        n_x = np.zeros(n_clients, dtype=np.int64)
        if closed_last:
            n_c[last], n_x[last] = 1, 1
        cards, b = self._batch(e, clients, "agent_client", n_c, n_x)
        agent_card = b["starts"] + np.where(closed_last & last, n_c, 0)
        cards["agent"][agent_card] = client_agent
        cards["branch_of"][agent_card] = client_agent
        if variants:
            cards["agent_var"][agent_card[:3]] = [0, 1, 2]
            self._plant(e, "agent_id_variants", agents[:1], "agent")
        self._add(cards)
        counted = per_agent - (1 if closed_last else 0)
        self.agents.append((e, kind, agents, counted, listed))
        if listed:
            self._list(e, agents, rng.integers(30, 1500, n))
        self._plant(e, kind, agents, "agent")
        return agents

    # -- one legal entity ----------------------------------------------------------------------
    def entity(self, e: int, target: int) -> None:
        rng = self.rng
        self.branches[e] = max(3 + e % 2, min(99, round(target / 12000)))
        est = max(target / 1.85, 1.0)
        first_card = self.n_cards

        def count(frac: float, minimum: int = 1) -> int:
            return max(minimum, round(frac * est))

        def sizes(n: int, low: int, high: int, first: int) -> np.ndarray:
            out = rng.integers(low, high + 1, n)
            out[0] = first
            return out

        # 1. exactly 4 counted cards, the 4th in a dormant/frozen/... status that still counts
        p = self._new_persons(e, count(0.02), "customer_4")
        c, b = self._batch(e, p, "customer_4", 4)
        fourth = (b["role"] == 0) & (b["rank"] == 3)
        c["status"][fourth] = rng.integers(1, CLOSED, int(fourth.sum()))
        self._add(c)
        self._plant(e, "customer_4", p)
        # 2. 5-7 counted cards over two branches
        n = count(0.01)
        p = self._new_persons(e, n, "customer_5plus")
        c, b = self._batch(e, p, "customer_5plus", sizes(n, 5, 7, 5))
        c["shift"][b["rank"] >= 2] = 1
        self._add(c)
        self._plant(e, "customer_5plus", p)
        # 3. 3 counted + 1 closed + 1 not-closed 社保IC卡: not 4plus
        p = self._new_persons(e, count(0.003), "closed_and_social_not_counted")
        c, b = self._batch(e, p, "closed_and_social_not_counted", 3, 1, 1)
        social = b["role"] == 2
        c["status"][social] = 0
        c["close_off"][social] = -1
        self._add(c)
        self._plant(e, "closed_and_social_not_counted", p)
        # 4. agents
        n = count(0.005)
        self._agents(e, "agent_3plus", sizes(n, 3, 4, 3), variants=True)
        self._agents(e, "agent_2", np.full(count(0.002), 2))
        self._agents(e, "agent_3rd_closed", np.full(count(0.001), 3), closed_last=True)
        self._agents(e, "listed_as_agent", np.ones(count(0.0005), dtype=np.int64), listed=True)
        # 11. an agent who also holds exactly 4 counted cards (overlaps customers_4plus)
        n = count(0.0005)
        p = self._new_persons(e, n, "agent_holding_4plus")
        c, _ = self._batch(e, p, "agent_holding_4plus", 4)
        self._add(c)
        self._agents(e, "agent_holding_4plus", np.ones(n, dtype=np.int64), agents=p)
        # 5. non-existent and missing ID numbers (key C:客户号)
        for kind, form in (("id_nonexistent_float", F_FLOAT),
                           ("id_nonexistent_checksum", F_CHECK),
                           ("id_nonexistent_length", F_LENGTH),
                           ("id_nonexistent_date", F_DATE), ("id_missing", F_MISSING)):
            n = count(0.00075)
            p = self._new_persons(e, n, kind, id_class=_FORM_CLASS[form])
            c, _ = self._batch(e, p, kind, sizes(n, 1, 2, 1), form=form)
            self._add(c)
            self._plant(e, kind, p)
        # 6. legacy 15-digit IDs; every other person also has a card under the upgraded 18
        n = count(0.003)
        p = self._new_persons(e, n, "id_legacy15", special=True, id_class=C_LEGACY15)
        c, b = self._batch(e, p, "id_legacy15", np.where(np.arange(n) % 2 == 0, 2, 1))
        c["form"] = np.where(b["rank"] == 0, F_LEGACY15, F_VALID)
        self._add(c)
        self._plant(e, "id_legacy15", p)
        # 7. names
        n = count(0.003)
        p = self._new_persons(e, n, "name_mismatch")
        self.persons[-1]["mismatch"][:] = True
        c, b = self._batch(e, p, "name_mismatch", sizes(n, 2, 3, 2))
        c["name_var"][b["rank"] == 1] = 1
        self._add(c)
        self._plant(e, "name_mismatch", p)
        p = self._new_persons(e, count(0.001), "name_variant_only")
        c, b = self._batch(e, p, "name_variant_only", 3)
        c["name_var"] = np.array([0, 2, 3])[b["rank"]]
        self._add(c)
        self._plant(e, "name_variant_only", p)
        p = self._new_persons(e, count(0.001), "name_differs_on_closed_only")
        c, b = self._batch(e, p, "name_differs_on_closed_only", 2, 1)
        c["name_var"][b["role"] == 1] = 1
        self._add(c)
        self._plant(e, "name_differs_on_closed_only", p)
        # 8. passports
        p = self._new_persons(e, count(0.002), "passport", id_class=C_OTHER)
        c, _ = self._batch(e, p, "passport", 2, form=F_PASSPORT)
        self._add(c)
        self._plant(e, "passport", p)
        # 9. listed persons: cards opened before listing, except listed_opened_in_period
        for kind, n, n_c, n_x in (("listed_2plus", count(0.002), 2, 0),
                                  ("listed_1_counted", count(0.001), 1, 1),
                                  ("listed_opened_in_period", count(0.0005), 1, 0)):
            p = self._new_persons(e, n, kind)
            self.persons[-1]["listed"][:] = True
            counts = sizes(n, 2, 3, 2) if kind == "listed_2plus" else n_c
            c, b = self._batch(e, p, kind, counts, n_x)
            list_off = rng.integers(60, 1000, n)
            lo = np.repeat(list_off, b["tot"])
            u = rng.random(lo.size)
            if kind == "listed_opened_in_period":
                c["open_off"] = (u * (lo + 1)).astype(np.int64)  # on/after the listing date
                self._list(e, p, list_off, 5)
            else:
                c["open_off"] = lo + 1 + (u * (_OPEN_SPAN - lo - 1)).astype(np.int64)
                self._list(e, p, list_off)
            self._reclose(c)
            self._add(c)
            self._plant(e, kind, p)
        # noise entries and list faults
        self._list(e, self._new_persons(e, count(0.002), "blacklist_only"),
                   rng.integers(30, 1800, count(0.002)))
        faults = self._new_persons(e, count(0.0002, 2), "blacklist_only")
        for form, part in ((F_FLOAT, faults[::2]), (F_LENGTH, faults[1::2])):
            self._list(e, part, rng.integers(30, 1800, part.size), form=form)
        # 11. two Ⅰ类 counted cards
        p = self._new_persons(e, count(0.002), "class1_multi")
        c, b = self._batch(e, p, "class1_multi", 2)
        c["klass"][b["role"] == 0] = 0
        self._add(c)
        self._plant(e, "class1_multi", p)
        # 11. one phone number shared by 3-4 persons
        g = count(0.001)
        group = sizes(g, 3, 4, 3)
        p = self._new_persons(e, int(group.sum()), "phone_shared")
        leader = np.repeat(p[np.cumsum(group) - group], group)
        c, b = self._batch(e, p, "phone_shared", rng.integers(1, 3, p.size))
        c["phone_of"] = np.repeat(leader, b["tot"])
        self._add(c)
        self._plant(e, "phone_shared", p)
        self._plant(e, "phone_shared_numbers", leader[np.cumsum(group) - group], "phone")
        # background persons fill the rest: 1-3 counted, sometimes a closed or 社保IC卡 card
        q_empty, q_dup = count(0.0001), count(0.0001)
        remaining = target - (self.n_cards - first_card) - q_empty - q_dup
        n_max = int(max(remaining, 0) / 1.6) + 20
        n_c = rng.choice(np.array([1, 2, 3]), size=n_max, p=(0.55, 0.30, 0.15))
        n_x = (rng.random(n_max) < 0.12).astype(np.int64)
        n_s = (rng.random(n_max) < 0.08).astype(np.int64)
        k = max(5, int(np.searchsorted(np.cumsum(n_c + n_x + n_s), remaining, side="right")))
        p = self._new_persons(e, k, "background")
        c, b = self._batch(e, p, "background", n_c[:k], n_x[:k], n_s[:k])
        c["shift"][rng.random(c["shift"].size) < 0.1] = 2
        start = self._add(c)
        # 10. quarantine: copies of background card rows
        orig = start + rng.choice(c["holder"].size, size=q_empty + q_dup, replace=False)
        flags = np.repeat(np.array([1, 2], dtype=np.int8), [q_empty, q_dup])
        self.quarantine.append((e, orig, flags))

    # -- assembling ----------------------------------------------------------------------------
    def finish(self) -> Sample:
        rng = self.rng
        cards = {k: np.concatenate([c[k] for c in self.cards]) for k in _CARD_FIELDS}
        self.cards.clear()
        people = {k: np.concatenate([p[k] for p in self.persons]).astype(t, copy=False)
                  for k, t in _PERSON_FIELDS.items()}
        n_cards, n_persons = self.n_cards, self.n_persons
        n_counted = np.zeros(n_persons, dtype=np.int64)
        holder = np.zeros(n_persons, dtype=bool)
        for persons, counts in self.counted:
            n_counted[persons] += counts
            holder[persons] = True
        # persons: name, home branch, identity strings
        name_idx = rng.integers(0, _N_NAMES, n_persons)
        nb = np.array(self.branches, dtype=np.int64)
        home = (rng.random(n_persons) * nb[people["ent"]]).astype(np.int64)
        special = people["special"] >= 0
        region, day, seq = self._normal_parts(np.arange(n_persons))
        if special.any():
            sr, sd, ss = self._special_parts(people["special"][special])
            region[special], day[special], seq[special] = sr, sd, ss
        id18 = _id18(region, day, seq)
        del region, day, seq
        pidx = np.arange(n_persons, dtype=np.int64)
        cust = np.empty((n_persons, 11), dtype=np.uint8)
        cust[:, 0] = ord("C")
        _put_digits(cust, 1, _spread(pidx, 10, self.b_cust), 10)
        phone = np.empty((n_persons, 11), dtype=np.uint8)  # 1[3-9] + 9 unique digits
        phone[:, 0] = ord("1")
        _put_digits(phone, 1, 3 + (pidx * 5 + self.b_phone) % 7, 1)
        _put_digits(phone, 2, _spread(pidx, 9, self.b_phone), 9)
        del pidx
        # card branch
        ent = cards["ent"].astype(np.int64)
        nb_card = nb[ent]
        branch = home[cards.pop("branch_of")]
        shift = cards.pop("shift")
        branch = np.where(shift == 1, (branch + 1) % nb_card, branch)
        other = np.flatnonzero(shift == 2)
        branch[other] = (branch[other] + rng.integers(1, nb_card[other])) % nb_card[other]
        del nb_card, other, shift, home
        # row order: entity, branch, open date, random tie-break; card numbers follow it
        group = ent * 100 + branch
        span = (int(group.max() + 1) * (_OPEN_SPAN + 1)).bit_length()
        tie_bits, dtype = (31 - span, np.int32) if span <= 21 else (min(24, 62 - span), np.int64)
        key = ((group * (_OPEN_SPAN + 1) + (_OPEN_SPAN - cards["open_off"])) << tie_bits
               ) + rng.integers(0, 1 << tie_bits, n_cards)
        order = np.argsort(key.astype(dtype), kind="stable")  # stable: same order everywhere
        del key, group
        rank = np.empty(n_cards, dtype=np.int64)
        rank[order] = np.arange(n_cards)
        ent_sorted = ent[order]
        del ent
        positions, origs, qflags = [], [], []
        for e, orig, flags in self.quarantine:
            hi = int(np.searchsorted(ent_sorted, e, "right"))
            # an emptied card number sits next to its original; a repeat comes anywhere later
            at = rank[orig] + 1
            later = (rng.random(at.size) * (hi + 1 - at)).astype(np.int64)
            positions.append(np.where(flags == 2, at + later, at))
            origs.append(orig)
            qflags.append(flags)
        q_pos, q_orig, q_flag = map(np.concatenate, (positions, origs, qflags))
        src = np.insert(order, q_pos, q_orig)
        qflag = np.insert(np.zeros(n_cards, dtype=np.int8), q_pos, q_flag)
        del ent_sorted, order
        truth = self._truth(cards, people, holder, n_counted, branch, src, qflag, rank, id18,
                            cust, phone)
        blacklist = self._render_blacklist(id18, name_idx)
        # every card field in row order, each original freed as soon as it is gathered
        del cards["kind"]
        cards["branch"], cards["rank"] = branch, rank
        del branch, rank
        rows = _gather(cards, src)
        del src
        rows["serial"] = _spread(rows.pop("rank"), 13, self.b_card)
        export = self._render(rows, qflag, name_idx, id18, cust, phone)
        return Sample(export=export, blacklist=blacklist, truth=truth)

    def _id_strings(self, base: np.ndarray, form: np.ndarray, persons: np.ndarray,
                    rng: np.random.Generator) -> pa.Array:
        """ID numbers from valid 18-char rows of `persons` and per-row forms."""
        mat = base
        lens = np.full(mat.shape[0], 18, dtype=np.int64)
        rows = np.flatnonzero(form == F_LEGACY15)
        mat[rows, 6:15] = mat[rows, 8:17]
        lens[rows] = 15
        rows = np.flatnonzero(form == F_FLOAT)  # "4.30522E+17"
        mat[rows, 2:7] = mat[rows, 1:6]
        mat[rows, 1] = ord(".")
        mat[rows, 7:11] = np.frombuffer(b"E+17", dtype=np.uint8)
        lens[rows] = 11
        rows = np.flatnonzero(form == F_CHECK)
        right = _check_index(mat[rows])
        mat[rows, 17] = _CHECK[(right + 1 + rng.integers(0, 10, rows.size)) % 11]
        lens[np.flatnonzero(form == F_LENGTH)] = 17
        rows = np.flatnonzero(form == F_DATE)  # 30 February, check char recomputed
        mat[rows, 10:14] = np.frombuffer(b"0230", dtype=np.uint8)
        mat[rows, 17] = _CHECK[_check_index(mat[rows])]
        lens[form == F_MISSING] = 0
        rows = np.flatnonzero(form == F_PASSPORT)  # "E" + 8 digits
        mat[rows, 0] = ord("E")
        passport = np.empty((rows.size, 8), dtype=np.uint8)
        _put_digits(passport, 0, _spread(persons[rows], 8, self.b_pass), 8)
        mat[rows, 1:9] = passport
        lens[rows] = 9
        return _strings(mat, lens)

    def _render(self, rows: dict[str, np.ndarray], qflag: np.ndarray, name_idx: np.ndarray,
                id18: np.ndarray, cust: np.ndarray, phone: np.ndarray) -> pd.DataFrame:
        """The export's string columns, rendered column groups in parallel threads (numpy and
        pyarrow release the GIL); the only random draw uses its own pre-seeded generator."""
        as_of, n = self.as_of, qflag.size
        names = pa.array(_name_table(), type=pa.large_string())
        id_rng = np.random.default_rng(int(self.rng.integers(1 << 62)))
        holder = rows["holder"]

        def place() -> dict[str, pa.Array]:
            ent = rows["ent"].astype(np.int64)
            codes = [f"{430522 + self.first + e:06d}{b + 1:02d}" for e in range(self.entities)
                     for b in range(100)]
            return {"法人机构": _take([_entity_name(self.first + e) for e in range(self.entities)],
                                  ent),
                    "开户机构": _take(codes, ent * 100 + rows["branch"])}

        def customer() -> dict[str, pa.Array]:
            name_var = rows["name_var"]
            idx = name_idx[holder]
            alt = np.flatnonzero(name_var == 1)  # the other name of a mismatch
            idx[alt] = _alt_name(idx[alt], holder[alt])
            spaced = np.flatnonzero(name_var >= 2)  # the same name with a (full-width) space
            idx[spaced] += (name_var[spaced].astype(np.int64) - 1) * _N_NAMES
            return {"客户号": _strings(_rows(cust, holder)), "客户姓名": _take(names, idx)}

        def identity() -> dict[str, pa.Array]:
            form = rows["form"]
            return {"证件类型": _take(ID_TYPES, (form == F_PASSPORT).astype(np.int64)),
                    "证件号码": self._id_strings(_rows(id18, holder), form, holder, id_rng)}

        def card() -> dict[str, pa.Array]:
            mat = np.empty((n, 19), dtype=np.uint8)
            mat[:, :6] = np.frombuffer(CARD_PREFIX.encode(), dtype=np.uint8)
            _put_digits(mat, 6, rows["serial"], 13)
            return {"卡号": _strings(mat, np.where(qflag == 1, 0, 19))}

        def coded() -> dict[str, pa.Array]:
            close_off = rows["close_off"]
            return {"账户类别": _take(CLASSES, rows["klass"].astype(np.int64)),
                    "卡产品": _take(PRODUCTS, rows["product"].astype(np.int64)),
                    "卡状态": _take(STATUSES, rows["status"].astype(np.int64)),
                    "开户日期": _dates(as_of, rows["open_off"]),
                    "销户日期": _dates(as_of, np.maximum(close_off, 0), close_off < 0)}

        def agent() -> dict[str, pa.Array]:
            with_agent = np.flatnonzero(rows["agent"] >= 0)
            agents = rows["agent"][with_agent]
            amat = _rows(id18, agents)
            agent_var = rows["agent_var"][with_agent]
            lower = np.flatnonzero(agent_var == 1)
            amat[lower, 17] = np.where(amat[lower, 17] == ord("X"), ord("x"), amat[lower, 17])
            ids = _strings(amat, None, with_agent, n)
            wide = np.flatnonzero(agent_var == 2)
            if wide.size:  # full-width digits and an embedded space: NFKC + no white space
                texts = [bytes(amat[r]).decode().translate(_FULLWIDTH) for r in wide]
                mask = np.zeros(n, dtype=bool)
                mask[with_agent[wide]] = True
                ids = pc.replace_with_mask(
                    ids, pa.array(mask),
                    pa.array([t[:6] + " " + t[6:] for t in texts], type=pa.large_string()))
            id_type = pa.array(ID_TYPES[:1], type=pa.large_string())
            return {"代理人姓名": _strings_take(names, name_idx[agents], with_agent, n),
                    "代理人证件类型": _strings_take(
                        id_type, np.zeros(agents.size, dtype=np.int64), with_agent, n),
                    "代理人证件号码": ids}

        def mobile() -> dict[str, pa.Array]:
            return {"预留手机号": _strings(_rows(phone, rows["phone_of"]))}

        cols: dict[str, pa.Array] = {}
        tasks = (identity, customer, card, place, coded, mobile, agent)
        with ThreadPoolExecutor(max_workers=_threads()) as pool:
            for part in pool.map(lambda task: task(), tasks):
                cols.update(part)
        rows.clear()
        table = pa.table([cols.pop(c) for c in EXPORT_COLUMNS], names=list(EXPORT_COLUMNS))
        return table.to_pandas()

    def _render_blacklist(self, id18: np.ndarray, name_idx: np.ndarray) -> pd.DataFrame:
        listing = {k: np.concatenate([x[k] for x in self.listing]) for k in self.listing[0]}
        order = np.lexsort((listing["person"], -listing["list_off"]))
        listing = {k: v[order] for k, v in listing.items()}
        person = listing["person"]
        cols = {
            "证件号码": self._id_strings(_rows(id18, person), listing["form"], person, self.rng),
            "姓名": _take(pa.array(_name_table(), type=pa.large_string()), name_idx[person]),
            "列入日期": _dates(self.as_of, listing["list_off"]),
            "惩戒期限(年)": pa.array(listing["period"].astype(np.int64)).cast(pa.large_string()),
            "来源": _take([_county(self.first + e) + "公安局" for e in range(self.entities)],
                        listing["ent"].astype(np.int64)),
            "原因": _take(REASONS, listing["reason"].astype(np.int64)),
        }
        table = pa.table([cols[c] for c in BLACKLIST_COLUMNS], names=list(BLACKLIST_COLUMNS))
        return table.to_pandas()

    def _truth(self, cards, people, holder, n_counted, branch, src, qflag, rank, id18, cust,
               phone) -> dict:
        """The figures by construction: from the planned persons, agents and cards."""
        counted_card = (cards["status"] != CLOSED) & (cards["product"] != SOCIAL)
        not_closed = cards["status"] != CLOSED
        ent_card = cards["ent"]
        # self-check of the bookkeeping: planned counted cards == counted card rows made
        planned = np.bincount(people["ent"], weights=n_counted, minlength=self.entities)
        made = np.bincount(ent_card[counted_card], minlength=self.entities)
        if not np.array_equal(planned.astype(np.int64), made):
            raise RuntimeError("sample generator bookkeeping error: counted cards")
        on_agent = counted_card & (cards["agent"] >= 0)
        agent_cards = np.bincount(cards["agent"][on_agent], minlength=people["ent"].size)
        for _e, _kind, agents, counted, _listed in self.agents:
            if not np.array_equal(agent_cards[agents], counted):
                raise RuntimeError("sample generator bookkeeping error: agent cards")
        del on_agent, agent_cards
        quarantined = qflag > 0
        q_src, q_flag = src[quarantined], qflag[quarantined]
        q_ent = ent_card[q_src]
        valid_key = np.isin(people["id_class"], [C_VALID, C_LEGACY15])

        def text(mat: np.ndarray, p: np.ndarray) -> list[str]:
            width = mat.shape[1]
            return _rows(mat, p).view(f"S{width}").ravel().astype(f"U{width}").tolist()

        def keys(p: np.ndarray) -> list[str]:
            ids, cs = text(id18, p), text(cust, p)
            return [i if v else "C:" + c for i, c, v in zip(ids, cs, valid_key[p], strict=True)]

        kinds, cls, nc = people["kind"], people["id_class"], n_counted
        entities: dict[str, dict] = {}
        for e in range(self.entities):
            in_e = ent_card == e
            hm = holder & (people["ent"] == e)
            flag4, over = hm & (nc >= 4), hm & (nc > 4)
            a_counts = np.concatenate([c for x, _, _, c, _ in self.agents if x == e])
            products = np.bincount(cards["product"][in_e & not_closed], minlength=len(PRODUCTS))
            stats = {
                "outlets": int(np.unique(branch[in_e]).size),
                "cards_not_closed": int(np.count_nonzero(in_e & not_closed)),
                "cards_by_product": {PRODUCTS[i]: int(v) for i, v in enumerate(products) if v},
                "debit_cards": int(nc[hm].sum()),
                "customers_4plus": int(flag4.sum()),
                "customers_4plus_cards": int(nc[flag4].sum()),
                "customers_over_limit": int(over.sum()),
                "agents_3plus": int((a_counts >= 3).sum()),
                "agents_3plus_cards": int(a_counts[a_counts >= 3].sum()),
                "listed_2plus": int((hm & people["listed"] & (nc >= 2)).sum()),
                "id_mismatch": int((hm & people["mismatch"]).sum()),
                "id_nonexistent": int((hm & (cls == C_NONEXISTENT)).sum()),
                "id_legacy15": int((hm & (cls == C_LEGACY15)).sum()),
                "id_noncompliant": int((hm & (people["mismatch"] | np.isin(
                    cls, [C_LEGACY15, C_NONEXISTENT, C_MISSING]))).sum()),
            }
            extra = {
                "phone_shared_3plus_numbers": sum(
                    v.size for how, v in self.planted[e].get("phone_shared_numbers", [])),
                "phone_shared_3plus_persons": int((hm & (kinds == _K["phone_shared"])).sum()),
                "class1_multi_persons": int((hm & (kinds == _K["class1_multi"])).sum()),
                "listed_opened_in_period_cards": int(
                    nc[hm & (kinds == _K["listed_opened_in_period"])].sum()),
                "listed_as_agent": sum(a.size for x, k, a, _, _ in self.agents
                                       if x == e and k == "listed_as_agent"),
                "agent_holding_4plus": sum(a.size for x, k, a, _, _ in self.agents
                                           if x == e and k == "agent_holding_4plus"),
            }
            audited = int(np.count_nonzero(in_e))
            n_quarantined = int(np.count_nonzero(q_ent == e))
            planted: dict[str, list[str]] = {}
            for kind, parts in self.planted[e].items():
                values: list[str] = []
                for how, v in parts:
                    if how == "person":
                        values += keys(v)
                    elif how == "agent":
                        values += text(id18, v)
                    else:
                        values += text(phone, v)
                planted[kind] = values
            empty = q_src[(q_ent == e) & (q_flag == 1)]
            planted["quarantine_empty_card"] = keys(cards["holder"][empty])
            dup = q_src[(q_ent == e) & (q_flag == 2)]
            serial = _spread(rank[dup], 13, self.b_card)
            planted["quarantine_duplicate_card"] = [f"{CARD_PREFIX}{v:013d}" for v in serial]
            entities[_entity_name(self.first + e)] = {
                "rows": {"read": audited + n_quarantined, "audited": audited,
                         "quarantined": n_quarantined},
                "statistics": stats, "extra": extra, "planted": planted,
            }
        list_faults = sum(int(np.count_nonzero(x["form"] != F_VALID)) for x in self.listing)
        return {
            "as_of": self.as_of.isoformat(), "seed": self.seed,
            "entities": entities, "total": _total(entities), "list_faults": list_faults,
            "notes": NOTES,
        }


def _threads() -> int:
    return min(2, os.cpu_count() or 1)


def _gather(cards: dict[str, np.ndarray], src: np.ndarray) -> dict[str, np.ndarray]:
    """Every card field in row order (threads: fancy indexing releases the GIL); the card
    arrays are emptied as they go."""
    names = list(cards)
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        gathered = list(pool.map(lambda k: cards.pop(k)[src], names))
    return dict(zip(names, gathered, strict=True))


def _strings_take(values: pa.Array, idx: np.ndarray, rows: np.ndarray, n: int) -> pa.Array:
    """values[idx] placed at `rows` of an n-row large_string array, null elsewhere."""
    full = np.zeros(n, dtype=np.int64)
    full[rows] = idx
    null = np.ones(n, dtype=bool)
    null[rows] = False
    return values.take(pa.array(full, mask=null))


_FULLWIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789X"})


def _total(entities: dict[str, dict]) -> dict:
    def add(acc: dict, part: dict) -> None:
        for k, v in part.items():
            if isinstance(v, dict):
                add(acc.setdefault(k, {}), v)
            else:
                acc[k] = acc.get(k, 0) + v

    total: dict = {"rows": {}, "statistics": {}, "extra": {}}
    for ent in entities.values():
        for section in total:
            add(total[section], ent[section])
    products = total["statistics"].get("cards_by_product", {})
    total["statistics"]["cards_by_product"] = {p: products[p] for p in PRODUCTS if p in products}
    return total


def generate(rows: int, seed: int, entities: int = 2, as_of: dt.date = AS_OF,
             first_entity: int = 0) -> Sample:
    """A synthetic export of about `rows` rows over `entities` legal entities, with truth.

    Deterministic for a seed. Each entity gets at least one of every planted kind, so very small
    targets (under ~90 rows per entity) are exceeded; the truth holds the exact row counts.
    """
    if rows < 1 or entities < 1:
        raise ValueError("rows and entities must be positive")
    if as_of < dt.date(2005, 1, 1):
        raise ValueError("as_of must be 2005-01-01 or later (synthetic births run to 2004)")
    builder = _Builder(seed, entities, as_of, first_entity)
    for e in range(entities):
        builder.entity(e, rows // entities + (1 if e < rows % entities else 0))
    return builder.finish()


# ---------------------------------------------------------------------------------------------
# Writing

_BLOCK_ROWS = 1 << 18
PARQUET_GROUP = 1 << 17


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _utf8_csv_block(table: pa.Table) -> pa.Buffer:
    """CSV lines (no header) of a block in UTF-8, by pyarrow; values are quoted only when a
    block has a value that needs it (then every string of that block is quoted)."""
    sink = pa.BufferOutputStream()
    try:
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(table, sink, options)
    except pa.ArrowInvalid:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def _write_csv_gb18030(df: pd.DataFrame, path: Path) -> None:
    """GB18030 CSV with a header. pyarrow writes UTF-8 blocks of rows in a worker thread while
    the previous block is transcoded by Python's codec (a block at a time, never per row)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    starts = list(range(0, table.num_rows, _BLOCK_ROWS))
    with open(path, "wb") as out, ThreadPoolExecutor(max_workers=1) as pool:
        out.write((",".join(_csv_field(str(c)) for c in df.columns) + "\n").encode("gb18030"))
        pending = pool.submit(_utf8_csv_block, table.slice(0, _BLOCK_ROWS)) if starts else None
        for i in range(len(starts)):
            block = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(_utf8_csv_block, table.slice(starts[i + 1], _BLOCK_ROWS))
            out.write(str(memoryview(block), "utf-8").encode("gb18030"))


def write_sample(sample: Sample, out_dir: Path, fmt: str = "csv") -> list[Path]:
    """Write export.csv (GB18030) or export.parquet, blacklist.csv (GB18030) and truth.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        export = out_dir / "export.csv"
        _write_csv_gb18030(sample.export, export)
    elif fmt == "parquet":
        export = out_dir / "export.parquet"
        table = pa.Table.from_pandas(sample.export, preserve_index=False)
        # Row groups of 128k rows, as data platforms write them (a reader can skip what it
        # does not need, e.g. other legal entities' rows).
        pq.write_table(table.replace_schema_metadata(None), export, row_group_size=PARQUET_GROUP)
    else:
        raise ValueError(f"unknown format {fmt!r}: use 'csv' or 'parquet'")
    blacklist = out_dir / "blacklist.csv"
    _write_csv_gb18030(sample.blacklist, blacklist)
    truth = out_dir / "truth.json"
    truth.write_text(json.dumps(sample.truth, ensure_ascii=False, indent=2) + "\n",
                     encoding="utf-8")
    return [export, blacklist, truth]


def bundled_sample() -> Sample:
    """The small sample committed under sample_data/."""
    return generate(BUNDLED_ROWS, BUNDLED_SEED, BUNDLED_ENTITIES, AS_OF)


def write_bundled_sample(out_dir: Path) -> list[Path]:
    """Regenerate sample_data/: export.csv, blacklist.csv (GB18030) and truth.json."""
    return write_sample(bundled_sample(), Path(out_dir), "csv")


def normalise_id(value: str) -> str:
    """NFKC, no white space, upper case: how the audit normalises an ID field."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


__all__ = [
    "AS_OF", "BLACKLIST_COLUMNS", "EXPORT_COLUMNS", "PRODUCTS", "Sample", "bundled_sample",
    "check_char", "generate", "normalise_id", "write_bundled_sample", "write_sample",
]
