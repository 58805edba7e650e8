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

from svoc.warehouse.sql import qualified, quote_ident

log = logging.getLogger(__name__)

# (staged table, the columns that identify one of its rows within a source)
_KEEP = (("staging.identity_records", ("source_record_id",)), ("staging.interactions", ("event_id",)))


def changes_only(drop: Path) -> bool:
    """True when the drop's manifest says it holds only changes (``"changes_only": true``)."""
    manifest = drop / "manifest.json"
    if not manifest.exists():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("changes_only") is True
    except (json.JSONDecodeError, AttributeError):
        return False  # an unreadable manifest is reported where the drop date is read (svoc.drops)


def keep_previous(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Before a changes-only drop's rows replace ``source``'s staged rows: set the previous ones aside."""
    for n, (table, _) in enumerate(_KEEP):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _svoc_previous_{n} AS SELECT * FROM {qualified(table)} "
                    "WHERE source = ?", [source])


def restore_unchanged(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """After the drop's rows are staged: put back the set-aside rows the drop does not hold. Returns how many
    identity records were kept unchanged."""
    kept = 0
    for n, (table, keys) in enumerate(_KEEP):
        on = " AND ".join(f"p.{quote_ident(k)} = t.{quote_ident(k)}" for k in keys)
        added = con.execute(f"INSERT INTO {qualified(table)} SELECT * FROM _svoc_previous_{n} p WHERE NOT EXISTS "
                            f"(SELECT 1 FROM {qualified(table)} t WHERE t.source = ? AND {on})", [source]).fetchall()
        if n == 0:
            kept = int(added[0][0]) if added else 0
        con.execute(f"DROP TABLE _svoc_previous_{n}")
    log.info("changes-only drop: source=%s kept %d unchanged identity records", source, kept)
    return kept


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
