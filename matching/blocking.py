"""How many candidate comparisons each prediction blocking rule makes (counts only, no personal data).

``blocking_analysis(features)`` gives, per rule in ``matching.settings.prediction_rules``, the marginal
comparisons it adds and the running total: the figures the rules were chosen by, recorded with every
trained model so an operator can see why a night took as long as it did. Counts are exact up to
``EXACT_COUNT_MAX_RECORDS`` records and estimated from a record sample above that.
"""

from __future__ import annotations

import warnings
from typing import Any

import duckdb
import pandas as pd
from splink import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from matching import settings as S
from matching.model import load_features, scoped_connection

EXACT_COUNT_MAX_RECORDS = 2_000_000
SAMPLE_PROPORTION = 0.05


def blocking_analysis(
    features: pd.DataFrame,
    *,
    extra_id_columns: tuple[str, ...] = (),
    rules: tuple[tuple[str, Any], ...] | None = None,
    record_sample_proportion: float | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """Marginal and cumulative comparison counts per prediction blocking rule."""
    rules = rules or S.prediction_rules(extra_id_columns)
    with scoped_connection(con, threads, memory_limit) as con:
        table = load_features(con, features, extra_id_columns)
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        prop = record_sample_proportion or (1.0 if n <= EXACT_COUNT_MAX_RECORDS else SAMPLE_PROPORTION)
        sdf = DuckDBAPI(con).register(table)
        with warnings.catch_warnings():  # "estimate based on few sampled pairs": recorded as is_estimate
            warnings.simplefilter("ignore", UserWarning)
            records = count_comparisons_from_blocking_rules(
                sdf,
                blocking_rules=[r for _, r in rules],
                link_type="dedupe_only",
                unique_id_column_name=S.UNIQUE_ID,
                record_sample_proportion=prop,
            )
    per_rule = [
        {
            "rule": name,
            "sql": rec["blocking_rule"],
            "marginal_comparisons": int(rec["marginal_comparison_count"]),
            "cumulative_comparisons": int(rec["cumulative_comparison_count"]),
        }
        for (name, _), rec in zip(rules, records, strict=True)
    ]
    total = int(records[-1]["total_possible_comparison_count"]) if records else 0
    return {
        "n_records": int(n),
        "record_sample_proportion": prop,
        "is_estimate": prop < 1.0,
        "total_possible_comparisons": total,
        "comparisons_to_score": per_rule[-1]["cumulative_comparisons"] if per_rule else 0,
        "rules": per_rule,
    }
