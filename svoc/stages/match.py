"""The matching stage on the build warehouse: features → model → scored pairs → clusters → citizen ids.

State carried from the last published run (already copied into the build): the registry
(``linked.record_citizen``), every id ever issued (``audit.citizen_ids``), steward decisions
(``audit.review_decisions``), the stored model (``audit.models``) and the open review queue.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from matching.memory import HandedOver, long_lived_objects_frozen, return_free_memory
from schemas.errors import SvocError
from schemas.rules import DOB_FROM_DEFAULT
from svoc.warehouse.sql import quote_ident, repeated_texts, write_frame

log = logging.getLogger(__name__)


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def build_record_features(con: duckdb.DuckDBPyConnection, drop_date: dt.date,
                          dob_from: dt.date = DOB_FROM_DEFAULT) -> pd.DataFrame:
    from matching.features import FEATURE_INPUT_COLUMNS, build_features

    cols = ", ".join(quote_ident(c) for c in FEATURE_INPUT_COLUMNS)  # only what features read: ~1 GB less at 1M
    with warnings.catch_warnings():  # "an extra copy": of Arrow columns, a fraction of the Python strings' size
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        table = con.execute(f"SELECT {cols} FROM staging.identity_records ORDER BY source, source_record_id"
                            ).to_arrow_table()
    assert table is not None, "a SELECT gives a table"
    # text stays Arrow strings: the feature code maps each distinct value once, so the records' names and
    # addresses are never a million Python strings at once (over a gigabyte at 1M records, and its fragments)
    identity = table.to_pandas(types_mapper=_arrow_text)
    del table
    return build_features(identity, drop_date, dob_from=dob_from)


def _arrow_text(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(arrow_type) if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) else None


def match_records(con: duckdb.DuckDBPyConnection, *, run_id: str, drop_date: dt.date, retrain: bool,
                  link_threshold: float | None, review_lower: float | None, threads: int, memory_limit: str,
                  dob_from: dt.date = DOB_FROM_DEFAULT, cannot_link_identifiers: Sequence[str] = (),
                  full: bool = True, engine: str = "duckdb", spark: Any = None) -> dict:
    """Link the staged records. ``dob_from``: the earliest plausible DOB; ``cannot_link_identifiers``: the
    named identifiers (sources.yaml ``identifiers:``) whose two different values keep two records apart.
    ``full``: re-link every record (else only new and changed ones, when the last run allows it);
    ``engine``: ``duckdb`` or ``spark`` (``spark``: the SparkSession to use)."""
    from matching.artifact import load_current_model
    from matching.incremental import feature_version, full_night_reason
    from svoc.stages.incremental import previous_state, relink_incremental

    decisions = _frame(con, "SELECT * FROM audit.review_decisions ORDER BY decided_at")
    previous = previous_state(con)
    stored_model = None if retrain else load_current_model(con)
    version = feature_version(dob_from)
    reason = full_night_reason(
        full=full, retrain=retrain, engine=engine, previous=previous,
        model_version=stored_model.model_version if stored_model else None, version=version,
        thresholds={"link": link_threshold, "review_lower": review_lower},
        cannot_link_identifiers=cannot_link_identifiers)
    if reason is None:
        assert previous is not None and stored_model is not None, "checked by full_night_reason"
        inc = relink_incremental(con, run_id=run_id, drop_date=drop_date, previous=previous, model=stored_model,
                                 decisions=decisions, dob_from=dob_from,
                                 cannot_link_identifiers=cannot_link_identifiers, threads=threads,
                                 memory_limit=memory_limit)
        if not isinstance(inc, str):
            records, citizens = con.execute("SELECT count(*), count(DISTINCT citizen_id) "
                                            "FROM linked.record_citizen").fetchall()[0]
            write_frame(con, "audit.citizen_ids", pd.DataFrame(inc.known_ids), replace_where="true")
            write_frame(con, "audit.citizen_events", inc.events.assign(run_id=run_id), replace_where="run_id = ?",
                        params=[run_id])
            write_frame(con, "audit.review_queue", inc.review_queue, replace_where="true")
            stats = {**inc.stats, "mode": "incremental", "model_version": stored_model.model_version,
                     "model_trained": False, "records": int(records), "citizens": int(citizens),
                     "review_queue": len(inc.review_queue), "events": len(inc.events)}
            thresholds = previous["thresholds"]
            analysis = {**(stored_model.training_summary.get("blocking_analysis") or {}), "from_stored_model": True}
            return _record_run(con, run_id, stats, thresholds, analysis, version,
                               cannot_link_identifiers, drop_date)
        reason = inc
    log.info("full re-link: %s", reason)
    stats = _full_night(con, run_id=run_id, drop_date=drop_date, retrain=retrain, link_threshold=link_threshold,
                        review_lower=review_lower, threads=threads, memory_limit=memory_limit, dob_from=dob_from,
                        cannot_link_identifiers=cannot_link_identifiers, decisions=decisions, engine=engine, spark=spark)
    thresholds, analysis = stats.pop("_thresholds"), stats.pop("_blocking_analysis")
    return _record_run(con, run_id, {**stats, "mode": "full", "full_reason": reason}, thresholds, analysis, version,
                       cannot_link_identifiers, drop_date)


def _full_night(con: duckdb.DuckDBPyConnection, *, run_id: str, drop_date: dt.date, retrain: bool,
                link_threshold: float | None, review_lower: float | None, threads: int, memory_limit: str,
                dob_from: dt.date, cannot_link_identifiers: Sequence[str], decisions: pd.DataFrame,
                engine: str = "duckdb", spark: Any = None) -> dict:
    """Re-link every record, then store the state the next incremental night starts from."""
    features = build_record_features(con, drop_date, dob_from)
    return_free_memory()  # the identity rows the features were built from
    with long_lived_objects_frozen():  # the features' millions of objects: no full collection walks them
        return _link_and_store(con, features, run_id=run_id, retrain=retrain, link_threshold=link_threshold,
                               review_lower=review_lower, threads=threads, memory_limit=memory_limit,
                               cannot_link_identifiers=cannot_link_identifiers, decisions=decisions,
                               engine=engine, spark=spark)


def _link_and_store(con: duckdb.DuckDBPyConnection, features: pd.DataFrame, *, run_id: str, retrain: bool,
                    link_threshold: float | None, review_lower: float | None, threads: int, memory_limit: str,
                    cannot_link_identifiers: Sequence[str], decisions: pd.DataFrame, engine: str,
                    spark: Any) -> dict:
    from matching.linker import link_records
    from matching.review import carry_forward
    from svoc.stages.incremental import store_features, store_pairs

    started = time.perf_counter()
    # the features as Arrow, converted once: stored, then loaded by training and scoring (from the frame, each
    # load took 2.5 s at 1M records; from Arrow 0.8 s); scoring takes the table over and frees it once loaded
    table = HandedOver(pa.Table.from_pandas(features, preserve_index=False))
    store_features(con, table.peek(), run_id)
    stored_s = time.perf_counter() - started
    previous = _frame(con, "SELECT source || ':' || source_record_id AS record_key, citizen_id "
                           "FROM linked.record_citizen")
    known = _frame(con, "SELECT * FROM audit.citizen_ids")
    previous_queue = _frame(con, "SELECT * FROM audit.review_queue")
    # features are stored: linking may narrow them
    link: Any = functools.partial(link_records, hand_over=True, feature_table=table)
    if engine == "spark":  # the same linking on Splink's Spark backend (matching.spark)
        from matching.spark.linker import link_records_spark

        if spark is None:
            raise SvocError("the spark engine needs a Spark session: run through the pipeline (svoc run) or pass one")
        link = functools.partial(link_records_spark, spark=spark)
        table.take()  # it reads the frame: the Arrow copy goes now
    result = link(
        features, con=con, previous_registry=previous, known_ids=known, decisions=decisions, retrain=retrain,
        run_id=run_id, thresholds={"link": link_threshold, "review": (review_lower, link_threshold)},
        threads=threads, memory_limit=memory_limit, cannot_link_identifiers=tuple(cannot_link_identifiers),
    )
    del features  # stored above; the writes below then share memory with the results only
    started = time.perf_counter()
    store_pairs(con, result.scored_pairs, result.match_evidence, result.thresholds.as_dict(), run_id)
    result.scored_pairs = result.scored_pairs.iloc[:0]  # the largest frame, no longer needed
    return_free_memory()
    result.stats.setdefault("seconds", {})["store_state"] = round(stored_s + time.perf_counter() - started, 2)
    rc = result.record_citizen.assign(run_id=run_id)
    write_frame(con, "linked.record_citizen", rc, replace_where="true")
    write_frame(con, "audit.citizen_ids", pd.DataFrame(result.known_ids), replace_where="true")
    write_frame(con, "audit.citizen_events", result.events.assign(run_id=run_id), replace_where="run_id = ?",
                params=[run_id])
    evidence = result.match_evidence.assign(evidence=repeated_texts(result.match_evidence["evidence"]))
    write_frame(con, "audit.match_evidence", evidence, replace_where="run_id = ?", params=[run_id])
    queue = carry_forward(previous_queue, result.review_queue)
    write_frame(con, "audit.review_queue", queue, replace_where="true")
    stats: dict[str, Any] = {k: v for k, v in result.stats.items() if isinstance(v, int | float)}
    stats.update({"model_version": result.model.model_version, "model_trained": result.model_trained,
                  "records": len(rc), "citizens": int(rc["citizen_id"].nunique()),
                  "review_queue": len(queue), "events": len(result.events),
                  "seconds": result.stats.get("seconds", {}),
                  "_thresholds": result.thresholds.as_dict(), "_blocking_analysis": result.blocking_analysis})
    return stats


def _record_run(con: duckdb.DuckDBPyConnection, run_id: str, stats: dict[str, Any], thresholds: dict[str, Any],
                analysis: dict[str, Any], version: str, cannot_link_identifiers: Sequence[str],
                drop_date: dt.date) -> dict:
    """``audit.run_matching``: thresholds, blocking counts and stats, with what the next night checks (mode,
    feature version, cannot-link identifiers, drop date)."""
    stats = {**stats, "feature_version": version, "cannot_link_identifiers": sorted(cannot_link_identifiers),
             "drop_date": drop_date.isoformat()}
    con.execute("DELETE FROM audit.run_matching WHERE run_id = ?", [run_id])
    con.execute("INSERT INTO audit.run_matching VALUES (?, ?, ?, ?, ?)",
                [run_id, stats["model_version"], json.dumps(thresholds), json.dumps(analysis, default=str),
                 json.dumps(stats, default=str)])
    log.info("matched run=%s mode=%s records=%d citizens=%d review=%d", run_id, stats["mode"], stats["records"],
             stats["citizens"], stats["review_queue"])
    return stats
