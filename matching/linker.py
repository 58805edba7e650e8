"""The matching facade: feature frame in, citizen assignments, evidence, review queue and events out.

``link_records`` trains (or reuses) the Splink model, scores candidate pairs, clusters them under
the cannot-link constraints and steward decisions (``matching.cluster``), assigns stable citizen ids
(``matching.registry``) and shapes the rows the warehouse stores (``linked.record_citizen``,
``audit.match_evidence``, ``audit.review_queue``, ``audit.citizen_events``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matching.artifact import ModelArtifact, load_current_model, save_model
from matching.blocking import analysis_from_counts, blocking_analysis
from matching.cluster import CLUSTER_COLUMNS
from matching.constraints import IDENTIFIER_CONFLICTS
from matching.memory import HandedOver, return_free_memory
from matching.model import PREDICT_CHUNK_RECORDS, extra_ids, predict_pairs
from matching.ordering import pair_positions, sort_frame
from matching.prior import calibrate_prior
from matching.term_frequencies import with_term_frequencies
from matching.thresholds import Thresholds, thresholds_from_model, wants_model_thresholds
from matching.training import accuracy_at, label_accuracy_table, train_model

log = logging.getLogger(__name__)

RECORD_CITIZEN_COLUMNS = ["source", "source_record_id", "citizen_id", "link_method", "match_probability"]
EVIDENCE_BASE_COLUMNS = [
    "run_id", "model_version", "unique_id_l", "unique_id_r", "source_l", "source_record_id_l", "source_r",
    "source_record_id_r", "match_probability", "match_weight", "link_method", "status", "evidence",
]


@dataclass(frozen=True)
class EngineSteps:
    """The engine-specific steps of ``link_records``, with the DuckDB functions' signatures: ``train`` as
    ``matching.training.train_model``, ``blocking`` as ``matching.blocking.blocking_analysis``, ``predict`` as
    ``matching.model.predict_pairs``, ``cluster`` as ``cluster_scored`` (``matching.spark`` supplies Spark ones)."""

    train: Callable[..., ModelArtifact]
    blocking: Callable[..., dict[str, Any]]
    predict: Callable[..., pd.DataFrame]
    cluster: Callable[..., Any]


@dataclass
class LinkResult:
    record_citizen: pd.DataFrame
    match_evidence: pd.DataFrame
    review_queue: pd.DataFrame
    events: pd.DataFrame
    registry: pd.DataFrame
    known_ids: Any
    model: ModelArtifact
    model_trained: bool
    blocking_analysis: dict[str, Any]
    thresholds: Thresholds
    scored_pairs: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


def link_records(
    features: pd.DataFrame,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    previous_registry: pd.DataFrame | None = None,
    known_ids: Any = None,
    decisions: pd.DataFrame | None = None,
    previous_queue: pd.DataFrame | None = None,
    stored_model: ModelArtifact | None = None,
    retrain: bool = False,
    run_id: str = "run",
    thresholds: Thresholds | dict[str, Any] | None = None,
    seed: int = 42,
    threads: int | None = None,
    memory_limit: str | None = None,
    analyse_blocking: bool = True,
    cannot_link_identifiers: set[str] | frozenset[str] | tuple[str, ...] = frozenset(),
    steps: EngineSteps | None = None,
    hand_over: bool = False,
    feature_table: HandedOver | None = None,
) -> LinkResult:
    """Link ``features`` (``matching.features.FEATURE_COLUMNS``) into citizens.

    ``con`` is the warehouse connection holding ``audit.models``: when given, the latest stored model
    is reused (unless ``retrain`` or ``stored_model`` is given) and a newly trained model is saved.
    Splink itself runs in a private in-memory DuckDB with ``threads`` / ``memory_limit``.
    ``hand_over``: the caller has no further use for ``features``; once they are copied into the scoring database,
    the columns the clustering does not read are dropped from it in place (at 1M records about 0.7 GB of the
    frame's 1.8 GB, no longer held beside the scoring's own memory), and once clustered, all but the record keys.
    ``feature_table``: the same features as an Arrow table, which training and scoring load instead of the frame
    (faster); scoring takes it over, and it is freed once loaded.
    """
    from matching.registry import assign_citizen_ids

    from_model = wants_model_thresholds(thresholds)
    th = Thresholds() if from_model else Thresholds.coerce(thresholds)
    if stored_model is None and con is not None and not retrain:
        stored_model = load_current_model(con)
    trained = retrain or stored_model is None
    clock = _Clock()
    # Blocking counts are taken once per model (a reused model carries the counts it was trained with): on
    # DuckDB in one scoring chunk from the pairs scoring blocks (free), else by a count of their own.
    count_while_scoring = trained and analyse_blocking and steps is None and len(features) <= PREDICT_CHUNK_RECORDS
    rule_counts: dict[int, int] = {}
    if trained:
        model = (steps.train if steps else train_model)(feature_table.peek() if feature_table and not steps
                                                        else features, seed=seed, threads=threads,
                                                        memory_limit=memory_limit, decisions=decisions)
        # a pair's score depends only on its records and the model: frequencies counted once, kept with it
        model = with_term_frequencies(model, features)
        # the prior from rules assumes their recall; the scores say how many true pairs there are
        model = calibrate_prior(features, model, steps.predict if steps else predict_pairs, seed=seed,
                                threads=threads, memory_limit=memory_limit)
        if analyse_blocking and not count_while_scoring:
            analysis = (steps.blocking if steps else blocking_analysis)(features, threads=threads, memory_limit=memory_limit)
            model = _with_analysis(model, analysis)
    else:
        assert stored_model is not None, "a model is reused only when there is one"
        model = stored_model
    log.info("model %s (%s)", model.model_version, "trained" if trained else "reused")
    # the stewards' labels read every feature column: taken before a hand-over narrows the frame
    labelled = label_accuracy_table(features, model, decisions, threads=threads, memory_limit=memory_limit)
    clock.lap("train")
    if steps is None:
        scored = predict_pairs(feature_table.take() if feature_table else features, model, th.floor,
                               threads=threads, memory_limit=memory_limit,
                               rule_counts=rule_counts if count_while_scoring else None,
                               loaded=functools.partial(_narrow, features, arrow=feature_table is not None)
                               if hand_over else None)
    else:
        scored = steps.predict(features, model, th.floor, threads=threads, memory_limit=memory_limit)
    if count_while_scoring:
        model = _with_analysis(model, analysis_from_counts(len(features), rule_counts, extra_ids(model.settings)))
    if trained and con is not None:
        save_model(con, model, run_id)
    return_free_memory()  # the scoring's transient rows (its DuckDB result as Python objects)
    clock.lap("predict")
    if from_model:
        low = thresholds.get("review", (None,))[0] if isinstance(thresholds, dict) else None
        eligible = scored["auto_link_eligible"].astype(bool) if "auto_link_eligible" in scored else slice(None)
        th = thresholds_from_model(scored.loc[eligible, "match_probability"].to_numpy(), review_low=low,
                                   floor=th.floor)
    log.info("thresholds: link %.4g, review %.4g-%.4g (%s)", th.link, th.review[0], th.review[1], th.source)
    checked = accuracy_at(labelled, th.link)
    if hand_over:
        _narrow(features)
    clusters = (steps.cluster if steps else cluster_scored)(features, scored, decisions, th, cannot_link_identifiers)
    clock.lap("cluster")
    if hand_over:
        _narrow(features, AFTER_CLUSTERING_COLUMNS)
    registry, events, known_ids = assign_citizen_ids(clusters.assignments, previous_registry, known_ids, run_id)

    uid_citizen = _uid_to_citizen(registry, clusters.assignments)
    record_citizen = _record_citizen(features, clusters.assignments, uid_citizen)
    evidence = _evidence_rows(clusters.links, clusters.review, scored, run_id, model.model_version)
    review_queue = _review_queue(clusters.review, decisions, run_id, model.model_version, previous_queue)
    analysis = _run_blocking_analysis(model, trained) if analyse_blocking else {}
    clock.lap("ids_and_evidence")
    stats = {
        **clusters.stats,
        "scored_pairs": len(scored),
        "linked_pairs": len(clusters.links),
        "review_pairs": len(review_queue),
        "citizens": int(record_citizen["citizen_id"].nunique()),
        "link_methods": record_citizen["link_method"].value_counts().sort_index().to_dict(),
        "seconds": clock.laps,
        **checked,  # what steward decisions say about the link threshold (when there are enough)
    }
    return LinkResult(record_citizen, evidence, review_queue, events, registry, known_ids, model, trained,
                      analysis, th, scored, stats)


def link_touched(features: pd.DataFrame, scored: pd.DataFrame, *, model: ModelArtifact, thresholds: Thresholds,
                 decisions: pd.DataFrame | None, previous_registry: pd.DataFrame | None, known_ids: Any,
                 previous_queue: pd.DataFrame | None, run_id: str,
                 cannot_link_identifiers: set[str] | frozenset[str] | tuple[str, ...] = frozenset()) -> LinkResult:
    """An incremental night's clustering (``matching.incremental``): cluster the touched records' ``features`` on
    their ``scored`` pairs with the last run's ``thresholds`` and give the clusters citizen ids, as
    ``link_records`` does for all records (``previous_registry``: the children those records belonged to;
    ``known_ids``: every id ever issued)."""
    from matching.registry import assign_citizen_ids

    clock = _Clock()
    clusters = cluster_scored(features, scored, decisions, thresholds, cannot_link_identifiers)
    clock.lap("cluster")
    registry, events, known_ids = assign_citizen_ids(clusters.assignments, previous_registry, known_ids, run_id)
    record_citizen = _record_citizen(features, clusters.assignments, _uid_to_citizen(registry, clusters.assignments))
    evidence = _evidence_rows(clusters.links, clusters.review, scored, run_id, model.model_version)
    review_queue = _review_queue(clusters.review, decisions, run_id, model.model_version, previous_queue)
    clock.lap("ids_and_evidence")
    stats = {**clusters.stats, "scored_pairs": len(scored), "linked_pairs": len(clusters.links),
             "review_pairs": len(review_queue), "seconds": clock.laps}
    return LinkResult(record_citizen, evidence, review_queue, events, registry, known_ids, model, False, {},
                      thresholds, scored, stats)


# What linking reads of the features once the pairs are scored: the clustering's columns and the record keys;
# once the records are clustered, the keys alone (``_record_citizen``).
AFTER_SCORING_COLUMNS = frozenset({*CLUSTER_COLUMNS, "source_record_id"})
AFTER_CLUSTERING_COLUMNS = frozenset({"unique_id", "source", "source_record_id"})


def _narrow(features: pd.DataFrame, keep: frozenset[str] = AFTER_SCORING_COLUMNS, arrow: bool = False) -> None:
    """A handed-over feature frame loses, in place, every column linking does not read from here on (``arrow``:
    the Arrow copy scoring loaded was freed too: its pages go back as well, 0.3 GB at 1M records)."""
    drop = [c for c in features.columns if c not in keep]
    if drop:
        features.drop(columns=drop, inplace=True)
        return_free_memory(arrow=arrow)


class _Clock:
    """Wall seconds per matching step (``stats["seconds"]``: train, predict, cluster, ids_and_evidence)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._t, 2)
        self._t = now


