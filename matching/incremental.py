"""Incremental nights: what changed since the last run, and which records must be re-clustered.

A record's *identity hash* is a content hash of the staged identity fields ``matching.features.build_features``
reads (``IDENTITY_FIELDS``): the same fields give the same feature row, so the same scores. A night is
incremental when the last run left hashes, features and scored pairs, the stored model is reused and the
feature code and settings are the version the last run used (``full_night_reason`` says why not).

Only the new and changed records are featured and scored (new × all, with the same blocking rules and model:
``matching.model.predict_pairs(new_ids=...)``). ``touched_records`` then picks the records to re-cluster: every
connected component, over tonight's kept pairs, shared NHS numbers / UPNs and last night's children, that holds a
new or changed record, a record whose child lost a record, or a record a steward decided on. Clustering is
decided within such components alone (``matching.cluster``), so re-clustering them with the same pairs and
constraints gives what a full run gives, and every other child keeps their cluster and citizen id.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from splink import Linker

from matching.features import FEATURE_INPUT_COLUMNS

# The staged identity fields a feature row is computed from (exactly the columns build_features reads): their hash
# says whether a record changed.
IDENTITY_FIELDS: tuple[str, ...] = FEATURE_INPUT_COLUMNS
# The code a feature row comes from: a change to any of these makes stored features stale (a full night).
FEATURE_MODULES: tuple[str, ...] = ("matching.features", "matching.addresses", "matching.names", "matching.dates",
                                    "schemas.identifiers", "schemas.rules")
# Above this share of records new, changed or removed, a full re-link is cheaper than an incremental one.
MAX_CHANGED_SHARE = 0.25
# Must-link labels: records sharing one are one child unless a steward says otherwise (matching.must_links).
MUST_LINK_FIELDS: tuple[str, ...] = ("nhs_number", "upn", "former_upn")


def feature_version(dob_from: Any) -> str:
    """Version of the feature rows: the feature code (``FEATURE_MODULES`` source text) and the earliest DOB."""
    h = hashlib.sha256(str(dob_from).encode())
    for name in FEATURE_MODULES:
        h.update(inspect.getsource(importlib.import_module(name)).encode())
    return h.hexdigest()[:16]


def keep_floor(thresholds: Mapping[str, Any]) -> float:
    """Lowest probability a kept pair may have: below both the review band and the link threshold a pair
    changes no cluster and joins no queue (``matching.linker.cluster_scored``)."""
    review = thresholds.get("review") or [thresholds["link"], thresholds["link"]]
    return float(min(float(review[0]), float(thresholds["link"])))


def full_night_reason(*, full: bool, retrain: bool, engine: str, previous: Mapping[str, Any] | None,
                      model_version: str | None, version: str, thresholds: Mapping[str, Any],
                      cannot_link_identifiers: Collection[str]) -> str | None:
    """Why tonight must be a full re-link, or ``None`` when it can be incremental.

    ``previous``: what the last published run stored (``mode``, ``model_version``, ``feature_version``,
    ``thresholds``, ``cannot_link_identifiers``, ``state_records``: records with stored features and hashes);
    ``thresholds``: tonight's given ``link``/``review`` (``None``: set from the model)."""
    if full:
        return "a full re-link was asked for (--full / SVOC_FULL)"
    if retrain:
        return "the model is retrained tonight"
    if engine != "duckdb":
        return f"incremental nights run on the duckdb engine (engine: {engine})"
    if not previous or not previous.get("state_records"):
        return "the last run left no record hashes"
    if model_version is None or previous.get("model_version") != model_version:
        return "the stored model is not the one the last run used"
    if previous.get("feature_version") != version:
        return "the feature code or earliest DOB changed since the last run"
    stored = previous.get("thresholds") or {}
    if thresholds.get("link") is not None and float(thresholds["link"]) != float(stored.get("link", -1)):
        return "the link threshold given differs from the last run's"
    low = thresholds.get("review_lower")
    if low is not None and float(low) != float((stored.get("review") or [-1])[0]):
        return "the review threshold given differs from the last run's"
    if sorted(previous.get("cannot_link_identifiers") or []) != sorted(cannot_link_identifiers):
        return "the cannot-link identifiers changed since the last run"
    return None


def touched_records(record_keys: Sequence[str] | np.ndarray, seeds: Collection[str],
                    pairs: pd.DataFrame | None = None,
                    groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None) -> np.ndarray:
    """Boolean mask over ``record_keys``: the records in a connected component holding a seed.

    Edges: each pair (``unique_id_l``, ``unique_id_r``) and, for each ``groups`` column (aligned with
    ``record_keys``: NHS number, UPN, former UPN, last night's citizen id...), records sharing a non-null value.
    """
    keys = pd.Index(np.asarray(record_keys, dtype=object))
    edges = np.zeros((0, 2), dtype=np.int64)
    if pairs is not None and len(pairs):
        li = keys.get_indexer(pairs["unique_id_l"].astype(str))
        ri = keys.get_indexer(pairs["unique_id_r"].astype(str))
        ok = (li >= 0) & (ri >= 0)
        edges = np.column_stack([li[ok], ri[ok]])
    labels = []
    for values in (groups or {}).values():
        series = pd.Series(np.asarray(values, dtype=object))
        present = series.notna().to_numpy() & (series.astype(str) != "").to_numpy()
        codes = np.full(len(series), -1, dtype=np.int64)
        codes[present] = pd.factorize(series[present])[0]
        labels.append(codes)
    seed_rows = keys.get_indexer(pd.Index(list(seeds), dtype=object))
    return component_mask(len(keys), edges, labels, seed_rows[seed_rows >= 0])


