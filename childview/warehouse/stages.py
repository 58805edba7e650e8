"""What each pipeline stage does to the build warehouse. Dagster assets are thin wrappers over these.

Every function takes an open DuckDB connection on the run's build file and returns a dict of
non-identifying numbers (row counts) for asset metadata and ``audit.runs``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import duckdb
import pandas as pd

from schemas.config import SourceConfig
from schemas.tables import write_frame

log = logging.getLogger(__name__)


def stage_source(con: duckdb.DuckDBPyConnection, drop: Path, config: SourceConfig, run_id: str,
                 reference_date: dt.date) -> dict:
    """Extract one source of the drop into staging.* and quarantine.rows (replacing that source's rows)."""
    from connectors import extract_source

    extract = extract_source(drop / config.name, config, run_id=run_id, reference_date=reference_date)
    where, params = "source = ?", [config.name]
    # The last published run's count, read before this run replaces it (kept across a retried step).
    earlier = con.execute("SELECT previous_identity_records FROM audit.source_runs WHERE run_id = ? AND source = ?",
                          [run_id, config.name]).fetchone()
    previous = earlier[0] if earlier else con.execute(
        "SELECT count(*) FROM staging.identity_records WHERE source = ?", params).fetchone()[0]
    for frame in (extract.identity, extract.interactions):
        frame["run_id"] = run_id
    extract.quarantine["run_id"] = run_id
    n_id = write_frame(con, "staging.identity_records", extract.identity, replace_where=where, params=params)
    n_ix = write_frame(con, "staging.interactions", extract.interactions, replace_where=where, params=params)
    n_q = write_frame(con, "quarantine.rows", extract.quarantine, replace_where=where, params=params)
    accounts = pd.DataFrame([a.__dict__ for a in extract.accounts])
    accounts["run_id"], accounts["source"] = run_id, config.name
    write_frame(con, "audit.file_accounts", accounts, replace_where="source = ? AND run_id = ?",
                params=[config.name, run_id])
    write_frame(con, "audit.source_runs", pd.DataFrame([{
        "run_id": run_id, "source": config.name, "identity_records": n_id,
        "previous_identity_records": previous or None, "interactions": n_ix, "quarantined": n_q}]),
        replace_where="run_id = ? AND source = ?", params=[run_id, config.name])
    log.info("staged source=%s identity=%d interactions=%d quarantined=%d", config.name, n_id, n_ix, n_q)
    return {"identity_records": n_id, "interactions": n_ix, "quarantined": n_q,
            "files": {a.file: {"lines_in": a.lines_in, "records_out": a.records_out, "quarantined": a.quarantined}
                      for a in extract.accounts}}


def record_run(con: duckdb.DuckDBPyConnection, *, run_id: str, started_at: dt.datetime, status: str, drop: Path,
               drop_date: dt.date, row_counts: dict, model_version: str | None = None, thresholds: dict | None = None,
               blocking_analysis: dict | None = None, stage_seconds: dict | None = None, message: str = "") -> None:
    from childview import __version__

    row = pd.DataFrame([{
        "run_id": run_id, "started_at": started_at, "finished_at": dt.datetime.now(), "status": status,
        "drop": str(drop), "drop_date": drop_date, "model_version": model_version, "code_version": __version__,
        "thresholds": json.dumps(thresholds or {}), "row_counts": json.dumps(row_counts),
        "blocking_analysis": json.dumps(blocking_analysis or {}), "stage_seconds": json.dumps(stage_seconds or {}),
        "message": message,
    }])
    write_frame(con, "audit.runs", row, replace_where="run_id = ?", params=[run_id])


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    names = [r[0] for r in con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in names}
