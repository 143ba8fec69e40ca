"""Every output format from one multi-entity run: same figures everywhere, escaped, masked.

One generated export (5,000 rows, 3 legal entities) is audited once with every format; the
export is altered by construction so that a legal-entity and a branch name carry `<script>` and
one flagged customer's number starts with `=`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import docx
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import keyed
from helpers import run

from cardaudit import cli
from cardaudit.sample import generate, normalise_id, write_sample

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
EVIL_ENTITY = "<script>alert(1)</script>农商行"
EVIL_BRANCH = "<script>b</script>01"
FORMULA = "=1+2"
ALL = "md,html,docx,xlsx,json"


def docx_text(path: Path) -> str:
    """Paragraphs, table cells and page headers of a .docx, one per line."""
    document = docx.Document(str(path))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    for section in document.sections:
        lines += [p.text for p in section.header.paragraphs]
    return "\n".join(lines)


def xlsx_text(path: Path) -> str:
    book = openpyxl.load_workbook(path)
    return "\n".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows()
                     for c in row if c.value is not None)


def output_text(path: Path) -> str:
    """What a reader of any output file sees, as text."""
    if path.suffix == ".docx":
        return docx_text(path)
    if path.suffix == ".xlsx":
        return xlsx_text(path)
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False)
    return path.read_text(encoding="utf-8-sig")


def statistic_sentences(s: dict, we: str = "我行") -> list[str]:
    """The seed report's statistic sentences with the figures of one summary.json column."""
    return [
        f"{we}下辖{s['outlets']}个营业网点，至2026年10月末共发行各类银行卡{s['cards_not_closed']}张",
        f"{we}共发行借记卡数量{s['debit_cards']}张（不含社保IC卡）",
        f"同一客户开立4张以上借记卡的客户数量{s['customers_4plus']}户",
        f"拥有4张以上借记卡客户的银行卡数量{s['customers_4plus_cards']}张",
        f"同一代理人代理开立3张以上借记卡的代理人{s['agents_3plus']}人",
        f"同一代理人代理开立3张以上借记卡的数量{s['agents_3plus_cards']}张",
        f"借记卡账户2个（含）以上的客户数量为{s['listed_2plus']}户",
        f"留存的开卡身份信息不合规户数共{s['id_noncompliant']}户，其中姓名与身份证号不匹配的"
        f"{s['id_mismatch']}户，证件号码不存在的{s['id_nonexistent']}户",
        f"借记卡超过4张（超限）的客户{s['customers_over_limit']}户",
    ]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sample = generate(rows=5000, seed=11, entities=3)
    export = sample.export
    victim = sorted(export["法人机构"].unique())[0]
    export.loc[export["法人机构"] == victim, "法人机构"] = EVIL_ENTITY
    branch = sorted(export.loc[export["法人机构"] != EVIL_ENTITY, "开户机构"].unique())[0]
    export.loc[export["开户机构"] == branch, "开户机构"] = EVIL_BRANCH
    # A customer with 5+ cards (always flagged) gets a formula-like customer number.
    ids = export["证件号码"].fillna("").map(normalise_id)
    holder = ids[ids.str.len() == 18].value_counts().index[0]
    export.loc[ids == holder, "客户号"] = FORMULA
    folder = tmp_path_factory.mktemp("export")
    write_sample(sample, folder)
    return folder


@pytest.fixture(scope="module")
def run_all(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["cardaudit", "audit", str(export_dir / "export.csv"),
                                 "--blacklist", str(export_dir / "blacklist.csv"),
                                 "--as-of", "2026-10-31", "--out", str(out), "--format", ALL,
                                 "--quiet"])
        with pytest.raises(SystemExit) as info:
            cli.main()
    assert info.value.code in (0, None)
    return out


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_every_format_is_written_per_entity_and_consolidated(run_all: Path) -> None:
    summary = summary_of(run_all)
    assert len(summary["entities"]) == 3 and summary["unmasked"] is False
    assert summary["outputs"]["formats"] == ["md", "html", "docx", "xlsx", "json"]
    names = {p.name for p in run_all.iterdir()}
    stems = [f"report_{n}" for n in summary["entities"] if "<" not in n] + [
        "report__script_alert(1)__script_农商行", "report_合计"]
    for stem in stems:
        assert {f"{stem}.md", f"{stem}.html", f"{stem}.docx"} <= names, stem
    assert {"summary.json", "findings.csv", "findings.json", "findings.parquet", "findings.xlsx",
            "quarantine.csv", "blacklist_faults.csv"} <= names
    assert len([n for n in names if n.startswith("report_")]) == 4 * 3


