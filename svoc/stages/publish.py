"""The last stage: check the build, record the run, write the analytics file, and swap both in."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from schemas.errors import SvocError
from schemas.tables import TABLES
from svoc.stages.marts import analytics_marts
from svoc.stages.single_view import CHANGED_CHILDREN
from svoc.warehouse.analytics import analytics_path, build_analytics
from svoc.warehouse.build import analytics_build_path, build_path, open_build, publish, published_pair, stamp
from svoc.warehouse.parquet import stage as stage_parquet
from svoc.warehouse.runlog import fold_failures, record_run
from svoc.warehouse.sql import one_row, qualified, table_counts

BUILD_CHECKS = {
    "every staged record has a citizen id": """
        SELECT (SELECT count(*) FROM staging.identity_records) = (SELECT count(*) FROM linked.record_citizen)""",
    "single view has one row per citizen": """
        SELECT (SELECT count(*) FROM linked.single_view)
             = (SELECT count(DISTINCT citizen_id) FROM linked.record_citizen)
           AND (SELECT count(*) FROM linked.single_view) = (SELECT count(DISTINCT citizen_id) FROM linked.single_view)""",
    "every interaction of a linked record is on the timeline": """
        SELECT (SELECT count(*) FROM linked.interactions) = (SELECT count(*) FROM staging.interactions x
                JOIN linked.record_citizen USING (source, source_record_id))""",
}


def check_build(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to publish a build that breaks the contract."""
    present = {r[0] for r in con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()}
    missing = sorted(set(TABLES) - present)
    if missing:
        raise SvocError(f"build is missing contract tables {missing}; not publishing")
    if "linked.single_view" not in present:
        return
    for name, sql in BUILD_CHECKS.items():
        if not one_row(con, sql)[0]:
            raise SvocError(f"build check failed: {name}; not publishing")


def _changed_children(con: duckdb.DuckDBPyConnection, target: Path) -> list[str] | None:
    """The citizen ids in ``CHANGED_CHILDREN`` when the single view step left it (it knew which children's
    timelines changed tonight) and the published analytics file is of the same run as the published warehouse
    the build started from; else None. The table is build-only: dropped here, never published."""
    present = one_row(con, "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                           "AND schema_name || '.' || table_name = ?", [CHANGED_CHILDREN])[0]
    if not present:
        return None
    ids = [r[0] for r in con.execute(f"SELECT citizen_id FROM {qualified(CHANGED_CHILDREN)}").fetchall()]
    con.execute(f"DROP TABLE {qualified(CHANGED_CHILDREN)}")
    warehouse_run, analytics_run = published_pair(target)
    return ids if warehouse_run is not None and warehouse_run == analytics_run else None


def publish_build(target: Path, run_id: str, *, started_at: dt.datetime, drop: Path, drop_date: dt.date,
                  conn_kw: dict | None = None, stage_seconds: dict | None = None,
                  pseudonym_key: bytes, on_step: Callable[[str], None] = lambda _step: None,
                  small_cell_threshold: int = 5, parquet: bool = False) -> dict[str, int]:
    """Check the build, record the run, write the analytics build, stamp both with the run id, swap both in.
    ``parquet``: also publish every table as Parquet beside the warehouse (``svoc.warehouse.parquet``)."""
    con = open_build(target, run_id, **(conn_kw or {}))
    analytics_build = analytics_build_path(target, run_id)
    try:
        check_build(con)
        changed = _changed_children(con, target)
        fold_failures(con, target)
        m = con.execute("SELECT model_version, thresholds, blocking_analysis FROM audit.run_matching "
                        "WHERE run_id = ?", [run_id]).fetchone()
        counts = table_counts(con)
        record_run(con, run_id=run_id, started_at=started_at, status="success", drop=drop, drop_date=drop_date,
                   row_counts=counts, model_version=m[0] if m else None,
                   thresholds=json.loads(m[1]) if m else None, blocking_analysis=json.loads(m[2]) if m else None,
                   stage_seconds=stage_seconds)
        with_analytics = "linked.single_view" in counts
        if with_analytics:
            build_analytics(con, analytics_build, pseudonym_key, marts=analytics_marts(),
                            small_cell_threshold=small_cell_threshold, run_id=run_id,
                            timeline_from=None if changed is None else analytics_path(target),
                            changed_children=changed)
    finally:
        con.close()
    on_step("analytics built")
    stamp(build_path(target, run_id), run_id)
    if with_analytics:
        stamp(analytics_build, run_id)
    on_step("stamped")
    also = (stage_parquet(target, run_id, build_path(target, run_id)),) if parquet else ()
    publish(target, run_id, analytics=with_analytics, on_step=on_step, also=also)
    if with_analytics:
        from svoc.report import write_report

        write_report(target, run_id)
    on_step("report written")
    return counts
