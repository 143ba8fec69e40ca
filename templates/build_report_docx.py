"""Build templates/report.docx, the Word template of the self-inspection report (docxtpl tags).

Run `python templates/build_report_docx.py` to regenerate it. A bank may instead edit the .docx
in Word (letterhead, fonts, wording) and keep the {{ ... }} / {%p ... %} / {%tr ... %} tags;
the values are the same report context as templates/report.md.j2.
Fonts follow GB/T 9704 practice: 方正小标宋简体 title, 黑体 headings, 仿宋_GB2312 body.
"""
# ruff: noqa: E501  (the report's wording is kept as whole Chinese lines, as in report.md.j2)

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

BODY_FONT, HEADING_FONT, TITLE_FONT, TABLE_FONT = "仿宋_GB2312", "黑体", "方正小标宋简体", "宋体"
LATIN_FONT = "Times New Roman"
OUT = Path(__file__).resolve().parent / "report.docx"


# Child order of w:rPr and w:pPr in the OOXML schema: Word reports a file with elements out of
# this order as damaged, so every element is inserted at its place.
RPR_ORDER = ("rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike", "dstrike",
             "outline", "shadow", "emboss", "imprint", "noProof", "snapToGrid", "vanish",
             "webHidden", "color", "spacing", "w", "kern", "position", "sz", "szCs", "highlight",
             "u", "effect", "bdr", "shd", "fitText", "vertAlign", "rtl", "cs", "em", "lang",
             "eastAsianLayout", "specVanish", "oMath")
PPR_ORDER = ("pStyle", "keepNext", "keepLines", "pageBreakBefore", "framePr", "widowControl",
             "numPr", "suppressLineNumbers", "pBdr", "shd", "tabs", "suppressAutoHyphens",
             "kinsoku", "wordWrap", "overflowPunct", "topLinePunct", "autoSpaceDE", "autoSpaceDN",
             "bidi", "adjustRightInd", "snapToGrid", "spacing", "ind", "contextualSpacing",
             "mirrorIndents", "suppressOverlap", "jc", "textDirection", "textAlignment",
             "textboxTightWrap", "outlineLvl", "divId", "cnfStyle", "rPr", "sectPr", "pPrChange")


def put(parent: OxmlElement, tag: str, order: tuple[str, ...], **attrs: str) -> OxmlElement:
    """The child `w:tag` of `parent` (created at its schema position), attributes replaced."""
    el = parent.find(qn(f"w:{tag}"))
    if el is None:
        el = OxmlElement(f"w:{tag}")
        later = order[order.index(tag) + 1:]
        follower = next((c for c in parent if c.tag.split("}")[-1] in later), None)
        if follower is None:
            parent.append(el)
        else:
            follower.addprevious(el)
    for attr in list(el.attrib):
        del el.attrib[attr]
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), value)
    return el


def set_run_fonts(rpr: OxmlElement, east_asia: str, size: float | None = None,
                  bold: bool | None = None) -> None:
    """Explicit Latin and East-Asian fonts on an rPr (theme fonts dropped: they would win)."""
    put(rpr, "rFonts", RPR_ORDER, ascii=LATIN_FONT, hAnsi=LATIN_FONT, cs=LATIN_FONT,
        eastAsia=east_asia)
    if bold is not None:
        for tag in ("b", "bCs"):
            put(rpr, tag, RPR_ORDER, val="1" if bold else "0")
    if size is not None:
        for tag in ("sz", "szCs"):
            put(rpr, tag, RPR_ORDER, val=str(int(size * 2)))
    put(rpr, "lang", RPR_ORDER, val="en-US", eastAsia="zh-CN")


def style(doc, name: str, east_asia: str, size: float, *, bold: bool = False,
          indent: bool = True, align=None, line: float | None = 28, base: str | None = None):
    """Create or update a paragraph style with fonts, size, indent and exact line spacing."""
    styles = doc.styles
    st = styles[name] if name in [s.name for s in styles] else styles.add_style(name, 1)
    if base:
        st.base_style = styles[base]
    st.font.color.rgb = RGBColor(0, 0, 0)
    st.font.italic = False
    set_run_fonts(st.element.get_or_add_rPr(), east_asia, size, bold)
    fmt = st.paragraph_format
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    if line:
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(line)
    else:
        fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    fmt.alignment = align
    ppr = st.element.get_or_add_pPr()
    if indent:  # two characters, as Chinese official documents indent every paragraph
        put(ppr, "ind", PPR_ORDER, firstLineChars="200", firstLine=str(int(size * 2 * 20)))
    else:
        put(ppr, "ind", PPR_ORDER, firstLine="0")
    return st


