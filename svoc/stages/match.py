"""The matching stage on the build warehouse: features → model → scored pairs → clusters → citizen ids.

State carried from the last published run (already copied into the build): the registry
(``linked.record_citizen``), every id ever issued (``audit.citizen_ids``), steward decisions
(``audit.review_decisions``), the stored model (``audit.models``) and the open review queue.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

import duckdb
import pandas as pd

from schemas.rules import DOB_FROM_DEFAULT
from svoc.warehouse.sql import quote_ident, write_frame

log = logging.getLogger(__name__)


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def build_record_features(con: duckdb.DuckDBPyConnection, drop_date: dt.date,
                          dob_from: dt.date = DOB_FROM_DEFAULT) -> pd.DataFrame:
    from matching.features import FEATURE_INPUT_COLUMNS, build_features

    cols = ", ".join(quote_ident(c) for c in FEATURE_INPUT_COLUMNS)  # only what features read: ~1 GB less at 1M
    identity = _frame(con, f"SELECT {cols} FROM staging.identity_records ORDER BY source, source_record_id")
    return build_features(identity, drop_date, dob_from=dob_from)


def match_records(con: duckdb.DuckDBPyConnection, *, run_id: str, drop_date: dt.date, retrain: bool,
                  link_threshold: float | None, review_lower: float | None, threads: int, memory_limit: str,
                  dob_from: dt.date = DOB_FROM_DEFAULT, cannot_link_identifiers: Sequence[str] = (),
                  full: bool = True, engine: str = "duckdb", spark: Any = None) -> dict:
    """Link the staged records. ``dob_from``: the earliest plausible DOB; ``cannot_link_identifiers``: the
    named identifiers (sources.yaml ``identifiers:``) whose two different values keep two records apart.
    ``full``: re-link every record (else only new and changed ones, when the last run allows it);
    ``engine``: ``duckdb`` or ``spark`` (``spark``: the SparkSession to use)."""
    from matching.linker import link_records
    from matching.review import carry_forward

    features = build_record_features(con, drop_date, dob_from)
    previous = _frame(con, "SELECT source || ':' || source_record_id AS record_key, citizen_id "
                           "FROM linked.record_citizen")
    known = _frame(con, "SELECT * FROM audit.citizen_ids")
    decisions = _frame(con, "SELECT * FROM audit.review_decisions ORDER BY decided_at")
    previous_queue = _frame(con, "SELECT * FROM audit.review_queue")
    result = link_records(
        features, con=con, previous_registry=previous, known_ids=known, decisions=decisions, retrain=retrain,
        run_id=run_id, thresholds={"link": link_threshold, "review": (review_lower, link_threshold)},
        threads=threads, memory_limit=memory_limit, cannot_link_identifiers=tuple(cannot_link_identifiers),
    )
    rc = result.record_citizen.assign(run_id=run_id)
    write_frame(con, "linked.record_citizen", rc, replace_where="true")
    write_frame(con, "audit.citizen_ids", pd.DataFrame(result.known_ids), replace_where="true")
    write_frame(con, "audit.citizen_events", result.events.assign(run_id=run_id), replace_where="run_id = ?",
                params=[run_id])
    write_frame(con, "audit.match_evidence", result.match_evidence, replace_where="run_id = ?", params=[run_id])
    queue = carry_forward(previous_queue, result.review_queue)
    write_frame(con, "audit.review_queue", queue, replace_where="true")
    stats: dict[str, Any] = {k: v for k, v in result.stats.items() if isinstance(v, int | float)}
    stats.update({"model_version": result.model.model_version, "model_trained": result.model_trained,
                  "records": len(rc), "citizens": int(rc["citizen_id"].nunique()),
                  "review_queue": len(queue), "events": len(result.events),
                  "seconds": result.stats.get("seconds", {})})
    con.execute("DELETE FROM audit.run_matching WHERE run_id = ?", [run_id])
    con.execute("INSERT INTO audit.run_matching VALUES (?, ?, ?, ?, ?)",
                [run_id, result.model.model_version, json.dumps(result.thresholds.as_dict()),
                 json.dumps(result.blocking_analysis, default=str), json.dumps(stats, default=str)])
    log.info("matched run=%s records=%d citizens=%d review=%d", run_id, len(rc), stats["citizens"], len(queue))
    return stats