def _with_analysis(model: ModelArtifact, analysis: dict[str, Any]) -> ModelArtifact:
    return dataclasses.replace(model, training_summary={**model.training_summary, "blocking_analysis": analysis})


def _run_blocking_analysis(model: ModelArtifact, trained: bool) -> dict[str, Any]:
    """The blocking counts recorded for this run: measured tonight when the model was trained tonight,
    else the counts stored with the reused model (``from_stored_model``: true; its ``n_records`` says
    how many records they were counted on)."""
    analysis = dict(model.training_summary.get("blocking_analysis") or {})
    if analysis:
        analysis["from_stored_model"] = not trained
    return analysis


# Gaps (``matching.model`` ``evidence_gap``) a person can close by looking: the missing field may be found, and a
# sex recorded wrongly beside agreeing names and address is a common slip. Pairs whose first names, DOBs or middle
# names *disagree* are not queued: that is evidence they are two children (a household member given the same DOB).
QUEUEABLE_GAPS = ("first_name_missing", "first_name_initial_only", "dob_missing_no_address", "dob_missing_sex_differs")
# Held apart by two different valid values of an identifier (above the link threshold or in the review band): the
# identifiers decide, so the pair is not queued
# (pairs that must-links joined despite such a conflict are: ``conflicting_identifiers:*``).
FIRM_HOLDS = tuple(f"held_apart:{reason}" for reason in IDENTIFIER_CONFLICTS)


