"""Clustering on Spark: connected components, then the constrained agglomeration per component.

Every pair that can join or queue two records (scored pairs above the floor, NHS/UPN must-links, steward
``same`` decisions) is an edge; Splink's connected components (SQL on the Spark backend) splits the records
into components no decision can cross. ``matching.linker.cluster_scored`` (cannot-links, twin guard,
steward decisions, review queue) then runs on each component with ``applyInPandas``; components are packed
into ``buckets`` so each Python call handles many small ones. The result is the union of the per-bucket
results, which equals one call on the whole drop: the agglomeration never looks across a component, and the
one drop-wide figure it reads, how many records hold each first name (the twin guard's "established name"),
is counted over the whole drop and carried on each record (``first_name_count``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import functions as F
from splink import SparkAPI
from splink.clustering import cluster_pairwise_predictions_at_threshold

from matching.cluster import REFUSED_COLUMNS, REVIEW_COLUMNS, ClusterResult
from matching.constraints import deterministic_links, latest_decisions
from matching.linker import cluster_scored
from matching.spark.session import BREAK_LINEAGE, frame
from matching.thresholds import Thresholds

log = logging.getLogger(__name__)

# Output rows of one bucket: one table for assignments, links, review pairs, refused must-links and stats.
_KINDS = ("assignment", "link", "review", "refused", "stats")
_OUT_SCHEMA = (
    "kind string, unique_id string, cluster_key string, link_method string, match_probability double, "
    "unique_id_l string, unique_id_r string, match_weight double, evidence string, reason string, "
    "stats string"
)
_ASSIGN = ["unique_id", "cluster_key", "link_method", "match_probability"]
_LINKS = ["unique_id_l", "unique_id_r", "link_method", "match_probability", "match_weight", "evidence"]


def _edges(features: pd.DataFrame, scored: pd.DataFrame, decisions: pd.DataFrame | None) -> pd.DataFrame:
    parts = [scored[["unique_id_l", "unique_id_r"]].astype(str)]
    det = deterministic_links(features)
    if not det.empty:
        parts.append(det[["unique_id_l", "unique_id_r"]].astype(str))
    latest = latest_decisions(decisions)
    if not latest.empty:
        parts.append(latest[["unique_id_l", "unique_id_r"]].astype(str))
    return pd.concat(parts, ignore_index=True).drop_duplicates()


def components(spark: Any, features: pd.DataFrame, edges: pd.DataFrame) -> Any:
    """``unique_id, component`` for every record (a Spark DataFrame): Splink's connected components."""
    api = SparkAPI(spark_session=spark, break_lineage_method=BREAK_LINEAGE)
    nodes = frame(spark, pa.table({"unique_id": features["unique_id"].astype(str).to_numpy()}))
    known = set(features["unique_id"].astype(str))
    edges = edges[edges["unique_id_l"].isin(known) & edges["unique_id_r"].isin(known)]
    edge_df = frame(spark, pa.Table.from_pandas(edges.reset_index(drop=True), preserve_index=False),
                    schema="unique_id_l string, unique_id_r string")
    out = cluster_pairwise_predictions_at_threshold(nodes, edge_df, api, node_id_column_name="unique_id")
    return out.as_spark_dataframe().selectExpr("unique_id", "cluster_id AS component")


