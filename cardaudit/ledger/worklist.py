"""Branch worklists: open findings out to XLSX, filled worklists back into the ledger.

The worklist is pre-filled with each finding's current outcome, so an untouched row imports as
"unchanged" and importing the same file twice changes nothing. Import validates every row,
reports each problem with its row and column, and applies the valid rows in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from cardaudit.dates import parse_dates
from cardaudit.errors import ConfigError, InputError
from cardaudit.ledger import AGAINST, OPEN, OUTCOMES, OWN_WILL, PENDING, RESOLVED, STATUS_MEANING
from cardaudit.ledger.db import Ledger, events, findings, imports, now, runs
from cardaudit.mask import mask_subjects
from cardaudit.outputs.files import atomic_path, safe_file_name
from cardaudit.report import UNMASKED_BANNER

SHEET = "核查清单"
# (header, ledger column or None for derived, width, editable)
COLUMNS = (
    ("指纹", "fingerprint", 27, False),
    ("法人机构", "legal_entity", 18, False),
    ("网点", "branch", 16, False),
    ("规则", "rule_id", 16, False),
    ("问题", "rule_title", 28, False),
    ("客户", "subject", 22, False),
    ("客户号", "customer_ids", 18, False),
    ("卡数", "card_count", 6, False),
    ("卡号", "cards", 40, False),
    ("当前状态", "status", 16, False),
    ("核查结果", "outcome", 18, True),
    ("非本人意愿卡数", "against_will_cards", 10, True),
    ("联系日期", "contact_date", 12, True),
    ("备注", "note", 36, True),
)
HEADERS = tuple(c[0] for c in COLUMNS)
REQUIRED = ("指纹", "核查结果", "非本人意愿卡数", "联系日期", "备注")
_DOTS = re.compile(r"[\u00b7\u30fb\u2027\u2022\u22c5\u0387・.\-—－]")


@dataclass
class Problem:
    row: int
    column: str
    message: str

    def text(self, file: str) -> str:
        return f"{file} 第{self.row}行「{self.column}」列：{self.message}"


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    changed: int = 0
    unchanged: int = 0
    blank: int = 0
    problems: list[Problem] = field(default_factory=list)
    repeated: bool = False  # the same file (by sha256) was imported before

    @property
    def rejected(self) -> int:
        return len({p.row for p in self.problems})


# ---------------------------------------------------------------- export


def open_findings(ledger: Ledger, branch: str | None = None,
                  entity: str | None = None) -> pd.DataFrame:
    """Open findings (待核查, 无法联系, 已联系·非本人意愿), in worklist order."""
    query = sa.select(findings).where(findings.c.status.in_(OPEN))
    if branch is not None:
        query = query.where(findings.c.branch == branch)
    if entity is not None:
        query = query.where(findings.c.legal_entity == entity)
    query = query.order_by(findings.c.legal_entity, findings.c.branch, findings.c.rule_id,
                           findings.c.subject, findings.c.fingerprint)
    with ledger.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in findings.columns])


def export_worklists(ledger: Ledger, out_dir: Path, *, branch: str | None = None,
                     entity: str | None = None, unmasked: bool = False) -> list[Path]:
    """One worklist per legal entity x branch with open findings; returns the files written."""
    frame = open_findings(ledger, branch, entity)
    if unmasked and not ledger.unmasked:
        unmasked = False  # a masked ledger has nothing more to show
    if len(frame) and ledger.unmasked and not unmasked:
        frame["subject"] = mask_subjects(frame["subject"].astype("str"),
                                         frame["subject_kind"].astype("str")).to_numpy()
    with ledger.engine.connect() as conn:
        as_of = conn.execute(sa.select(sa.func.max(runs.c.as_of))).scalar() or ""
    make_folder(out_dir)
    written = []
    for (entity_name, branch_name), part in frame.groupby(["legal_entity", "branch"], sort=True):
        name = f"核查清单_{safe_file_name(entity_name)}_{safe_file_name(branch_name)}_{as_of}.xlsx"
        written.append(_write(out_dir / name, part, entity_name, branch_name, as_of, unmasked))
    return written


def _cell(column: str, row: dict[str, Any]) -> Any:
    value = row[column if column != "outcome" else "status"]
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    if column == "customer_ids":
        return "、".join(json.loads(value))
    if column == "cards":
        return "、".join(c["card_no"] for c in json.loads(value))
    if column == "contact_date":
        return date.fromisoformat(value)
    return value


def _write(path: Path, part: pd.DataFrame, entity: str, branch: str, as_of: str,
           unmasked: bool) -> Path:
    import xlsxwriter

    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False,
                                              "strings_to_urls": False})
        head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1,
                                "text_wrap": True, "locked": True})
        locked = book.add_format({"locked": True, "text_wrap": True, "valign": "top"})
        free = book.add_format({"locked": False, "bg_color": "#FFF2CC", "valign": "top"})
        free_date = book.add_format({"locked": False, "bg_color": "#FFF2CC",
                                     "num_format": "yyyy-mm-dd", "valign": "top"})
        sheet = book.add_worksheet(SHEET)
        for j, (header, _, width, editable) in enumerate(COLUMNS):
            sheet.write_string(0, j, header, head)
            sheet.set_column(j, j, width, free if editable else locked)
        records = part.to_dict("records")
        for i, row in enumerate(records, start=1):
            for j, (_, column, _, editable) in enumerate(COLUMNS):
                value = _cell(column, row)
                if value is None:
                    sheet.write_blank(i, j, None, free if editable else locked)
                elif isinstance(value, date):
                    sheet.write_datetime(i, j, datetime.combine(value, datetime.min.time()),
                                         free_date)
                elif isinstance(value, str):
                    sheet.write_string(i, j, value, free if editable else locked)
                else:
                    sheet.write_number(i, j, int(value), free if editable else locked)
        last = max(len(records), 1)
        col = {c[1]: j for j, c in enumerate(COLUMNS)}
        sheet.data_validation(1, col["outcome"], last, col["outcome"], {
            "validate": "list", "source": list(OUTCOMES),
            "error_title": "核查结果", "error_message": "请从下拉列表中选择核查结果。"})
        count_ref = xlsxwriter.utility.xl_rowcol_to_cell(1, col["card_count"], col_abs=True)
        sheet.data_validation(1, col["against_will_cards"], last, col["against_will_cards"], {
            "validate": "integer", "criteria": "between", "minimum": 0,
            "maximum": f"={count_ref}", "error_title": "非本人意愿卡数",
            "error_message": "请填写0至卡数之间的整数。"})
        sheet.data_validation(1, col["contact_date"], last, col["contact_date"], {
            "validate": "date", "criteria": "between", "minimum": date(2000, 1, 1),
            "maximum": "=TODAY()", "error_title": "联系日期",
            "error_message": "请填写不晚于今天的日期，例如 2026-11-20。"})
        sheet.freeze_panes(1, 1)
        sheet.autofilter(0, 0, last, len(COLUMNS) - 1)
        sheet.protect("", {"autofilter": True, "sort": True, "format_columns": True})
        _explain(book, entity, branch, as_of, len(records), unmasked)
        book.close()
    return path


def _explain(book: Any, entity: str, branch: str, as_of: str, rows: int, unmasked: bool) -> None:
    sheet = book.add_worksheet("说明")
    bold = book.add_format({"bold": True})
    lines = [
        ("核查清单", f"{entity} {branch}，截至 {as_of} 的审计，未办结事项 {rows} 条"),
        ("填写", "只填写黄色的「核查结果」「非本人意愿卡数」「联系日期」「备注」四列，"
                 "不要改动其他列；填好后交回，由台账管理员用 cardaudit ledger import 导入。"),
        ("联系日期", "除「待核查」外都须填写，不得晚于导入当天。"),
        ("非本人意愿卡数", "「已联系·非本人意愿」「已中止服务」须填1至卡数之间的整数；"
                           "「已联系·本人意愿」填0或留空。"),
        ("个人信息", UNMASKED_BANNER + "，仅限授权人员查阅" if unmasked
         else "客户证件号码已脱敏；请凭客户号在业务系统中查询客户。"),
    ]
    lines += [(f"「{status}」", meaning) for status, meaning in STATUS_MEANING.items()
              if status != RESOLVED]
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, 1, 90)
    for i, (key, text) in enumerate(lines):
        sheet.write_string(i, 0, key, bold)
        sheet.write_string(i, 1, text)


def make_folder(folder: Path) -> None:
    """The output folder of worklists or forms; a path that cannot be one is exit 2."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"无法创建输出目录 {folder}：{exc.strerror}。请用 --out 指定可写的目录。") from None


