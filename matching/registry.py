"""Stable citizen ids across runs.

Each new cluster is matched to the previous citizen ids its records held, greedily by overlap (largest
overlap first; ties: larger previous cluster, older id, smaller id string, smaller cluster key). An id
goes to at most one new cluster and a cluster takes at most one id, so:

* unchanged cluster -> same id, no events (a rerun on the same input is idempotent);
* merge  -> the cluster keeps the id it overlaps most; the other ids are retired (``merged`` + ``retired``
  events, related_citizen_id = survivor);
* split  -> the largest part keeps the id, the other parts get new ids (``split`` event, related = original);
* new cluster with no overlap -> new id (``created``); ids whose records all disappeared -> ``retired``;
* record-level: ``record_added`` (record new to the registry), ``record_moved`` (record changed id).

Ids are opaque ('CV-' + 12 random base32 characters), never derived from data and never reused: a new id
is checked against every known id, active or retired.
"""

from __future__ import annotations

import base64
import functools
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from matching.ordering import sort_frame

log = logging.getLogger(__name__)

REGISTRY_COLUMNS = ["record_key", "citizen_id", "cluster_key", "link_method", "match_probability"]
EVENT_COLUMNS = ["run_id", "citizen_id", "event", "related_citizen_id", "record_key", "reason"]
KNOWN_ID_COLUMNS = ["citizen_id", "status", "created_run_id"]


def citizen_ids(batch: int = 4096) -> Iterator[str]:
    """New citizen ids, endlessly: 'CV-' + 12 characters of base32 from 60 random bits (no personal data), from one
    read of the system's random source per ``batch`` of them (a first night mints an id per child: at 1M records
    one read each took 1.7 s). Ten bytes are sixteen base32 characters, so each id is one 10-byte draw of its own."""
    while True:
        text = base64.b32encode(secrets.token_bytes(10 * batch)).decode("ascii")
        for start in range(0, len(text), 16):
            yield "CV-" + text[start:start + 12]


def new_citizen_id() -> str:
    """One new citizen id (``citizen_ids``)."""
    return next(citizen_ids(batch=1))


def _minter(known: set[str], id_factory: Callable[[], str] | None) -> Callable[[], str]:
    factory = id_factory or functools.partial(next, citizen_ids())

    def mint() -> str:
        for _ in range(1000):
            cid = factory()
            if cid not in known:
                known.add(cid)
                return cid
        raise RuntimeError("id factory keeps returning ids that are already known")

    return mint


