"""`cardaudit ledger ...`: worklists out and back, forms, and the ledger's status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cardaudit.terminal import console, err_console, fail

ledger_app = typer.Typer(help="核查台账：导出网点核查清单、导入核查结果、生成核查记录表与处置协议、查看进展。",
                         no_args_is_help=True, rich_markup_mode=None)

LedgerOption = Annotated[str, typer.Option(
    "--ledger", envvar="CARDAUDIT_LEDGER",
    help="核查台账：SQLite 文件路径或 postgresql://用户@主机/库名（也可用环境变量 CARDAUDIT_LEDGER）。")]
BranchOption = Annotated[str | None, typer.Option("--branch", help="只处理该网点（默认全部网点）。")]
EntityOption = Annotated[str | None, typer.Option("--entity", help="只处理该法人机构（默认全部）。")]


@ledger_app.command("export")
def export(
    ledger: LedgerOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="核查清单输出目录（每个网点一个 .xlsx）。")] = Path("核查清单"),
    branch: BranchOption = None,
    entity: EntityOption = None,
    unmasked: Annotated[bool, typer.Option("--unmasked", help="不脱敏（仅当台账本身未脱敏时有效；仅限授权使用）。")] = False,
) -> None:
    """导出网点核查清单：未办结事项，核查结果列为下拉选项，另有非本人意愿卡数、联系日期、备注列。"""
    from cardaudit.ledger.db import opened
    from cardaudit.ledger.worklist import export_worklists

    with opened(ledger) as book:
        written = export_worklists(book, out, branch=branch, entity=entity, unmasked=unmasked)
    if not written:
        console.print("没有未办结的核查事项" + (f"（网点 {escape(branch)}）" if branch else "") + "。",
                      highlight=False)
        return
    for path in written:
        console.print(f"已写出：{escape(str(path))}", highlight=False)


@ledger_app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="网点交回的核查清单（.xlsx），可多个。")],
    ledger: LedgerOption,
    by: Annotated[str | None, typer.Option("--by", help="导入人（记入每条变更；默认当前登录用户名）。")] = None,
) -> None:
    """导入填好的核查清单：逐行校验（未知事项、非法结果、未来日期等逐行报错），其余行在一个事务中写入。"""
    from cardaudit.job import check_inputs_exist
    from cardaudit.ledger.audit import actor_name
    from cardaudit.ledger.db import opened
    from cardaudit.ledger.worklist import import_worklist

    check_inputs_exist(files)
    rejected = 0
    with opened(ledger) as book:
        for path in files:
            report = import_worklist(book, path, actor_name(by))
            rejected += report.rejected
            again = "（该文件此前已导入过）" if report.repeated else ""
            console.print(f"{escape(path.name)}{again}：共 {report.rows} 行，更新 {report.changed}，"
                          f"无变化 {report.unchanged}，未填写 {report.blank}，拒绝 {report.rejected}。",
                          highlight=False)
            for problem in report.problems:
                err_console.print(f"[red]拒绝：[/]{escape(problem.text(path.name))}", highlight=False)
    if rejected:
        fail(f"有 {rejected} 行未导入（原因见上）。请改正后重新导入这些行；已导入的行不会重复记录。")


@ledger_app.command("forms")
def forms(
    ledger: LedgerOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="输出目录（每个网点一个 .docx）。")] = Path("核查表单"),
    branch: BranchOption = None,
    entity: EntityOption = None,
    templates: Annotated[Path | None, typer.Option(help="本行修改过的模板目录（verification_forms.docx）。")] = None,
) -> None:
    """为每位待联系客户生成《开卡意愿核查记录表》与《非本人意愿开立银行卡处置协议》（Word，可按本行修改模板）。"""
    from cardaudit.ledger.db import opened
    from cardaudit.ledger.forms import write_forms

    with opened(ledger) as book:
        written = write_forms(book, out, branch=branch, entity=entity, templates=templates)
    if not written:
        console.print("没有待联系的客户。", highlight=False)
    for path, customers in written:
        console.print(f"已写出：{escape(str(path))}（{customers} 位客户）", highlight=False)


@ledger_app.command("status")
def status(ledger: LedgerOption, entity: EntityOption = None) -> None:
    """按法人机构与网点列出台账中各状态的事项数，以及最近几次审计与导入。"""
    from cardaudit.ledger.db import opened
    from cardaudit.ledger.overview import overview_tables

    with opened(ledger) as book:
        for table in overview_tables(book, entity):
            console.print(table)
