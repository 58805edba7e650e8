"""Opening the published warehouse for IG work (read-only, always) and the state store every look is logged to.

The warehouse is never written by review, explain or lookup: decisions and the access log go to the state store
(``svoc.state``). So an analyst's read-only connection never blocks IG, and IG never locks analysts out.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from schemas.errors import SvocError
from svoc.report.data import Warehouse
from svoc.state import StateStore, open_store


def require_purpose(purpose: str | None) -> str:
    if purpose is None or not purpose.strip():
        raise SvocError("--purpose is required: say why you need this record (it is written to the access log); "
                        "nothing was shown")
    return purpose.strip()


def user_name(user: str | None) -> str:
    return (user or "").strip() or getpass.getuser()


def _check_exists(warehouse: Path) -> None:
    if not warehouse.exists():
        raise SvocError(f"{warehouse}: no such warehouse")


def open_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse, or one plain line saying why not (never DuckDB's
    lock message). Each call opens the file afresh, so after a nightly swap the caller reads the new warehouse."""
    _check_exists(warehouse)
    try:
        return duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise SvocError(f"{warehouse}: another program holds the warehouse open for writing (a read-write "
                            "connection); ask its user to connect read-only and try again") from None
        raise SvocError(f"{warehouse}: cannot open the warehouse for reading; check the path and that it is a "
                        "warehouse file") from None
    except duckdb.Error:
        raise SvocError(f"{warehouse}: cannot open the warehouse for reading; check the path and that it is a "
                        "warehouse file") from None


@contextmanager
def reader(warehouse: Path) -> Iterator[Warehouse]:
    """Read-only access to the published warehouse."""
    con = open_read_only(warehouse)
    try:
        yield Warehouse(con)
    finally:
        con.close()


@contextmanager
def ig_session(warehouse: Path, state_url: str | None = None) -> Iterator[tuple[Warehouse, StateStore]]:
    """The warehouse (read-only) and its state store (decisions, access log), for one IG command or request."""
    with reader(warehouse) as w, open_store(warehouse, state_url) as store:  # no store beside a missing file
        yield w, store
