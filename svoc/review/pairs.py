"""Pairs for review: finding a pair, its two records, the model's prior, recording a decision in the state store."""

from __future__ import annotations

import json
from typing import Any

from matching.review import pair_id, validate_decision
from schemas.errors import SvocError
from svoc.report.data import RECORD_FIELDS, Warehouse, compare_fields, parse_evidence, prior_weight
from svoc.state import StateStore

_PAIR_ID_SQL = ("substr(sha256(least(unique_id_l, unique_id_r) || chr(31) || greatest(unique_id_l, unique_id_r)), "
                "1, 16)")


def resolve_pair(w: Warehouse, pair: str) -> dict[str, Any]:
    """A pair by its 16-hex id (review queue first, then this warehouse's match evidence), or as ``KEY_A,KEY_B``."""
    named: dict[str, Any] | None = None
    if "," in pair:
        a, b = (p.strip() for p in pair.split(",", 1))
        lo, hi = sorted((a, b))
        named = {"pair_id": pair_id(lo, hi), "unique_id_l": lo, "unique_id_r": hi, "match_probability": None,
                 "reason": "named by record keys", "evidence": None, "status": None}
        pair = named["pair_id"]
    if w.has("audit.review_queue"):
        rows = w.rows("SELECT pair_id, unique_id_l, unique_id_r, match_probability, reason, evidence, status "
                      "FROM audit.review_queue WHERE pair_id = ? LIMIT 1", [pair])
        if rows:
            return rows[0]
    if w.has("audit.match_evidence"):
        # the latest run's evidence: run ids are random, so runs are ordered by when they started
        runs = ("LEFT JOIN (SELECT run_id, started_at FROM audit.runs) r USING (run_id)" if w.has("audit.runs")
                else "CROSS JOIN (SELECT NULL AS started_at) r")
        rows = w.rows(
            f"SELECT pair_id, unique_id_l, unique_id_r, match_probability, reason, evidence, status FROM ("
            f"SELECT {_PAIR_ID_SQL} AS pair_id, unique_id_l, unique_id_r, match_probability, link_method AS reason, "
            f"evidence, status, run_id FROM audit.match_evidence WHERE {_PAIR_ID_SQL} = ?) {runs} "
            "ORDER BY r.started_at DESC NULLS LAST, run_id LIMIT 1",
            [pair])
        if rows:
            return rows[0]
    if named:
        return named
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


