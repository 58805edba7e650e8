"""Intraday drops that hold only changes: ``"changes_only": true`` in the drop's ``manifest.json``.

Such a drop holds the new and changed records of the sources it has folders for; a record it does not hold is
unchanged, not removed, and a configured source with no folder in the drop is unchanged as a whole. The extract
stage then keeps each source's previous staged rows (from the last published run, already in the build) for the
records the drop does not hold, so every later stage sees the whole picture and the matching stage runs an
incremental night over just the changed records (``matching.incremental``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import duckdb
import pandas as pd

from svoc.warehouse.sql import one_row, qualified, quote_ident, write_frame

log = logging.getLogger(__name__)

# (staged table, the columns that identify one of its rows within a source)
_KEEP = (("staging.identity_records", "source_record_id"), ("staging.interactions", "event_id"))


def changes_only(drop: Path) -> bool:
    """True when the drop's manifest says it holds only changes (``"changes_only": true``)."""
    manifest = drop / "manifest.json"
    if not manifest.exists():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("changes_only") is True
    except (json.JSONDecodeError, AttributeError):
        return False  # an unreadable manifest is reported where the drop date is read (svoc.drops)


def write_changed(con: duckdb.DuckDBPyConnection, source: str, identity: pd.DataFrame,
                  interactions: pd.DataFrame) -> tuple[int, int]:
    """Stage a changes-only drop's rows for ``source``: each replaces the staged row with its key (a record id,
    an event id); every staged row the drop does not hold stays. Only the changed rows are written, so an intraday
    drop costs in proportion to its size. Returns (identity records now staged for the source, interactions
    written)."""
    written = []
    for (table, key), frame in zip(_KEEP, (identity, interactions), strict=True):
        keys = frame[key].astype(str).unique().tolist() if len(frame) else []
        written.append(write_frame(con, table, frame, params=[source, keys],
                                   replace_where=f"source = ? AND {quote_ident(key)} IN (SELECT unnest(?::VARCHAR[]))"))
    n_id = one_row(con, "SELECT count(*) FROM staging.identity_records WHERE source = ?", [source])[0]
    log.info("changes-only drop: source=%s %d identity records changed or new, %d kept unchanged", source,
             written[0], n_id - written[0])
    return int(n_id), written[1]


def unchanged_source(con: duckdb.DuckDBPyConnection, source: str, run_id: str) -> dict:
    """A configured source with no folder in a changes-only drop: its staged rows stay as they are."""
    n_id, n_ix = (con.execute(f"SELECT count(*) FROM {qualified(t)} WHERE source = ?", [source]).fetchall()[0][0]
                  for t, _ in _KEEP)
    con.execute("DELETE FROM audit.source_runs WHERE run_id = ? AND source = ?", [run_id, source])
    con.execute("INSERT INTO audit.source_runs (run_id, source, identity_records, previous_identity_records, "
                "interactions, quarantined) VALUES (?, ?, ?, ?, ?, 0)", [run_id, source, n_id, n_id, n_ix])
    log.info("changes-only drop: source=%s not in the drop, %d identity records unchanged", source, n_id)
    return {"identity_records": int(n_id), "interactions": int(n_ix), "quarantined": 0, "notices": 0, "files": {},
            "unchanged": True}
