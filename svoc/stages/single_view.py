"""``linked.single_view`` and ``linked.interactions``: one row per child, and one timeline per child.

Survivorship (documented in docs/warehouse.md). For each field, every record of the child votes for its
(normalised) value; a value wins by, in order: the number of *sources* that agree, the number of records that
agree, the reliability of the best source that gives it (each source config's ``reliability`` rank for the
field, ``DEFAULT_RELIABILITY`` when it has none), and recency (the record's latest activity). Values a
standardiser flagged as unusable (an impossible date of birth) do not vote. The displayed spelling of a name
is the best-ranked record's, preferring mixed case over an all-capitals police entry.

Every configured source gets its ``known_to_<source>`` flag (renamed or switched off by its ``known_to``).
Indicators are declared in ``schemas.indicators`` and fed by the sources that opt in (``indicators:``); they
are computed as of the drop date and are NULL when the child is known to none of those sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

from schemas.config import SourceConfig
from schemas.rules import PROVISIONAL_DOB_FLAGS, UNUSABLE_DOB_FLAGS
from schemas.source_rules import DEFAULT_RELIABILITY, SURVIVORSHIP_FIELDS
from svoc.stages.indicators import IndicatorSql, Params
from svoc.warehouse.sql import count_rows, quote_ident


def reliability_ranks(configs: Sequence[SourceConfig]) -> dict[str, dict[str, int]]:
    """Survivorship field -> source -> rank, from each source's ``reliability`` (higher wins)."""
    return {f: {c.name: c.reliability.get(f, DEFAULT_RELIABILITY) for c in configs} for f in SURVIVORSHIP_FIELDS}


def _rel_sql(ranks: dict[str, int], params: Params) -> str:
    sources = params.add(list(ranks), "VARCHAR[]")
    values = params.add(list(ranks.values()), "INTEGER[]")
    return (f"coalesce(list_extract({values}, list_position({sources}, r.source)), "
            f"{params.add(DEFAULT_RELIABILITY, 'INTEGER')})")


def _best(field: str, value_sql: str, key_sql: str, rel: str) -> str:
    """A CTE selecting, per citizen, the surviving value of one field."""
    return f"""
    best_{field} AS (
      SELECT citizen_id, arg_max(display, score) AS {field}, max(n_sources) AS {field}_sources,
             count(*) AS {field}_distinct_values
      FROM (
        SELECT citizen_id, key,
               arg_max(val, (CASE WHEN CAST(val AS VARCHAR) = upper(CAST(val AS VARCHAR)) THEN 0 ELSE 1 END) * 10 + rel) AS display,
               count(DISTINCT source) AS n_sources,
               count(DISTINCT source) * 1e9 + count(*) * 1e6 + max(rel) * 1e4
                 + coalesce(epoch(max(activity)) / 1e6, 0) AS score
        FROM (SELECT r.citizen_id, r.source, {value_sql} AS val, {key_sql} AS key, {rel} AS rel,
                     r.activity FROM recs r) v
        WHERE val IS NOT NULL AND key IS NOT NULL
        GROUP BY citizen_id, key
      ) GROUP BY citizen_id
    )"""


def build_single_view(con: duckdb.DuckDBPyConnection, drop_date: dt.date,
                      configs: Sequence[SourceConfig]) -> dict[str, int]:
    """Build both tables in ``con`` as of ``drop_date``, for the configured sources."""
    ind = IndicatorSql(drop_date, configs)
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
    con.execute("CREATE SCHEMA IF NOT EXISTS linked")
    con.execute("""
    CREATE OR REPLACE TABLE linked.interactions AS
    SELECT rc.citizen_id, x.*
    FROM staging.interactions x
    JOIN linked.record_citizen rc USING (source, source_record_id)
    ORDER BY rc.citizen_id, x.event_date NULLS LAST, x.source, x.event_id
    """)
    con.execute(f"""
    CREATE OR REPLACE TABLE linked.single_view AS
    WITH recs AS (
      SELECT rc.citizen_id, i.*,
             greatest(i.start_date, (SELECT max(x.event_date) FROM staging.interactions x
                                     WHERE x.source = i.source AND x.source_record_id = i.source_record_id)) AS activity
      FROM linked.record_citizen rc JOIN staging.identity_records i USING (source, source_record_id)
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
             arg_max(ethnicity, ethnicity IS NOT NULL) AS ethnicity{ids_extra}
      FROM recs r GROUP BY citizen_id
    ),
    ev AS (
      SELECT citizen_id, min(event_date) AS first_event, max(event_date) AS last_event{ev_extra}
      FROM linked.interactions GROUP BY citizen_id
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
    """, p.values)
    return {"citizens": count_rows(con, "linked.single_view"), "interactions": count_rows(con, "linked.interactions")}
