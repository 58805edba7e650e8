"""Opening the published warehouse for review, and the access log every look is written to first."""

from __future__ import annotations

import datetime as dt
import getpass
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from schemas.errors import SvocError
from svoc.report.data import Warehouse
from svoc.warehouse.build import acquire_lock, release_lock

ACCESS_LOG_DDL = ("CREATE TABLE IF NOT EXISTS audit.access_log (accessed_at TIMESTAMP, who VARCHAR, command VARCHAR, "
                  "subject VARCHAR, purpose VARCHAR)")


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


@contextmanager
def reader(warehouse: Path) -> Iterator[Warehouse]:
    """Read-only access (the queue listing shows no personal details and is not logged)."""
    _check_exists(warehouse)
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        raise SvocError(f"{warehouse}: cannot open the warehouse for reading; check the path and that it is a "
                        "warehouse file") from None
    try:
        yield Warehouse(con)
    finally:
        con.close()


@contextmanager
def writer(warehouse: Path, attempts: int = 10) -> Iterator[duckdb.DuckDBPyConnection]:
    """Exclusive, short read-write access to the published file (refused while a run is writing it)."""
    _check_exists(warehouse)
    try:
        acquire_lock(warehouse, f"review-{uuid.uuid4()}")
    except SvocError:
        raise SvocError(f"{warehouse}: a pipeline run is writing this warehouse; try again when it has finished"
                        ) from None
    try:
        con = None
        for i in range(attempts):
            try:
                con = duckdb.connect(str(warehouse))
                break
            except duckdb.IOException:
                if i == attempts - 1:
                    raise SvocError(f"{warehouse}: another program has the warehouse open for writing; close it "
                                    "and try again") from None
                time.sleep(0.5)
        assert con is not None
        try:
            con.execute(ACCESS_LOG_DDL)
            yield con
            con.execute("CHECKPOINT")
        finally:
            con.close()
    finally:
        release_lock(warehouse)


def log_access(con: duckdb.DuckDBPyConnection, who: str, command: str, subject: str, purpose: str) -> None:
    con.execute("INSERT INTO audit.access_log VALUES (?, ?, ?, ?, ?)",
                [dt.datetime.now(dt.UTC).replace(tzinfo=None), who, command, subject, purpose])
