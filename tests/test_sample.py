"""Tests of the synthetic sample generator (cardaudit.sample), not of the audit engine.

The recounts below are deliberately plain pandas on the raw export columns: they check that
the generator's bookkeeping (its truth) agrees with the rows it wrote.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from cardaudit import sample as gen

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
RESIDENT = "居民身份证"
CLOSED = {"销户", "已销户", "注销", "已注销"}
EXCLUDED = {"社保IC卡", "社保卡", "社会保障卡", "医疗保险卡", "军人保障卡"}


def norm(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def norm_name(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).split())


def valid18(value: object, as_of: dt.date = gen.AS_OF) -> bool:
    if not isinstance(value, str) or len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= as_of and gen.check_char(value[:17]) == value[17]


@pytest.fixture(scope="module")
def mid() -> gen.Sample:
    return gen.generate(20_000, seed=11, entities=2)


@pytest.fixture(scope="module")
def small() -> gen.Sample:
    return gen.bundled_sample()


def audited_rows(entity: pd.DataFrame) -> pd.DataFrame:
    """Rows of one entity minus quarantine: empty card number, or a repeat of an earlier one."""
    empty = entity["卡号"].isna()
    repeat = entity["卡号"].duplicated(keep="first") & ~empty
    return entity[~empty & ~repeat]


def test_deterministic_for_a_seed() -> None:
    a, b = gen.generate(3000, seed=5), gen.generate(3000, seed=5)
    pd.testing.assert_frame_equal(a.export, b.export)
    pd.testing.assert_frame_equal(a.blacklist, b.blacklist)
    assert a.truth == b.truth
    other = gen.generate(3000, seed=6)
    assert not a.export.equals(other.export)


def test_columns_dtypes_and_size(mid: gen.Sample) -> None:
    df = mid.export
    assert tuple(df.columns) == gen.EXPORT_COLUMNS
    assert tuple(mid.blacklist.columns) == gen.BLACKLIST_COLUMNS
    for frame in (df, mid.blacklist):
        assert all(dtype == "str" for dtype in frame.dtypes)
        assert not (frame == "").any().any()  # empty cells are NA, never ""
    assert len(df) == mid.truth["total"]["rows"]["read"]
    assert abs(len(df) - 20_000) <= 200
    assert set(df["卡产品"]) <= set(gen.PRODUCTS)
    assert df["卡号"].dropna().str.fullmatch(r"621779\d{13}").all()
    assert df["预留手机号"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert df["客户号"].str.fullmatch(r"C\d{10}").all()
    assert df.loc[df["卡状态"] == "销户", "销户日期"].notna().all()
    assert df.loc[df["卡状态"] != "销户", "销户日期"].isna().all()
    opened = pd.to_datetime(df["开户日期"])
    assert opened.max() <= pd.Timestamp(gen.AS_OF)
    assert opened.min() > pd.Timestamp(gen.AS_OF) - pd.Timedelta(days=3653)
    assert (pd.to_datetime(df["销户日期"]).dropna() >= opened[df["销户日期"].notna()]).all()


def test_committed_sample_matches_fresh_generation(tmp_path: Path) -> None:
    for path in gen.write_bundled_sample(tmp_path):
        assert (SAMPLE_DATA / path.name).read_bytes() == path.read_bytes(), path.name


def test_totals_are_sums_and_rows_add_up(mid: gen.Sample, small: gen.Sample) -> None:
    for truth in (mid.truth, small.truth):
        entities = list(truth["entities"].values())
        for section in ("rows", "statistics", "extra"):
            for key, value in truth["total"][section].items():
                if isinstance(value, dict):
                    for product, n in value.items():
                        assert n == sum(e[section][key].get(product, 0) for e in entities)
                else:
                    assert value == sum(e[section][key] for e in entities), key
        for rows in [e["rows"] for e in entities] + [truth["total"]["rows"]]:
            assert rows["read"] == rows["audited"] + rows["quarantined"]


def test_recount_simple_figures_from_raw_columns(mid: gen.Sample) -> None:
    for name, truth in mid.truth["entities"].items():
        entity = mid.export[mid.export["法人机构"] == name]
        rows = audited_rows(entity)
        assert len(rows) == truth["rows"]["audited"]
        assert len(entity) - len(rows) == truth["rows"]["quarantined"]
        stats = truth["statistics"]
        open_rows = rows[~rows["卡状态"].isin(CLOSED)]
        counted = open_rows[~open_rows["卡产品"].isin(EXCLUDED)]
        assert rows["开户机构"].nunique() == stats["outlets"]
        assert len(open_rows) == stats["cards_not_closed"]
        assert open_rows["卡产品"].value_counts().to_dict() == stats["cards_by_product"]
        assert len(counted) == stats["debit_cards"]
        resident_valid = (counted["证件类型"] == RESIDENT) & counted["证件号码"].map(valid18)
        key = counted["证件号码"].where(resident_valid, "C:" + counted["客户号"])
        per_person = counted.groupby(key).size()
        assert (per_person >= 4).sum() == stats["customers_4plus"]
        assert per_person[per_person >= 4].sum() == stats["customers_4plus_cards"]
        assert (per_person > 4).sum() == stats["customers_over_limit"]
        per_agent = counted["代理人证件号码"].dropna().map(norm).value_counts()
        assert (per_agent >= 3).sum() == stats["agents_3plus"]
        assert per_agent[per_agent >= 3].sum() == stats["agents_3plus_cards"]
        names = counted["客户姓名"].map(norm_name)
        assert (names[resident_valid].groupby(key[resident_valid]).nunique() >= 2).sum() == (
            stats["id_mismatch"])


def test_generated_valid_ids_pass_the_check_character(mid: gen.Sample) -> None:
    df = mid.export
    nonexistent = {k[2:] for t in mid.truth["entities"].values()
                   for kind, keys in t["planted"].items()
                   if kind.startswith(("id_nonexistent", "id_missing")) for k in keys}
    resident = df[(df["证件类型"] == RESIDENT) & ~df["客户号"].isin(nonexistent)]
    ids = resident["证件号码"]
    assert ids.notna().all()
    long_ids = ids[ids.str.len() == 18]
    assert len(long_ids) > 0.98 * len(ids)
    assert long_ids.map(valid18).all()
    assert (ids.str.len() == 15).sum() > 0  # legacy numbers: all other resident IDs are valid
    agents = df["代理人证件号码"].dropna().map(norm)
    assert agents.map(valid18).all()
    planted = {k for t in mid.truth["entities"].values() for keys in t["planted"].values()
               for k in keys if len(k) == 18}
    assert all(valid18(k) for k in planted)
    listed = mid.blacklist["证件号码"].map(valid18)
    assert (~listed).sum() == mid.truth["list_faults"] > 0


def test_distinct_persons_never_share_numbers(mid: gen.Sample) -> None:
    df = mid.export
    valid = df[df["证件号码"].map(valid18)]
    assert (valid.groupby("证件号码")["客户号"].nunique() == 1).all()
    assert (df.groupby("客户号")["预留手机号"].nunique() == 1).all()
    shared = {p for t in mid.truth["entities"].values()
              for p in t["planted"]["phone_shared_numbers"]}
    persons_per_phone = df.groupby("预留手机号")["客户号"].nunique()
    assert set(persons_per_phone[persons_per_phone > 1].index) == shared
    assert persons_per_phone[list(shared)].between(3, 4).all()
    passports = df[df["证件类型"] == "护照"]
    assert (passports.groupby("证件号码")["客户号"].nunique() == 1).all()
    cards = df["卡号"].dropna()
    dups = {c for t in mid.truth["entities"].values()
            for c in t["planted"]["quarantine_duplicate_card"]}
    assert set(cards[cards.duplicated()]) == dups
    assert (cards.value_counts()[list(dups)] == 2).all()


def test_bundled_sample_has_every_planted_kind(small: gen.Sample) -> None:
    df = small.export
    assert 250 <= len(df) <= 350
    for name, truth in small.truth["entities"].items():
        planted = truth["planted"]
        assert all(planted.values()), [k for k, v in planted.items() if not v]
        assert set(planted) >= {
            "customer_4", "customer_5plus", "closed_and_social_not_counted", "agent_3plus",
            "agent_2", "agent_3rd_closed", "agent_id_variants", "id_nonexistent_float",
            "id_nonexistent_checksum", "id_legacy15", "name_mismatch", "name_variant_only",
            "passport", "listed_2plus", "listed_1_counted", "listed_opened_in_period",
            "listed_as_agent", "agent_holding_4plus", "class1_multi", "phone_shared",
            "quarantine_empty_card", "quarantine_duplicate_card"}
        assert truth["statistics"]["outlets"] in (3, 4)
        assert all(v for v in truth["statistics"].values()), "every figure is planted"
        assert all(v for v in truth["extra"].values())
        entity = df[df["法人机构"] == name]
        # the normalisation agent: canonical, lower-case x and full-width + space forms
        agent = planted["agent_id_variants"][0]
        assert agent.endswith("X")
        agent_ids = entity["代理人证件号码"].dropna()
        forms = set(agent_ids[agent_ids.map(norm) == agent])
        assert agent in forms and agent[:-1] + "x" in forms
        assert any(not f.isascii() and " " in f for f in forms)
        # names that differ only by white space
        variant = entity[entity["证件号码"] == planted["name_variant_only"][0]]["客户姓名"]
        assert variant.nunique() == 3
        assert variant.map(norm_name).nunique() == 1
        # a spreadsheet-mangled number and a 15-digit legacy number are present
        ids = entity["证件号码"].dropna()
        assert ids.str.fullmatch(r"\d\.\d{5}E\+17").any()
        assert (ids.str.len() == 15).any()


def test_csv_files_are_gb18030(small: gen.Sample) -> None:
    for name in ("export.csv", "blacklist.csv"):
        raw = (SAMPLE_DATA / name).read_bytes()
        raw.decode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    back = pd.read_csv(SAMPLE_DATA / "export.csv", encoding="gb18030", dtype="str",
                       keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(back, small.export)


def test_parquet_round_trip(tmp_path: Path, small: gen.Sample) -> None:
    export, blacklist, truth = gen.write_sample(small, tmp_path, fmt="parquet")
    assert blacklist.read_bytes() == (SAMPLE_DATA / "blacklist.csv").read_bytes()
    assert export.name == "export.parquet"
    back = pd.read_parquet(export)
    assert (back.fillna("<NA>").astype(str) == small.export.fillna("<NA>")).all().all()
    assert truth.read_text(encoding="utf-8").startswith('{\n  "as_of": "2026-10-31"')
    with pytest.raises(ValueError):
        gen.write_sample(small, tmp_path, fmt="xlsx")