def cluster_scored(features: pd.DataFrame, scored: pd.DataFrame, decisions: pd.DataFrame | None,
                   thresholds: Thresholds | dict[str, Any] | None = None,
                   cannot_link_identifiers: set[str] | frozenset[str] | tuple[str, ...] = frozenset()):
    """``matching.cluster.cluster_records`` on the pairs with enough identity evidence to link on their
    own (``auto_link_eligible``); the others, when scored inside or above the review band, left in
    different clusters and lacking only a field that is *missing* (``QUEUEABLE_GAPS``), join the review
    queue with reason ``weak_evidence:<gap>``."""
    from matching.cluster import SCORED_COLUMNS, cluster_records
    from matching.review import drop_decided

    th = Thresholds.coerce(thresholds)
    ok = scored["auto_link_eligible"].astype(bool) if "auto_link_eligible" in scored else None
    result = cluster_records(features, scored if ok is None else scored[ok], decisions, th.link, th.review,
                             cannot_link_identifiers=cannot_link_identifiers)
    firm = result.review["reason"].astype(str).str.startswith(FIRM_HOLDS)
    if firm.any():  # two valid identifiers disagree: decided, not a question for a person
        result.review = result.review[~firm].reset_index(drop=True)
        result.stats["firm_holds"] = int(firm.sum())
        result.stats["review_pairs"] = len(result.review)
    if ok is None:
        return _explained_pairs_dropped(result)
    weak = scored[~ok & (scored["match_probability"] >= th.review[0])]
    if "evidence_gap" in weak.columns:
        weak = weak[weak["evidence_gap"].isin(QUEUEABLE_GAPS)]
    elif "gamma_first_name" in weak.columns:  # different first names (siblings, twins) are not borderline
        weak = weak[weak["gamma_first_name"] != 0]
    if not weak.empty:
        key = result.assignments.set_index("unique_id")["cluster_key"]
        weak = weak[weak["unique_id_l"].map(key) != weak["unique_id_r"].map(key)]
        weak = drop_decided(weak, decisions)  # a steward already answered: never queue the pair again
        gap = weak["evidence_gap"] if "evidence_gap" in weak.columns else "insufficient_identity_evidence"
        extra = weak[SCORED_COLUMNS].assign(reason=("weak_evidence:" + gap) if "evidence_gap" in weak.columns
                                            else gap)
        result.review = pd.concat([result.review, extra], ignore_index=True).sort_values(
            ["unique_id_l", "unique_id_r", "reason"], kind="mergesort").reset_index(drop=True)
        result.stats["review_pairs"] = len(result.review)
        result.stats["insufficient_evidence_pairs"] = len(extra)
    return _explained_pairs_dropped(result)