def test_docx_and_markdown_carry_the_summary_figures(run_all: Path) -> None:
    summary = summary_of(run_all)
    total = summary["total"]["statistics"]
    for key, value in total.items():  # every figure is additive
        if isinstance(value, int):
            assert value == sum(e["statistics"][key] for e in summary["entities"].values()), key
    columns = [(n, e["statistics"], "我行") for n, e in summary["entities"].items()]
    columns.append(("合计", total, "各法人机构合计"))
    for name, stats, we in columns:
        stem = "report_" + name.replace("<", "_").replace(">", "_").replace("/", "_")
        word = docx_text(run_all / f"{stem}.docx")
        markdown = (run_all / f"{stem}.md").read_text(encoding="utf-8")
        for sentence in statistic_sentences(stats, we):
            assert sentence in word, (name, sentence)
            assert sentence in markdown, (name, sentence)
        for heading in ("一、基本情况", "二、自查情况", "三、存在的问题", "四、今后工作打算"):
            assert heading in word and f"## {heading}" in markdown
    # The consolidated report has the per-entity table: entity columns and the total.
    word = docx_text(run_all / "report_合计.docx")
    entities = list(summary["entities"].values())
    row = "\t".join(["借记卡数量（张）", *(str(e["statistics"]["debit_cards"]) for e in entities),
                     str(total["debit_cards"])])
    assert row in word
    assert f"| 借记卡数量（张） | {' | '.join(str(e['statistics']['debit_cards']) for e in entities)}" \
           f" | {total['debit_cards']} |" in (run_all / "report_合计.md").read_text(encoding="utf-8")


