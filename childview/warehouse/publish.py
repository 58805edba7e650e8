"""The last stage: check the build, record the run, and swap the build in as the published warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from childview.warehouse.build import connect, publish
from childview.warehouse.runlog import fold_failures
from childview.warehouse.stages import record_run, table_counts
from schemas.errors import ChildviewError
from schemas.tables import TABLES


def check_build(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to publish a build that breaks the contract."""
    present = {r[0] for r in con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()}
    missing = sorted(set(TABLES) - present)
    if missing:
        raise ChildviewError(f"build is missing contract tables {missing}; not publishing")


def publish_build(target: Path, run_id: str, *, started_at: dt.datetime, drop: Path, drop_date: dt.date,
                  conn_kw: dict | None = None) -> dict[str, int]:
    from childview.warehouse.build import build_path

    con = connect(build_path(target, run_id), **(conn_kw or {}))
    try:
        check_build(con)
        fold_failures(con, target)
        counts = table_counts(con)
        record_run(con, run_id=run_id, started_at=started_at, status="success", drop=drop, drop_date=drop_date,
                   row_counts=counts)
    finally:
        con.close()
    publish(target, run_id)
    return counts
