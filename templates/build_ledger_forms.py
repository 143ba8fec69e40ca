"""Build templates/verification_forms.docx: per customer awaiting contact, the 核查记录表 and the
处置协议 for cards opened against the customer's will (docxtpl tags, one branch per document).

Run `python templates/build_ledger_forms.py` to regenerate it. A bank may instead edit the .docx
in Word (its own agreement wording, letterhead, seal lines) and keep the {{ ... }} / {%p ... %} /
{%tr ... %} tags. The values: bank, branch, as_of, generated_at, banner, and `customers`, each with
subject, customer_ids, reasons, fingerprints, card_count and `cards` (card_no, product,
open_date, branch, status).
"""
# ruff: noqa: E501  (the forms' wording is kept as whole Chinese lines)

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.shared import Cm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_report_docx import (  # noqa: E402  (the report template's styles and helpers)
    loop_table,
    page_break,
    page_number_footer,
    para,
    setup_styles,
    table,
)

OUT = Path(__file__).resolve().parent / "verification_forms.docx"
CARD_COLUMNS = ["卡号", "产品", "开户日期", "开户网点", "状态"]
CARD_CELLS = ["{{ card.card_no }}", "{{ card.product }}", "{{ card.open_date }}", "{{ card.branch }}",
              "{{ card.status }}"]


def record_sheet(doc) -> None:
    para(doc, "银行卡开户意愿核查记录表", "Title")
    table(doc, ["项目", "内容"], [
        ["法人机构", "{{ bank }}"], ["负责网点", "{{ c.branch }}"], ["客户（证件号码已脱敏）", "{{ c.subject }}"],
        ["客户号", "{{ c.customer_ids }}"], ["核查事由", "{{ c.reasons }}"],
        ["台账事项（指纹）", "{{ c.fingerprints }}"],
    ], [4.5, 11.5])
    para(doc, "名下计入的借记卡（共{{ c.card_count }}张）：", "报告抬头")
    loop_table(doc, [*CARD_COLUMNS, "是否本人意愿"], "card in c.cards", [*CARD_CELLS, "□是 □否"],
               [4.4, 2.8, 2.4, 2.4, 1.6, 2.4])
    para(doc, "联系方式：□电话　□上门　□客户到网点　　联系日期：　　　年　　月　　日", "报告抬头")
    para(doc, "核查结论：□各卡均为本人意愿开立　□存在非本人意愿开立的借记卡　　　张　□无法联系", "报告抬头")
    para(doc, "处置情况：□已签订处置协议并中止服务　□已销户　□无需处置", "报告抬头")
    para(doc, "客户签字：　　　　　　经办人：　　　　　　复核人：　　　　　　", "报告抬头")
    para(doc, "（核查结果请填入网点核查清单，交回后导入核查台账。）", "报告抬头")


def agreement(doc) -> None:
    para(doc, "非本人意愿开立银行卡处置协议", "Title")
    para(doc, "甲方（客户）：　　　　　　　　证件号码：　　　　　　　　　　客户号：{{ c.customer_ids }}", "报告抬头")
    para(doc, "乙方：{{ bank }}（{{ c.branch }}）", "报告抬头")
    para(doc, "甲方声明：下列以甲方名义开立的银行卡中，本表勾选的卡片并非甲方本人意愿办理。甲方申请乙方对勾选的卡片"
              "中止服务或予以销户。乙方已当面核实甲方身份，并告知甲方：中止服务后该卡不能办理存取款、转账及支付业务，"
              "卡内资金可由甲方持有效身份证件到乙方营业网点办理支取或转入本人其他账户。")
    loop_table(doc, [*CARD_COLUMNS, "处置方式"], "card in c.cards", [*CARD_CELLS, "□中止服务 □销户"],
               [4.4, 2.8, 2.4, 2.4, 1.6, 2.4])
    para(doc, "甲方承诺所作声明真实；如有不实，由甲方承担相应责任。本协议一式两份，甲乙双方各执一份，"
              "自双方签字（盖章）之日起生效。")
    para(doc, "甲方（签字）：　　　　　　　　　　　　乙方（盖章）：", "报告抬头")
    para(doc, "日期：　　　　年　　月　　日　　　　　经办人：　　　　　日期：　　　　年　　月　　日", "报告抬头")


def build(out: Path = OUT) -> Path:
    """Write the forms template .docx and return its path."""
    doc = Document()
    setup_styles(doc)
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2.5), Cm(2.5)
    section.left_margin, section.right_margin = Cm(2.5), Cm(2.5)
    banner = section.header.paragraphs[0]
    banner.style = doc.styles["未脱敏提示"]
    banner.add_run("{% if banner %}{{ banner }}（仅限授权人员查阅，不得外传）{% endif %}")
    page_number_footer(doc, section)
    para(doc, "{%p for c in customers %}")
    record_sheet(doc)
    page_break(doc)
    agreement(doc)
    para(doc, "{%p if not loop.last %}")
    page_break(doc)
    para(doc, "{%p endif %}")
    para(doc, "{%p endfor %}")
    props = doc.core_properties
    props.title, props.author = "开卡意愿核查记录表与处置协议模板", "cardaudit"
    props.comments = "cardaudit 表单模板：保留双花括号变量与 p/tr 标签即可修改措辞、字体与信头。"
    doc.save(str(out))
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
