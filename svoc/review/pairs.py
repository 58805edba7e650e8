"""Pairs for review: finding a pair, its two records, the model's prior, recording a decision."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from matching.review import pair_id, validate_decision
from schemas.errors import SvocError
from svoc.report.data import RECORD_FIELDS, Warehouse, prior_weight

_PAIR_ID_SQL = ("substr(sha256(least(unique_id_l, unique_id_r) || chr(31) || greatest(unique_id_l, unique_id_r)), "
                "1, 16)")


def resolve_pair(w: Warehouse, pair: str) -> dict[str, Any]:
    """A pair by its 16-hex id (review queue first, then this warehouse's match evidence), or as ``KEY_A,KEY_B``."""
    if "," in pair:
        a, b = (p.strip() for p in pair.split(",", 1))
        lo, hi = sorted((a, b))
        return {"pair_id": pair_id(lo, hi), "unique_id_l": lo, "unique_id_r": hi, "match_probability": None,
                "reason": "named by record keys", "evidence": None, "status": None}
    if w.has("audit.review_queue"):
        rows = w.rows("SELECT pair_id, unique_id_l, unique_id_r, match_probability, reason, evidence, status "
                      "FROM audit.review_queue WHERE pair_id = ? LIMIT 1", [pair])
        if rows:
            return rows[0]
    if w.has("audit.match_evidence"):
        rows = w.rows(
            f"SELECT {_PAIR_ID_SQL} AS pair_id, unique_id_l, unique_id_r, match_probability, link_method AS reason, "
            f"evidence, status FROM audit.match_evidence WHERE {_PAIR_ID_SQL} = ? ORDER BY run_id DESC LIMIT 1",
            [pair])
        if rows:
            return rows[0]
    raise SvocError(f"pair {pair} is not in the review queue or the match evidence (use a pair id from "
                    "'svoc review list', or KEY_A,KEY_B)")


def record(w: Warehouse, key: str) -> dict[str, Any]:
    src, _, rid = key.partition(":")
    rows = w.rows(f"SELECT {', '.join(RECORD_FIELDS)} FROM staging.identity_records WHERE source = ? AND "
                  "source_record_id = ?", [src, rid])
    return rows[0] if rows else {}


def model_prior(w: Warehouse) -> float:
    """The stored model's starting weight (log2 odds that two random records match)."""
    if not w.has("audit.models"):
        return 0.0
    text = w.one("SELECT settings_json FROM audit.models ORDER BY created_at DESC LIMIT 1")
    try:
        return prior_weight(json.loads(text or "{}").get("probability_two_random_records_match"))
    except (TypeError, ValueError):
        return 0.0


def open_queue(w: Warehouse, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many pairs are open, and the ``limit`` most likely ones."""
    if not w.has("audit.review_queue"):
        return 0, []
    total = w.one("SELECT count(*) FROM audit.review_queue WHERE coalesce(status, 'open') = 'open'")
    rows = w.rows("SELECT pair_id, match_probability, reason, unique_id_l, unique_id_r, queued_run_id "
                  "FROM audit.review_queue WHERE coalesce(status, 'open') = 'open' "
                  "ORDER BY match_probability DESC NULLS LAST, pair_id LIMIT ?", [int(limit)])
    return int(total or 0), rows


def record_decision(con: duckdb.DuckDBPyConnection, w: Warehouse, p: dict[str, Any], decision: str,
                    reviewer: str, reason: str) -> dict[str, Any]:
    """Validate and append a steward decision on pair ``p``; close it in the queue. Returns the decision row."""
    keys = [p["unique_id_l"], p["unique_id_r"]]
    known = {r[0] for r in con.execute(
        "SELECT source || ':' || source_record_id FROM staging.identity_records "
        "WHERE source || ':' || source_record_id IN (?, ?)", keys).fetchall()}
    try:
        row = validate_decision({"unique_id_l": keys[0], "unique_id_r": keys[1], "decision": decision,
                                 "reviewer": reviewer, "reason": reason}, known_records=known)
    except ValueError as exc:
        raise SvocError(str(exc)) from None
    decided_at = row["decided_at"].tz_convert("UTC").tz_localize(None).to_pydatetime()
    pid = pair_id(row["unique_id_l"], row["unique_id_r"])
    con.execute("INSERT INTO audit.review_decisions (pair_id, unique_id_l, unique_id_r, decision, reviewer, "
                "reason, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [pid, row["unique_id_l"], row["unique_id_r"], row["decision"], row["reviewer"], row["reason"],
                 decided_at])
    if w.has("audit.review_queue"):
        con.execute("UPDATE audit.review_queue SET status = 'decided' WHERE pair_id = ?", [pid])
    return {**row, "pair_id": pid}
