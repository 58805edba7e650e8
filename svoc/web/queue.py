"""The review queue as the web page shows it: open pairs with their reason, band, source pair, the child's age
band and how long they have waited; filtering, sorting, and clusters (records joined by open pairs, decided
together). Pure functions over rows, plus one loader."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from svoc.report.data import Warehouse

BANDS = (("likely", 0.8), ("uncertain", 0.5), ("unlikely", 0.0))
AGE_BANDS = (("under 5", 0, 5), ("5-10", 5, 11), ("11-15", 11, 16), ("16+", 16, 200))
SORTS = {"probability": ("match_probability", True), "waiting": ("waiting_days", True),
         "age": ("age", False), "reason": ("reason", False), "sources": ("source_pair", False)}


def band(probability: float | None) -> str:
    if probability is None:
        return "unlikely"
    return next(name for name, low in BANDS if probability >= low)


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return next((name for name, lo, hi in AGE_BANDS if lo <= age < hi), "unknown")


def age_on(dob: Any, day: dt.date) -> int | None:
    if not isinstance(dob, dt.date):
        return None
    dob = dob.date() if isinstance(dob, dt.datetime) else dob
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def source_pair(key_l: str, key_r: str) -> str:
    return " – ".join(sorted((key_l.split(":", 1)[0], key_r.split(":", 1)[0])))


def enrich(rows: list[dict[str, Any]], dobs: dict[str, Any], queued_at: dict[str, Any], today: dt.date
           ) -> list[dict[str, Any]]:
    """Add ``band``, ``source_pair``, ``age`` (the younger record's age), ``age_band`` and ``waiting_days``."""
    out = []
    for r in rows:
        ages = [a for a in (age_on(dobs.get(r["unique_id_l"]), today), age_on(dobs.get(r["unique_id_r"]), today))
                if a is not None]
        age = min(ages) if ages else None
        queued = queued_at.get(r.get("queued_run_id") or "")
        queued_day = queued.date() if isinstance(queued, dt.datetime) else queued
        out.append({**r, "band": band(r.get("match_probability")), "source_pair": source_pair(
            r["unique_id_l"], r["unique_id_r"]), "age": age, "age_band": age_band(age),
            "waiting_days": (today - queued_day).days if isinstance(queued_day, dt.date) else None})
    return out


def filter_pairs(rows: list[dict[str, Any]], *, reason: str = "", band_: str = "", pair: str = "",
                 age: str = "") -> list[dict[str, Any]]:
    """Keep rows matching every filter given (an empty filter keeps everything)."""
    return [r for r in rows if (not reason or r.get("reason") == reason) and (not band_ or r["band"] == band_)
            and (not pair or r["source_pair"] == pair) and (not age or r["age_band"] == age)]


def sort_pairs(rows: list[dict[str, Any]], key: str = "probability") -> list[dict[str, Any]]:
    """Sort by one of ``SORTS`` (unknown values last); ties by pair id, so the order is stable."""
    column, descending = SORTS.get(key, SORTS["probability"])
    known = [r for r in rows if r.get(column) is not None]
    unknown = [r for r in rows if r.get(column) is None]
    known.sort(key=lambda r: r["pair_id"])
    known.sort(key=lambda r: r[column], reverse=descending)
    return known + sorted(unknown, key=lambda r: r["pair_id"])


def cluster_id(keys: list[str]) -> str:
    return hashlib.sha256("\x1f".join(sorted(keys)).encode()).hexdigest()[:12]


def clusters(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records joined by open pairs (connected components), largest first: ``{id, keys, pairs}``.
    A cluster of more than two records is decided together on the cluster page."""
    parent: dict[str, str] = {}

    def root(k: str) -> str:
        parent.setdefault(k, k)
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for r in rows:
        a, b = root(r["unique_id_l"]), root(r["unique_id_r"])
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(root(r["unique_id_l"]), {"keys": set(), "pairs": []})
        g["keys"].update((r["unique_id_l"], r["unique_id_r"]))
        g["pairs"].append(r)
    out = [{"id": cluster_id(sorted(g["keys"])), "keys": sorted(g["keys"]), "pairs": g["pairs"]}
           for g in groups.values()]
    return sorted(out, key=lambda c: (-len(c["keys"]), c["id"]))


def load_queue(w: Warehouse, decided: set[str], today: dt.date) -> list[dict[str, Any]]:
    """Every open pair not yet decided in the state store, enriched for filtering (no personal details leave
    this function: only the age band and the source names)."""
    if not w.has("audit.review_queue"):
        return []
    rows = w.rows("SELECT pair_id, unique_id_l, unique_id_r, match_probability, reason, queued_run_id "
                  "FROM audit.review_queue WHERE coalesce(status, 'open') = 'open' AND NOT list_contains(?, pair_id)",
                  [sorted(decided)])
    keys = sorted({k for r in rows for k in (r["unique_id_l"], r["unique_id_r"])})
    dobs = {r["k"]: r["dob"] for r in w.rows(
        "SELECT source || ':' || source_record_id AS k, dob FROM staging.identity_records "
        "WHERE list_contains(?, source || ':' || source_record_id)", [keys])} if keys else {}
    queued = {r["run_id"]: r["started_at"] for r in w.rows(
        "SELECT run_id, started_at FROM audit.runs")} if w.has("audit.runs") else {}
    return enrich(rows, dobs, queued, today)