def test_bundled_sample_docx_states_the_pinned_figures(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _ = run(monkeypatch, capsys, "audit", str(SAMPLE / "export.csv"), "--blacklist",
                  str(SAMPLE / "blacklist.csv"), "--as-of", "2026-10-31", "--out", str(tmp_path),
                  "--format", "docx")
    assert code == 0
    word = docx_text(tmp_path / "report_云溪县农村商业银行股份有限公司.docx")
    assert "我行下辖4个营业网点，至2026年10月末共发行各类银行卡134张" in word
    assert ("我行共发行借记卡数量130张（不含社保IC卡），其中同一客户开立4张以上借记卡的客户数量4户，"
            "拥有4张以上借记卡客户的银行卡数量17张；同一代理人代理开立3张以上借记卡的代理人1人，"
            "同一代理人代理开立3张以上借记卡的数量3张") in word
    assert "留存的开卡身份信息不合规户数共7户，其中姓名与身份证号不匹配的1户，证件号码不存在的4户" in word
    total = docx_text(tmp_path / "report_合计.docx")
    assert "各法人机构合计共发行借记卡数量265张（不含社保IC卡）" in total
    assert "借记卡数量（张）\t130\t135\t265" in total
    assert not list(tmp_path.glob("*.md"))  # only the formats asked for


def test_html_is_escaped_self_contained_printable_with_text_charts(run_all: Path) -> None:
    pages = sorted(run_all.glob("*.html"))
    assert len(pages) == 4
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<script" not in html.lower(), page.name
        assert "@media print" in html and 'charset="utf-8"' in html
        assert html.count("<svg") >= 2, page.name
        assert "<text" in html  # svg.fonttype none: chart text stays text
        for external in ("<link", "src=", "@import", "url(http", "@font-face"):
            assert external not in html, (page.name, external)
    total = (run_all / "report_合计.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;农商行" in total
    assert "&lt;script&gt;b&lt;/script&gt;01" in total  # branch name: in tables and chart text
    markdown = (run_all / "report_合计.md").read_text(encoding="utf-8")
    assert "<script>" not in markdown and "&lt;script&gt;alert(1)" in markdown
    # Word keeps the name as literal text (XML-escaped inside the file).
    assert EVIL_ENTITY in docx_text(run_all / "report_合计.docx")


def test_workbook_cells_are_typed_and_sheets_follow_excel_rules(run_all: Path) -> None:
    summary = summary_of(run_all)
    book = openpyxl.load_workbook(run_all / "findings.xlsx")
    flagged = sorted({rid for e in summary["entities"].values()
                      for rid, r in e["rules"].items() if r["subjects"]})
    assert book.sheetnames[0] == "汇总"
    assert sorted(book.sheetnames[1:]) == flagged
    formulas = 0
    for ws in book.worksheets:
        assert len(ws.title) <= 31 and not set(ws.title) & set("[]:*?/\\")
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate)
                if cell.value == FORMULA:
                    assert cell.data_type == "s"
                    formulas += 1
    assert formulas >= 5  # the customer holds 5 or more cards, each on CARD-4PLUS
    sheet = book["CARD-4PLUS"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    header = [c.value for c in sheet[1]]
    assert header[:11] == ["法人机构", "开户机构", "对象", "客户号", "证件号码", "姓名", "卡号", "卡产品",
                           "卡状态", "开户日期", "原因"]
    rows = sum(e["rules"]["CARD-4PLUS"]["rows"] for e in summary["entities"].values())
    assert sheet.max_row == rows + 1
    assert sheet.column_dimensions["A"].width >= 20  # entity names are wide
    figures: dict[str, list] = {}
    for r in book["汇总"].iter_rows(min_row=3):  # the figures table comes first
        figures.setdefault(r[0].value, [c.value for c in r[2:6]])
    entities = list(summary["entities"].values())
    assert figures["借记卡数量"] == [e["statistics"]["debit_cards"] for e in entities] + [
        summary["total"]["statistics"]["debit_cards"]]


def test_findings_json_and_parquet_one_record_per_rule_entity_subject(run_all: Path) -> None:
    summary = summary_of(run_all)
    document = json.loads((run_all / "findings.json").read_text(encoding="utf-8"))
    assert document["schema_version"] == 1 and document["unmasked"] is False
    records = document["findings"]
    for name, entity in summary["entities"].items():
        for rule_id, rule in entity["rules"].items():
            mine = [r for r in records if r["legal_entity"] == name and r["rule_id"] == rule_id]
            assert len(mine) == rule["subjects"], (name, rule_id)
            assert sum(len(r["rows"]) for r in mine) == rule["rows"], (name, rule_id)
    assert len({r["fingerprint"] for r in records}) == len(records) == document["count"]
    assert all(len(r["fingerprint"]) == 24 for r in records)
    # Customer-number subjects are bank references, shown as is: with the key, the fingerprint
    # is checkable; without it, it is not the plain hash.
    plain = next(r for r in records if r["subject"].startswith("C:"))
    key = f"{plain['rule_id']}|{plain['legal_entity']}|{plain['subject']}"
    assert plain["fingerprint"] == keyed(key)
    assert plain["fingerprint"] != hashlib.sha256(key.encode()).hexdigest()[:24]
    assert document["fingerprint_key_id"] == summary["fingerprint"]["key_id"]
    table = pq.read_table(run_all / "findings.parquet")
    assert table.num_rows == len(records)
    assert table.schema.metadata[b"cardaudit.schema_version"] == b"1"
    assert table.column("fingerprint").to_pylist() == [r["fingerprint"] for r in records]


def test_no_full_id_name_or_phone_in_any_default_output(run_all: Path, export_dir: Path) -> None:
    export = pd.read_csv(export_dir / "export.csv", encoding="gb18030", dtype=str)
    ids = {i for i in set(export["证件号码"].dropna()) | set(export["代理人证件号码"].dropna())
           if len(i) >= 15 and "E+" not in i}
    names = {n for n in export["客户姓名"].dropna() if len(n) >= 2}
    phones = set(export["预留手机号"].dropna())
    # Probe a fixed sample of each kind (the flagged ones are in the findings outputs).
    probes = sorted(ids)[::7] + sorted(names)[::7] + sorted(phones)[::7]
    findings = pd.read_csv(run_all / "findings.csv", dtype=str, encoding="utf-8-sig")
    assert len(findings)
    texts = {p.name: output_text(p) for p in run_all.iterdir()}
    for name, text in texts.items():
        leaked = [v for v in probes if v in text]
        assert not leaked, (name, leaked[:3])
    assert all("*" in v for v in findings["证件号码"].dropna())


def test_unmasked_is_recorded_and_bannered_on_every_output(export_dir: Path, tmp_path: Path,
                                                            monkeypatch, capsys) -> None:
    code, output = run(monkeypatch, capsys, "audit", str(export_dir / "export.csv"),
                       "--as-of", "2026-10-31", "--out", str(tmp_path), "--format", ALL,
                       "--unmasked")
    assert code == 0 and "未脱敏" in output
    banner = "本文件含未脱敏个人信息"
    summary = summary_of(tmp_path)
    assert summary["unmasked"] is True
    for path in tmp_path.glob("report_*"):
        assert banner in output_text(path), path.name
    for section in docx.Document(str(tmp_path / "report_合计.docx")).sections:
        assert banner in section.header.paragraphs[0].text
    book = openpyxl.load_workbook(tmp_path / "findings.xlsx")
    for ws in book.worksheets:
        assert banner in str(ws["A1"].value), ws.title
        assert banner in ws.oddHeader.center.text
    html = (tmp_path / "report_合计.html").read_text(encoding="utf-8")
    assert 'class="banner"' in html and "@top-center" in html  # on screen, and on every printed page
    # Full values are there, and the fingerprint is the keyed hash of rule|entity|subject.
    records = json.loads((tmp_path / "findings.json").read_text(encoding="utf-8"))["findings"]
    assert json.loads((tmp_path / "findings.json").read_text(encoding="utf-8"))["unmasked"]
    full = [r for r in records if r["rule_id"] == "CARD-OVER-LIMIT"]
    assert full and all(len(r["subject"]) == 18 and "*" not in r["subject"] for r in full)
    for r in records:
        key = f"{r['rule_id']}|{r['legal_entity']}|{r['subject']}"
        assert r["fingerprint"] == keyed(key)
    export = pd.read_csv(export_dir / "export.csv", encoding="gb18030", dtype=str)
    assert full[0]["rows"][0]["name"] in set(export["客户姓名"])
    assert full[0]["subject"] in xlsx_text(tmp_path / "findings.xlsx")


def test_unknown_format_is_a_chinese_usage_error(monkeypatch, capsys, tmp_path: Path) -> None:
    code, output = run(monkeypatch, capsys, "audit", str(SAMPLE / "export.csv"), "--out",
                       str(tmp_path / "o"), "--format", "md,pdf")
    assert code == 2
    assert "--format 取值无效：pdf" in output and "docx" in output
    assert not (tmp_path / "o").exists()


def test_markdown_only_run_never_imports_the_heavy_renderers(tmp_path: Path) -> None:
    import subprocess

    code = ("import sys; from cardaudit import cli; sys.argv = ['cardaudit', 'audit', "
            f"{str(SAMPLE / 'export.csv')!r}, '--out', {str(tmp_path)!r}, '--format', 'md', '-q']\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('matplotlib', 'docxtpl', 'xlsxwriter') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "report_合计.md").is_file()


@pytest.mark.parametrize("storage", ["str", "object"])
def test_every_formula_prefix_is_neutralised_and_nothing_else(storage: str) -> None:
    """A cell starting with = + - @ TAB or CR gets a leading quote, wherever it stands in the
    column; other cells, empty and missing cells stay as they are (also in a column with no
    risky cell, which is passed through untouched)."""
    from cardaudit.outputs.files import FORMULA_PREFIXES, neutralised

    risky = [f"{p}SUM(A1)" for p in FORMULA_PREFIXES]
    plain = ["客户=甲", "12-3", "", None, "4305**********1234", "'quoted", " =later"]
    values = [*plain[:3], *risky[:3], *plain[3:], *risky[3:], "末尾"]
    safe = (plain * 3)[:len(values)]
    frame = pd.DataFrame({"mixed": pd.Series(values, dtype=storage),
                          "safe": pd.Series(safe, dtype=storage),
                          "number": pd.Series(range(len(values)))})
    table = neutralised(frame)
    assert table.column("mixed").to_pylist() == [
        "'" + v if v in risky else (None if v is None else v) for v in values]
    assert table.column("safe").to_pylist() == safe
    assert table.column("number").to_pylist() == list(range(len(values)))
