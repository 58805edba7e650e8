"""``linked.single_view`` and ``linked.interactions``: one row per child, and one timeline per child.

Survivorship (documented in docs/warehouse.md). For each field, every record of the child votes for its
(normalised) value; a value wins by, in order: the number of *sources* that agree, the number of records that
agree, the reliability of the best source that gives it (each source config's ``reliability`` rank for the
field, ``DEFAULT_RELIABILITY`` when it has none), recency (the record's latest activity), and last the value itself,
so that rebuilding the same records gives the same row. Values a
standardiser flagged as unusable (an impossible date of birth) do not vote. The displayed spelling of a name
is the best-ranked record's, preferring mixed case over an all-capitals police entry.

Every configured source gets its ``known_to_<source>`` flag (renamed or switched off by its ``known_to``).
Indicators are declared in ``schemas.indicators`` and fed by the sources that opt in (``indicators:``); they
are computed as of the drop date and are NULL when the child is known to none of those sources.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import duckdb

from schemas.config import SourceConfig
from schemas.rules import PROVISIONAL_DOB_FLAGS, UNUSABLE_DOB_FLAGS
from schemas.source_rules import DEFAULT_RELIABILITY, SURVIVORSHIP_FIELDS
from svoc.stages.indicators import IndicatorSql, Params
from svoc.warehouse.sql import count_rows, qualified, quote_ident

log = logging.getLogger(__name__)


def reliability_ranks(configs: Sequence[SourceConfig]) -> dict[str, dict[str, int]]:
    """Survivorship field -> source -> rank, from each source's ``reliability`` (higher wins)."""
    return {f: {c.name: c.reliability.get(f, DEFAULT_RELIABILITY) for c in configs} for f in SURVIVORSHIP_FIELDS}


def _rel_sql(ranks: dict[str, int], params: Params) -> str:
    sources = params.add(list(ranks), "VARCHAR[]")
    values = params.add(list(ranks.values()), "INTEGER[]")
    return (f"coalesce(list_extract({values}, list_position({sources}, r.source)), "
            f"{params.add(DEFAULT_RELIABILITY, 'INTEGER')})")


def _best(field: str, value_sql: str, key_sql: str, rel: str) -> str:
    """A CTE selecting, per citizen, the surviving value of one field. Ties after every rule go to the greater
    value (normalised, then as spelled), so a rebuild of the same records gives the same row."""
    return f"""
    best_{field} AS (
      SELECT citizen_id, arg_max(display, (score, key)) AS {field}, max(n_sources) AS {field}_sources,
             count(*) AS {field}_distinct_values
      FROM (
        SELECT citizen_id, key,
               arg_max(val, ((CASE WHEN CAST(val AS VARCHAR) = upper(CAST(val AS VARCHAR)) THEN 0 ELSE 1 END) * 10 + rel,
                             CAST(val AS VARCHAR))) AS display,
               count(DISTINCT source) AS n_sources,
               count(DISTINCT source) * 1e9 + count(*) * 1e6 + max(rel) * 1e4
                 + coalesce(epoch(max(activity)) / 1e6, 0) AS score
        FROM (SELECT r.citizen_id, r.source, {value_sql} AS val, {key_sql} AS key, {rel} AS rel,
                     r.activity FROM recs r) v
        WHERE val IS NOT NULL AND key IS NOT NULL
        GROUP BY citizen_id, key
      ) GROUP BY citizen_id
    )"""


