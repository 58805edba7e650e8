"""How a command reports a problem the operator can fix: one line, ``error: …``, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from schemas.errors import SvocError

err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> NoReturn:
    # One line, shown as written: text taken from an input (a file or source name) may hold newlines or markup.
    one_line = " ".join(str(message).split())
    err_console.print(f"[bold red]error:[/] {escape(one_line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def operator_error(exc: BaseException) -> SvocError | None:
    """The ``SvocError`` behind ``exc``: itself, or one it was raised from (Dagster wraps an error raised
    while it builds the definitions, e.g. a bad sources.yaml, in its own exception)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SvocError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn an ``SvocError`` raised by the libraries (or behind a library's wrapper) into one ``error:`` line
    and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SvocError as exc:
            fail(str(exc))
        except Exception as exc:
            cause = operator_error(exc)
            if cause is None:
                raise
            fail(str(cause))

    return wrapper
