"""Keeping last night's staged rows for the unchanged lines of a full drop (``connectors.reuse``).

``reusable_digests`` reads, before a source is extracted, the digests of its staged rows that may be kept: not
rows that depend on the drop date (a flag in ``DATE_DEPENDENT_FLAGS``, an age, a DOB or date of death after
tonight's drop date, which an earlier drop date did not flag). ``write_reusing`` then stages the source: the kept
rows stay (with their ``run_id``: the run that last staged a change to them) and take tonight's line numbers,
every other staged row of the source goes, and the newly standardised rows are added. It first checks that each
kept line has exactly one staged row (a retried step or a tampered table would not): if not, it writes nothing
and the caller extracts the source again in full.
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import numpy as np
import pyarrow as pa

from connectors.reuse import DATE_DEPENDENT_FLAGS, Reusable
from svoc.warehouse.sql import one_row, qualified, write_frame

log = logging.getLogger(__name__)

_TABLES = ((True, "staging.identity_records"), (False, "staging.interactions"))


def reusable_digests(con: duckdb.DuckDBPyConnection, source: str, reference_date: dt.date) -> Reusable:
    """The digests of ``source``'s staged rows that tonight's extract may keep, by table and file."""
    reuse = Reusable()
    for identity, table in _TABLES:
        where = ("AND age IS NULL AND NOT list_has_any(quality_flags, ?::VARCHAR[]) "
                 "AND coalesce(dob <= ?, true) AND coalesce(date_of_death <= ?, true)") if identity else ""
        params = [list(DATE_DEPENDENT_FLAGS), reference_date, reference_date] if identity else []
        files = [r[0] for r in con.execute(f"SELECT DISTINCT source_file FROM {qualified(table)} WHERE source = ? "
                                           "AND row_digest IS NOT NULL", [source]).fetchall()]
        for label in files:  # sorted by DuckDB, one file at a time (no grouping of millions of names in Python)
            rows = con.execute(f"SELECT row_digest FROM {qualified(table)} WHERE source = ? AND source_file = ? "
                               f"AND row_digest IS NOT NULL {where} ORDER BY row_digest",
                               [source, label, *params]).fetchnumpy()
            reuse.digests[(identity, str(label))] = np.asarray(rows["row_digest"], dtype=np.int64)
    return reuse


def reusable_by_source(con: duckdb.DuckDBPyConnection, sources: list[str], reference_date: dt.date,
                       ) -> dict[str, Reusable]:
    """``reusable_digests`` of each of ``sources`` (for the worker extracting sources ahead)."""
    return {source: reusable_digests(con, source, reference_date) for source in sources}


def write_reusing(con: duckdb.DuckDBPyConnection, source: str, identity: pa.Table, interactions: pa.Table,
                  carried: pa.Table) -> tuple[int, int] | None:
    """Stage ``source``: the rows of the ``carried`` lines kept, the new rows added, the rest removed. Returns
    (identity records, interactions) now staged for the source, or None (nothing written) when a carried line
    does not have exactly one staged row."""
    con.register("_svoc_carried", carried)
    counts: list[int] | None = None
    try:
        for identity_table, table in _TABLES:
            expected = int(np.sum(carried.column("identity").to_numpy(zero_copy_only=False) == identity_table))
            found = one_row(con, f"SELECT count(*), count(DISTINCT (c.source_file, c.row_digest)) "
                                 f"FROM {qualified(table)} s JOIN _svoc_carried c ON s.source = ? "
                                 "AND s.source_file = c.source_file AND s.row_digest = c.row_digest "
                                 "AND c.identity = ?", [source, identity_table])
            if found != (expected, expected):
                log.warning("source=%s: %d of %d unchanged lines of %s have one staged row: extracting it in full",
                            source, found[1], expected, table)
                return None
        counts = []
        con.begin()  # all or nothing: a step killed here leaves the last rows, and the next try re-reads them
        for (identity_table, table), new in zip(_TABLES, (identity, interactions), strict=True):
            con.execute(f"DELETE FROM {qualified(table)} s WHERE s.source = ? AND NOT EXISTS (SELECT 1 FROM "
                        "_svoc_carried c WHERE c.identity = ? AND c.source_file = s.source_file "
                        "AND c.row_digest = s.row_digest)", [source, identity_table])
            con.execute(f"UPDATE {qualified(table)} s SET source_line = c.source_line FROM _svoc_carried c "
                        "WHERE s.source = ? AND c.identity = ? AND c.source_file = s.source_file "
                        "AND c.row_digest = s.row_digest AND s.source_line <> c.source_line",
                        [source, identity_table])
            write_frame(con, table, new)
            counts.append(int(one_row(con, f"SELECT count(*) FROM {qualified(table)} WHERE source = ?",
                                      [source])[0]))
        con.commit()
    except BaseException:
        if counts is not None:
            con.rollback()
        raise
    finally:
        con.unregister("_svoc_carried")
    log.info("staged source=%s: %d unchanged lines kept their rows, %d identity and %d interaction rows new",
             source, carried.num_rows, identity.num_rows, interactions.num_rows)
    return counts[0], counts[1]