def _pair_counts(frame: pd.DataFrame, left: str, right: str) -> pd.DataFrame:
    """Each distinct (``left``, ``right``) pair of ``frame`` with its number of rows ``n``, in no set order.
    On integer codes: a group-by over a million pairs of strings is several times slower."""
    lcodes, lvalues = pd.factorize(frame[left])
    rcodes, rvalues = pd.factorize(frame[right])
    known = (lcodes >= 0) & (rcodes >= 0)  # a missing value is no group, as in a group-by
    width = max(len(rvalues), 1)
    keys, n = np.unique(lcodes[known].astype(np.int64) * width + rcodes[known], return_counts=True)
    return pd.DataFrame({left: np.asarray(lvalues, dtype=object)[keys // width],
                         right: np.asarray(rvalues, dtype=object)[keys % width], "n": n})


def assign_citizen_ids(assignments: pd.DataFrame, previous_registry: pd.DataFrame | None,
                       known_ids: pd.DataFrame | Iterable[str] | None, run_id: str,
                       id_factory: Callable[[], str] | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Give every cluster in ``assignments`` (``unique_id, cluster_key, ...``) a citizen id.

    Returns ``(registry, events, known_ids)``: registry rows ``record_key, citizen_id, cluster_key,
    link_method, match_probability``; events ``run_id, citizen_id, event, related_citizen_id, record_key,
    reason``; known ids ``citizen_id, status, created_run_id`` (all ids ever issued).
    """
    a = assignments.rename(columns={"unique_id": "record_key"}).copy()
    a["record_key"] = a["record_key"].astype(str)
    a["cluster_key"] = a["cluster_key"].astype(str)
    prev = (previous_registry[["record_key", "citizen_id"]].astype(str) if previous_registry is not None
            and not previous_registry.empty else pd.DataFrame(columns=["record_key", "citizen_id"]))
    if known_ids is not None and not isinstance(known_ids, pd.DataFrame):  # a plain collection of ids
        known_ids = pd.DataFrame({"citizen_id": sorted(map(str, known_ids)), "status": "active",
                                  "created_run_id": None})
    known = (known_ids[KNOWN_ID_COLUMNS].copy() if known_ids is not None and not known_ids.empty
             else pd.DataFrame(columns=KNOWN_ID_COLUMNS))
    retired_before = set(known.loc[known["status"] == "retired", "citizen_id"])
    if retired_before & set(prev["citizen_id"]):
        log.warning("previous registry holds retired ids; those records are treated as new")
        prev = prev[~prev["citizen_id"].isin(retired_before)]
    # ids in the registry but missing from known_ids are known from now on (created in an unknown run)
    missing = sorted(set(prev["citizen_id"]) - set(known["citizen_id"]))
    if missing:
        known = pd.concat([known, pd.DataFrame({"citizen_id": missing, "status": "active",
                                                "created_run_id": None})], ignore_index=True)
    mint = _minter(set(known["citizen_id"]), id_factory)
    created_run = dict(zip(known["citizen_id"], known["created_run_id"], strict=False))

    merged = a[["record_key", "cluster_key"]].merge(prev.rename(columns={"citizen_id": "old_id"}),
                                                   on="record_key", how="left")
    old_size = prev["citizen_id"].value_counts()
    overlap = _pair_counts(merged, "cluster_key", "old_id")  # a record new tonight (no old id) counts for none

    # greedy one-to-one matching of clusters to previous ids
    overlap["old_size"] = overlap["old_id"].map(old_size).to_numpy()
    overlap["created"] = overlap["old_id"].map(created_run).fillna("").astype(str)
    overlap = overlap.sort_values(["n", "old_size", "created", "old_id", "cluster_key"],
                                  ascending=[False, False, True, True, True], kind="mergesort")
    id_of: dict[str, str] = {}
    taken: set[str] = set()
    for ck, oid in zip(overlap["cluster_key"].tolist(), overlap["old_id"].tolist(), strict=True):
        if ck in id_of or oid in taken:
            continue
        id_of[ck] = oid
        taken.add(oid)

    events: list[tuple] = []
    # largest overlapping previous id per cluster (for split provenance), in the sorted order above
    best_old = overlap.drop_duplicates("cluster_key").set_index("cluster_key")["old_id"].to_dict()
    new_ids: list[str] = []
    for ck in sorted(a["cluster_key"].unique()):
        if ck in id_of:
            continue
        cid = id_of[ck] = mint()
        new_ids.append(cid)
        if ck in best_old:
            events.append((cid, "split", best_old[ck], None, "split_from_existing_citizen"))
        else:
            events.append((cid, "created", None, None, "new_cluster"))

    a["citizen_id"] = a["cluster_key"].map(id_of)
    # ids that lost all their records to other clusters: merged into where most of their records went
    final = merged.assign(citizen_id=merged["cluster_key"].map(id_of))
    prev_ids = set(prev["citizen_id"])
    lost = sorted(prev_ids - taken)
    retired: list[str] = []
    if lost:
        dest = _pair_counts(final[final["old_id"].isin(lost)], "old_id", "citizen_id")
        dest = dest.sort_values(["old_id", "n", "citizen_id"], ascending=[True, False, True], kind="mergesort")
        survivor = dest.drop_duplicates("old_id").set_index("old_id")["citizen_id"].to_dict()
        for oid in lost:
            retired.append(oid)
            if oid in survivor:
                events.append((oid, "merged", survivor[oid], None, "merged_into_survivor"))
                events.append((oid, "retired", survivor[oid], None, "merged"))
            else:
                events.append((oid, "retired", None, None, "records_removed"))

    # record-level events
    added = final[final["old_id"].isna()]
    moved = final[final["old_id"].notna() & (final["old_id"] != final["citizen_id"])]
    created_ids = set(new_ids) - {cid for cid, ev, *_ in events if ev == "split"}
    added = added[~added["citizen_id"].isin(created_ids)]  # a 'created' event already covers those records
    rec_events = pd.concat([
        pd.DataFrame({"citizen_id": added["citizen_id"], "event": "record_added", "related_citizen_id": None,
                      "record_key": added["record_key"], "reason": "new_record"}),
        pd.DataFrame({"citizen_id": moved["citizen_id"], "event": "record_moved",
                      "related_citizen_id": moved["old_id"], "record_key": moved["record_key"],
                      "reason": "cluster_changed"}),
    ], ignore_index=True)
    ev = pd.DataFrame(events, columns=["citizen_id", "event", "related_citizen_id", "record_key", "reason"])
    ev = pd.concat([df for df in (ev, rec_events) if not df.empty], ignore_index=True) if (
        not ev.empty or not rec_events.empty) else ev
    ev.insert(0, "run_id", run_id)
    ev = ev[EVENT_COLUMNS].astype(object).where(ev[EVENT_COLUMNS].notna(), None)
    ev = sort_frame(ev, ["citizen_id", "event", "record_key"], na_position="first")

    known = pd.concat([known, pd.DataFrame({"citizen_id": new_ids, "status": "active",
                                            "created_run_id": run_id})], ignore_index=True)
    known.loc[known["citizen_id"].isin(retired), "status"] = "retired"
    known = sort_frame(known, ["citizen_id"])

    for col in ("link_method", "match_probability"):
        if col not in a:
            a[col] = np.nan if col == "match_probability" else None
    registry = sort_frame(a[REGISTRY_COLUMNS], ["record_key"])
    log.info("assign_citizen_ids: %d records, %d citizens, %d new ids, %d retired, %d events",
             len(registry), registry["citizen_id"].nunique(), len(new_ids), len(retired), len(ev))
    return registry, ev.reset_index(drop=True), known
