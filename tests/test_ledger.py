"""The verification ledger: worklist import checks, idempotence, concurrency, forms, schema."""

from __future__ import annotations

import collections
import itertools
import json
import re
import threading
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from helpers import run
from ledger_support import fill_worklists, ledger_target

from cardaudit.errors import ConfigError
from cardaudit.ledger import (
    AGAINST_WILL,
    CLOSED,
    OWN_WILL,
    PENDING,
    RESOLVED,
    STOPPED,
    UNREACHABLE,
)
from cardaudit.ledger.db import database_url, events, findings, imports, open_ledger, schema_table
from cardaudit.ledger.worklist import import_worklist

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "sample_data" / "export.csv"
BLACKLIST = ROOT / "sample_data" / "blacklist.csv"


def audited(monkeypatch, capsys, tmp_path: Path, target: str, *extra: str,
            as_of: str = "2026-10-31") -> str:
    code, output = run(monkeypatch, capsys, "audit", str(EXPORT), "--blacklist", str(BLACKLIST),
                       "--as-of", as_of, "--out", str(tmp_path / f"out{as_of}"),
                       "--ledger", target, "-q", *extra)
    assert code == 0, output
    return output


def worklists(monkeypatch, capsys, target: str, out: Path, *extra: str) -> list[Path]:
    code, output = run(monkeypatch, capsys, "ledger", "export", "--ledger", target,
                       "--out", str(out), *extra)
    assert code == 0, output
    return sorted(out.glob("*.xlsx"))


def rows_of(path: Path) -> list[dict]:
    sheet = openpyxl.load_workbook(path)["核查清单"]
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)]


def largest_worklist(monkeypatch, capsys, tmp_path: Path) -> tuple[str, openpyxl.Workbook, list]:
    """A ledger of the sample's audit and its largest branch worklist: (ledger, book, header)."""
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    files = worklists(monkeypatch, capsys, target, tmp_path / "w")
    book = openpyxl.load_workbook(max(files, key=lambda f: len(rows_of(f))))
    return target, book, [c.value for c in book["核查清单"][1]]


def test_worklist_has_the_open_findings_with_validation(monkeypatch, capsys, tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    files = worklists(monkeypatch, capsys, target, tmp_path / "w")
    assert len(files) == 7  # the sample's 7 branches all have findings
    engine = sa.create_engine(database_url(target))
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(findings)).scalar()
    assert sum(len(rows_of(f)) for f in files) == total == 52
    book = openpyxl.load_workbook(files[0])
    sheet = book["核查清单"]
    assert sheet.protection.sheet
    rules = {v.formula1: str(v.sqref) for v in sheet.data_validations.dataValidation}
    assert any(f and "已联系·本人意愿" in f for f in rules)
    assert all(r["当前状态"] == PENDING and r["核查结果"] == PENDING for r in rows_of(files[0]))
    # Masked: no full 18-digit ID number in any cell.
    text = " ".join(str(v) for f in files for r in rows_of(f) for v in r.values())
    assert not re.search(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])", text)
    subjects = [r["客户"] for f in files for r in rows_of(f) if r["规则"] == "CARD-4PLUS"]
    assert len(subjects) == 8 and all("**********" in s for s in subjects)


