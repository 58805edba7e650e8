"""Failed runs never publish, so they are recorded in a small JSON-lines log beside the warehouse and folded
into ``audit.runs`` by the next build (the published file itself is never written in place)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd

from schemas.tables import write_frame


def runlog_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}.runlog.jsonl")


def append_failure(target: Path, *, run_id: str, message: str, drop: str | None = None) -> None:
    path = runlog_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"run_id": run_id, "status": "failed", "finished_at": dt.datetime.now().isoformat(timespec="seconds"),
           "message": message, "drop": drop}
    with open(path, "a", encoding="utf-8") as fh:
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
