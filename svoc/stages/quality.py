"""Run a source's quality suite on its staged rows in the build, and record the results.

Results go to ``audit.quality_results`` in the build and to GX Data Docs beside the warehouse. The Data Docs
are rewritten after each source with every result of this run so far, so a blocked run's docs show why.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from schemas.rules import DOB_FROM_DEFAULT
from schemas.source_rules import QualityRules
from svoc.warehouse.sql import write_frame

_RUN_RESULTS: dict[str, dict[str, list]] = {}


def previous_identity_count(con: duckdb.DuckDBPyConnection, source: str, run_id: str) -> int | None:
    row = con.execute(
        "SELECT previous_identity_records FROM audit.source_runs WHERE run_id = ? AND source = ?", [run_id, source]
    ).fetchone()
    return row[0] if row else None


def check_source_quality(con: duckdb.DuckDBPyConnection, source: str, run_id: str, drop_date: dt.date,
                         warehouse: Path, dob_from: dt.date = DOB_FROM_DEFAULT,
                         rules: QualityRules | None = None) -> list:
    """``rules``: the source's ``quality:`` thresholds (its config); the generic rules when None."""
    from quality import results_frame, run_source_suite, write_data_docs
    from quality.runner import data_docs_dir
    from quality.suites import rules_for

    identity = con.execute("SELECT * FROM staging.identity_records WHERE source = ?", [source]).df()
    interactions = con.execute("SELECT * FROM staging.interactions WHERE source = ?", [source]).df()
    results = run_source_suite(source, identity, interactions, previous_identity_count(con, source, run_id),
                               drop_date, rules=(rules or rules_for(source)).model_copy(update={"dob_from": dob_from}))
    write_frame(con, "audit.quality_results", results_frame(results, run_id),
                replace_where="run_id = ? AND source = ?", params=[run_id, source])
    by_source = _RUN_RESULTS.setdefault(run_id, {})
    by_source[source] = results
    write_data_docs(by_source, data_docs_dir(warehouse), run_id=run_id)
    return results
