"""How many candidate comparisons each prediction blocking rule makes (counts only, no personal data).

``blocking_analysis(features)`` gives, per rule in ``matching.settings.prediction_rules``, the marginal
comparisons it adds and the running total: the figures the rules were chosen by, recorded with every
trained model so an operator can see why a night took as long as it did. Counts are exact up to
``EXACT_COUNT_MAX_RECORDS`` records and estimated from a record sample above that.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from splink import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from matching import settings as S
from matching.model import load_features, scoped_connection

EXACT_COUNT_MAX_RECORDS = 2_000_000
SAMPLE_PROPORTION = 0.05
# A sampled count warns that a rule's estimate rests on few pairs: recorded as ``is_estimate`` instead. Filtered
# once, for the process: ``warnings.catch_warnings`` is not thread-safe, and the Dagster step runs in a worker
# thread (a catch there once let another library's silenced warning through to the operator's screen).
warnings.filterwarnings("ignore", message="The sampled blocking analysis estimate", category=UserWarning)


def rule_sql(rule: Any) -> str:
    """A blocking rule's DuckDB SQL (rules are SQL strings or Splink rule creators)."""
    return rule if isinstance(rule, str) else rule.get_blocking_rule("duckdb").blocking_rule_sql


def rule_columns_only(features: pd.DataFrame, rules: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    """``features`` with every column no rule names blanked (all NULL), so loading them costs nothing; the
    counts only read the columns in the rules' SQL (any feature column named there is kept)."""
    words = {w for _, r in rules for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rule_sql(r))}
    keep = words | {S.UNIQUE_ID}
    blank = np.full(len(features), None, dtype=object)
    return pd.DataFrame({c: features[c] if c in keep else blank for c in features.columns}, copy=False)


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
        table = load_features(con, rule_columns_only(features, rules), extra_id_columns)
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        prop = record_sample_proportion or (1.0 if n <= EXACT_COUNT_MAX_RECORDS else SAMPLE_PROPORTION)
        sdf = DuckDBAPI(con).register(table)
        records = count_comparisons_from_blocking_rules(
            sdf,
            blocking_rules=[r for _, r in rules],
            link_type="dedupe_only",
            unique_id_column_name=S.UNIQUE_ID,
            record_sample_proportion=prop,
        )
    per_rule = [(name, rec["blocking_rule"], int(rec["marginal_comparison_count"]))
                for (name, _), rec in zip(rules, records, strict=True)]
    total = int(records[-1]["total_possible_comparison_count"]) if records else 0
    return shape_analysis(int(n), prop, total, per_rule)


def analysis_from_counts(n_records: int, rule_counts: Mapping[int, int],
                         extra_id_columns: tuple[str, ...] = ()) -> dict[str, Any]:
    """``blocking_analysis``'s figures from the pairs scoring blocked: ``rule_counts`` maps a rule's index
    (Splink's ``match_key``: the first rule that made the pair) to its pairs, so each is that rule's marginal
    count, exactly (``matching.model.predict_pairs(rule_counts=...)`` fills it without a second count)."""
    rules = S.prediction_rules(extra_id_columns)
    per_rule = [(name, rule_sql(rule), int(rule_counts.get(i, 0))) for i, (name, rule) in enumerate(rules)]
    return shape_analysis(n_records, 1.0, n_records * (n_records - 1) // 2, per_rule)


def shape_analysis(n: int, proportion: float, total: int, per_rule: list[tuple[str, str, int]]) -> dict[str, Any]:
    """The recorded analysis from ``(rule name, SQL, marginal comparisons)`` per rule, in rule order."""
    rows, cumulative = [], 0
    for name, sql, marginal in per_rule:
        cumulative += marginal
        rows.append({"rule": name, "sql": sql, "marginal_comparisons": marginal,
                     "cumulative_comparisons": cumulative})
    return {
        "n_records": n,
        "record_sample_proportion": proportion,
        "is_estimate": proportion < 1.0,
        "total_possible_comparisons": total,
        "comparisons_to_score": cumulative,
        "rules": rows,
    }
