"""``linked.single_view`` and ``linked.interactions``: one row per child, and one timeline per child.

Survivorship (documented in docs/warehouse.md). For each field, every record of the child votes for its
(normalised) value; a value wins by, in order: the number of *sources* that agree, the number of records that
agree, the reliability of the best source that gives it (``RELIABILITY`` below, per field), and recency (the
record's latest activity). Values a standardiser flagged as unusable (an impossible date of birth) do not vote.
The displayed spelling of a name is the best-ranked record's, preferring mixed case over an all-capitals police
entry.

Indicators are computed as of the drop date and are NULL when the child is not known to the source that
would record them.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from schemas.rules import UNUSABLE_DOB_FLAGS

# Higher wins. Education holds legal names from admission documents; health holds the NHS-verified DOB/sex;
# police records are often taken verbally and rank lowest.
RELIABILITY: dict[str, dict[str, int]] = {
    "name": {"education": 4, "health": 3, "social_care": 2, "police": 1},
    "dob": {"health": 4, "education": 3, "social_care": 2, "police": 1},
    "sex": {"health": 4, "education": 3, "social_care": 2, "police": 1},
    "postcode": {"education": 3, "health": 3, "social_care": 2, "police": 1},
}


def _rel_case(field: str) -> str:
    whens = " ".join(f"WHEN '{s}' THEN {r}" for s, r in RELIABILITY[field].items())
    return f"CASE r.source {whens} ELSE 0 END"


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
        FROM (SELECT r.citizen_id, r.source, {value_sql} AS val, {key_sql} AS key, {_rel_case(rel)} AS rel,
                     r.activity FROM recs r) v
        WHERE val IS NOT NULL AND key IS NOT NULL
        GROUP BY citizen_id, key
      ) GROUP BY citizen_id
    )"""