# ---------------------------------------------------------------- import


@dataclass
class _Entry:
    row: int
    fingerprint: str
    status: str
    contact_date: str | None
    against: int | None
    note: str | None


def _outcome(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return _DOTS.sub("·", re.sub(r"\s+", "", text))


def read_worklist(path: Path, today: date) -> tuple[ImportReport, list[_Entry]]:
    """Parse and check a filled worklist; rows that fail any check become problems."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    report = ImportReport(file=path.name)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"无法读取核查清单 {path.name}：{exc}。请交回由 cardaudit ledger export "
                         "生成的 .xlsx 文件。") from None
    sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        raise InputError(f"{path.name} 的「{sheet.title}」表缺少列：{'、'.join(missing)}。"
                         f"找到的列：{'、'.join(h for h in header if h) or '（无）'}。"
                         "请使用 cardaudit ledger export 生成的清单，不要删改表头。")
    at = {h: header.index(h) for h in REQUIRED}
    raw = [(n, r) for n, r in enumerate(rows, start=2)
           if any(v is not None and str(v).strip() for v in r)]
    book.close()
    report.rows = len(raw)
    date_text = pd.Series([_date_text(r[at["联系日期"]] if len(r) > at["联系日期"] else None)
                           for _, r in raw], dtype="str")
    parsed = parse_dates(date_text) if len(raw) else pd.Series([], dtype="datetime64[ns]")
    entries, seen = [], {}
    for k, (n, r) in enumerate(raw):
        def get(h: str, r: tuple = r) -> Any:
            i = at[h]
            return r[i] if i < len(r) else None

        problems = []
        fp = str(get("指纹") or "").strip()
        outcome = _outcome(get("核查结果") or "")
        if not fp:
            problems.append(Problem(n, "指纹", "指纹为空：请勿删改清单的指纹列。"))
        if not outcome:
            report.blank += 1
            continue
        if outcome == RESOLVED:
            problems.append(Problem(n, "核查结果", "「已整改」由审计自动判定，不能手工填写。"))
        elif outcome not in OUTCOMES:
            problems.append(Problem(n, "核查结果", f"「{outcome}」不是允许的核查结果；"
                                    f"可选：{'、'.join(OUTCOMES)}。"))
        contact = None
        if date_text[k]:
            if pd.isna(parsed[k]):
                problems.append(Problem(n, "联系日期", f"「{date_text[k]}」不是日期；"
                                        "请写成 2026-11-20。"))
            else:
                day = parsed[k].date()
                if day > today:
                    problems.append(Problem(n, "联系日期", f"{day.isoformat()} 晚于今天"
                                            f"（{today.isoformat()}）：请填写实际联系日期。"))
                contact = day.isoformat()
        elif outcome not in (PENDING, "") and outcome in OUTCOMES:
            problems.append(Problem(n, "联系日期", f"核查结果为「{outcome}」时须填写联系日期。"))
        against = _count(get("非本人意愿卡数"), n, problems)
        if outcome in AGAINST and not against:
            problems.append(Problem(n, "非本人意愿卡数",
                                    f"核查结果为「{outcome}」时须填写非本人意愿开立的卡数（≥1）。"))
        if outcome == OWN_WILL and against:
            problems.append(Problem(n, "非本人意愿卡数",
                                    "核查结果为「已联系·本人意愿」时非本人意愿卡数应为0或留空。"))
        note = str(get("备注") or "").strip() or None
        entry = _Entry(n, fp, outcome, contact, against, note)
        if fp in seen and not problems:
            earlier = seen[fp]
            if (earlier.status, earlier.contact_date, earlier.against, earlier.note) != (
                    outcome, contact, against, note):
                problems.append(Problem(n, "指纹", f"与第{earlier.row}行是同一事项但填写不同；"
                                        "请只保留一行。"))
            else:
                report.unchanged += 1
                continue
        if problems:
            report.problems += problems
        else:
            seen[fp] = entry
            entries.append(entry)
    return report, entries


def _date_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _count(value: Any, row: int, problems: list[Problem]) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if re.fullmatch(r"[0-9]+(\.0+)?", text):
        return int(float(text))
    problems.append(Problem(row, "非本人意愿卡数", f"「{value}」不是非负整数。"))
    return None


def import_worklist(ledger: Ledger, path: Path, actor: str,
                    today: date | None = None) -> ImportReport:
    """Validate a filled worklist and apply its valid rows in one transaction."""
    report, entries = read_worklist(path, today or date.today())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    stamp = now()
    source = f"{path.name}（sha256 {sha[:12]}）"
    wanted = sorted({e.fingerprint for e in entries})
    with ledger.transaction() as conn:
        report.repeated = conn.execute(sa.select(sa.func.count()).select_from(imports)
                                       .where(imports.c.sha256 == sha)).scalar_one() > 0
        query = (sa.select(findings.c.fingerprint, findings.c.status, findings.c.contact_date,
                           findings.c.against_will_cards, findings.c.note, findings.c.card_count)
                 .where(findings.c.fingerprint.in_(wanted)).order_by(findings.c.fingerprint))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # row locks, always taken in fingerprint order
        stored = {r.fingerprint: r for r in conn.execute(query)} if wanted else {}
        changes = []
        for e in entries:
            current = stored.get(e.fingerprint)
            if current is None:
                report.problems.append(Problem(e.row, "指纹", f"{e.fingerprint} 不在此台账中："
                                               "清单是否来自另一个台账？"))
                continue
            if current.status == RESOLVED:  # a worklist exported before that audit
                report.problems.append(Problem(e.row, "核查结果", "该事项已由其后的审计判定为"
                                               "「已整改」（不再发现），此清单已过期：请删除该行，"
                                               "或重新导出核查清单。"))
                continue
            if e.against is not None and e.against > current.card_count:
                report.problems.append(Problem(e.row, "非本人意愿卡数",
                                               f"{e.against} 超过该事项的卡数 {current.card_count}。"))
                continue
            if (current.status, current.contact_date, current.against_will_cards,
                    current.note) == (e.status, e.contact_date, e.against, e.note):
                report.unchanged += 1
                continue
            changes.append((e, current.status))
        import_id = conn.execute(imports.insert().values(
            file=path.name, sha256=sha, actor=actor, at=stamp, rows=report.rows,
            changed=len(changes), unchanged=report.unchanged, blank=report.blank,
            rejected=report.rejected)).inserted_primary_key[0]
        if changes:
            conn.execute(
                findings.update().where(findings.c.fingerprint == sa.bindparam("fp")).values(
                    status=sa.bindparam("v_status"), contact_date=sa.bindparam("v_date"),
                    against_will_cards=sa.bindparam("v_against"), note=sa.bindparam("v_note"),
                    updated_at=stamp, updated_by=actor, revision=findings.c.revision + 1),
                [{"fp": e.fingerprint, "v_status": e.status, "v_date": e.contact_date,
                  "v_against": e.against, "v_note": e.note} for e, _ in changes])
            conn.execute(events.insert(), [
                {"fingerprint": e.fingerprint, "at": stamp, "actor": actor, "source": source,
                 "run_id": None, "import_id": import_id, "old_status": old,
                 "new_status": e.status, "contact_date": e.contact_date,
                 "against_will_cards": e.against, "note": e.note} for e, old in changes])
    report.changed = len(changes)
    report.problems.sort(key=lambda p: p.row)
    return report