# Queue reasons that are questions about *whether* two records are one child (not identifier conflicts).
QUESTION_REASONS = ("review_band", "held_apart:twin_guard", "held_apart:same_source_twin", "weak_evidence:")


def _explained_pairs_dropped(result):
    """Drop question pairs whose two records each already belong to a child with other records: both are
    explained, so the pair is almost always two children (measured on five drops: 0-5% true, against 58-100%
    for pairs with a record left on its own). The pair stays in the scored evidence; only the queue skips it."""
    if result.review.empty:
        return result
    size = result.assignments["cluster_key"].map(result.assignments["cluster_key"].value_counts())
    alone = pd.Series((size == 1).to_numpy(), index=result.assignments["unique_id"].to_numpy())
    question = result.review["reason"].astype(str).str.startswith(QUESTION_REASONS)
    explained = ~(result.review["unique_id_l"].map(alone).fillna(True).astype(bool)
                  | result.review["unique_id_r"].map(alone).fillna(True).astype(bool))
    drop = question & explained
    if drop.any():
        result.review = result.review[~drop].reset_index(drop=True)
        result.stats["explained_pairs_not_queued"] = int(drop.sum())
        result.stats["review_pairs"] = len(result.review)
    return result


def _split_uid(uids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``source:record_id`` keys split in two at the first colon (Arrow's kernel: at 1M records, 0.3 s where
    pandas' string split took 3.8 s)."""
    parts = pc.split_pattern(pa.array(uids.astype(str).to_numpy(dtype=object), type=pa.string()), ":", max_splits=1)
    source, record = pc.list_element(parts, 0), pc.list_element(parts, 1)
    return (pd.Series(source.to_numpy(zero_copy_only=False), index=uids.index, dtype=object),
            pd.Series(record.to_numpy(zero_copy_only=False), index=uids.index, dtype=object))


def _uid_to_citizen(registry: pd.DataFrame, assignments: pd.DataFrame) -> pd.Series:
    """unique_id -> citizen_id, from whichever key the registry frame carries."""
    if "record_key" in registry.columns:
        m = registry.rename(columns={"record_key": "unique_id"})[["unique_id", "citizen_id"]]
    elif "unique_id" in registry.columns:
        m = registry[["unique_id", "citizen_id"]]
    elif {"source", "source_record_id"} <= set(registry.columns):
        m = registry.assign(unique_id=registry["source"].astype(str) + ":" + registry["source_record_id"].astype(str))
    elif "cluster_key" in registry.columns:
        m = assignments[["unique_id", "cluster_key"]].merge(registry[["cluster_key", "citizen_id"]], on="cluster_key")
    else:
        raise ValueError(f"registry frame has no record key: {list(registry.columns)}")
    return m.drop_duplicates("unique_id").set_index("unique_id")["citizen_id"]


def _record_citizen(features: pd.DataFrame, assignments: pd.DataFrame, uid_citizen: pd.Series) -> pd.DataFrame:
    out = features[["unique_id", "source", "source_record_id"]].merge(
        assignments[["unique_id", "link_method", "match_probability"]], on="unique_id", how="left"
    )
    out["citizen_id"] = out["unique_id"].map(uid_citizen)
    if out["citizen_id"].isna().any():
        raise ValueError(f"{int(out['citizen_id'].isna().sum())} records have no citizen id")
    out["link_method"] = out["link_method"].fillna("singleton")
    return sort_frame(out[RECORD_CITIZEN_COLUMNS], ["source", "source_record_id"])


def _level_columns(scored: pd.DataFrame) -> list[str]:
    return [c for c in scored.columns if c.startswith(("level_", "mw_", "gamma_"))] + ["match_key"]


def _evidence_rows(links: pd.DataFrame, review: pd.DataFrame, scored: pd.DataFrame, run_id: str,
                   model_version: str) -> pd.DataFrame:
    """One row per linked pair and per review pair, with per-comparison level labels and weights."""
    linked = links.assign(status="linked")
    queued = review.assign(link_method="review", status="review")
    rows = pd.concat([linked, queued], ignore_index=True)
    rows = rows.drop_duplicates(["unique_id_l", "unique_id_r", "status"])
    # each row's levels from its scored pair (none for an unscored deterministic or steward link), as a left
    # merge on the two keys would give them: located on integer codes (a merge on the strings took 1.9 s at 1M)
    at = pair_positions(scored, rows)
    levels = scored[_level_columns(scored)].reset_index(drop=True).reindex(at)
    rows = pd.concat([rows.reset_index(drop=True), levels.reset_index(drop=True)], axis=1)
    rows["source_l"], rows["source_record_id_l"] = _split_uid(rows["unique_id_l"])
    rows["source_r"], rows["source_record_id_r"] = _split_uid(rows["unique_id_r"])
    rows["run_id"], rows["model_version"] = run_id, model_version
    cols = EVIDENCE_BASE_COLUMNS + [c for c in _level_columns(scored) if c not in EVIDENCE_BASE_COLUMNS]
    if "reason" in rows.columns:
        cols.append("reason")
    return sort_frame(rows[cols], ["status", "unique_id_l", "unique_id_r"])


def _review_queue(review: pd.DataFrame, decisions: pd.DataFrame | None, run_id: str, model_version: str,
                  previous_queue: pd.DataFrame | None = None) -> pd.DataFrame:
    """``audit.review_queue`` rows via ``matching.review`` (open pairs, decided ones dropped)."""
    from matching import review as review_mod

    queue = review_mod.build_review_queue(review, run_id=run_id, decisions=decisions)
    queue = review_mod.carry_forward(previous_queue, queue)
    return queue.assign(model_version=model_version)