def component_mask(n: int, edges: np.ndarray, labels: Sequence[np.ndarray], seed_rows: np.ndarray) -> np.ndarray:
    """``touched_records`` on row numbers: boolean mask over ``n`` records of the components holding a seed row.
    ``edges``: (k, 2) row pairs; ``labels``: per group, one integer label per record (any integers, negative for
    none), records sharing a label being connected. Labels may be hashes: two values sharing one only joins two
    components, so more records are re-clustered, never fewer."""
    if n == 0:
        return np.zeros(0, dtype=bool)
    src, dst = [edges[:, 0]], [edges[:, 1]]
    extra = n
    for codes in labels:
        rows = np.flatnonzero(codes >= 0)
        _, dense = np.unique(codes[rows], return_inverse=True)
        src.append(rows)
        dst.append(dense.astype(np.int64) + extra)  # one node per distinct label
        extra += int(dense.max()) + 1 if dense.size else 0
    a, b = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(extra, extra))
    _, comp = connected_components(graph, directed=False)
    hit = np.zeros(int(comp.max()) + 1, dtype=bool)
    hit[comp[np.asarray(seed_rows, dtype=np.int64)]] = True
    return hit[comp[:n]]


def seed_records(changed: Collection[str], removed: Collection[str], previous: pd.DataFrame,
                 decisions: pd.DataFrame | None) -> set[str]:
    """Records to re-cluster from: new and changed records, every record of a child that lost one (removed or
    changed), and both records of every steward decision (a decision made since the last run must be honoured,
    and re-clustering a decided pair is cheap). ``previous``: last night's ``record_key, citizen_id``."""
    seeds = set(map(str, changed))
    prev = previous.astype({"record_key": str})
    lost = set(prev.loc[prev["record_key"].isin(set(map(str, removed)) | seeds), "citizen_id"])
    seeds.update(prev.loc[prev["citizen_id"].isin(lost), "record_key"])
    if decisions is not None and not decisions.empty:
        seeds.update(decisions["unique_id_l"].astype(str))
        seeds.update(decisions["unique_id_r"].astype(str))
    return seeds - set(map(str, removed))


def pairs_to_keep(scored: pd.DataFrame, floor: float, used: pd.DataFrame | None = None) -> pd.DataFrame:
    """The scored pairs stored for later nights: at or above ``floor`` (``keep_floor``), plus any pair the run
    used as evidence (``used``: a deterministic link scored below the floor keeps its evidence)."""
    keep = scored["match_probability"].to_numpy(dtype=float) >= floor
    below = np.flatnonzero(~keep)  # only these can be kept for being used (at 1M records: none of 718k pairs)
    if used is not None and len(used) and below.size:
        low = scored.iloc[below]
        pair = low["unique_id_l"].astype(str) + "\x1f" + low["unique_id_r"].astype(str)
        wanted = set(used["unique_id_l"].astype(str) + "\x1f" + used["unique_id_r"].astype(str))
        keep[below] = pair.isin(wanted).to_numpy()
    return scored[keep]


def predict_new(con: duckdb.DuckDBPyConnection, linker: Linker, table: str, new_ids: Collection[str],
                threshold_probability: float) -> tuple[str, list[Any]]:
    """The pairs an incremental night scores (``matching.model.predict_pairs(new_ids=...)``), with Splink 5's
    incremental primitives: ``predict_between`` (the other records × the new ones) and
    ``predict_within`` (new × new), term frequencies computed on the whole table first. Returns the name of a
    view of both with each pair ordered ``unique_id_l < unique_id_r``, and the Splink frames to drop after."""
    con.register("__cv_new_ids", pd.DataFrame({"unique_id": pd.Series(list(new_ids), dtype=object)}))
    con.execute(f"CREATE OR REPLACE TABLE cv_features_new AS SELECT * FROM {table} "
                "WHERE unique_id IN (SELECT unique_id FROM __cv_new_ids)")
    con.execute(f"CREATE OR REPLACE TABLE cv_features_old AS SELECT * FROM {table} "
                "WHERE unique_id NOT IN (SELECT unique_id FROM __cv_new_ids)")
    con.unregister("__cv_new_ids")
    for tf in linker._settings_obj._term_frequency_columns:
        linker.table_management.compute_tf_table(tf.name)
    db_api = linker._db_api
    new, old = db_api.register("cv_features_new"), db_api.register("cv_features_old")
    between = linker.inference.predict_between(old, new, threshold_match_probability=threshold_probability,
                                               warning_mode="never")
    within = linker.inference.predict_within(new, threshold_match_probability=threshold_probability,
                                             warning_mode="never")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW cv_new_pairs AS SELECT * REPLACE ("
        "least(unique_id_l, unique_id_r) AS unique_id_l, greatest(unique_id_l, unique_id_r) AS unique_id_r) "
        f"FROM (SELECT * FROM {between.physical_name} UNION ALL BY NAME SELECT * FROM {within.physical_name})")
    return "cv_new_pairs", [between, within]
