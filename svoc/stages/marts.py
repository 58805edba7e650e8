"""Dashboard marts (``marts.*``), built from the linked tables. Documented in docs/warehouse.md."""

from __future__ import annotations

import duckdb

MARTS: dict[str, str] = {
    "marts.agency_overlap": """
        SELECT array_to_string(sources, '+') AS agencies, len(sources) AS agency_count, count(*) AS children
        FROM linked.single_view GROUP BY ALL ORDER BY children DESC""",
    "marts.children_known_to_three_plus": """
        SELECT citizen_id, array_to_string(sources, '+') AS agencies, len(sources) AS agency_count,
               persistent_absence, attendance_rate, suspensions_12m, permanent_exclusion, sen_provision,
               fsm_eligible, ed_attendances_12m, camhs_referral_12m, police_missing_episodes_12m,
               police_domestic_abuse_12m, police_incidents_12m, open_social_care_episode, cp_plan_active, lac_active
        FROM linked.single_view WHERE len(sources) >= 3 ORDER BY agency_count DESC, citizen_id""",
    "marts.attendance_vs_involvement": """
        SELECT CASE WHEN attendance_rate >= 0.95 THEN '95%+'
                    WHEN attendance_rate >= 0.90 THEN '90-95%'
                    WHEN attendance_rate >= 0.80 THEN '80-90% (persistent absence)'
                    ELSE 'under 80% (persistent absence)' END AS attendance_band,
               known_to_police, known_to_social_care, coalesce(police_missing_episodes_12m, 0) > 0 AS missing_12m,
               coalesce(open_social_care_episode, false) AS open_social_care_episode,
               count(*) AS children, round(avg(attendance_rate), 4) AS mean_attendance_rate
        FROM linked.single_view WHERE attendance_rate IS NOT NULL GROUP BY ALL ORDER BY ALL""",
    "marts.quality_flag_rates": """
        WITH totals AS (SELECT source, count(*) AS n FROM staging.identity_records GROUP BY 1),
             flags AS (SELECT source, unnest(quality_flags) AS flag FROM staging.identity_records)
        SELECT f.source, f.flag, count(*) AS records, any_value(t.n) AS source_records,
               round(count(*) / any_value(t.n), 4) AS rate
        FROM flags f JOIN totals t USING (source) GROUP BY f.source, f.flag ORDER BY f.source, records DESC""",
}

LINKAGE_QUALITY = """
    SELECT ? AS run_id, s.source, s.records, s.linked_records,
           round(s.linked_records / s.records, 4) AS match_rate, s.singletons,
           (SELECT count(*) FROM audit.review_queue q WHERE q.status = 'open'
              AND (split_part(q.unique_id_l, ':', 1) = s.source OR split_part(q.unique_id_r, ':', 1) = s.source))
             AS review_queue_open,
           (SELECT count(*) FROM quarantine.rows r WHERE r.source = s.source) AS quarantined_rows
    FROM (
      SELECT rc.source, count(*) AS records,
             count(*) FILTER (WHERE c.n > 1) AS linked_records, count(*) FILTER (WHERE c.n = 1) AS singletons
      FROM linked.record_citizen rc
      JOIN (SELECT citizen_id, count(*) AS n FROM linked.record_citizen GROUP BY 1) c USING (citizen_id)
      GROUP BY rc.source
    ) s ORDER BY s.source"""


def build_marts(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    counts = {}
    for name, sql in MARTS.items():
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
        counts[name] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    # Linkage quality accumulates one block of rows per run.
    con.execute(f"CREATE TABLE IF NOT EXISTS marts.linkage_quality AS {LINKAGE_QUALITY} LIMIT 0", [run_id])
    con.execute("DELETE FROM marts.linkage_quality WHERE run_id = ?", [run_id])
    con.execute(f"INSERT INTO marts.linkage_quality {LINKAGE_QUALITY}", [run_id])
    counts["marts.linkage_quality"] = con.execute("SELECT count(*) FROM marts.linkage_quality").fetchone()[0]
    return counts
