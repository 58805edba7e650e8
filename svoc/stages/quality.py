"""Run a source's quality suite on its staged rows in the build, and record the results.

Results go to ``audit.quality_results`` in the build and to the Data Docs page beside the warehouse (one offline
page, ``quality.docs``). The page is rewritten after each source from every result of this run so far in the
build, so a blocked run's docs show why; nothing is kept in memory between steps or runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from schemas.rules import DOB_FROM_DEFAULT
from schemas.source_rules import QualityRules
from svoc.warehouse.sql import qualified, quote_ident, write_frame


def previous_identity_count(con: duckdb.DuckDBPyConnection, source: str, run_id: str) -> int | None:
    row = con.execute(
        "SELECT previous_identity_records FROM audit.source_runs WHERE run_id = ? AND source = ?", [run_id, source]
    ).fetchone()
    return row[0] if row else None


def check_source_quality(con: duckdb.DuckDBPyConnection, source: str, run_id: str, drop_date: dt.date,
                         warehouse: Path, dob_from: dt.date = DOB_FROM_DEFAULT,
                         rules: QualityRules | None = None, changes_only: bool = False) -> list:
    """``rules``: the source's ``quality:`` thresholds (its config); the generic rules when None.

    ``changes_only`` (a changes-only drop): the suite checks the rows the drop delivered for the source (its staged
    rows carrying ``run_id``), so a bad delivery is not diluted by the unchanged records. A source the drop
    delivered nothing for keeps the last run's results (``carry_over``)."""
    from quality import results_frame, run_source_suite, write_data_docs
    from quality.runner import INTERACTION_COLUMNS, data_docs_dir, identity_columns
    from quality.suites import rules_for

    rules = (rules or rules_for(source)).model_copy(update={"dob_from": dob_from})
    tonight = run_id if changes_only else None
    identity = _staged(con, "staging.identity_records", identity_columns(rules), source, tonight)
    interactions = _staged(con, "staging.interactions", INTERACTION_COLUMNS, source, tonight)
    if changes_only and identity.empty and interactions.empty and (carried := carry_over(con, source, run_id)):
        results = carried
    else:
        keys = _staged(con, "staging.identity_records", frozenset({"source_record_id"}), source)[
            "source_record_id"] if changes_only else None
        results = run_source_suite(source, identity, interactions, previous_identity_count(con, source, run_id),
                                   drop_date, rules=rules, identity_keys=keys, changes_only=changes_only)
        write_frame(con, "audit.quality_results", results_frame(results, run_id),
                    replace_where="run_id = ? AND source = ?", params=[run_id, source])
    write_data_docs(run_results(con, run_id), data_docs_dir(warehouse), run_id=run_id)
    return results


_CARRIED = "unchanged: not in this changes-only drop, as the last run found it: "


def carry_over(con: duckdb.DuckDBPyConnection, source: str, run_id: str) -> list:
    """The last run's results for ``source``, written again under ``run_id`` with their ``observed`` text saying
    so (none when no earlier run checked the source): what a changes-only drop without the source leaves true."""
    last = con.execute("SELECT run_id FROM audit.quality_results WHERE source = ? AND run_id <> ? "
                       "ORDER BY checked_at DESC LIMIT 1", [source, run_id]).fetchall()  # whole: DuckDB 2
    if not last:
        return []
    con.execute("DELETE FROM audit.quality_results WHERE run_id = ? AND source = ?", [run_id, source])
    con.execute("INSERT INTO audit.quality_results SELECT * REPLACE (CAST(? AS VARCHAR) AS run_id, "
                "CASE WHEN starts_with(observed, ?) THEN observed ELSE ? || observed END AS observed) "
                "FROM audit.quality_results WHERE run_id = ? AND source = ?",
                [run_id, _CARRIED, _CARRIED, last[0][0], source])
    return [r for r in run_results(con, run_id) if r.source == source]


def _staged(con: duckdb.DuckDBPyConnection, table: str, wanted: frozenset[str], source: str,
            run_id: str | None = None) -> pd.DataFrame:
    """The source's rows of a staging table (only those staged by ``run_id`` when given), only the ``wanted``
    columns the table has (in table order): the checks read a handful of columns, so the rest is never converted
    to pandas."""
    schema, _, name = table.partition(".")
    have = [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "AND database_name = current_database() ORDER BY column_index", [schema, name]).fetchall()]
    cols = ", ".join(quote_ident(c) for c in have if c in wanted)
    where, params = ("source = ? AND run_id = ?", [source, run_id]) if run_id else ("source = ?", [source])
    return arrow_frame(con.sql(f"SELECT {cols} FROM {qualified(table)} WHERE {where}", params=params)
                       .to_arrow_table())


def arrow_frame(table: pa.Table) -> pd.DataFrame:
    """The frame DuckDB's ``.df()`` gives (dates as ``datetime64[us]``, integers nullable), but with text as
    Arrow-backed strings straight from Arrow: the checks want those, and building Python strings first and
    converting them cost ~2 s per million interactions."""
    out = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        kind = col.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            out[name] = col.to_pandas(types_mapper=lambda _t: pd.StringDtype("pyarrow"))
        elif pa.types.is_date(kind):
            out[name] = col.to_pandas(date_as_object=False).astype("datetime64[us]")
        elif pa.types.is_integer(kind):
            out[name] = col.to_pandas(types_mapper=lambda _t: pd.Int64Dtype())
        else:
            out[name] = col.to_pandas()
    return pd.DataFrame(out, index=pd.RangeIndex(table.num_rows))


def run_results(con: duckdb.DuckDBPyConnection, run_id: str) -> list:
    """Every quality result of this run so far, read back from ``audit.quality_results`` in the build."""
    from quality import CheckResult, suite_name

    rows = con.execute('SELECT source, "check", severity, passed, observed, expectation, checked_at '
                       "FROM audit.quality_results WHERE run_id = ? ORDER BY source", [run_id]).fetchall()
    return [CheckResult(source=src, check=check, severity=sev, passed=bool(ok), observed=obs, expectation=exp,
                        checked_at=at, suite=suite_name(src, "interactions" if check.startswith("interaction")
                                                        else "identity"))
            for src, check, sev, ok, obs, exp, at in rows]
