"""Canonical column names, the header aliases of common core-banking exports, and what is required.

Every loader maps the export's headers onto these canonical names; everything downstream speaks
only canonical names. Headers are matched after NFKC normalisation with white space removed and
ASCII letters lower-cased, so "证件 号码" and "证件号码" are the same header.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, its Chinese label and the headers that map to it."""

    name: str
    label: str
    aliases: tuple[str, ...]
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("legal_entity", "法人机构",
           ("法人机构", "法人行社", "法人机构号", "法人名称", "法人机构名称", "法人行", "legal_entity")),
    Column("branch", "开户机构",
           ("开户机构", "开户机构号", "开户网点", "网点号", "机构号", "开户网点号", "开户行",
            "branch"), required=True),
    Column("customer_id", "客户号", ("客户号", "客户编号", "客户代码", "customer_id"),
           required=True),
    Column("name", "姓名", ("姓名", "客户姓名", "客户名称", "户名", "name"), required=True),
    Column("id_type", "证件类型", ("证件类型", "证件种类", "id_type")),
    Column("id_number", "证件号码",
           ("证件号码", "身份证号码", "证件号", "身份证号", "id_number"), required=True),
    Column("card_no", "卡号", ("卡号", "银行卡号", "卡号码", "账号", "card_no"), required=True),
    Column("account_class", "账户类别", ("账户类别", "账户分类", "账户类型", "account_class")),
    Column("product", "卡产品", ("卡产品", "产品名称", "卡品种", "卡种", "product")),
    Column("card_kind", "卡类型", ("卡类型", "借贷标志", "借贷记标志", "card_kind")),
    Column("medium", "介质", ("介质", "介质类型", "medium")),
    Column("open_date", "开户日期", ("开户日期", "开卡日期", "open_date")),
    Column("channel", "开户渠道", ("开户渠道", "channel")),
    Column("status", "卡状态", ("卡状态", "账户状态", "状态", "status")),
    Column("close_date", "销户日期", ("销户日期", "close_date")),
    Column("is_agent", "是否代理", ("是否代理", "代理标志", "是否代办", "is_agent")),
    Column("agent_name", "代理人姓名", ("代理人姓名", "代理人名称", "代办人姓名", "agent_name")),
    Column("agent_id_type", "代理人证件类型",
           ("代理人证件类型", "代理人证件种类", "代办人证件类型", "agent_id_type")),
    Column("agent_id", "代理人证件号码",
           ("代理人证件号码", "代理人身份证号", "代理人证件号", "代理人身份证号码", "代办人证件号码",
            "agent_id")),
    Column("agent_phone", "代理人联系电话", ("代理人联系电话", "代理人手机号", "agent_phone")),
    Column("phone", "预留手机号",
           ("手机号码", "预留手机号", "联系电话", "手机号", "预留手机号码", "phone")),
    Column("ebank", "网银/手机银行开通标志",
           ("网银/手机银行开通标志", "网银开通标志", "手机银行开通标志", "ebank")),
    Column("teller", "柜员号", ("柜员号", "经办柜员", "teller")),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
REQUIRED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)

# Columns added by the loader: where each row came from, for error messages and quarantine.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"


SHOWN_ROWS = 5  # row numbers a notice names


def source_rows(frame: Any) -> Any:
    """Each row's number in its file (the loader's SOURCE_ROW; else counted from 2, under a
    header row), as a NumPy array."""
    import numpy as np

    if SOURCE_ROW in frame:
        return frame[SOURCE_ROW].to_numpy()
    return np.arange(2, len(frame) + 2)


def rows_phrase(numbers: Sequence[int], total: int) -> str:
    """'第2、4行' for a notice: the first SHOWN_ROWS of `numbers`, and '等' when `total` rows
    are more than that (row numbers only: never a cell's content)."""
    shown = "、".join(str(int(n)) for n in numbers[:SHOWN_ROWS])
    return f"第{shown}行{'等' if total > min(len(numbers), SHOWN_ROWS) else ''}"


def header_key(header: object) -> str:
    """Normalise a header for alias matching: NFKC, no white space, ASCII lower case."""
    text = unicodedata.normalize("NFKC", str(header))
    return "".join(text.split()).lower()


ALIAS_INDEX: dict[str, str] = {
    header_key(alias): column.name for column in COLUMNS for alias in column.aliases
}


def label(name: str) -> str:
    """The Chinese label of a canonical column, for messages and reports."""
    column = BY_NAME.get(name)
    return column.label if column else name