def setup_styles(doc) -> None:
    """Document defaults and the styles the template uses, all with w:eastAsia fonts."""
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    set_run_fonts(rpr, BODY_FONT, 16)
    style(doc, "Normal", BODY_FONT, 16)
    style(doc, "Title", TITLE_FONT, 22, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER, line=36)
    style(doc, "Heading 1", HEADING_FONT, 16)
    style(doc, "Heading 2", "楷体_GB2312", 16)
    for name in ("Title", "Heading 1", "Heading 2"):  # drop the default template's rule lines
        ppr = doc.styles[name].element.get_or_add_pPr()
        for border in ppr.findall(qn("w:pBdr")):
            ppr.remove(border)
    style(doc, "报告表格", TABLE_FONT, 10.5, indent=False, line=None, base="Normal")
    style(doc, "报告落款", BODY_FONT, 16, indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
    style(doc, "报告抬头", BODY_FONT, 16, indent=False)
    style(doc, "未脱敏提示", HEADING_FONT, 10.5, indent=False, line=None, bold=True,
          align=WD_ALIGN_PARAGRAPH.CENTER).font.color.rgb = RGBColor(0xB0, 0x3A, 0x2E)
    style(doc, "页码", LATIN_FONT, 14, indent=False, line=None, align=WD_ALIGN_PARAGRAPH.CENTER)


def para(doc, text: str, style_name: str = "Normal") -> None:
    doc.add_paragraph(text, style=style_name)


def table(doc, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
    """A bordered table: a header row, then template rows (docxtpl {%tr %} tags go in col 1)."""
    t = doc.add_table(rows=1 + len(rows), cols=len(header))
    t.style = doc.styles["Table Grid"]
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    for col, width in zip(t._tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        col.set(qn("w:w"), str(int(Cm(width).twips)))
    for r, values in enumerate([header, *rows]):
        for c, text in enumerate(values):
            cell = t.cell(r, c)
            cell.width = Cm(widths[c])
            p = cell.paragraphs[0]
            p.style = doc.styles["报告表格"]
            run = p.add_run(text)
            if r == 0:
                run.bold = True
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    # Repeat the header row on every page.
    trpr = t.rows[0]._tr.get_or_add_trPr()
    trpr.append(OxmlElement("w:tblHeader"))


def loop_table(doc, header: list[str], loop: str, cells: list[str], widths: list[float]) -> None:
    """A table whose body row repeats `{%tr for loop %}` ... `{%tr endfor %}`."""
    blank = [""] * (len(header) - 1)
    table(doc, header, [[f"{{%tr for {loop} %}}", *blank], cells, ["{%tr endfor %}", *blank]],
          widths)


def page_number_footer(doc, section) -> None:
    """'— 1 —' centred in the footer (a PAGE field), as official documents number pages."""
    p = section.footer.paragraphs[0]
    p.style = doc.styles["页码"]
    p.add_run("— ")
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    number = OxmlElement("w:t")
    number.text = "1"
    run.append(number)
    field.append(run)
    p._p.append(field)
    p.add_run(" —")


def page_break(doc) -> None:
    run = doc.add_paragraph().add_run()
    br = OxmlElement("w:br")
    br.set(qn("w:type"), "page")
    run._r.append(br)


STAT_SENTENCE = (
    "二是积极开展自查。我行以全法人机构开户数据为基础，按客户跨网点归集开卡数量，严格核查开卡数量及执行实名制"
    "管理规定的落地情况。通过自查和检查，{{ we }}共发行借记卡数量{{ s.debit_cards | n }}张（不含"
    "{{ excluded_text }}），其中同一客户开立{{ t.customers }}张以上借记卡的客户数量{{ s.customers_4plus | n }}户，"
    "拥有{{ t.customers }}张以上借记卡客户的银行卡数量{{ s.customers_4plus_cards | n }}张；同一代理人代理开立"
    "{{ t.agents }}张以上借记卡的代理人{{ s.agents_3plus | n }}人，同一代理人代理开立{{ t.agents }}张以上借记卡"
    "的数量{{ s.agents_3plus_cards | n }}张；对于公安机关司法机关正式提供的文件显示客户（持卡人、申请人、代理人"
    "等）曾参与出租、出借、出售本人或他人借记卡账户及相关验证工具的，同一法人行社对该客户开立的借记卡账户"
    "{{ t.listed }}个（含）以上的客户数量为{{ s.listed_2plus | n }}户。留存的开卡身份信息不合规户数共"
    "{{ s.id_noncompliant | n }}户，其中姓名与身份证号不匹配的{{ s.id_mismatch | n }}户，证件号码不存在的"
    "{{ s.id_nonexistent | n }}户。"
)
PLANS = (
    "一是积极配合公安机关对涉案账户的协同查询、紧急止付和快速冻结工作。",
    "二是进一步落实好账户实名制的规定和银行卡的安全管理，坚决杜绝违规开卡、乱开卡、批量开卡等；对本次发现的问题"
    "客户逐户核实，按期整改。",
    "三是对新开办网银、手机银行、电话银行等业务的客户，必须要求预留本人实名登记的手机号码。",
    "四是大力开展内部员工培训工作，落实“三问一告知”安全警示工作制度。",
    "五是开展宣传，增强防范意识，强化员工和客户的安全防范意识。",
    "六是严格检查，严肃问责。切实做到不留死角、不走过场，确保工作取得实效。",
)


def body(doc) -> None:
    """The report text: the same sentences and context values as report.md.j2."""
    para(doc, "{{ bank }}", "Title")
    para(doc, "关于打击治理电信网络新型违法犯罪有关工作开展情况自查工作的汇报", "Title")
    para(doc, "", "报告抬头")
    para(doc, "{{ addressee }}：", "报告抬头")
    para(doc, "为落实打击治理电信网络新型违法犯罪的有关工作，我行根据上级管理部门关于对商业银行打击治理电信网络新型"
              "违法犯罪有关工作开展督导检查的要求，结合我行实际情况，积极开展打击治理电信网络新型违法犯罪自查工作，"
              "现将自查情况报告如下：")
    para(doc, "一、基本情况", "Heading 1")
    para(doc, "{{ we }}下辖{{ s.outlets | n }}个营业网点，至{{ as_of_phrase }}共发行各类银行卡"
              "{{ s.cards_not_closed | n }}张{% if products %}，其中，{% for product, count in "
              "products.items() %}{% if not loop.first %}，{% endif %}发行{{ product }}{{ count }}张"
              "{% endfor %}{% endif %}。")
    para(doc, "{%p if consolidated %}")
    para(doc, "各法人机构分别统计，下表每项数字均可相加，合计为各法人机构之和：")
    table(doc, ["统计项", "{%tc for name in entity_columns %}", "{{ name }}", "{%tc endfor %}", "合计"],
          [["{%tr for row in entity_table %}", "", "", "", ""],
           ["{{ row.label }}（{{ row.unit }}）", "{%tc for v in row.cells %}", "{{ v }}",
            "{%tc endfor %}", "{{ row.total }}"],
           ["{%tr endfor %}", "", "", "", ""]], [6.5, 1, 3, 1, 3])
    para(doc, "{%p endif %}")
    para(doc, "二、自查情况", "Heading 1")
    para(doc, "为严厉打击电信网络新型违法犯罪，有效遏制此类违法犯罪活动蔓延势头，我行根据银监会《关于银行业打击治理"
              "电信网络新型违法犯罪有关工作事项的通知》及上级行相关工作要求，将打击治理电信网络新型违法犯罪工作作为"
              "当前的一项重点工作来抓，确保相关工作落到实处。")
    para(doc, "一是加强组织领导。成立打击治理电信网络新型违法犯罪有关工作领导小组，制定自查工作方案，坚持“标本兼治、"
              "综合治理、齐抓共管、落实责任”的工作方针，切实加强专项活动的组织领导。")
    para(doc, STAT_SENTENCE)
    para(doc, "此外，借记卡超过{{ t.over_limit }}张（超限）的客户{{ s.customers_over_limit | n }}户；居民身份证号码"
              "仍为15位旧号码未升位的客户{{ s.id_legacy15 | n }}户。")
    para(doc, "三是组织开展宣传。综合利用柜台、ATM终端、LED门楣、张贴海报、设置咨询台等形式深入开展宣传教育活动，"
              "提醒客户主动核查本人名下全部账户信息，切实提高公众防范意识。")
    para(doc, "主要统计数字如下：")
    loop_table(doc, ["统计项", "数值", "单位"], "d in definitions",
               ["{{ d.label }}", "{{ d.value }}", "{{ d.unit }}"], [11, 3, 2])
    para(doc, "三、存在的问题", "Heading 1")
    para(doc, "{%p if problems %}")
    para(doc, "{%p for p in problems %}")
    para(doc, "{{ loop.index }}、{{ p.title }}：发现{{ p.subjects }}{{ p.unit }}，涉及计入的借记卡{{ p.cards }}张"
              "（{{ p.severity }}）{% if p.top_branches %}，主要集中在{% for b in p.top_branches %}"
              "{% if not loop.first %}、{% endif %}网点{{ b.branch }}（{{ b.subjects }}{{ p.unit }}）"
              "{% endfor %}{% endif %}。")
    para(doc, "{%p endfor %}")
    para(doc, "{%p else %}")
    para(doc, "1、本次自查未发现超限开卡、代理开卡、名单客户持卡及身份信息不合规问题。")
    para(doc, "{%p endif %}")
    para(doc, "{% if ledger %}{{ problems | length + 1 }}、{{ ledger.sentence }}（分网点情况见附录五）{% else %}"
              "{{ problems | length + 1 }}、对已开立{{ t.customers }}张以上借记卡的客户，须逐户联系核实开卡是否本人"
              "意愿，核实工作正在开展。{% endif %}")
    para(doc, "{{ problems | length + 2 }}、对开通网银、手机银行业务的客户，目前尚无技术手段核实预留手机号码是否为"
              "客户本人实名登记。")
    para(doc, "{%p if rows.quarantined %}")
    para(doc, "{{ problems | length + 3 }}、本次导出数据中有{{ rows.quarantined }}条记录因关键字段缺失或重复无法审计"
              "（已隔离并逐条列明原因），须由科技部门核实修正。")
    para(doc, "{%p endif %}")
    para(doc, "四、今后工作打算", "Heading 1")
    for text in PLANS:
        para(doc, text)
    para(doc, "{%p if comparison %}")
    para(doc, "五、与上期比较", "Heading 1")
    para(doc, "与上期（{{ comparison.old_as_of_phrase }}，{{ comparison.source }}）相比，本期新增问题"
              "{{ comparison.counts.new }}个，已整改{{ comparison.counts.resolved }}个，持续存在"
              "{{ comparison.counts.persisting }}个（问题按规则、法人机构与客户识别）。{% if comparison.pack_changed %}"
              "两期使用的规则或口径不同{% if comparison.changed_rules %}（{{ comparison.changed_rules }}）{% endif %}，"
              "部分变化可能来自统计口径调整。{% endif %}")
    loop_table(doc, ["统计项", "上期", "本期", "增减"], "f in comparison.figures",
               ["{{ f.label }}（{{ f.unit }}）", "{{ f.old }}", "{{ f.new }}", "{{ f.delta }}"],
               [8.5, 2.5, 2.5, 2.5])
    para(doc, "各规则问题变化：")
    loop_table(doc, ["规则编号", "规则", "新增", "已整改", "持续存在"], "r in comparison.rules",
               ["{{ r.rule_id }}", "{{ r.rule_title }}", "{{ r.new }}", "{{ r.resolved }}",
                "{{ r.persisting }}"], [3.6, 6.4, 2, 2, 2])
    para(doc, "{%p endif %}")
    para(doc, "", "报告落款")
    para(doc, "{{ bank }}", "报告落款")
    para(doc, "{{ report_date }}", "报告落款")
    appendices(doc)


def appendices(doc) -> None:
    """Definitions, rules, per-branch table and the audit trail, as in the Markdown report."""
    page_break(doc)
    para(doc, "附录一、统计口径与数据来源", "Heading 1")
    para(doc, "统计截止日：{{ as_of }}。全部数字按本法人机构（{{ entity }}）统计；多法人机构的数据各自独立统计，"
              "合计数为各法人机构之和。")
    loop_table(doc, ["统计项", "数值", "口径", "方法"], "d in definitions",
               ["{{ d.label }}", "{{ d.value }}", "{{ d.definition }}", "{{ d.method }}"],
               [3.6, 1.6, 6.4, 4.4])
    para(doc, "全局设置：", "报告抬头")
    para(doc, "{%p for item in settings %}")
    para(doc, "{{ item.label }}：{{ item.value }}")
    para(doc, "{%p endfor %}")
    para(doc, "附录二、规则与阈值", "Heading 1")
    loop_table(doc, ["规则编号", "规则", "级别", "阈值/参数", "状态", "发现（户/人）", "涉及计入借记卡（张）"],
               "r in rules",
               ["{{ r.id }}", "{{ r.title }}", "{{ r.severity }}", "{{ r.threshold }}",
                '{{ "启用" if r.enabled else "停用" }}',
                '{{ r.subjects if r.subjects is not none else "—" }}',
                '{{ r.cards if r.cards is not none else "—" }}'], [2.8, 3.6, 1.2, 4.6, 1.2, 1.4, 1.4])
    para(doc, "附录三、分网点情况", "Heading 1")
    loop_table(doc, ["网点", "未销户卡（张）", "计入借记卡（张）", "发现（户/人，按规则）"], "b in branches",
               ["{% if consolidated %}{{ b.entity }} {% endif %}{{ b.branch }}",
                "{{ b.cards_not_closed }}", "{{ b.debit_cards }}",
                "{% for f in b.flags %}{% if not loop.first %}；{% endif %}{{ f.rule_id }} "
                "{{ f.subjects }}{% else %}—{% endfor %}"], [4, 2.5, 2.5, 7])
    para(doc, "注：一名客户的卡可能分布在多个网点，分网点客户数之和可能大于全行客户数。")
    para(doc, "附录四、数据质量与审计轨迹", "Heading 1")
    para(doc, "读取记录{{ rows.read }}条，审计{{ rows.audited }}条，隔离{{ rows.quarantined }}条（隔离记录及原因见 "
              "quarantine.csv）。")
    para(doc, "身份证号码行政区划代码未能识别的客户{{ warnings.region_unknown_persons }}户（仅提示：已撤销县区的代码"
              "在身份证号码中仍然有效，不作为号码不存在的依据）。")
    para(doc, "{% if blacklist.file %}公安/司法机关名单：{{ blacklist.file }}，共{{ blacklist.entries }}条，有效号码"
              "{{ blacklist.valid_entries }}条，名单缺陷{{ blacklist.faults }}条（无效号码不参与匹配，见 "
              "blacklist_faults.csv）。{% else %}未提供公安/司法机关名单文件，名单客户持卡情况未统计。{% endif %}")
    para(doc, "工具版本：cardaudit {{ trail.tool_version }}；规则包：{{ trail.pack_name }} {{ trail.pack_version }}"
              "（SHA-256 {{ trail.pack_hash }}）。")
    para(doc, "{%p for f in trail.inputs %}")
    para(doc, "输入文件：{{ f.file }}（{{ f.rows }}条，SHA-256 {{ f.sha256 }}）")
    para(doc, "{%p endfor %}")
    para(doc, "生成时间：{{ trail.generated_at }}")
    para(doc, "{%p if ledger %}")
    para(doc, "附录五、核查台账进展（{{ ledger.rule_id }} {{ ledger.rule_title }}）", "Heading 1")
    loop_table(doc, ["网点", "发现（户）", "已联系（户）", "非本人意愿（户/张）", "已中止服务（户/张）", "已销户（户）",
                     "无法联系（户）", "待核查（户）", "已整改（户）"], "b in ledger.branches + [ledger.total_row]",
               ["{{ b.branch }}", "{{ b.found }}", "{{ b.contacted }}（本人意愿{{ b.own_will }}）",
                "{{ b.against_will }}／{{ b.against_will_cards }}", "{{ b.stopped }}／{{ b.stopped_cards }}",
                "{{ b.closed }}", "{{ b.unreachable }}", "{{ b.pending }}", "{{ b.resolved }}"],
               [2.6, 1.4, 2.2, 2.0, 2.0, 1.4, 1.4, 1.4, 1.4])
    para(doc, "{{ ledger.basis }}")
    para(doc, "{%p for s in ledger.statuses %}")
    para(doc, "{{ s.status }}：{{ s.meaning }}")
    para(doc, "{%p endfor %}")
    para(doc, "{%p endif %}")


def build(out: Path = OUT) -> Path:
    """Write the template .docx and return its path."""
    doc = Document()
    setup_styles(doc)
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    section.header_distance, section.footer_distance = Cm(1.5), Cm(2.2)
    banner = section.header.paragraphs[0]
    banner.style = doc.styles["未脱敏提示"]
    banner.add_run("{% if banner %}{{ banner }}（按 --unmasked 生成，仅限授权人员查阅，不得外传）{% endif %}")
    page_number_footer(doc, section)
    body(doc)
    props = doc.core_properties
    props.title, props.author = "断卡自查报告模板", "cardaudit"
    # No template tags here: docxtpl renders document properties too.
    props.comments = "cardaudit 报告模板：保留双花括号变量与 p/tr/tc 标签即可修改措辞、字体与信头。"
    doc.save(str(out))
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