def test_import_rejects_bad_rows_applies_the_rest_and_is_idempotent(
        monkeypatch, capsys, tmp_path) -> None:
    target, book, header = largest_worklist(monkeypatch, capsys, tmp_path)
    sheet = book["核查清单"]
    col = {h: i + 1 for i, h in enumerate(header)}
    plan = [  # (指纹 override, 核查结果, 卡数, 日期)
        ("0" * 24, OWN_WILL, None, "2026-11-01"),        # unknown fingerprint
        (None, "已核实", None, "2026-11-01"),              # illegal status
        (None, OWN_WILL, None, "2026-11-20"),             # after "today" (2026-11-10)
        (None, OWN_WILL, None, None),                     # contact date missing
        (None, STOPPED, None, "2026-11-01"),              # against-will count missing
        (None, AGAINST_WILL, 99, "2026-11-01"),           # more cards than the finding has
        (None, "已整改", None, "2026-11-01"),              # set by the audit only
        (None, UNREACHABLE, None, "2026-13-45"),          # not a date
        (None, "已联系-本人意愿", None, "2026/11/02"),     # valid: dash for the dot, slashes
        (None, UNREACHABLE, None, "2026-11-03"),          # valid
    ]
    assert sheet.max_row - 1 >= len(plan)
    for r, (fp, result, count, day) in enumerate(plan, start=2):
        if fp:
            sheet.cell(r, col["指纹"]).value = fp
        sheet.cell(r, col["核查结果"]).value = result
        sheet.cell(r, col["非本人意愿卡数"]).value = count
        sheet.cell(r, col["联系日期"]).value = day
    filled = tmp_path / "filled.xlsx"
    book.save(filled)

    ledger = open_ledger(target, create=False)
    report = import_worklist(ledger, filled, "张三", today=date(2026, 11, 10))
    got = [(p.row, p.column) for p in report.problems]
    assert got == [(2, "指纹"), (3, "核查结果"), (4, "联系日期"), (5, "联系日期"),
                   (6, "非本人意愿卡数"), (7, "非本人意愿卡数"), (8, "核查结果"), (9, "联系日期")]
    assert "2026-11-20 晚于今天" in report.problems[2].message
    assert "超过该事项的卡数" in report.problems[5].message
    assert report.changed == 2 and report.rejected == 8
    assert report.unchanged == report.rows - 10
    with ledger.engine.connect() as conn:
        changed = conn.execute(sa.select(events.c.new_status, events.c.actor, events.c.source,
                                         events.c.contact_date)
                               .where(events.c.import_id.is_not(None))
                               .order_by(events.c.contact_date)).all()
    assert [(e.new_status, e.actor, e.contact_date) for e in changed] == [
        (OWN_WILL, "张三", "2026-11-02"), (UNREACHABLE, "张三", "2026-11-03")]
    assert all(e.source.startswith("filled.xlsx（sha256 ") for e in changed)

    again = import_worklist(ledger, filled, "李四", today=date(2026, 11, 10))
    assert again.repeated and again.changed == 0 and again.rejected == 8
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)
                            .where(events.c.import_id.is_not(None))).scalar() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(imports)).scalar() == 2
    ledger.dispose()

    code, output = run(monkeypatch, capsys, "ledger", "import", str(filled), "--ledger", target)
    assert code == 2
    assert "filled.xlsx 第3行「核查结果」列：「已核实」不是允许的核查结果" in output
    # Through the CLI "today" is the real date (after 2026-11-20): that row now goes in.
    assert "有 7 行未导入" in output and "更新 1，" in output


def test_a_stale_worklist_cannot_reopen_a_resolved_finding(monkeypatch, capsys, tmp_path) -> None:
    """A worklist exported before an audit that no longer finds a customer must not turn that
    finding's 已整改 back into an open outcome."""
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    path = worklists(monkeypatch, capsys, target, tmp_path / "w")[0]
    book = openpyxl.load_workbook(path)
    sheet = book["核查清单"]
    col = {c.value: i + 1 for i, c in enumerate(sheet[1])}
    stale, kept = sheet.cell(2, col["指纹"]).value, sheet.cell(3, col["指纹"]).value
    for r in (2, 3):
        sheet.cell(r, col["核查结果"]).value = UNREACHABLE
        sheet.cell(r, col["联系日期"]).value = "2026-11-03"
    filled = tmp_path / "filled.xlsx"
    book.save(filled)
    ledger = open_ledger(target, create=False)
    with ledger.transaction() as conn:  # as a later audit that no longer finds it records it
        conn.execute(findings.update().where(findings.c.fingerprint == stale)
                     .values(status=RESOLVED))
    report = import_worklist(ledger, filled, "张三", today=date(2026, 11, 10))
    assert [(p.row, p.column) for p in report.problems] == [(2, "核查结果")]
    assert "已整改" in report.problems[0].message and "重新导出" in report.problems[0].message
    assert report.changed == 1
    with ledger.engine.connect() as conn:
        status = dict(conn.execute(sa.select(findings.c.fingerprint, findings.c.status)
                                   .where(findings.c.fingerprint.in_([stale, kept]))).all())
    assert status == {stale: RESOLVED, kept: UNREACHABLE}
    ledger.dispose()


