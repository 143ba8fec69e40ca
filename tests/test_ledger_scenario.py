"""Three generated months through the ledger, on SQLite and on PostgreSQL.

Month 1 is a generated export. Branches record outcomes for five 4+ customers. Month 2 drops
every card of one of them (A, whose service was stopped) and adds a new customer B with exactly
4 cards. Month 3 brings A's cards back. The 4+ figures are known by construction; the ledger's
new/resolved/reopened counts are checked against the findings files of the three runs.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import run
from ledger_support import fill_worklists, ledger_target

from cardaudit.ledger import (
    AGAINST_WILL,
    CLOSED,
    OWN_WILL,
    PENDING,
    RESOLVED,
    STOPPED,
    UNREACHABLE,
)
from cardaudit.ledger.db import database_url, events, findings, open_ledger, runs
from cardaudit.ledger.progress import progress
from cardaudit.sample import check_char, generate

MONTHS = ("2026-08-31", "2026-09-30", "2026-10-31")
RULE = "CARD-4PLUS"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path):
    yield from ledger_target(request.param, tmp_path)


def new_customer(base: pd.DataFrame) -> pd.DataFrame:
    """Customer B: a valid new ID number, 4 counted Ⅱ类 debit cards in one branch."""
    body = "43052219800101555"
    first = base.iloc[0]
    rows = []
    for i in range(4):
        rows.append({**{c: None for c in base.columns},
                     "法人机构": first["法人机构"], "开户机构": first["开户机构"],
                     "客户号": "C9000000001", "客户姓名": "新客户", "证件类型": "居民身份证",
                     "证件号码": body + check_char(body), "卡号": f"62177999000000000{i:02d}",
                     "账户类别": "Ⅱ类", "卡产品": "福祥借记卡", "开户日期": "2026-09-0" + str(i + 1),
                     "卡状态": "正常", "预留手机号": "13900000001"})
    return pd.DataFrame(rows, columns=base.columns)


def audit(monkeypatch, capsys, folder: Path, export: pd.DataFrame, blacklist: Path, as_of: str,
          target: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export.csv"
    export.to_csv(path, index=False)
    code, output = run(monkeypatch, capsys, "audit", str(path), "--blacklist", str(blacklist),
                       "--as-of", as_of, "--out", str(folder / "out"), "--ledger", target,
                       "--ledger-by", "总行合规部", "-q")
    assert code == 0, output
    return json.loads((folder / "out" / "summary.json").read_text(encoding="utf-8"))


def fingerprints(folder: Path) -> set[str]:
    doc = json.loads((folder / "out" / "findings.json").read_text(encoding="utf-8"))
    return {f["fingerprint"] for f in doc["findings"]}


def export_and_fill(monkeypatch, capsys, target: str, folder: Path,
                    outcomes: dict[str, tuple]) -> list[Path]:
    code, output = run(monkeypatch, capsys, "ledger", "export", "--ledger", target,
                       "--out", str(folder / "worklists"))
    assert code == 0, output
    files = sorted((folder / "worklists").glob("*.xlsx"))
    filled = fill_worklists(files, outcomes, folder / "filled")
    code, output = run(monkeypatch, capsys, "ledger", "import", *map(str, filled),
                       "--ledger", target, "--by", "网点经办")
    assert code == 0, output
    return filled


def test_three_months(monkeypatch, capsys, tmp_path: Path, target: str) -> None:
    sample = generate(rows=2500, seed=11, entities=2, as_of=date(2026, 8, 31))
    base = sample.export
    blacklist = tmp_path / "blacklist.csv"
    sample.blacklist.to_csv(blacklist, index=False)
    n1 = sum(e["statistics"]["customers_4plus"] for e in sample.truth["entities"].values())
    engine = sa.create_engine(database_url(target))

    # Month 1: every finding enters as 待核查.
    m1 = audit(monkeypatch, capsys, tmp_path / "m1", base, blacklist, MONTHS[0], target)
    f1 = fingerprints(tmp_path / "m1")
    assert m1["total"]["statistics"]["customers_4plus"] == n1
    assert m1["ledger"]["new"] == len(f1) and m1["ledger"]["resolved"] == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(findings)).scalar() == len(f1)
        four = conn.execute(sa.select(findings.c.fingerprint, findings.c.cards, findings.c.subject)
                            .where(findings.c.rule_id == RULE)
                            .order_by(findings.c.fingerprint)).all()
    assert len(four) == n1 and n1 >= 6
    fp = [f.fingerprint for f in four]
    assert m1["ledger"]["progress"]["合计"]["rule_id"] == RULE
    assert m1["ledger"]["progress"]["合计"]["pending"] == n1

    # The branches record outcomes for five 4+ customers.
    export_and_fill(monkeypatch, capsys, target, tmp_path / "m1", {
        fp[0]: (OWN_WILL, None, "2026-09-05", "本人确认"),
        fp[1]: (AGAINST_WILL, 1, "2026-09-06", None),
        fp[2]: (STOPPED, 2, "2026-09-07", "已签协议"),
        fp[3]: (UNREACHABLE, None, "2026-09-08", "电话停机"),
        fp[4]: (CLOSED, None, "2026-09-09", None),
    })

    # Month 2: customer A (fp[2]) has closed every card; customer B is new with 4 cards.
    a_cards = {c["card_no"] for c in json.loads(four[2].cards)}
    month2 = pd.concat([base[~base["卡号"].isin(a_cards)], new_customer(base)], ignore_index=True)
    m2 = audit(monkeypatch, capsys, tmp_path / "m2", month2, blacklist, MONTHS[1], target)
    f2 = fingerprints(tmp_path / "m2")
    assert m2["ledger"]["new"] == len(f2 - f1)
    assert m2["ledger"]["resolved"] == len(f1 - f2)
    assert m2["ledger"]["reopened"] == 0
    assert m2["total"]["statistics"]["customers_4plus"] == n1
    assert m2["ledger"]["progress"]["合计"] == {
        "rule_id": RULE, "found": n1, "contacted": 3, "own_will": 1, "against_will": 1,
        "against_will_cards": 1, "stopped": 0, "stopped_cards": 0, "closed": 1,
        "unreachable": 1, "pending": n1 - 4, "resolved": 1}
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(findings.c.fingerprint, findings.c.status)).all())
        b_fp = conn.execute(sa.select(findings.c.fingerprint).where(
            findings.c.rule_id == RULE, findings.c.first_run == 2)).scalar_one()
        history = conn.execute(sa.select(events.c.old_status, events.c.new_status, events.c.actor)
                               .where(events.c.fingerprint == fp[2]).order_by(events.c.id)).all()
    assert status[fp[2]] == RESOLVED and status[fp[0]] == OWN_WILL and status[b_fp] == PENDING
    # Appendix 五's branch rows: they add up to the entity, and A's branch holds the one 已整改.
    with engine.connect() as conn:
        a_entity, a_branch = conn.execute(sa.select(findings.c.legal_entity, findings.c.branch)
                                          .where(findings.c.fingerprint == fp[2])).one()
    ledger = open_ledger(target, create=False)
    parts = progress(ledger, 2, RULE, "t", list(m2["entities"]))
    ledger.dispose()
    for name, part in parts.items():
        assert {**part.figures, "rule_id": RULE} == m2["ledger"]["progress"][name]
        assert {k: sum(b[k] for b in part.branches.values()) for k in part.figures} == part.figures
    resolved = {(n, b) for n, p in parts.items() for b, f in p.branches.items() if f["resolved"]}
    assert resolved == {(a_entity, a_branch)}
    assert [tuple(h) for h in history] == [(None, PENDING, "总行合规部"),
                                           (PENDING, STOPPED, "网点经办"),
                                           (STOPPED, RESOLVED, "总行合规部")]

    export_and_fill(monkeypatch, capsys, target, tmp_path / "m2", {
        fp[1]: (STOPPED, 1, "2026-10-08", "已签协议"),
        fp[3]: (OWN_WILL, 0, "2026-10-09", "再次联系上"),
        b_fp: (AGAINST_WILL, 2, "2026-10-10", None),
    })

    # Month 3: A's cards are back (reopened, outcome cleared); B stays.
    month3 = pd.concat([base, new_customer(base)], ignore_index=True)
    m3 = audit(monkeypatch, capsys, tmp_path / "m3", month3, blacklist, MONTHS[2], target)
    f3 = fingerprints(tmp_path / "m3")
    assert m3["ledger"]["reopened"] == len((f1 - f2) & f3)
    assert m3["ledger"]["new"] == len(f3 - f1 - f2)
    assert m3["ledger"]["resolved"] == len(f2 - f3)
    expected = {"rule_id": RULE, "found": n1 + 1, "contacted": 5, "own_will": 2,
                "against_will": 2, "against_will_cards": 3, "stopped": 1, "stopped_cards": 1,
                "closed": 1, "unreachable": 0, "pending": n1 - 4, "resolved": 0}
    assert m3["ledger"]["progress"]["合计"] == expected
    per_entity = [v for k, v in m3["ledger"]["progress"].items() if k != "合计"]
    assert {k: sum(p[k] for p in per_entity) for k in expected if k != "rule_id"} == {
        k: v for k, v in expected.items() if k != "rule_id"}
    with engine.connect() as conn:
        a_now = conn.execute(sa.select(findings.c.status, findings.c.against_will_cards)
                             .where(findings.c.fingerprint == fp[2])).one()
        assert tuple(a_now) == (PENDING, None)
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 3

    # The consolidated report states the progress in the filing's words.
    report = (tmp_path / "m3" / "out" / "report_合计.md").read_text(encoding="utf-8")
    assert (f"的{n1 + 1}户客户，已联系5户（其中确认本人意愿开卡2户），无法联系0户，尚待核查{n1 - 4}户；"
            "经核实有非本人意愿开立借记卡的客户2户，涉及借记卡3张，已签订处置协议并中止服务1户（1张），"
            "已销户1户；上次审计发现、本次不再发现（已整改）0户。") in report
    assert "附录五、核查台账进展" in report
    engine.dispose()


def test_masked_ledger_holds_no_full_id_or_name(monkeypatch, capsys, tmp_path: Path) -> None:
    sample = generate(rows=800, seed=3, entities=1)
    blacklist = tmp_path / "blacklist.csv"
    sample.blacklist.to_csv(blacklist, index=False)
    target = str(tmp_path / "ledger.db")
    audit(monkeypatch, capsys, tmp_path / "m", sample.export, blacklist, "2026-10-31", target)
    dump = "\n".join(Path(target).read_bytes().decode("utf-8", "replace").splitlines())
    ids = set(sample.export["证件号码"].dropna().astype(str))
    names = set(sample.export["客户姓名"].dropna().astype(str))
    leaked = [i for i in re.findall(r"[0-9]{17}[0-9Xx]", dump) if i in ids]
    assert leaked == []
    assert [n for n in names if len(n) >= 2 and n in dump] == []
