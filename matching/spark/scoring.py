"""Features into Spark, and candidate pairs scored by Splink's Spark backend (``splink.SparkAPI``).

The feature frame is typed exactly as on the DuckDB engine (``matching.model.load_features`` in a private
DuckDB, then Arrow into Spark), so both engines compare the same values. Scores above the floor come back
through Arrow; the per-pair evidence and eligibility are then shaped by ``matching.model.shape_predictions``,
the same SQL the DuckDB engine runs, on that (small) frame.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pandas as pd
import pyarrow as pa
from splink import Linker, SparkAPI

from matching.artifact import ModelArtifact
from matching.model import SPLINK_LOG_LEVEL, load_features, make_linker, scoped_connection, shape_predictions
from matching.spark.dialect import spark_settings
from matching.spark.session import BREAK_LINEAGE, frame
from matching.spark.similarity import register as register_similarity
from matching.term_frequencies import register_term_frequencies

log = logging.getLogger(__name__)

# Prediction columns the evidence needs (the matching columns themselves stay in Spark).
_KEEP = re.compile(r"^(unique_id_[lr]|match_probability|match_weight|match_key|gamma_.+|mw_.+)$")
FEATURES_VIEW = "svoc_features"


def features_arrow(features: pd.DataFrame, extra_id_columns: tuple[str, ...]) -> pa.Table:
    """The feature frame with the engine's column types (dates, integers, string lists), as Arrow."""
    with scoped_connection(None, 1, None) as con:
        table = load_features(con, features, extra_id_columns)
        return con.sql(f"SELECT * FROM {table}").to_arrow_table()


def spark_features(spark: Any, features: pd.DataFrame, extra_id_columns: tuple[str, ...] = ()) -> Any:
    """The features as a Spark DataFrame held by the executors (temp view ``svoc_features``)."""
    sdf = frame(spark, features_arrow(features, extra_id_columns))
    sdf.createOrReplaceTempView(FEATURES_VIEW)
    return sdf


def spark_linker(spark: Any, sdf: Any, settings: dict[str, Any]) -> Linker:
    """A Splink linker on the Spark backend over ``sdf``, the DuckDB-dialect ``settings`` made Spark SQL."""
    register_similarity(spark)
    api = SparkAPI(spark_session=spark, break_lineage_method=BREAK_LINEAGE,
                   num_partitions_on_repartition=_partitions(spark))
    return Linker(api.register(sdf), spark_settings(settings), log_level=SPLINK_LOG_LEVEL)


def _partitions(spark: Any) -> int:
    try:
        return max(1, int(spark.conf.get("spark.sql.shuffle.partitions")))
    except Exception:  # noqa: BLE001 - unset on some managed clusters
        return 8


def predict_pairs_spark(spark: Any, sdf: Any, features: pd.DataFrame, artifact: ModelArtifact,
                        threshold_probability: float = 0.01) -> pd.DataFrame:
    """``matching.model.predict_pairs`` on Spark: the same columns, pairs and evidence."""
    settings = artifact.engine_settings()
    linker = spark_linker(spark, sdf, settings)
    register_term_frequencies(linker, artifact.term_frequencies)
    pred = linker.inference.predict(threshold_match_probability=threshold_probability)
    scored = pred.as_spark_dataframe()
    keep = [c for c in scored.columns if _KEEP.match(c)]
    arrow = scored.select(*keep).toArrow()
    pred.drop_table_from_database_and_remove_from_cache()
    extra = tuple(c for c in _extra_columns(settings) if c in features.columns)
    with scoped_connection(None, 1, None) as con:
        table = load_features(con, features.head(0), extra)
        duck = make_linker(con, table, settings)
        con.register("svoc_spark_predictions", arrow)
        out = shape_predictions(con, duck, "svoc_spark_predictions")
        con.unregister("svoc_spark_predictions")
    log.info("scored %d pairs above p=%.3g on Spark", len(out), threshold_probability)
    return out


def _extra_columns(settings: dict[str, Any]) -> tuple[str, ...]:
    from matching import settings as S

    base = {c.output_column_name for c in S.build_settings().get_settings("duckdb").comparisons}
    return tuple(c["output_column_name"] for c in settings["comparisons"] if c["output_column_name"] not in base)
