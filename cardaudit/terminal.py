"""The consoles every command prints to, and `fail`: a Chinese error and exit code 2."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]错误：[/]{escape(message)}", highlight=False)
    raise typer.Exit(code)
