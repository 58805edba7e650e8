"""Training and blocking counts on Spark: ``matching.training.train_model`` and
``matching.blocking.blocking_analysis`` with Splink's Spark backend.

The same settings (``matching.settings.build_settings``, made Spark SQL by ``matching.spark.dialect``), the
same EM sessions and fallbacks, the same prior rules and the same parameter guards. The stored model keeps
DuckDB SQL (``matching.model`` hashes and reloads it), so a model trained here is reused by either engine.
Random sampling for u is seeded but Spark samples differently from DuckDB, so the two engines train close,
not identical, models: a night reuses the stored one (``audit.models``) on both.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from splink import SparkAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.exceptions import EMTrainingException

from matching import settings as S
from matching.artifact import ModelArtifact, make_artifact
from matching.blocking import shape_analysis
from matching.spark.dialect import spark_settings, to_spark
from matching.spark.scoring import spark_linker
from matching.spark.session import BREAK_LINEAGE
from matching.training import EM_MAX_PAIRS, MIN_STEWARD_LABELS, guard_parameters, run_em, untrainable

log = logging.getLogger(__name__)


def _duckdb_sql(rule: Any) -> str:
    return rule if isinstance(rule, str) else str(rule.get_blocking_rule("duckdb").blocking_rule_sql)


def _spark_rule(rule: Any) -> str:
    """A training rule (no exploded arrays) as Spark SQL: ``block_on("x[1]")`` means element 1 in DuckDB."""
    return to_spark(_duckdb_sql(rule))


def _to_duckdb_sql(model_dict: dict[str, Any], duckdb_settings: dict[str, Any]) -> dict[str, Any]:
    """The trained parameters written back onto the DuckDB-dialect settings (what ``audit.models`` stores)."""
    out = dict(duckdb_settings)
    out["probability_two_random_records_match"] = model_dict["probability_two_random_records_match"]
    comps = []
    for plain, trained in zip(duckdb_settings["comparisons"], model_dict["comparisons"], strict=True):
        levels = []
        for lp, lt in zip(plain["comparison_levels"], trained["comparison_levels"], strict=True):
            levels.append({**lt, "sql_condition": lp["sql_condition"]})
        comps.append({**trained, "comparison_levels": levels})
    out["comparisons"] = comps
    for key in ("linker_uid", "sql_dialect"):
        out.pop(key, None)
    return out


def train_model_spark(spark: Any, sdf: Any, features: pd.DataFrame, *, seed: int = 42, u_max_pairs: float = 2e6,
                      em_max_pairs: float | None = EM_MAX_PAIRS, prior_recall: float = 0.8,
                      extra_id_columns: tuple[str, ...] = (), decisions: pd.DataFrame | None = None,
                      **_: Any) -> ModelArtifact:
    """``matching.training.train_model`` on Spark (``sdf``: the features in Spark, ``matching.spark.scoring``)."""
    plain = S.build_settings(extra_id_columns=extra_id_columns).get_settings("duckdb").as_dict()
    n = len(features)
    linker = spark_linker(spark, sdf, plain)
    tr = linker.training
    prior_note = "estimated"
    try:
        tr.estimate_probability_two_random_records_match(
            [_spark_rule(r) for r in S.deterministic_rules(extra_id_columns)], recall=prior_recall)
    except (ValueError, EMTrainingException) as exc:
        prior_note = f"default ({type(exc).__name__})"
    tr.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    sessions, skipped = run_em(linker, n, em_max_pairs, as_engine_rule=_spark_rule)
    if not sessions:
        raise untrainable(skipped)
    labels = _labels(spark, decisions, features)
    if labels >= MIN_STEWARD_LABELS:
        tr.estimate_m_from_pairwise_labels("svoc_labels")
    model_dict = _to_duckdb_sql(linker.misc.save_model_to_json(out_path=None), plain)
    guarded = guard_parameters(model_dict)
    import splink

    summary = {
        "seed": seed, "n_records": int(n), "u_max_pairs": u_max_pairs, "em_max_pairs": em_max_pairs,
        "em_blocking_rules": sessions, "em_sessions_skipped": skipped,
        "m_from_steward_labels": int(labels) if labels >= MIN_STEWARD_LABELS else 0,
        "guarded_parameters": guarded, "warnings": [],
        "prior_rules": [_duckdb_sql(r) for r in S.deterministic_rules(extra_id_columns)],
        "prior_recall": prior_recall, "prior": prior_note, "splink_version": splink.__version__,
        "engine": "spark",
    }
    return make_artifact(model_dict, summary)


def _labels(spark: Any, decisions: pd.DataFrame | None, features: pd.DataFrame) -> int:
    """Steward ``same`` decisions on records of this drop, as Splink's pairwise labels view ``svoc_labels``."""
    if decisions is None or decisions.empty:
        return 0
    ids = set(features["unique_id"].astype(str))
    same = decisions[decisions["decision"] == "same"][["unique_id_l", "unique_id_r"]].astype(str).drop_duplicates()
    same = same[same["unique_id_l"].isin(ids) & same["unique_id_r"].isin(ids)]
    if len(same) < MIN_STEWARD_LABELS:
        return len(same)
    frame = same.assign(source_dataset_l="__splink__input_table_0", source_dataset_r="__splink__input_table_0")
    spark.createDataFrame(frame).createOrReplaceTempView("svoc_labels")
    return len(same)


def blocking_analysis_spark(spark: Any, sdf: Any, features: pd.DataFrame, *,
                            extra_id_columns: tuple[str, ...] = (), **_: Any) -> dict[str, Any]:
    """``matching.blocking.blocking_analysis`` counted on Spark (exact: Spark is the engine for big drops)."""
    rules = S.prediction_rules(extra_id_columns)
    as_spark = spark_settings(S.build_settings(extra_id_columns=extra_id_columns).get_settings("duckdb").as_dict())
    api = SparkAPI(spark_session=spark, break_lineage_method=BREAK_LINEAGE)
    records = count_comparisons_from_blocking_rules(  # exact (proportion 1): no sampling warning to silence
        api.register(sdf), blocking_rules=as_spark["blocking_rules_to_generate_predictions"],
        link_type="dedupe_only", unique_id_column_name=S.UNIQUE_ID, record_sample_proportion=1.0)
    per_rule = [(name, _duckdb_sql(rule), int(rec["marginal_comparison_count"]))
                for (name, rule), rec in zip(rules, records, strict=True)]
    total = int(records[-1]["total_possible_comparison_count"]) if records else 0
    return {**shape_analysis(len(features), 1.0, total, per_rule), "engine": "spark"}
