"""Review queue and steward decisions.

* ``build_review_queue``: ``ClusterResult.review`` -> ``audit.review_queue`` rows (stable ``pair_id``).
* ``drop_decided``: remove pairs a steward already decided.
* ``carry_forward``: keep the first ``queued_run_id`` of pairs that were already waiting.
* ``validate_decision`` / ``append_decision``: decisions are append-only; the latest per pair wins
  (``matching.constraints.latest_decisions``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping

import pandas as pd

from matching.constraints import DECISION_COLUMNS, canonical_pairs, latest_decisions
from matching.twin_guard import clean_str

QUEUE_COLUMNS = ["pair_id", "unique_id_l", "unique_id_r", "match_probability", "match_weight", "reason",
                 "evidence", "status", "queued_run_id"]
DECISIONS = ("same", "different")

__all__ = ["QUEUE_COLUMNS", "REASON_TEXT", "append_decision", "reason_text", "build_review_queue", "carry_forward", "close_decided", "drop_decided",
           "latest_decisions", "pair_id", "validate_decision"]


# What each review reason code means for the person deciding (``reason_text``). A held-apart pair scores high:
# the model alone would link it; the reason says what stopped it.
REASON_TEXT: dict[str, str] = {
    "review_band": "the model is unsure: its probability is between the review and link thresholds",
    "held_apart:twin_guard": "possible twins: same birthday and household, two distinct given names, and nothing "
                             "else (middle name, identifier) showing one child; the model alone would link them",
    "held_apart:same_source_twin": "possible twins registered side by side in one system: same birthday and "
                                   "household, two distinct given names; the model alone would link them",
    "held_apart:ambiguous": "one record has no usable first name (missing or an initial) and fits two children "
                            "held apart from each other (twins or siblings); which one it is, if either, needs a "
                            "person",
    "held_apart:nhs_number": "the model scores them as one child, but they hold two different valid NHS numbers",
    "held_apart:upn": "the model scores them as one child, but they hold two different valid UPNs",
    "held_apart:steward_decision": "a reviewer decided a linked record is a different child",
    "conflicting_identifiers:nhs_number": "linked through other records, but this child now holds two NHS numbers",
    "conflicting_identifiers:upn": "linked through other records, but this child now holds two UPNs",
    "weak_evidence:first_name_missing": "one record has no usable first name; the date of birth agrees (exactly "
                                        "or nearly) and no middle name differs",
    "weak_evidence:first_name_initial_only": "one record holds only the initial of the other's first name and the "
                                             "date of birth agrees (exactly or nearly); an initial fits a brother "
                                             "or sister as well",
    "weak_evidence:dob_missing_no_address": "first name and surname agree, but one record has no usable date "
                                            "of birth and no address, postcode, middle name or identifier agrees",
    "weak_evidence:dob_missing_sex_differs": "first name, surname and address agree and one record has no usable "
                                             "date of birth, but the recorded sex differs",
    "insufficient_identity_evidence": "scores high, but lacks the identity evidence an automatic link needs",
}


def reason_text(reason: str | None) -> str:
    """Plain-English reasons for a queue row's ``reason`` (codes joined with ``;``)."""
    out = []
    for code in [p for p in (reason or "").split(";") if p]:
        if code in REASON_TEXT:
            out.append(REASON_TEXT[code])
        elif code.startswith("held_apart:identifier:"):
            name = code.split(":", 2)[2]
            out.append(f"the model scores them as one child, but they hold two different values of {name}")
        else:
            out.append(code.replace("_", " ").replace(":", ": "))
    return "; ".join(out) or "in the review range"


def pair_id(unique_id_a: str, unique_id_b: str) -> str:
    """Stable id of an unordered record pair: first 16 hex chars of sha256 over the sorted keys."""
    lo, hi = sorted((str(unique_id_a), str(unique_id_b)))
    return hashlib.sha256(f"{lo}\x1f{hi}".encode()).hexdigest()[:16]


def _empty_queue() -> pd.DataFrame:
    return pd.DataFrame(columns=QUEUE_COLUMNS)


