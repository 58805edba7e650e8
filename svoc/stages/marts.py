"""Dashboard marts (``marts.*``), built from the linked tables. Documented in docs/warehouse.md.

Each mart declares its SQL (values as parameters) and which of its columns may leave in the analytics file,
and how (``analytics``: column -> treatment, see ``svoc.warehouse.analytics.TREATMENTS``). A column or a
table that is not declared here never reaches the analytics file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from schemas.indicators import INDICATORS
from svoc.warehouse.sql import count_rows, qualified, quote_ident


@dataclass(frozen=True)
class Mart:
    sql: str
    analytics: dict[str, str]
    params: tuple[object, ...] = field(default=())


_INDICATOR_COLUMNS = ", ".join(quote_ident(name) for name in INDICATORS)

MARTS: dict[str, Mart] = {
    "marts.agency_overlap": Mart(
        """SELECT array_to_string(sources, '+') AS agencies, len(sources) AS agency_count, count(*) AS children
        FROM linked.single_view GROUP BY ALL ORDER BY children DESC, agencies""",
        {"agencies": "keep", "agency_count": "keep", "children": "count"},
    ),
    "marts.children_known_to_three_plus": Mart(
        f"""SELECT citizen_id, array_to_string(sources, '+') AS agencies, len(sources) AS agency_count,
               {_INDICATOR_COLUMNS}
        FROM linked.single_view WHERE len(sources) >= 3 ORDER BY agency_count DESC, citizen_id""",
        {"citizen_id": "pseudonym", "agencies": "keep", "agency_count": "keep",
         **dict.fromkeys(INDICATORS, "keep")},
    ),
    "marts.attendance_vs_involvement": Mart(
        """SELECT CASE WHEN attendance_rate >= 0.95 THEN '95%+'
                    WHEN attendance_rate >= 0.90 THEN '90-95%'
                    WHEN attendance_rate >= 0.80 THEN '80-90% (persistent absence)'
                    ELSE 'under 80% (persistent absence)' END AS attendance_band,
               list_contains(sources, ?) AS known_to_police, list_contains(sources, ?) AS known_to_social_care,
               coalesce(police_missing_episodes_12m, 0) > 0 AS missing_12m,
               coalesce(open_social_care_episode, false) AS open_social_care_episode,
               count(*) AS children, round(avg(attendance_rate), 4) AS mean_attendance_rate
        FROM linked.single_view WHERE attendance_rate IS NOT NULL GROUP BY ALL ORDER BY ALL""",
        {"attendance_band": "keep", "known_to_police": "keep", "known_to_social_care": "keep",
         "missing_12m": "keep", "open_social_care_episode": "keep", "children": "count",
         "mean_attendance_rate": "cell_statistic"},
        ("police", "social_care"),
    ),
    "marts.quality_flag_rates": Mart(
        """WITH totals AS (SELECT source, count(*) AS n FROM staging.identity_records GROUP BY 1),
             flags AS (SELECT source, unnest(quality_flags) AS flag FROM staging.identity_records)
        SELECT f.source, f.flag, count(*) AS records, any_value(t.n) AS source_records,
               round(count(*) / any_value(t.n), 4) AS rate
        FROM flags f JOIN totals t USING (source) GROUP BY f.source, f.flag ORDER BY f.source, records DESC, f.flag""",
        {"source": "keep", "flag": "keep", "records": "count", "source_records": "keep", "rate": "cell_statistic"},
    ),
}

# Accumulates one dated block of rows per run, so linkage can be plotted over time.
LINKAGE_QUALITY = Mart(
    """SELECT ? AS run_id, CAST(? AS DATE) AS as_of_date, CAST(now() AS TIMESTAMP) AS built_at, s.source, s.records,
           s.linked_records, round(s.linked_records / s.records, 4) AS match_rate, s.singletons,
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
    ) s ORDER BY s.source""",
    {"run_id": "keep", "as_of_date": "keep", "built_at": "keep", "source": "keep", "records": "keep",
     "linked_records": "keep", "match_rate": "keep", "singletons": "keep", "review_queue_open": "keep",
     "quarantined_rows": "keep"},
)
LINKAGE_QUALITY_NAME = "marts.linkage_quality"
# Columns added since the first release: an older warehouse's table gains them (NULL for its old rows).
_LINKAGE_QUALITY_ADDED = (("as_of_date", "DATE"), ("built_at", "TIMESTAMP"))


def analytics_marts() -> dict[str, dict[str, str]]:
    """Every mart's analytics declaration: table -> column -> treatment."""
    return {**{name: m.analytics for name, m in MARTS.items()}, LINKAGE_QUALITY_NAME: LINKAGE_QUALITY.analytics}


def build_marts(con: duckdb.DuckDBPyConnection, run_id: str, drop_date: dt.date) -> dict[str, int]:
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    counts = {}
    for name, mart in MARTS.items():
        con.execute(f"CREATE OR REPLACE TABLE {qualified(name)} AS {mart.sql}", list(mart.params))
        counts[name] = count_rows(con, name)
    lq, params = qualified(LINKAGE_QUALITY_NAME), [run_id, drop_date]
    con.execute(f"CREATE TABLE IF NOT EXISTS {lq} AS {LINKAGE_QUALITY.sql} LIMIT 0", params)
    for column, sql_type in _LINKAGE_QUALITY_ADDED:
        con.execute(f"ALTER TABLE {lq} ADD COLUMN IF NOT EXISTS {quote_ident(column)} {sql_type}")
    con.execute(f"DELETE FROM {lq} WHERE run_id = ?", [run_id])
    columns = [r[0] for r in con.execute(f"SELECT * FROM ({LINKAGE_QUALITY.sql}) LIMIT 0", params).description]
    names = ", ".join(quote_ident(c) for c in columns)
    con.execute(f"INSERT INTO {lq} ({names}) SELECT {names} FROM ({LINKAGE_QUALITY.sql})", params)
    counts[LINKAGE_QUALITY_NAME] = count_rows(con, LINKAGE_QUALITY_NAME)
    return counts