def open_queue(w: Warehouse, limit: int, decided: set[str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """How many pairs are open, and the ``limit`` most likely ones. ``decided``: pair ids decided in the state
    store since the warehouse was built (they leave the queue at once, not at the next run)."""
    if not w.has("audit.review_queue"):
        return 0, []
    skip = sorted(decided or ())
    base = "FROM audit.review_queue WHERE coalesce(status, 'open') = 'open' AND NOT list_contains(?, pair_id)"
    total = w.one(f"SELECT count(*) {base}", [skip])
    rows = w.rows(f"SELECT pair_id, match_probability, reason, unique_id_l, unique_id_r, queued_run_id {base} "
                  "ORDER BY match_probability DESC NULLS LAST, pair_id LIMIT ?", [skip, int(limit)])
    return int(total or 0), rows


QUEUE_SORTS = {"probability": "match_probability DESC NULLS LAST, pair_id",
               "age": "queued_run_started NULLS LAST, pair_id",  # oldest first
               "reason": "reason, match_probability DESC NULLS LAST, pair_id",
               "source_pair": "source_pair, match_probability DESC NULLS LAST, pair_id"}


def queue_page(w: Warehouse, decided: set[str] | None = None, *, reason: str | None = None,
               source_pair: str | None = None, band: str | None = None, sort: str = "probability",
               limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """The open queue filtered by reason (substring), source pair (``education – health``, either order) and
    band (``high`` ≥ 0.8, ``medium`` 0.5–0.8, ``low`` < 0.5), sorted by ``QUEUE_SORTS``; no personal details.
    Rows carry ``queued_at`` (the start of the run that first queued the pair) for the queue's age."""
    if not w.has("audit.review_queue"):
        return 0, []
    if sort not in QUEUE_SORTS:
        raise SvocError(f"unknown sort {sort!r}; use one of {sorted(QUEUE_SORTS)}")
    runs = "(SELECT started_at FROM audit.runs r WHERE r.run_id = q.queued_run_id)" if w.has("audit.runs") \
        else "NULL::TIMESTAMP"
    pair_sql = ("split_part(least(unique_id_l, unique_id_r), ':', 1) || ' – ' || "
                "split_part(greatest(unique_id_l, unique_id_r), ':', 1)")
    conds = ["coalesce(status, 'open') = 'open'", "NOT list_contains(?, pair_id)"]
    params: list[object] = [sorted(decided or ())]
    if reason:
        conds.append("contains(reason, ?)")
        params.append(reason)
    if source_pair:
        a, _, b = (p.strip() for p in source_pair.replace("–", "-").partition("-"))
        conds.append(f"{pair_sql} = ?")
        params.append(" – ".join(sorted((a, b))))
    bands = {"high": "match_probability >= 0.8", "medium": "match_probability >= 0.5 AND match_probability < 0.8",
             "low": "coalesce(match_probability, 0) < 0.5"}
    if band:
        if band not in bands:
            raise SvocError(f"unknown band {band!r}; use high, medium or low")
        conds.append(bands[band])
    base = (f"SELECT pair_id, match_probability, reason, unique_id_l, unique_id_r, queued_run_id, "
            f"{pair_sql} AS source_pair, {runs} AS queued_run_started FROM audit.review_queue q "
            f"WHERE {' AND '.join(conds)}")
    total = w.one(f"SELECT count(*) FROM ({base})", params)
    rows = w.rows(f"SELECT * FROM ({base}) ORDER BY {QUEUE_SORTS[sort]} LIMIT ? OFFSET ?",
                  [*params, int(limit), int(offset)])
    for r in rows:
        r["queued_at"] = r.pop("queued_run_started")
    return int(total or 0), rows


def pair_view(w: Warehouse, p: dict[str, Any]) -> dict[str, Any]:
    """What a steward is shown for pair ``p``: both records side by side, the model's evidence and prior.
    The same dict is stored with a decision as the evidence the steward saw."""
    left, right = record(w, p["unique_id_l"]), record(w, p["unique_id_r"])
    return {"pair_id": p["pair_id"], "unique_id_l": p["unique_id_l"], "unique_id_r": p["unique_id_r"],
            "match_probability": p.get("match_probability"), "reason": p.get("reason"), "status": p.get("status"),
            "fields": compare_fields(left, right), "evidence": parse_evidence(p.get("evidence")),
            "prior": model_prior(w)}


def record_decision(store: StateStore, w: Warehouse, p: dict[str, Any], decision: str, reviewer: str,
                    reason: str, *, purpose: str | None = None, evidence_seen: dict[str, Any] | None = None,
                    origin: str = "cli") -> dict[str, Any]:
    """Validate and append a steward decision on pair ``p`` to the state store, with the evidence the steward
    saw (``pair_view`` when not given). The warehouse is only read. Returns the decision row."""
    keys = [p["unique_id_l"], p["unique_id_r"]]
    known = {r[0] for r in w.con.execute(
        "SELECT source || ':' || source_record_id FROM staging.identity_records "
        "WHERE source || ':' || source_record_id IN (?, ?)", keys).fetchall()}
    try:
        row = validate_decision({"unique_id_l": keys[0], "unique_id_r": keys[1], "decision": decision,
                                 "reviewer": reviewer, "reason": reason}, known_records=known)
    except ValueError as exc:
        raise SvocError(str(exc)) from None
    decided_at = row["decided_at"].tz_convert("UTC").tz_localize(None).to_pydatetime()
    pid = pair_id(row["unique_id_l"], row["unique_id_r"])
    seen = evidence_seen if evidence_seen is not None else pair_view(w, p)
    store.add_decision(pair_id=pid, unique_id_l=row["unique_id_l"], unique_id_r=row["unique_id_r"],
                       decision=row["decision"], reviewer=row["reviewer"], reason=row["reason"], decided_at=decided_at,
                       purpose=purpose, evidence_seen=seen, origin=origin)
    return {**row, "pair_id": pid}


def decide_group(store: StateStore, w: Warehouse, anchor: str, others: list[str], decision: str, reviewer: str,
                 reason: str, *, purpose: str, origin: str = "web") -> list[dict[str, Any]]:
    """Decide a group at once (a cluster or household view): ``anchor`` is the same child as (or a different
    child from) each of ``others``. One decision per pair, each with the evidence shown for that pair; the
    access log gets one line per pair."""
    out = []
    for other in others:
        p = resolve_pair(w, f"{anchor},{other}")
        store.log_access(reviewer, f"review decide {decision}", f"pair {p['pair_id']}", purpose)
        out.append(record_decision(store, w, p, decision, reviewer, reason, purpose=purpose, origin=origin))
    return out