def drop_decided(pairs: pd.DataFrame, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of ``pairs`` (``unique_id_l, unique_id_r``, any order) that no steward has decided."""
    if pairs.empty or decisions is None or decisions.empty:
        return pairs
    decided = {pair_id(a, b) for a, b in zip(decisions["unique_id_l"], decisions["unique_id_r"], strict=True)}
    keys = [pair_id(a, b) for a, b in zip(pairs["unique_id_l"], pairs["unique_id_r"], strict=True)]
    return pairs[[k not in decided for k in keys]]


def build_review_queue(review: pd.DataFrame, run_id: str, decisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """``audit.review_queue`` rows for a run: one row per pair (reasons joined with ``;``), status 'open'."""
    if review is None or review.empty:
        return _empty_queue()
    r = drop_decided(canonical_pairs(review), decisions)
    if r.empty:
        return _empty_queue()
    r = r.sort_values(["unique_id_l", "unique_id_r", "reason"], kind="mergesort")
    reasons = r.groupby(["unique_id_l", "unique_id_r"], sort=True)["reason"].agg(
        lambda s: ";".join(dict.fromkeys(s)))
    first = r.drop_duplicates(["unique_id_l", "unique_id_r"]).set_index(["unique_id_l", "unique_id_r"])
    first["reason"] = reasons
    q = first.reset_index()
    if "evidence" not in q:
        q["evidence"] = None
    q["pair_id"] = [pair_id(a, b) for a, b in zip(q["unique_id_l"], q["unique_id_r"], strict=True)]
    q["status"] = "open"
    q["queued_run_id"] = run_id
    return q[QUEUE_COLUMNS].reset_index(drop=True)


def carry_forward(previous_queue: pd.DataFrame | None, new_queue: pd.DataFrame) -> pd.DataFrame:
    """A pair still waiting keeps the run id it was first queued in (so its age is visible)."""
    if previous_queue is None or previous_queue.empty or new_queue.empty:
        return new_queue
    prev = previous_queue[previous_queue["status"] == "open"].drop_duplicates("pair_id")
    first_seen = prev.set_index("pair_id")["queued_run_id"]
    out = new_queue.copy()
    carried = out["pair_id"].map(first_seen)
    out["queued_run_id"] = carried.where(carried.notna(), out["queued_run_id"])
    return out


def validate_decision(row: Mapping, known_records: set[str] | None = None) -> dict:
    """A clean decision row or ``ValueError`` naming what is wrong.

    Requires both record keys (different from each other), ``decision`` in ``same``/``different``, a
    ``reviewer`` and a ``reason``; ``decided_at`` defaults to now (UTC). The pair is stored canonically
    (``unique_id_l < unique_id_r``).
    """
    left, right = clean_str(row.get("unique_id_l")), clean_str(row.get("unique_id_r"))
    if not left or not right:
        raise ValueError("a decision needs both unique_id_l and unique_id_r")
    if left == right:
        raise ValueError("a decision must be about two different records")
    if known_records is not None:
        unknown = [k for k in (left, right) if k not in known_records]
        if unknown:
            raise ValueError(f"unknown record key(s): {', '.join(unknown)}")
    decision = (clean_str(row.get("decision")) or "").lower()
    if decision not in DECISIONS:
        raise ValueError("decision must be 'same' or 'different'")
    reviewer = clean_str(row.get("reviewer"))
    if not reviewer:
        raise ValueError("a decision needs a reviewer")
    reason = clean_str(row.get("reason"))
    if not reason:
        raise ValueError("a decision needs a reason")
    decided_at = row.get("decided_at")
    if decided_at is None or (not isinstance(decided_at, str) and pd.isna(decided_at)):
        decided_at = pd.Timestamp(dt.datetime.now(dt.UTC))
    else:
        try:
            decided_at = pd.Timestamp(decided_at)
        except (TypeError, ValueError) as exc:
            raise ValueError("decided_at is not a date-time") from exc
        if decided_at.tzinfo is None:
            decided_at = decided_at.tz_localize("UTC")
    lo, hi = sorted((left, right))
    return {"unique_id_l": lo, "unique_id_r": hi, "decision": decision, "reviewer": reviewer, "reason": reason,
            "decided_at": decided_at}


def append_decision(decisions: pd.DataFrame | None, row: Mapping,
                    known_records: set[str] | None = None) -> pd.DataFrame:
    """Decisions with one more validated row at the end (existing rows are never changed)."""
    clean = validate_decision(row, known_records)
    new = pd.DataFrame([clean], columns=DECISION_COLUMNS)
    if decisions is None or decisions.empty:
        return new
    return pd.concat([decisions[DECISION_COLUMNS], new], ignore_index=True)


def close_decided(queue: pd.DataFrame, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The queue with pairs that now have a decision marked ``status='decided'`` (for the review CLI)."""
    if queue.empty or decisions is None or decisions.empty:
        return queue
    latest = latest_decisions(decisions)
    decided = {pair_id(a, b) for a, b in zip(latest["unique_id_l"], latest["unique_id_r"], strict=True)}
    out = queue.copy()
    out.loc[out["pair_id"].isin(decided), "status"] = "decided"
    return out