def build_single_view(con: duckdb.DuckDBPyConnection, drop_date: dt.date, configs: Sequence[SourceConfig],
                      run_id: str | None = None) -> dict[str, int]:
    """Build both tables in ``con`` as of ``drop_date``, for the configured sources.

    ``run_id`` (a changes-only drop's run, whose staged rows carry it): only the children tonight's changes reach
    (``affected_children``) are rebuilt when the tables were last built by the same definition (the same SQL and
    values: drop date, configs, code) and the latest academic year with attendance has not moved; otherwise, and
    without ``run_id``, every child. ``rebuilt`` in the result counts the children rebuilt."""
    ind = IndicatorSql(drop_date, configs)
    sql = _view_sql(ind, configs)
    # the timeline copies every staged interaction column: a column added since (an upgrade) is a new definition
    staged = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
                         "current_database() AND schema_name = 'staging' AND table_name = 'interactions' "
                         "ORDER BY column_index").fetchall()
    definition = _fingerprint([sql, _TIMELINE, staged], ind.params.values)
    con.execute("CREATE SCHEMA IF NOT EXISTS linked")
    if run_id is not None and _built_by(con) == definition:
        before = _shared_values(con, ind)
        n_affected = affected_children(con, run_id)
        # for the publish step: the analytics file keeps the published timeline of every other child
        con.execute(f"CREATE OR REPLACE TABLE {qualified(CHANGED_CHILDREN)} AS "
                    "SELECT citizen_id FROM _svoc_affected")
        con.execute("DELETE FROM linked.interactions WHERE citizen_id IN (SELECT citizen_id FROM _svoc_affected)")
        con.execute(f"INSERT INTO linked.interactions {_for_children(_TIMELINE, True)}")
        if _shared_values(con, ind) == before:
            con.execute("DELETE FROM linked.single_view WHERE citizen_id IN (SELECT citizen_id FROM _svoc_affected)")
            con.execute(f"INSERT INTO linked.single_view {_for_children(sql, True)}", ind.params.values)
            con.execute("DROP TABLE IF EXISTS _svoc_affected")
            log.info("single view: %d children rebuilt, every other child as the last run left them", n_affected)
            return _counts(con, n_affected)
        con.execute("DROP TABLE IF EXISTS _svoc_affected")
        log.info("single view: the latest academic year with attendance moved tonight: every child rebuilt")
    else:
        con.execute(f"DROP TABLE IF EXISTS {qualified(CHANGED_CHILDREN)}")
        con.execute(f"CREATE OR REPLACE TABLE linked.interactions AS {_for_children(_TIMELINE, False)}")
    con.execute(f"CREATE OR REPLACE TABLE linked.single_view AS {_for_children(sql, False)}", ind.params.values)
    # COMMENT ON takes no parameter: the text is a fixed phrase and a hex digest this function computed
    assert re.fullmatch(r"[0-9a-f]{16}", definition), "a sha256 prefix"
    con.execute(f"COMMENT ON TABLE linked.single_view IS '{_COMMENT}{definition}'")
    counts = _counts(con, None)
    log.info("single view: all %d children built", counts["citizens"])
    return counts


_COMMENT = "One row per child (svoc); built by single view definition "
# the children whose timeline tonight's build changed, when the single view knew them (a changes-only drop);
# a build-only table, dropped by the publish step
CHANGED_CHILDREN = "main._svoc_changed_children"
# where a query over the records (``rc``) or the timeline is limited to the children in ``_svoc_affected``
_RECS, _EVENTS = "/* children of rc */", "/* children of the timeline */"
_TIMELINE = f"""SELECT rc.citizen_id, x.* EXCLUDE (row_digest)
    FROM staging.interactions x
    JOIN linked.record_citizen rc USING (source, source_record_id){_RECS}
    ORDER BY rc.citizen_id, x.event_date NULLS LAST, x.source, x.event_id"""


def _for_children(sql: str, limited: bool) -> str:
    """``sql`` over every child, or (``limited``) over the children in ``_svoc_affected`` only."""
    some = "citizen_id IN (SELECT citizen_id FROM _svoc_affected)"
    return (sql.replace(_RECS, f" WHERE rc.{some}" if limited else "")
            .replace(_EVENTS, f" WHERE {some}" if limited else ""))