def build_single_view(con: duckdb.DuckDBPyConnection, drop_date: dt.date) -> dict:
    d = f"DATE '{drop_date.isoformat()}'"
    year = drop_date.year if drop_date.month >= 9 else drop_date.year - 1
    academic_year = f"{year}/{(year + 1) % 100:02d}"
    flags = ", ".join(f"'{f}'" for f in sorted(UNUSABLE_DOB_FLAGS))
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
    {_best("first_name", "r.first_name", "lower(strip_accents(r.first_name))", "name")},
    {_best("last_name", "r.last_name", "lower(strip_accents(r.last_name))", "name")},
    {_best("dob", f"CASE WHEN list_has_any(r.quality_flags, [{flags}]) THEN NULL ELSE r.dob END",
           f"CASE WHEN list_has_any(r.quality_flags, [{flags}]) THEN NULL ELSE r.dob END", "dob")},
    {_best("sex", "r.sex", "r.sex", "sex")},
    {_best("postcode", "r.postcode", "r.postcode", "postcode")},
    ids AS (
      SELECT citizen_id,
             min(nhs_number) AS nhs_number, count(DISTINCT nhs_number) > 1 AS conflicting_nhs_numbers,
             coalesce(min(upn) FILTER (WHERE source = 'education'), min(upn)) AS upn,
             count(DISTINCT upn) > 1 AS multiple_upns,
             bool_or(source = 'education') AS known_to_education, bool_or(source = 'health') AS known_to_health,
             bool_or(source = 'police') AS known_to_police, bool_or(source = 'social_care') AS known_to_social_care,
             list_sort(list_distinct(list(source))) AS sources,
             count(*) AS record_count, min(start_date) AS first_seen_start,
             max(activity) AS last_seen, max(date_of_death) AS date_of_death,
             bool_or(list_contains(quality_flags, 'dob_expected')) AS unborn,
             arg_max(sen_provision, coalesce(start_date, DATE '1900-01-01')) FILTER (WHERE source = 'education')
               AS sen_provision,
             bool_or(fsm_eligible) FILTER (WHERE source = 'education') AS fsm_eligible,
             arg_max(ethnicity, ethnicity IS NOT NULL) AS ethnicity
      FROM recs GROUP BY citizen_id
    ),
    ev AS (
      SELECT citizen_id,
        min(event_date) AS first_event, max(event_date) AS last_event,
        sum(sessions_authorised_absence + sessions_unauthorised_absence)
          FILTER (WHERE event_type = 'attendance_term' AND academic_year = '{academic_year}') AS missed,
        sum(sessions_possible) FILTER (WHERE event_type = 'attendance_term' AND academic_year = '{academic_year}')
          AS possible,
        count(*) FILTER (WHERE event_type = 'suspension' AND event_date > {d} - INTERVAL 12 MONTH
                         AND event_date <= {d}) AS suspensions_12m,
        bool_or(event_type = 'permanent_exclusion' AND event_date <= {d}) AS permanent_exclusion,
        count(*) FILTER (WHERE event_type = 'ed_attendance' AND event_date > {d} - INTERVAL 12 MONTH
                         AND event_date <= {d}) AS ed_attendances_12m,
        bool_or(event_type = 'camhs_referral' AND event_date > {d} - INTERVAL 12 MONTH AND event_date <= {d})
          AS camhs_referral_12m,
        count(*) FILTER (WHERE event_type = 'missing_person' AND event_date > {d} - INTERVAL 12 MONTH
                         AND event_date <= {d}) AS police_missing_episodes_12m,
        count(*) FILTER (WHERE event_type = 'domestic_abuse' AND event_date > {d} - INTERVAL 12 MONTH
                         AND event_date <= {d}) AS police_domestic_abuse_12m,
        count(*) FILTER (WHERE source = 'police' AND event_date > {d} - INTERVAL 12 MONTH
                         AND event_date <= {d}) AS police_incidents_12m,
        bool_or(source = 'social_care' AND event_date <= {d} AND (end_date IS NULL OR end_date > {d}))
          AS open_social_care_episode,
        bool_or(event_type = 'cp_plan' AND event_date <= {d} AND (end_date IS NULL OR end_date > {d}))
          AS cp_plan_active,
        bool_or(event_type = 'lac' AND event_date <= {d} AND (end_date IS NULL OR end_date > {d})) AS lac_active
      FROM linked.interactions GROUP BY citizen_id
    )
    SELECT ids.citizen_id,
      bf.first_name, bl.last_name, bd.dob, bs.sex, bp.postcode,
      ids.nhs_number, ids.upn,
      ids.known_to_education, ids.known_to_health, ids.known_to_police, ids.known_to_social_care,
      ids.sources, ids.record_count,
      least(ids.first_seen_start, ev.first_event) AS first_seen, greatest(ids.last_seen, ev.last_event) AS last_seen,
      ids.ethnicity, ids.unborn, ids.date_of_death,
      CASE WHEN ids.known_to_education AND ev.possible > 0 THEN ev.missed / ev.possible >= 0.10 END
        AS persistent_absence,
      CASE WHEN ids.known_to_education AND ev.possible > 0 THEN round(1 - ev.missed / ev.possible, 4) END
        AS attendance_rate,
      CASE WHEN ids.known_to_education THEN coalesce(ev.suspensions_12m, 0) END AS suspensions_12m,
      CASE WHEN ids.known_to_education THEN coalesce(ev.permanent_exclusion, false) END AS permanent_exclusion,
      CASE WHEN ids.known_to_education THEN ids.sen_provision END AS sen_provision,
      CASE WHEN ids.known_to_education THEN ids.fsm_eligible END AS fsm_eligible,
      CASE WHEN ids.known_to_health THEN coalesce(ev.ed_attendances_12m, 0) END AS ed_attendances_12m,
      CASE WHEN ids.known_to_health THEN coalesce(ev.camhs_referral_12m, false) END AS camhs_referral_12m,
      CASE WHEN ids.known_to_police THEN coalesce(ev.police_missing_episodes_12m, 0) END
        AS police_missing_episodes_12m,
      CASE WHEN ids.known_to_police THEN coalesce(ev.police_domestic_abuse_12m, 0) END AS police_domestic_abuse_12m,
      CASE WHEN ids.known_to_police THEN coalesce(ev.police_incidents_12m, 0) END AS police_incidents_12m,
      CASE WHEN ids.known_to_social_care THEN coalesce(ev.open_social_care_episode, false) END
        AS open_social_care_episode,
      CASE WHEN ids.known_to_social_care THEN coalesce(ev.cp_plan_active, false) END AS cp_plan_active,
      CASE WHEN ids.known_to_social_care THEN coalesce(ev.lac_active, false) END AS lac_active,
      ids.conflicting_nhs_numbers, ids.multiple_upns,
      coalesce(bd.dob_distinct_values, 0) > 1 AS conflicting_dobs,
      coalesce(bl.last_name_distinct_values, 0) > 1 AS multiple_last_names,
      {d} AS as_of_date
    FROM ids
    LEFT JOIN best_first_name bf USING (citizen_id) LEFT JOIN best_last_name bl USING (citizen_id)
    LEFT JOIN best_dob bd USING (citizen_id) LEFT JOIN best_sex bs USING (citizen_id)
    LEFT JOIN best_postcode bp USING (citizen_id) LEFT JOIN ev USING (citizen_id)
    ORDER BY ids.citizen_id
    """)
    n_view = con.execute("SELECT count(*) FROM linked.single_view").fetchone()[0]
    n_ix = con.execute("SELECT count(*) FROM linked.interactions").fetchone()[0]
    return {"citizens": n_view, "interactions": n_ix}