def test_worklist_without_the_outcome_column_is_refused(monkeypatch, capsys, tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    files = worklists(monkeypatch, capsys, target, tmp_path / "w")
    book = openpyxl.load_workbook(files[0])
    book["核查清单"].cell(1, 11).value = "结果"
    book.save(tmp_path / "bad.xlsx")
    code, output = run(monkeypatch, capsys, "ledger", "import", str(tmp_path / "bad.xlsx"),
                       "--ledger", target)
    assert code == 2 and "bad.xlsx" in output and "缺少列：核查结果" in output


def test_an_older_month_is_refused(monkeypatch, capsys, tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    code, output = run(monkeypatch, capsys, "audit", str(EXPORT), "--as-of", "2026-09-30",
                       "--out", str(tmp_path / "old"), "--ledger", target, "-q")
    assert code == 2 and "台账只能按时间先后记录" in output and "2026-10-31" in output


def test_a_ledger_from_a_newer_cardaudit_is_refused(tmp_path) -> None:
    target = str(tmp_path / "l.db")
    ledger = open_ledger(target)
    with ledger.transaction() as conn:
        conn.execute(schema_table.insert().values(version=99, description="future",
                                                  applied_at="2030-01-01T00:00:00+08:00"))
    ledger.dispose()
    with pytest.raises(ConfigError, match="台账结构版本为 99"):
        open_ledger(target)


def test_a_missing_sqlite_ledger_is_not_created_by_export(monkeypatch, capsys, tmp_path) -> None:
    code, output = run(monkeypatch, capsys, "ledger", "export", "--ledger",
                       str(tmp_path / "none.db"), "--out", str(tmp_path / "w"))
    assert code == 2 and "找不到台账" in output and not (tmp_path / "none.db").exists()


def test_unmasked_ledger_keeps_full_subjects_but_worklists_mask_them(
        monkeypatch, capsys, tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target, "--unmasked")
    engine = sa.create_engine(database_url(target))
    with engine.connect() as conn:
        subjects = conn.execute(sa.select(findings.c.subject).where(
            findings.c.rule_id == "CARD-4PLUS")).scalars().all()
    assert subjects and all(re.fullmatch(r"[0-9]{17}[0-9X]", s) for s in subjects)
    masked = worklists(monkeypatch, capsys, target, tmp_path / "m")
    shown = [r["客户"] for f in masked for r in rows_of(f) if r["规则"] == "CARD-4PLUS"]
    assert sorted(shown) and all("**********" in s for s in shown)
    full = worklists(monkeypatch, capsys, target, tmp_path / "u", "--unmasked")
    shown = {r["客户"] for f in full for r in rows_of(f) if r["规则"] == "CARD-4PLUS"}
    assert shown == set(subjects)


def test_forms_one_document_per_branch_one_section_per_customer(monkeypatch, capsys,
                                                                tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    engine = sa.create_engine(database_url(target))
    with engine.connect() as conn:
        people = conn.execute(sa.select(findings.c.legal_entity, findings.c.subject).distinct()
                              .where(findings.c.subject_kind == "person")).all()
    code, output = run(monkeypatch, capsys, "ledger", "forms", "--ledger", target,
                       "--out", str(tmp_path / "forms"))
    assert code == 0, output
    documents = sorted((tmp_path / "forms").glob("*.docx"))
    assert documents
    sections = 0
    for path in documents:
        with zipfile.ZipFile(path) as z:
            xml = z.read("word/document.xml").decode("utf-8")
        sections += xml.count("银行卡开户意愿核查记录表")
        assert xml.count("非本人意愿开立银行卡处置协议") == xml.count("银行卡开户意愿核查记录表")
        assert not re.search(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])", xml)
    assert sections == len(people)
    # A customer whose outcome is recorded gets no form any more.
    files = worklists(monkeypatch, capsys, target, tmp_path / "w")
    first = rows_of(files[0])[0]
    filled = fill_worklists(files[:1], {first["指纹"]: (CLOSED, None, "2026-11-01", None)},
                            tmp_path / "filled")
    code, output = run(monkeypatch, capsys, "ledger", "import", str(filled[0]), "--ledger", target)
    assert code == 0, output
    code, output = run(monkeypatch, capsys, "ledger", "forms", "--ledger", target,
                       "--out", str(tmp_path / "forms2"))
    after = sum(zipfile.ZipFile(p).read("word/document.xml").decode("utf-8")
                .count("银行卡开户意愿核查记录表") for p in (tmp_path / "forms2").glob("*.docx"))
    with engine.connect() as conn:
        still = conn.execute(sa.select(sa.func.count()).select_from(
            sa.select(findings.c.legal_entity, findings.c.subject).distinct()
            .where(findings.c.subject_kind == "person",
                   findings.c.status.in_((PENDING, UNREACHABLE))).subquery())).scalar()
    assert after == still < sections


@pytest.fixture
def postgres(tmp_path: Path):
    yield from ledger_target("postgresql", tmp_path)


def test_parallel_imports_on_postgresql_lose_nothing(monkeypatch, capsys, tmp_path,
                                                     postgres: str) -> None:
    audited(monkeypatch, capsys, tmp_path, postgres)
    files = worklists(monkeypatch, capsys, postgres, tmp_path / "w")
    by_file = {f: [r["指纹"] for r in rows_of(f)] for f in files}
    # Phase 1: every branch at once, disjoint rows.
    filled = [fill_worklists([f], {fp: (UNREACHABLE, None, "2026-11-01", f.name) for fp in fps},
                             tmp_path / f"p1_{i}")[0] for i, (f, fps) in enumerate(by_file.items())]
    reports = parallel(postgres, filled)
    assert sum(r.changed for r in reports) == sum(len(v) for v in by_file.values()) == 52
    engine = sa.create_engine(database_url(postgres))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(findings)
                            .where(findings.c.status == UNREACHABLE)).scalar() == 52
    # Phase 2: four people import different outcomes for the same rows at the same moment.
    target_file = max(by_file, key=lambda f: len(by_file[f]))
    fps = by_file[target_file]
    choices = [(OWN_WILL, None), (CLOSED, None), (AGAINST_WILL, 1), (STOPPED, 1)]
    copies = [fill_worklists([target_file], {fp: (s, n, "2026-11-02", f"第{i}份") for fp in fps},
                             tmp_path / f"p2_{i}")[0] for i, (s, n) in enumerate(choices)]
    reports = parallel(postgres, copies)
    assert [r.rejected for r in reports] == [0, 0, 0, 0]
    assert sum(r.changed for r in reports) == 4 * len(fps)
    with engine.connect() as conn:
        for fp in fps:
            chain = conn.execute(sa.select(events.c.old_status, events.c.new_status)
                                 .where(events.c.fingerprint == fp, events.c.import_id.is_not(None))
                                 .order_by(events.c.id)).all()
            assert len(chain) == 5
            assert all(a.new_status == b.old_status for a, b in itertools.pairwise(chain))
            final = conn.execute(sa.select(findings.c.status, findings.c.revision)
                                 .where(findings.c.fingerprint == fp)).one()
            assert final.status == chain[-1].new_status and final.revision == 5
    engine.dispose()


def parallel(target: str, files: list[Path]) -> list:
    """Import each file from its own thread and connection, all released at once."""
    gate = threading.Barrier(len(files))
    results: list = [None] * len(files)
    errors: list[BaseException] = []

    def work(i: int, path: Path) -> None:
        ledger = open_ledger(target, create=False)
        try:
            gate.wait()
            results[i] = import_worklist(ledger, path, f"网点{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            ledger.dispose()

    threads = [threading.Thread(target=work, args=(i, p)) for i, p in enumerate(files)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_every_report_format_states_the_progress(monkeypatch, capsys, tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target, "--format", "md,html,docx")
    out = tmp_path / "out2026-10-31"
    sentence = ("对同一客户开立4张（含）以上借记卡的8户客户，已联系0户（其中确认本人意愿开卡0户），"
                "无法联系0户，尚待核查8户")
    with zipfile.ZipFile(out / "report_合计.docx") as z:
        xml = z.read("word/document.xml").decode("utf-8")
    texts = {"md": (out / "report_合计.md").read_text(encoding="utf-8"),
             "html": (out / "report_合计.html").read_text(encoding="utf-8"),
             "docx": re.sub(r"<[^>]+>", "", xml)}
    for kind, text in texts.items():
        assert sentence in text, kind
        assert "附录五、核查台账进展（CARD-4PLUS" in text, kind
    # Per entity: each of the two sample entities has 4 customers with 4+ cards.
    for path in out.glob("report_*县*.md"):
        assert "借记卡的4户客户，已联系0户" in path.read_text(encoding="utf-8")


def test_damaged_worklist_and_unusable_out_folder_are_exit_2(monkeypatch, capsys, tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    damaged = tmp_path / "核查清单.xlsx"
    damaged.write_bytes(b"PK\x03\x04 this is not a workbook")
    code, output = run(monkeypatch, capsys, "ledger", "import", str(damaged), "--ledger", target)
    assert code == 2 and "无法读取核查清单 核查清单.xlsx" in output
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for command in ("export", "forms"):
        code, output = run(monkeypatch, capsys, "ledger", command, "--ledger", target,
                           "--out", str(blocker / "sub"))
        assert code == 2 and "无法创建输出目录" in output, command


def status_rows(output: str) -> dict[str, dict[str, list[int]]]:
    """`ledger status` output as {legal entity: {branch or 合计: [count per status..., 合计]}}."""
    tables: dict[str, dict[str, list[int]]] = {}
    entity = None
    for line in output.splitlines():
        if title := re.search(r"：(\S+) 各网点事项状态$", line):
            entity = title.group(1)
            tables[entity] = {}
        elif line.startswith("最近的审计记录"):
            entity = None
        elif entity and line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            tables[entity][cells[0]] = [int(c) for c in cells[1:]]
    return tables


def test_status_counts_each_entitys_findings_by_branch_and_outcome(
        monkeypatch, capsys, tmp_path) -> None:
    target = str(tmp_path / "l.db")
    audited(monkeypatch, capsys, tmp_path, target)
    records = json.loads((tmp_path / "out2026-10-31" / "findings.json").read_text("utf-8"))
    per_entity = collections.Counter(f["legal_entity"] for f in records["findings"])
    code, output = run(monkeypatch, capsys, "ledger", "status", "--ledger", target)
    assert code == 0, output
    tables = status_rows(output)
    assert {e: t["合计"] for e, t in tables.items()} == {
        e: [n, 0, 0, 0, 0, 0, 0, n] for e, n in per_entity.items()}
    for table in tables.values():  # branch codes whole (never cut short), rows adding up
        branches = [b for b in table if b != "合计"]
        assert branches and all(re.fullmatch(r"\d{8}", b) for b in branches)
        assert [sum(table[b][i] for b in branches) for i in range(8)] == table["合计"]
        assert all(row[-1] == sum(row[:-1]) for row in table.values())

    files = worklists(monkeypatch, capsys, target, tmp_path / "w")
    first = rows_of(files[0])[0]
    filled = fill_worklists(files, {first["指纹"]: (OWN_WILL, None, "2026-11-02", "")},
                            tmp_path / "filled")
    code, output = run(monkeypatch, capsys, "ledger", "import", *map(str, filled),
                       "--ledger", target)
    assert code == 0, output
    code, output = run(monkeypatch, capsys, "ledger", "status", "--ledger", target)
    entity = first["法人机构"]
    n = per_entity[entity]
    assert status_rows(output)[entity]["合计"] == [n - 1, 1, 0, 0, 0, 0, 0, n]
    code, output = run(monkeypatch, capsys, "ledger", "status", "--ledger", target,
                       "--entity", entity)
    assert code == 0 and list(status_rows(output)) == [entity]
    code, output = run(monkeypatch, capsys, "ledger", "status", "--ledger", target,
                       "--entity", "没有这家银行")
    assert code == 0 and "台账中没有法人机构「没有这家银行」的事项" in output


def test_a_row_entered_twice_counts_once_and_a_conflicting_twin_is_refused(
        monkeypatch, capsys, tmp_path) -> None:
    target, book, header = largest_worklist(monkeypatch, capsys, tmp_path)
    sheet = book["核查清单"]
    col = {h: i + 1 for i, h in enumerate(header)}
    assert sheet.max_row - 1 >= 4
    fills = {  # data row -> (核查结果, 非本人意愿卡数, 联系日期)
        2: (OWN_WILL, None, "2026-11-01"),       # entered again below, identically
        3: (UNREACHABLE, None, "2026-11-02"),    # entered again below, differently
        4: (OWN_WILL, 2, "2026-11-03"),          # own will, yet cards against it
        5: (UNREACHABLE, None, "2026-11-04"),    # its fingerprint wiped
    }
    for r, (result, count, day) in fills.items():
        sheet.cell(r, col["核查结果"]).value = result
        sheet.cell(r, col["非本人意愿卡数"]).value = count
        sheet.cell(r, col["联系日期"]).value = day
    sheet.cell(5, col["指纹"]).value = None
    last = sheet.max_row
    for offset, (source, result) in enumerate(((2, OWN_WILL), (3, CLOSED)), start=1):
        for c in range(1, len(header) + 1):
            sheet.cell(last + offset, c).value = sheet.cell(source, c).value
        sheet.cell(last + offset, col["核查结果"]).value = result
    filled = tmp_path / "twice.xlsx"
    book.save(filled)

    ledger = open_ledger(target, create=False)
    report = import_worklist(ledger, filled, "张三", today=date(2026, 11, 10))
    assert sorted((p.row, p.column) for p in report.problems) == [
        (4, "非本人意愿卡数"), (5, "指纹"), (last + 2, "指纹")]
    assert "与第3行是同一事项但填写不同" in next(p.message for p in report.problems
                                            if p.row == last + 2)
    # Rows 2 and 3 change; the identical twin and the rows left at 待核查 are unchanged.
    assert (report.changed, report.unchanged, report.rejected) == (2, report.rows - 6 + 1, 3)
    with ledger.engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(findings.c.fingerprint, findings.c.status)).all())
    ledger.dispose()
    first, second = (sheet.cell(r, col["指纹"]).value for r in (2, 3))
    assert (statuses[first], statuses[second]) == (OWN_WILL, UNREACHABLE)  # the twin refused


@pytest.mark.parametrize(("target", "message"), [
    ("foo://clerk:secret@h/db", "台账地址 foo://clerk:***@h/db 的数据库类型 foo 不受支持"),
    ("mysql://clerk:secret@127.0.0.1/db", "数据库类型 mysql 不受支持"),
    ("postgresql://clerk:secret@h:notaport/db", "无法识别台账地址 postgresql://clerk:***@h:notaport/db"),
    # Refused by the server, or (without the PostgreSQL extra) the driver is missing.
    ("postgresql://clerk:secret@127.0.0.1:1/db", "台账 postgresql+psycopg://clerk:***@127.0.0.1:1/db"),
])
def test_a_ledger_address_that_cannot_serve_is_exit_2_and_never_shows_the_password(
        monkeypatch, capsys, target, message) -> None:
    code, output = run(monkeypatch, capsys, "ledger", "status", "--ledger", target)
    assert code == 2 and message in output, output
    assert "secret" not in output and "内部错误" not in output