def _bucket_fn(decisions: pd.DataFrame | None, th: Thresholds, cannot_link: tuple[str, ...],
               list_columns: tuple[str, ...]) -> Any:
    def run(feats: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
        feats = feats.drop(columns=["_bucket"]).reset_index(drop=True)
        for c in list_columns:  # Arrow gives numpy arrays; the agglomeration reads lists
            feats[c] = [list(v) if v is not None else [] for v in feats[c]]
        pairs = pairs.drop(columns=["_pair_bucket"]).reset_index(drop=True)
        result = cluster_scored(feats, pairs, decisions, th, cannot_link)
        return _pack(result)
    return run


def _pack(result: ClusterResult) -> pd.DataFrame:
    frames = [
        result.assignments[_ASSIGN].assign(kind="assignment"),
        result.links[_LINKS].assign(kind="link"),
        result.review[REVIEW_COLUMNS].assign(kind="review"),
        result.refused[REFUSED_COLUMNS].assign(kind="refused"),
        pd.DataFrame({"kind": ["stats"], "stats": [json.dumps(result.stats, default=int)]}),
    ]
    out = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    cols = [c.split()[0] for c in _OUT_SCHEMA.split(", ")]
    for c in cols:
        if c not in out:
            out[c] = None
    out = out[cols]
    for c in ("match_probability", "match_weight"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    for c in cols:
        if c not in ("match_probability", "match_weight"):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
            out[c] = out[c].map(lambda v: v if v is None else str(v))
    return out


def _unpack(rows: pd.DataFrame) -> ClusterResult:
    def part(kind: str, cols: list[str]) -> pd.DataFrame:
        return rows[rows["kind"] == kind][cols].reset_index(drop=True)

    assignments = part("assignment", _ASSIGN).sort_values("unique_id", kind="mergesort").reset_index(drop=True)
    links = part("link", _LINKS).sort_values(["unique_id_l", "unique_id_r"], kind="mergesort").reset_index(drop=True)
    review = part("review", REVIEW_COLUMNS).sort_values(["unique_id_l", "unique_id_r", "reason"],
                                                        kind="mergesort").reset_index(drop=True)
    refused = part("refused", REFUSED_COLUMNS).reset_index(drop=True)
    stats: dict[str, int] = {}
    for text in rows.loc[rows["kind"] == "stats", "stats"]:
        for k, v in json.loads(text).items():
            if isinstance(v, int | float):
                stats[k] = stats.get(k, 0) + int(v)
    stats["review_pairs"] = len(review)
    return ClusterResult(assignments, links, review, refused, stats)


def cluster_scored_spark(spark: Any, features: pd.DataFrame, scored: pd.DataFrame,
                         decisions: pd.DataFrame | None, thresholds: Thresholds | dict[str, Any] | None = None,
                         cannot_link_identifiers: set[str] | frozenset[str] | tuple[str, ...] = frozenset(),
                         buckets: int | None = None) -> ClusterResult:
    """``matching.linker.cluster_scored`` with Spark connected components and a per-component agglomeration."""
    th = Thresholds.coerce(thresholds)
    feats = features.copy()
    feats["unique_id"] = feats["unique_id"].astype(str)
    first_u = feats["first_name_std"].astype(object).where(feats["first_name_std"].notna(), None).str.upper() \
        if "first_name_std" in feats else pd.Series([None] * len(feats))
    feats["first_name_count"] = first_u.map(first_u.value_counts()).fillna(0).astype("int64")
    comp = components(spark, feats, _edges(feats, scored, decisions))
    n_buckets = buckets or max(1, int(spark.conf.get("spark.sql.shuffle.partitions", "8")))
    comp = comp.select("unique_id", F.pmod(F.xxhash64("component"), F.lit(n_buckets)).alias("_bucket"))
    comp.localCheckpoint().createOrReplaceTempView("svoc_components")
    # the pairs join their own copy: one lineage on both sides of a cogroup is ambiguous to Spark
    comp.localCheckpoint().createOrReplaceTempView("svoc_components_pairs")
    list_cols = tuple(c for c in feats.columns if _is_list_column(feats[c]))
    frame(spark, _arrow(feats)).createOrReplaceTempView("svoc_cluster_features")
    fsdf = spark.sql("SELECT f.*, c._bucket FROM svoc_cluster_features f JOIN svoc_components c USING (unique_id)")
    keep = [c for c in scored.columns if c in ("unique_id_l", "unique_id_r", "match_probability", "match_weight",
                                                "evidence", "auto_link_eligible", "evidence_gap")]
    frame(spark, _arrow(scored[keep].assign(
        unique_id_l=scored["unique_id_l"].astype(str), unique_id_r=scored["unique_id_r"].astype(str)))
    ).createOrReplaceTempView("svoc_cluster_pairs")
    psdf = spark.sql("SELECT p.*, c._bucket AS _pair_bucket FROM svoc_cluster_pairs p JOIN svoc_components_pairs c "
                     "ON p.unique_id_l = c.unique_id")
    fn = _bucket_fn(decisions, th, tuple(cannot_link_identifiers), list_cols)
    rows = (fsdf.groupBy("_bucket").cogroup(psdf.groupBy("_pair_bucket"))
            .applyInPandas(fn, schema=_OUT_SCHEMA).toPandas())
    result = _unpack(rows)
    result.stats["components_buckets"] = n_buckets
    log.info("cluster (spark): %s", result.stats)
    return result


def _is_list_column(s: pd.Series) -> bool:
    sample = s.dropna().head(20)
    return bool(len(sample)) and all(isinstance(v, list | tuple | np.ndarray) for v in sample)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
