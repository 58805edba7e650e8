"""The extract stage: one source of the drop into staging.* and quarantine.rows of the build.

Like every stage function, it takes an open DuckDB connection on the run's build file and returns a dict of
non-identifying numbers (row counts) for asset metadata and ``audit.runs``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from schemas.config import SourceConfig
from schemas.rules import DOB_FROM_DEFAULT
from svoc.stages.ahead import ExtractAhead, StagedTables, extract_staged
from svoc.stages.reuse import reusable_digests, write_reusing
from svoc.warehouse.sql import one_row, write_frame

log = logging.getLogger(__name__)


def stage_source(con: duckdb.DuckDBPyConnection, drop: Path, config: SourceConfig, run_id: str,
                 reference_date: dt.date, dob_from: dt.date = DOB_FROM_DEFAULT,
                 ahead: ExtractAhead | None = None) -> dict:
    """Extract one source of the drop into staging.* and quarantine.rows (replacing that source's rows; on a full
    drop, the rows of lines unchanged since they were staged are kept: ``svoc.stages.reuse``).
    ``dob_from``: the earliest plausible DOB (from the settings or sources.yaml, via the matching resource).
    ``ahead``: the run's worker extracting sources ahead (``svoc.stages.ahead``), if any."""
    from connectors import extract_source
    from svoc.stages.changes import changes_only, unchanged_source, write_changed

    partial = changes_only(drop)  # an intraday drop of changes only: absent records and sources are unchanged
    if partial and not (drop / config.name).is_dir():
        return unchanged_source(con, config.name, run_id)
    staged = ahead.take(config.name) if ahead is not None and not partial else None
    if staged is None and not partial:
        staged = extract_staged(drop / config.name, config, run_id, reference_date=reference_date,
                                dob_from=dob_from, drop=drop, reuse=reusable_digests(con, config.name, reference_date))
    elif staged is None:
        extract = extract_source(drop / config.name, config, run_id=run_id, reference_date=reference_date,
                                 dob_from=dob_from, drop=drop)
        for frame in (extract.identity, extract.interactions):
            frame["run_id"] = run_id
    where, params = "source = ?", [config.name]
    # The last published run's count, read before this run replaces it (kept across a retried step).
    earlier = con.execute("SELECT previous_identity_records FROM audit.source_runs WHERE run_id = ? AND source = ?",
                          [run_id, config.name]).fetchone()
    previous = earlier[0] if earlier else one_row(
        con, "SELECT count(*) FROM staging.identity_records WHERE source = ?", params)[0]
    if staged is None:  # a changes-only drop
        n_id, n_ix = write_changed(con, config.name, extract.identity, extract.interactions)
        extract.quarantine["run_id"] = run_id
        quarantine: Any = extract.quarantine
        accounts, notices_list = extract.accounts, extract.notices
    else:
        n_id, n_ix = _write_staged(con, config, staged, lambda: extract_staged(
            drop / config.name, config, run_id, reference_date=reference_date, dob_from=dob_from, drop=drop))
        quarantine, accounts, notices_list = staged.quarantine, staged.accounts, staged.notices
    n_q = write_frame(con, "quarantine.rows", quarantine, replace_where=where, params=params)
    account_rows = pd.DataFrame([a.__dict__ for a in accounts])
    account_rows["run_id"], account_rows["source"] = run_id, config.name
    write_frame(con, "audit.file_accounts", account_rows, replace_where="source = ? AND run_id = ?",
                params=[config.name, run_id])
    notices = pd.DataFrame([n.__dict__ for n in notices_list], columns=["source", "file", "kind", "subject",
                                                                             "message"])
    notices["run_id"] = run_id
    write_frame(con, "audit.input_notices", notices, replace_where="source = ? AND run_id = ?",
                params=[config.name, run_id])
    write_frame(con, "audit.source_runs", pd.DataFrame([{
        "run_id": run_id, "source": config.name, "identity_records": n_id,
        "previous_identity_records": previous or None, "interactions": n_ix, "quarantined": n_q}]),
        replace_where="run_id = ? AND source = ?", params=[run_id, config.name])
    log.info("staged source=%s identity=%d interactions=%d quarantined=%d", config.name, n_id, n_ix, n_q)
    kept = staged.carried.num_rows if staged is not None else 0
    return {"identity_records": n_id, "interactions": n_ix, "quarantined": n_q, "notices": len(notices),
            "rows_kept_unchanged": kept,
            "files": {a.file: {"lines_in": a.lines_in, "rows_in": a.rows_in, "records_out": a.records_out,
                               "quarantined": a.quarantined} for a in accounts}}


def _write_staged(con: duckdb.DuckDBPyConnection, config: SourceConfig, staged: StagedTables,
                  again: Callable[[], StagedTables]) -> tuple[int, int]:
    """Stage a full drop's source: keeping the rows of its unchanged lines (``svoc.stages.reuse``), else (none
    kept, or the kept rows not as the extract saw them) replacing every row. Returns (identity records,
    interactions) staged for the source."""
    if staged.carried.num_rows:
        counts = write_reusing(con, config.name, staged.identity, staged.interactions, staged.carried)
        if counts is not None:
            return counts
        fresh = again()  # every line standardised: nothing of the staged rows is trusted
        staged.identity, staged.interactions, staged.carried = fresh.identity, fresh.interactions, fresh.carried
    where, params = "source = ?", [config.name]
    return (write_frame(con, "staging.identity_records", staged.identity, replace_where=where, params=params),
            write_frame(con, "staging.interactions", staged.interactions, replace_where=where, params=params))
