"""Constrained clustering of scored record pairs into people.

Union-find, in this order:

1. must-links: steward ``same`` decisions, then equal NHS numbers, then equal UPNs. Only a steward
   ``different`` decision can refuse one (refused links are reported in ``ClusterResult.refused``).
2. probabilistic edges with ``match_probability >= link_threshold``, strongest ``match_weight`` first
   (ties broken by record ids), each merging two clusters only if no cannot-link holds between any
   records of the two (see ``matching.constraints.ConstraintIndex``). This is best-link agglomeration,
   not connected components: a twin's nickname-spelled record joins one twin, never both.

The result depends only on the set of inputs, not on their row order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.constraints import (
    ConstraintIndex,
    ambiguous_links,
    canonical_pairs,
    deterministic_evidence,
    deterministic_links,
    latest_decisions,
)

log = logging.getLogger(__name__)

METHOD_PRIORITY = {"nhs_number": 0, "upn": 1, "steward": 2, "probabilistic": 3}
ASSIGNMENT_COLUMNS = ["unique_id", "cluster_key", "link_method", "match_probability"]
LINKS_COLUMNS = ["unique_id_l", "unique_id_r", "link_method", "match_probability", "match_weight", "evidence"]
REVIEW_COLUMNS = ["unique_id_l", "unique_id_r", "match_probability", "match_weight", "evidence", "reason"]
REFUSED_COLUMNS = ["unique_id_l", "unique_id_r", "link_method", "reason"]
SCORED_COLUMNS = ["unique_id_l", "unique_id_r", "match_probability", "match_weight", "evidence"]


@dataclass
class ClusterResult:
    assignments: pd.DataFrame
    links: pd.DataFrame
    review: pd.DataFrame
    refused: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REFUSED_COLUMNS))
    stats: dict = field(default_factory=dict)


def _prepare_scored(scored_pairs: pd.DataFrame | None, uid_index: pd.Index
                    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Canonical, de-duplicated scored pairs (one row per pair: the strongest score) plus their
    integer record indices (``l < r``). Works on integer indices: no sorting of id strings."""
    empty = (pd.DataFrame(columns=SCORED_COLUMNS), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if scored_pairs is None or scored_pairs.empty:
        return empty
    li = uid_index.get_indexer(scored_pairs["unique_id_l"].astype(str))
    ri = uid_index.get_indexer(scored_pairs["unique_id_r"].astype(str))
    known = (li >= 0) & (ri >= 0)
    if (~known).any():
        log.warning("cluster_records: %d scored pairs reference unknown records; ignored", int((~known).sum()))
    known &= li != ri
    prob = scored_pairs["match_probability"].to_numpy(dtype=float)[known]
    if "match_weight" in scored_pairs:
        weight = scored_pairs["match_weight"].to_numpy(dtype=float)[known]
    else:
        p = np.clip(prob, 1e-12, 1 - 1e-12)
        weight = np.log2(p / (1 - p))
    evidence = (scored_pairs["evidence"].to_numpy(dtype=object)[known] if "evidence" in scored_pairs
                else np.full(int(known.sum()), None, dtype=object))
    lo = np.minimum(li[known], ri[known]).astype(np.int64)
    hi = np.maximum(li[known], ri[known]).astype(np.int64)
    if lo.size == 0:
        return empty
    order = np.lexsort((-prob, -weight, hi, lo))
    lo, hi = lo[order], hi[order]
    first = np.ones(lo.size, dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    keep = order[first]
    lo, hi = lo[first], hi[first]
    uids = uid_index.to_numpy()
    frame = pd.DataFrame({"unique_id_l": uids[lo], "unique_id_r": uids[hi], "match_probability": prob[keep],
                          "match_weight": weight[keep], "evidence": evidence[keep]})
    return frame, lo, hi


def _index_pairs(frame: pd.DataFrame, uid_index: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    li = uid_index.get_indexer(frame["unique_id_l"].astype(str))
    ri = uid_index.get_indexer(frame["unique_id_r"].astype(str))
    known = (li >= 0) & (ri >= 0)
    return li, ri, known


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union_roots(self, ra: int, rb: int) -> tuple[int, int]:
        """Join two roots; returns (surviving root, absorbed root)."""
        if self.size[ra] < self.size[rb] or (self.size[ra] == self.size[rb] and rb < ra):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra, rb


# What clustering reads of a record's features (``matching.constraints``, ``matching.twin_guard``,
# ``matching.must_links``).
CLUSTER_COLUMNS = ("unique_id", "source", "first_name_std", "first_name_groups", "first_name_count", "middle_names_std",
                   "last_name_std", "last_name_parts", "other_surnames", "alt_first_names", "dob", "dob_precision",
                   "postcode", "address_std", "identifier_keys", "is_placeholder_first_name", "nhs_number", "upn",
                   "former_upn")


def cluster_records(features: pd.DataFrame, scored_pairs: pd.DataFrame | None, decisions: pd.DataFrame | None,
                    link_threshold: float, review_band: tuple[float, float],
                    cannot_link_identifiers: Iterable[str] = ()) -> ClusterResult:
    """Cluster records into people; see the module docstring for the algorithm. ``cannot_link_identifiers``:
    names of identifiers (``identifier_keys``) whose two different values keep two records apart."""
    raw_ids = features["unique_id"].astype(str).to_numpy()
    by_id = np.argsort(raw_ids, kind="stable")
    uids = raw_ids[by_id]
    if (uids[1:] == uids[:-1]).any():
        raise ValueError("features.unique_id must be unique")
    # a sorted copy of only the columns the constraints, the twin guard and the must-links read (at 1M records each
    # column copied is 8 MB of pointers, twice over for a copy and an assign)
    feats = features[[c for c in CLUSTER_COLUMNS if c in features.columns]].iloc[by_id]
    n = len(uids)
    feats.index = pd.RangeIndex(n)
    feats["unique_id"] = uids
    uid_index = pd.Index(uids)

    scored, sli, sri = _prepare_scored(scored_pairs, uid_index)
    latest = latest_decisions(decisions)
    if not latest.empty:
        dli, dri, dknown = _index_pairs(latest, uid_index)
        latest = latest[dknown].assign(_l=dli[dknown], _r=dri[dknown])
    diff = latest[latest["decision"] == "different"] if not latest.empty else latest
    cannot = list(zip(diff["_l"].tolist(), diff["_r"].tolist(), strict=False)) if not diff.empty else []
    cidx = ConstraintIndex(feats, cannot, cannot_link_identifiers)
    uf = _UnionFind(n)
    find = uf.find

    used_l: list[int] = []
    used_r: list[int] = []
    used_m: list[str] = []
    refused: list[tuple[int, int, str, str]] = []

    # must-links, in priority order
    must_parts = []
    if not latest.empty:
        same = latest[latest["decision"] == "same"]
        must_parts.append(pd.DataFrame({"_l": same["_l"], "_r": same["_r"], "link_method": "steward"}))
    det = deterministic_links(feats)
    if not det.empty:
        li, ri, _ = _index_pairs(det, uid_index)
        must_parts.append(pd.DataFrame({"_l": li, "_r": ri, "link_method": det["link_method"].to_numpy()}))
    must = pd.concat(must_parts, ignore_index=True) if must_parts else pd.DataFrame(
        {"_l": np.zeros(0, np.int64), "_r": np.zeros(0, np.int64), "link_method": []})
    must["_p"] = must["link_method"].map({"steward": 0, "nhs_number": 1, "upn": 2})
    must = must.sort_values(["_p", "_l", "_r"], kind="mergesort")

    # probabilistic candidates, strongest first
    prob = scored["match_probability"].to_numpy(dtype=float)
    weight = scored["match_weight"].to_numpy(dtype=float)
    decided = np.zeros(len(scored), dtype=bool)
    if not latest.empty and len(scored):
        dkey = latest["_l"].to_numpy(dtype=np.int64) * n + latest["_r"].to_numpy(dtype=np.int64)
        decided = np.isin(sli * n + sri, dkey)
    cand = np.flatnonzero(~decided & (prob >= link_threshold))
    order = cand[np.lexsort((sri[cand], sli[cand], -weight[cand]))]
    # a record without a usable first name that fits two children held apart (twins) is queued, not linked
    ambiguous = ambiguous_links(cidx, sli[order], sri[order])
    ambiguous_rows, order = order[ambiguous], order[~ambiguous]

    # components of all candidate links: constraints only need checking where a conflict is possible
    ml, mr = must["_l"].to_numpy(dtype=np.int64), must["_r"].to_numpy(dtype=np.int64)
    graph = coo_matrix((np.ones(len(ml) + len(order), dtype=np.int8),
                        (np.concatenate([ml, sli[order]]), np.concatenate([mr, sri[order]]))), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    dirty = cidx.components_needing_checks(comp)[comp].tolist()

    for a, b, method in zip(ml.tolist(), mr.tolist(), must["link_method"].tolist(), strict=False):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        reason = _union_unless(uf, cidx, dirty[a], ra, rb,
                               (lambda x, y: cidx.steward_conflict(x, y, find)) if cannot else None)
        if reason:
            refused.append((a, b, method, reason))
            continue
        used_l.append(a)
        used_r.append(b)
        used_m.append(method)

    blocked_rows: list[int] = []
    blocked_reason: list[str] = []
    for row, a, b in zip(order.tolist(), sli[order].tolist(), sri[order].tolist(), strict=False):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        reason = _union_unless(uf, cidx, dirty[a], ra, rb, lambda x, y: cidx.cluster_conflict(x, y, find))
        if reason:
            blocked_rows.append(row)
            blocked_reason.append(reason)
            continue
        used_l.append(a)
        used_r.append(b)
        used_m.append("probabilistic")

    roots = _all_roots(np.asarray(uf.parent, dtype=np.int64))
    min_member = pd.Series(np.arange(n)).groupby(roots).transform("min").to_numpy() if n else np.zeros(0, int)
    cluster_key = uids[min_member] if n else uids

    pair_key = sli * n + sri  # sorted ascending: _prepare_scored orders pairs by (l, r)
    links, link_l, link_r = _links_frame(uids, used_l, used_r, used_m, scored, pair_key)
    assignments = _assignments_frame(uids, cluster_key, links, link_l, link_r)

    # review: (b) held apart by a constraint, (a) in the review band and not linked, (c) identifier conflicts
    reasons = np.full(len(scored), None, dtype=object)
    lo, hi = review_band
    band = np.flatnonzero((~decided & (prob >= lo) & (prob <= hi)) & (roots[sli] != roots[sri]))
    reasons[band] = "review_band"
    for row in band.tolist():  # two different valid identifiers decide a band pair too, as they do above the band
        why = cidx.pair_identifier_conflict(int(sli[row]), int(sri[row]))
        if why is not None:
            reasons[row] = f"held_apart:{why}"
    apart = ambiguous_rows[roots[sli[ambiguous_rows]] != roots[sri[ambiguous_rows]]]
    reasons[apart] = "held_apart:ambiguous"
    if blocked_rows:
        reasons[np.asarray(blocked_rows)] = [f"held_apart:{r}" for r in blocked_reason]
    queued = np.flatnonzero(reasons != None)  # noqa: E711 - elementwise
    review = scored.iloc[queued][SCORED_COLUMNS].assign(reason=reasons[queued], _l=sli[queued], _r=sri[queued])
    conflicts = _identifier_conflicts(cidx, roots, uids, scored, pair_key)
    if not conflicts.empty:
        if not latest.empty:
            ckey = conflicts["_l"].to_numpy(dtype=np.int64) * n + conflicts["_r"].to_numpy(dtype=np.int64)
            dkey = latest["_l"].to_numpy(dtype=np.int64) * n + latest["_r"].to_numpy(dtype=np.int64)
            conflicts = conflicts[~np.isin(ckey, dkey)]
        review = pd.concat([review, conflicts], ignore_index=True)
    review = review.sort_values(["_l", "_r", "reason"], kind="mergesort")[REVIEW_COLUMNS]
    refused_df = pd.DataFrame(
        [(uids[a], uids[b], m, r) for a, b, m, r in refused], columns=REFUSED_COLUMNS)
    refused_df = canonical_pairs(refused_df) if not refused_df.empty else refused_df
    review = review.reset_index(drop=True)
    stats = {
        "records": n,
        "clusters": int(len(np.unique(roots))) if n else 0,
        "links": len(links),
        "blocked_edges": len(blocked_rows),
        "ambiguous_edges": len(ambiguous_rows),
        "review_pairs": len(review),
        "refused_must_links": len(refused_df),
    }
    log.info("cluster_records: %s", stats)
    return ClusterResult(assignments, links, review, refused_df, stats)


def _union_unless(uf: _UnionFind, cidx: ConstraintIndex, checked: bool, ra: int, rb: int,
                  conflict: Callable[[int, int], str | None] | None) -> str | None:
    """Merge two clusters unless ``conflict`` names a reason not to (only records that can conflict are checked)."""
    if checked:
        reason = conflict(ra, rb) if conflict else None
        if reason:
            return reason
        keep, gone = uf.union_roots(ra, rb)
        cidx.merge(keep, gone)
    else:
        uf.union_roots(ra, rb)
    return None


def _all_roots(parent: np.ndarray) -> np.ndarray:
    """Vectorised pointer jumping to each node's root."""
    if parent.size == 0:
        return parent
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            return parent
        parent = nxt


def _lookup(pair_key: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row of each key in the sorted ``pair_key`` array, or -1."""
    if pair_key.size == 0:
        return np.full(keys.size, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(pair_key, keys), pair_key.size - 1)
    return np.where(pair_key[pos] == keys, pos, -1)


def _links_frame(uids: np.ndarray, used_l: list[int], used_r: list[int], used_m: list[str],
                 scored: pd.DataFrame, pair_key: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    ul, ur = np.asarray(used_l, dtype=np.int64), np.asarray(used_r, dtype=np.int64)
    lo, hi = np.minimum(ul, ur), np.maximum(ul, ur)
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    method = np.asarray(used_m, dtype=object)[order]
    row = _lookup(pair_key, lo * len(uids) + hi)
    hit = row >= 0
    prob = np.full(lo.size, np.nan)
    weight = np.full(lo.size, np.nan)
    evidence = np.full(lo.size, None, dtype=object)
    prob[hit] = scored["match_probability"].to_numpy(dtype=float)[row[hit]]
    weight[hit] = scored["match_weight"].to_numpy(dtype=float)[row[hit]]
    evidence[hit] = scored["evidence"].to_numpy(dtype=object)[row[hit]]
    det = method != "probabilistic"
    for k in np.flatnonzero(det):
        evidence[k] = deterministic_evidence(method[k], None if np.isnan(prob[k]) else float(prob[k]),
                                             None if np.isnan(weight[k]) else float(weight[k]), evidence[k])
    prob[det] = 1.0
    links = pd.DataFrame({"unique_id_l": uids[lo], "unique_id_r": uids[hi], "link_method": method,
                          "match_probability": prob, "match_weight": weight, "evidence": evidence})
    return links, lo, hi


def _assignments_frame(uids: np.ndarray, cluster_key: np.ndarray, links: pd.DataFrame, link_l: np.ndarray,
                       link_r: np.ndarray) -> pd.DataFrame:
    n = len(uids)
    method = np.full(n, "singleton", dtype=object)
    prob = np.full(n, np.nan)
    if len(links):
        rec = np.concatenate([link_l, link_r])
        pri = np.tile(links["link_method"].map(METHOD_PRIORITY).to_numpy(dtype=np.int64), 2)
        p = np.tile(links["match_probability"].to_numpy(dtype=float), 2)
        m = np.tile(links["link_method"].to_numpy(dtype=object), 2)
        order = np.lexsort((-p, pri, rec))  # per record: strongest method, then highest probability
        rec, p, m = rec[order], p[order], m[order]
        first = np.ones(rec.size, dtype=bool)
        first[1:] = rec[1:] != rec[:-1]
        method[rec[first]] = m[first]
        prob[rec[first]] = p[first]
    return pd.DataFrame({"unique_id": uids, "cluster_key": cluster_key, "link_method": method,
                         "match_probability": prob})


def _identifier_conflicts(cidx: ConstraintIndex, roots: np.ndarray, uids: np.ndarray,
                          scored: pd.DataFrame, pair_key: np.ndarray) -> pd.DataFrame:
    """Pairs of records in one cluster holding conflicting NHS numbers or UPNs (made by must-links)."""
    rows: list[tuple[int, int, str]] = []
    nhs = pd.DataFrame({"root": roots, "i": np.arange(len(roots)), "v": cidx.nhs}).dropna()
    nhs = nhs.drop_duplicates(["root", "v"])  # first (smallest id) record per value
    multi = nhs[nhs.duplicated("root", keep=False)]
    for _, grp in multi.groupby("root", sort=True):
        first = int(grp["i"].iloc[0])
        rows.extend((first, int(j), "conflicting_identifiers:nhs_number") for j in grp["i"].iloc[1:])
    upn = pd.DataFrame({"root": roots, "i": np.arange(len(roots)), "v": cidx.upn}).dropna()
    upn = upn.drop_duplicates(["root", "v"])
    multi = upn[upn.duplicated("root", keep=False)]
    for _, grp in multi.groupby("root", sort=True):
        idx = grp["i"].astype(int).tolist()
        for k, a in enumerate(idx):
            for b in idx[k + 1:]:
                if cidx.upn_conflict((cidx.upn[a], cidx.former_upn[a]), (cidx.upn[b], cidx.former_upn[b])):
                    rows.append((a, b, "conflicting_identifiers:upn"))
    if not rows:
        return pd.DataFrame(columns=[*REVIEW_COLUMNS, "_l", "_r"])
    lo = np.asarray([min(a, b) for a, b, _ in rows], dtype=np.int64)
    hi = np.asarray([max(a, b) for a, b, _ in rows], dtype=np.int64)
    reasons = [r for _, _, r in rows]
    row = _lookup(pair_key, lo * len(uids) + hi)
    hit = row >= 0
    prob = np.full(lo.size, np.nan)
    weight = np.full(lo.size, np.nan)
    prob[hit] = scored["match_probability"].to_numpy(dtype=float)[row[hit]]
    weight[hit] = scored["match_weight"].to_numpy(dtype=float)[row[hit]]
    ev_scored = scored["evidence"].to_numpy(dtype=object)
    evidence = [ev_scored[r] if r >= 0 and isinstance(ev_scored[r], str) else
                json.dumps([{"comparison": why.split(":")[1], "level": "conflict", "match_weight": None}])
                for r, why in zip(row.tolist(), reasons, strict=False)]
    return pd.DataFrame({"unique_id_l": uids[lo], "unique_id_r": uids[hi], "match_probability": prob,
                         "match_weight": weight, "evidence": evidence, "reason": reasons, "_l": lo, "_r": hi})
