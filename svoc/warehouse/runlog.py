"""``audit.runs``: the successful run's row, written at publish, and failed runs.

Failed runs never publish, so they are recorded in a small JSON-lines log beside the warehouse and folded
into ``audit.runs`` by the next build (the published file itself is never written in place)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pandas as pd

from svoc.warehouse.files import make_private_dir
from svoc.warehouse.sql import write_frame


def runlog_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}.runlog.jsonl")


def append_failure(target: Path, *, run_id: str, message: str, drop: str | None = None) -> None:
    path = runlog_path(target)
    make_private_dir(path.parent)
    row = {"run_id": run_id, "status": "failed", "finished_at": dt.datetime.now().isoformat(timespec="seconds"),
           "message": message, "drop": drop}
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)  # it names drops and runs: private
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def fold_failures(con: duckdb.DuckDBPyConnection, target: Path) -> int:
    """Copy logged failures into audit.runs (once each)."""
    path = runlog_path(target)
    if not path.exists():
        return 0
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    known = {r[0] for r in con.execute("SELECT run_id FROM audit.runs").fetchall()}
    new = pd.DataFrame([r for r in rows if r["run_id"] not in known])
    if new.empty:
        return 0
    new["finished_at"] = pd.to_datetime(new["finished_at"])
    return write_frame(con, "audit.runs", new)


def record_run(con: duckdb.DuckDBPyConnection, *, run_id: str, started_at: dt.datetime, status: str, drop: Path,
               drop_date: dt.date, row_counts: dict, model_version: str | None = None, thresholds: dict | None = None,
               blocking_analysis: dict | None = None, stage_seconds: dict | None = None, message: str = "") -> None:
    from svoc import __version__

    row = pd.DataFrame([{
        "run_id": run_id, "started_at": started_at, "finished_at": dt.datetime.now(), "status": status,
        "drop": str(drop), "drop_date": drop_date, "model_version": model_version, "code_version": __version__,
        "thresholds": json.dumps(thresholds or {}), "row_counts": json.dumps(row_counts),
        "blocking_analysis": json.dumps(blocking_analysis or {}), "stage_seconds": json.dumps(stage_seconds or {}),
        "message": message,
    }])
    write_frame(con, "audit.runs", row, replace_where="run_id = ?", params=[run_id])