def affected_children(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Temp table ``_svoc_affected`` of the citizen ids whose single view row and timeline tonight may change:
    a record of theirs staged tonight (identity or interaction), an id event tonight (created, split, merged,
    retired, a record added or moved: both ids), or an interaction re-delivered tonight under another record.
    Returns how many."""
    con.execute("""
    CREATE OR REPLACE TEMP TABLE _svoc_affected AS
    SELECT DISTINCT citizen_id FROM (
      SELECT rc.citizen_id FROM linked.record_citizen rc JOIN staging.identity_records i
        USING (source, source_record_id) WHERE i.run_id = $run
      UNION ALL SELECT rc.citizen_id FROM linked.record_citizen rc JOIN staging.interactions x
        USING (source, source_record_id) WHERE x.run_id = $run
      UNION ALL SELECT citizen_id FROM audit.citizen_events WHERE run_id = $run
      UNION ALL SELECT related_citizen_id FROM audit.citizen_events WHERE run_id = $run
      UNION ALL SELECT t.citizen_id FROM linked.interactions t JOIN staging.interactions x USING (source, event_id)
        WHERE x.run_id = $run
    ) WHERE citizen_id IS NOT NULL""", {"run": run_id})
    return int(con.execute("SELECT count(*) FROM _svoc_affected").fetchall()[0][0])


def _built_by(con: duckdb.DuckDBPyConnection) -> str | None:
    """The definition fingerprint ``linked.single_view`` was last fully built with (its table comment)."""
    rows = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                       "AND schema_name = 'linked' AND table_name = 'single_view'").fetchall()
    if not rows or not isinstance(rows[0][0], str) or not rows[0][0].startswith(_COMMENT):
        return None
    return rows[0][0][len(_COMMENT):]


def _fingerprint(definition: list[Any], values: dict[str, Any]) -> str:
    text = json.dumps([definition, sorted(values.items())], default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _shared_values(con: duckdb.DuckDBPyConnection, ind: IndicatorSql) -> list[Any]:
    out = []
    for q in ind.shared:
        used = set(re.findall(r"\$(p\d+)\b", q))
        out.append(con.execute(q, {k: v for k, v in ind.params.values.items() if k in used}).fetchall()[0][0])
    return out


def _counts(con: duckdb.DuckDBPyConnection, rebuilt: int | None) -> dict[str, int]:
    citizens = count_rows(con, "linked.single_view")
    return {"citizens": citizens, "interactions": count_rows(con, "linked.interactions"),
            "rebuilt": citizens if rebuilt is None else rebuilt}


def _view_sql(ind: IndicatorSql, configs: Sequence[SourceConfig]) -> str:
    """The single view's SELECT, with markers where ``_for_children`` puts a WHERE that limits it to some children
    (the attendance CTEs are never limited: the latest academic year is taken over every child)."""
    p = ind.params
    ranks = reliability_ranks(configs)
    rel = {f: _rel_sql(ranks[f], p) for f in SURVIVORSHIP_FIELDS}
    unusable = p.add(sorted(UNUSABLE_DOB_FLAGS), "VARCHAR[]")
    provisional = p.add(sorted(PROVISIONAL_DOB_FLAGS), "VARCHAR[]")
    known = [(col, p.add(c.name, "VARCHAR")) for c in configs if (col := c.known_to_column()) is not None]
    known_agg = "".join(f"bool_or(source = {v}) AS {quote_ident(col)}, " for col, v in known)
    known_cols = "".join(f"ids.{quote_ident(col)}, " for col, _ in known)
    ids_extra = "".join(f", {x}" for x in ind.ids)
    ev_extra = "".join(f", {x}" for x in ind.ev)
    ctes = "".join(f",{x}" for x in ind.ctes)
    dob = f"CASE WHEN list_has_any(r.quality_flags, {unusable}) THEN NULL ELSE r.dob END"
    return f"""
    WITH recs AS (
      SELECT rc.citizen_id, i.*,
             greatest(i.start_date, (SELECT max(x.event_date) FROM staging.interactions x
                                     WHERE x.source = i.source AND x.source_record_id = i.source_record_id)) AS activity
      FROM linked.record_citizen rc JOIN staging.identity_records i USING (source, source_record_id){_RECS}
    ),
    {_best("first_name", "r.first_name", "lower(strip_accents(r.first_name))", rel["name"])},
    {_best("last_name", "r.last_name", "lower(strip_accents(r.last_name))", rel["name"])},
    {_best("dob", dob, dob, rel["dob"])},
    {_best("sex", "r.sex", "r.sex", rel["sex"])},
    {_best("postcode", "r.postcode", "r.postcode", rel["postcode"])},
    ids AS (
      SELECT citizen_id,
             min(nhs_number) AS nhs_number, count(DISTINCT nhs_number) > 1 AS conflicting_nhs_numbers,
             list_sort(list(struct_pack(k := -{rel["name"]}, u := upn)) FILTER (WHERE upn IS NOT NULL))[1].u AS upn,
             count(DISTINCT upn) > 1 AS multiple_upns, {known_agg}
             list_sort(list_distinct(list(source))) AS sources,
             count(*) AS record_count, min(start_date) AS first_seen_start,
             max(activity) AS last_seen, max(date_of_death) AS date_of_death,
             bool_or(list_has_any(quality_flags, {provisional})) AS unborn,
             max(ethnicity) AS ethnicity{ids_extra}
      FROM recs r GROUP BY citizen_id
    ),
    ev AS (
      SELECT citizen_id, min(event_date) AS first_event, max(event_date) AS last_event{ev_extra}
      FROM linked.interactions{_EVENTS} GROUP BY citizen_id
    ){ctes}
    SELECT ids.citizen_id,
      bf.first_name, bl.last_name, bd.dob, bs.sex, bp.postcode,
      ids.nhs_number, ids.upn, {known_cols}
      ids.sources, ids.record_count,
      least(ids.first_seen_start, ev.first_event) AS first_seen, greatest(ids.last_seen, ev.last_event) AS last_seen,
      ids.ethnicity, ids.unborn, ids.date_of_death,
      {", ".join(ind.columns)},
      ids.conflicting_nhs_numbers, ids.multiple_upns,
      coalesce(bd.dob_distinct_values, 0) > 1 AS conflicting_dobs,
      coalesce(bl.last_name_distinct_values, 0) > 1 AS multiple_last_names,
      {ind.d} AS as_of_date
    FROM ids
    LEFT JOIN best_first_name bf USING (citizen_id) LEFT JOIN best_last_name bl USING (citizen_id)
    LEFT JOIN best_dob bd USING (citizen_id) LEFT JOIN best_sex bs USING (citizen_id)
    LEFT JOIN best_postcode bp USING (citizen_id) LEFT JOIN ev USING (citizen_id) {" ".join(ind.joins)}
    ORDER BY ids.citizen_id
"""
