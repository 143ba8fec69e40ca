"""Bank-edited templates: rendered in the sandbox, fall back to the bundled ones, valid Word XML."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import docx
import pytest
from helpers import run
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
TEMPLATES = ROOT / "templates"
ESCAPES = ("{{ ''.__class__.__mro__ }}", "{{ lipsum.__globals__ }}",
           "{{ namespace.__init__.__globals__.os }}")
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def audit_args(out: Path, *extra: str) -> list[str]:
    return ["audit", str(SAMPLE / "export.csv"), "--as-of", "2026-10-31", "--out", str(out),
            *extra]


def builder():
    spec = importlib.util.spec_from_file_location("build_report_docx",
                                                  TEMPLATES / "build_report_docx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("payload", ESCAPES)
@pytest.mark.parametrize("name", ["report.md.j2", "report.html.j2"])
def test_template_escaping_the_sandbox_fails_with_a_chinese_error(
        name: str, payload: str, tmp_path: Path, monkeypatch, capsys) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    (bank / name).write_text(text.replace("{{ addressee }}", payload, 1), encoding="utf-8")
    code, output = run(monkeypatch, capsys, *audit_args(tmp_path / "o", "--templates", str(bank),
                                                        "--format", "md,html"))
    assert code == 2, output
    assert f"报告模板 {name}" in output and "安全沙箱拦截" in output
    assert "Traceback" not in output and "<class" not in output


@pytest.mark.parametrize("payload", ESCAPES[:2])
def test_word_template_escaping_the_sandbox_fails_with_a_chinese_error(
        payload: str, tmp_path: Path, monkeypatch, capsys) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    document = docx.Document()
    document.add_paragraph(f"{{{{ bank }}}} {payload}")
    document.save(str(bank / "report.docx"))
    code, output = run(monkeypatch, capsys, *audit_args(tmp_path / "o", "--templates", str(bank),
                                                        "--format", "docx"))
    assert code == 2 and "安全沙箱拦截" in output and "report.docx" in output


def test_bank_template_is_used_and_missing_ones_fall_back(tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    text = (TEMPLATES / "report.md.j2").read_text(encoding="utf-8")
    (bank / "report.md.j2").write_text(text.replace("现将自查情况报告如下", "现将有关情况报告如下"),
                                       encoding="utf-8")
    document = docx.Document()
    document.add_paragraph("本行自定义：{{ entity }}借记卡{{ s.debit_cards | n }}张")
    document.save(str(bank / "report.docx"))
    code, _ = run(monkeypatch, capsys, *audit_args(tmp_path / "o", "--templates", str(bank),
                                                   "--format", "md,html,docx"))
    assert code == 0
    out = tmp_path / "o"
    name = "云溪县农村商业银行股份有限公司"
    assert "现将有关情况报告如下" in (out / f"report_{name}.md").read_text(encoding="utf-8")
    assert "现将自查情况报告如下" in (out / f"report_{name}.html").read_text(encoding="utf-8")
    paragraphs = [p.text for p in docx.Document(str(out / f"report_{name}.docx")).paragraphs]
    assert paragraphs == [f"本行自定义：{name}借记卡130张"]


def test_missing_templates_folder_is_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    code, output = run(monkeypatch, capsys, *audit_args(tmp_path / "o", "--templates",
                                                        str(tmp_path / "nope")))
    assert code == 2 and "找不到模板目录" in output


def test_committed_word_template_matches_its_build_script(tmp_path: Path) -> None:
    built = builder().build(tmp_path / "report.docx")
    with zipfile.ZipFile(built) as fresh, zipfile.ZipFile(TEMPLATES / "report.docx") as committed:
        for part in ("word/document.xml", "word/styles.xml", "word/header1.xml",
                     "word/footer1.xml"):
            assert fresh.read(part) == committed.read(part), part


def _order_problems(xml: bytes, rpr_order: tuple[str, ...], ppr_order: tuple[str, ...]) -> list:
    problems = []
    for tag, order in (("rPr", rpr_order), ("pPr", ppr_order)):
        for element in etree.fromstring(xml).iter(f"{W}{tag}"):
            names = [c.tag.removeprefix(W) for c in element if c.tag.startswith(W)]
            ranks = [order.index(n) for n in names if n in order]
            if ranks != sorted(ranks) or len(set(names)) != len(names):
                problems.append((tag, names))
    return problems


def test_rendered_word_report_has_schema_ordered_properties_and_east_asian_fonts(
        tmp_path: Path, monkeypatch, capsys) -> None:
    code, _ = run(monkeypatch, capsys, *audit_args(tmp_path, "--format", "docx"))
    assert code == 0
    module = builder()
    for path in (TEMPLATES / "report.docx", tmp_path / "report_合计.docx"):
        with zipfile.ZipFile(path) as z:
            for part in ("word/document.xml", "word/styles.xml", "word/header1.xml"):
                assert not _order_problems(z.read(part), module.RPR_ORDER, module.PPR_ORDER), \
                    (path.name, part)
            styles = etree.fromstring(z.read("word/styles.xml"))
    fonts = {}
    for style in styles.iter(f"{W}style"):
        name = style.find(f"{W}name").get(f"{W}val")
        rfonts = style.find(f"{W}rPr/{W}rFonts")
        if rfonts is not None:
            fonts[name] = rfonts.get(f"{W}eastAsia")
    assert fonts["Normal"] == "仿宋_GB2312"
    assert fonts["heading 1"] == "黑体"
    assert fonts["Title"] == "方正小标宋简体"
    assert fonts["报告表格"] == "宋体"


def test_bundled_templates_are_shipped_with_the_package() -> None:
    for name in ("report.md.j2", "report.html.j2", "report.docx", "diff.md.j2"):
        assert (TEMPLATES / name).is_file()
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"*.j2", "*.docx"' in text
    for dependency in ("docxtpl", "matplotlib", "xlsxwriter"):
        assert f'"{dependency}' in text
