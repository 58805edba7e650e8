"""``link_records`` on Spark: the same facade, with training, blocking counts, scoring and clustering on Spark.

The steps after clustering (citizen ids, evidence rows, review queue) are ``matching.linker``'s own, on the
collected frames: one row per record or per kept pair, small beside the comparisons Spark scored.
"""

from __future__ import annotations

import functools
import shutil
from typing import Any

import pandas as pd

from matching.artifact import ModelArtifact
from matching.linker import EngineSteps, LinkResult, link_records
from matching.spark.clustering import cluster_scored_spark
from matching.spark.scoring import predict_pairs_spark, spark_features
from matching.spark.session import prepare
from matching.spark.training import blocking_analysis_spark, train_model_spark


def spark_steps(spark: Any, features: pd.DataFrame) -> EngineSteps:
    """The engine steps bound to ``spark`` and this drop's features (loaded into Spark once)."""
    sdf = spark_features(spark, features)

    def predict(feats: pd.DataFrame, model: ModelArtifact, floor: float = 0.01, **_: Any) -> pd.DataFrame:
        # another frame (the prior's calibration sample of a large drop) is loaded into Spark for this call
        frame = sdf if feats is features else spark_features(spark, feats)
        return predict_pairs_spark(spark, frame, feats, model, floor)

    return EngineSteps(
        train=functools.partial(train_model_spark, spark, sdf),
        blocking=functools.partial(blocking_analysis_spark, spark, sdf),
        predict=predict,
        cluster=functools.partial(cluster_scored_spark, spark),
    )


def link_records_spark(features: pd.DataFrame, *, spark: Any, **kwargs: Any) -> LinkResult:
    """``matching.linker.link_records(features, **kwargs)`` with the Spark engine (``spark``: a SparkSession)."""
    scratch = prepare(spark)
    try:
        return link_records(features, steps=spark_steps(spark, features), **kwargs)
    finally:
        spark.catalog.clearCache()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
