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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matching.constraints import (
    ConstraintIndex,
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


def _prepare_scored(scored_pairs: pd.DataFrame | None) -> pd.DataFrame:
    if scored_pairs is None or scored_pairs.empty:
        return pd.DataFrame(columns=SCORED_COLUMNS)
    s = scored_pairs.copy()
    if "evidence" not in s:
        s["evidence"] = None
    if "match_weight" not in s:
        p = s["match_probability"].clip(1e-12, 1 - 1e-12)
        s["match_weight"] = np.log2(p / (1 - p))
    s = canonical_pairs(s[SCORED_COLUMNS])
    s = s[s["unique_id_l"] != s["unique_id_r"]]
    # one row per pair, deterministically: the strongest score wins
    s = s.sort_values(["unique_id_l", "unique_id_r", "match_weight", "match_probability"],
                      ascending=[True, True, False, False], kind="mergesort")
    return s.drop_duplicates(["unique_id_l", "unique_id_r"]).reset_index(drop=True)


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


def cluster_records(features: pd.DataFrame, scored_pairs: pd.DataFrame | None, decisions: pd.DataFrame | None,
                    link_threshold: float, review_band: tuple[float, float]) -> ClusterResult:
    """Cluster records into people; see the module docstring for the algorithm."""
    uids = np.sort(features["unique_id"].astype(str).to_numpy())
    if len(np.unique(uids)) != len(uids):
        raise ValueError("features.unique_id must be unique")
    feats = features.assign(unique_id=features["unique_id"].astype(str)).set_index("unique_id").loc[uids]
    feats = feats.reset_index()
    uid_index = pd.Index(uids)
    n = len(uids)

    scored = _prepare_scored(scored_pairs)
    latest = latest_decisions(decisions)
    if not latest.empty:
        dli, dri, dknown = _index_pairs(latest, uid_index)
        latest = latest[dknown].assign(_l=dli[dknown], _r=dri[dknown])
    diff = latest[latest["decision"] == "different"] if not latest.empty else latest
    cannot = list(zip(diff["_l"].tolist(), diff["_r"].tolist())) if not diff.empty else []
    cidx = ConstraintIndex(feats, cannot)
    uf = _UnionFind(n)

    used_l: list[int] = []
    used_r: list[int] = []
    used_m: list[str] = []
    refused: list[tuple[int, int, str, str]] = []

    # 1. must-links
    must_parts = []
    if not latest.empty:
        same = latest[latest["decision"] == "same"]
        must_parts.append(pd.DataFrame({"_l": same["_l"], "_r": same["_r"], "link_method": "steward"}))
    det = deterministic_links(feats)
    if not det.empty:
        li, ri, _ = _index_pairs(det, uid_index)
        must_parts.append(pd.DataFrame({"_l": li, "_r": ri, "link_method": det["link_method"].to_numpy()}))
    if must_parts:
        must = pd.concat(must_parts, ignore_index=True)
        must["_p"] = must["link_method"].map({"steward": 0, "nhs_number": 1, "upn": 2})
        must = must.sort_values(["_p", "_l", "_r"], kind="mergesort")
        for a, b, method in zip(must["_l"].tolist(), must["_r"].tolist(), must["link_method"].tolist()):
            ra, rb = uf.find(a), uf.find(b)
            if ra == rb:
                continue
            if cannot:
                reason = _steward_only_conflict(cidx, ra, rb, uf.find)
                if reason:
                    refused.append((a, b, method, reason))
                    continue
            keep, gone = uf.union_roots(ra, rb)
            cidx.merge(keep, gone)
            used_l.append(a)
            used_r.append(b)
            used_m.append(method)

    # 2. probabilistic edges, strongest first
    sli, sri, sknown = _index_pairs(scored, uid_index)
    if (~sknown).any():
        log.warning("cluster_records: %d scored pairs reference unknown records; ignored", int((~sknown).sum()))
    prob = scored["match_probability"].to_numpy(dtype=float)
    weight = scored["match_weight"].to_numpy(dtype=float)
    decided = np.zeros(len(scored), dtype=bool)
    if not latest.empty and len(scored):
        dkey = set(zip(latest["_l"].tolist(), latest["_r"].tolist()))
        decided = np.fromiter(((a, b) in dkey for a, b in zip(sli.tolist(), sri.tolist())), bool, len(scored))
    cand = np.flatnonzero(sknown & ~decided & (prob >= link_threshold))
    order = cand[np.lexsort((sri[cand], sli[cand], -weight[cand]))]
    blocked_rows: list[int] = []
    blocked_reason: list[str] = []
    for row, a, b in zip(order.tolist(), sli[order].tolist(), sri[order].tolist()):
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        reason = cidx.cluster_conflict(ra, rb, uf.find)
        if reason:
            blocked_rows.append(row)
            blocked_reason.append(reason)
            continue
        keep, gone = uf.union_roots(ra, rb)
        cidx.merge(keep, gone)
        used_l.append(a)
        used_r.append(b)
        used_m.append("probabilistic")

    roots = _all_roots(np.asarray(uf.parent, dtype=np.int64))
    min_member = pd.Series(np.arange(n)).groupby(roots).transform("min").to_numpy() if n else np.zeros(0, int)
    cluster_key = uids[min_member] if n else uids

    links = _links_frame(uids, used_l, used_r, used_m, scored)
    assignments = _assignments_frame(uids, cluster_key, links)

    # review
    review_parts = []
    if blocked_rows:
        b = scored.iloc[blocked_rows][SCORED_COLUMNS].copy()
        b["reason"] = [f"held_apart:{r}" for r in blocked_reason]
        review_parts.append(b)
    lo, hi = review_band
    in_band = sknown & ~decided & (prob >= lo) & (prob <= hi)
    if in_band.any():
        sl = np.where(sknown, sli, 0)
        sr = np.where(sknown, sri, 0)
        apart = roots[sl] != roots[sr]
        mask = in_band & apart
        if blocked_rows:
            mask[np.asarray(blocked_rows)] = False
        band = scored[mask][SCORED_COLUMNS].copy()
        band["reason"] = "review_band"
        review_parts.append(band)
    conflicts = _identifier_conflicts(cidx, roots, uids, scored)
    if not conflicts.empty:
        review_parts.append(conflicts)
    review = pd.concat(review_parts, ignore_index=True) if review_parts else pd.DataFrame(columns=REVIEW_COLUMNS)
    if not review.empty and not latest.empty:
        dec_pairs = latest[["unique_id_l", "unique_id_r"]].assign(_decided=True)
        review = review.merge(dec_pairs, on=["unique_id_l", "unique_id_r"], how="left")
        review = review[review["_decided"].isna()].drop(columns="_decided")
    review = review[REVIEW_COLUMNS].sort_values(["unique_id_l", "unique_id_r", "reason"], kind="mergesort")
    refused_df = pd.DataFrame(
        [(uids[a], uids[b], m, r) for a, b, m, r in refused], columns=REFUSED_COLUMNS)
    refused_df = canonical_pairs(refused_df) if not refused_df.empty else refused_df
    stats = {
        "records": n,
        "clusters": int(len(np.unique(roots))) if n else 0,
        "links": len(links),
        "blocked_edges": len(blocked_rows),
        "review_pairs": len(review),
        "refused_must_links": len(refused_df),
    }
    log.info("cluster_records: %s", stats)
    return ClusterResult(assignments, links, review.reset_index(drop=True), refused_df, stats)


def _steward_only_conflict(cidx: ConstraintIndex, ra: int, rb: int, find) -> str | None:
    for r, other in ((ra, rb), (rb, ra)):
        for _, partner in cidx._sig(r)[3] or ():
            if find(partner) == other:
                return "steward_decision"
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


def _links_frame(uids: np.ndarray, used_l: list[int], used_r: list[int], used_m: list[str],
                 scored: pd.DataFrame) -> pd.DataFrame:
    if not used_l:
        return pd.DataFrame(columns=LINKS_COLUMNS)
    links = canonical_pairs(pd.DataFrame({"unique_id_l": uids[np.asarray(used_l)],
                                          "unique_id_r": uids[np.asarray(used_r)], "link_method": used_m}))
    links = links.merge(scored, on=["unique_id_l", "unique_id_r"], how="left")
    det = links["link_method"] != "probabilistic"
    if det.any():
        sub = links[det]
        links.loc[det, "evidence"] = [
            deterministic_evidence(m, p, w, e)
            for m, p, w, e in zip(sub["link_method"], sub["match_probability"], sub["match_weight"], sub["evidence"])
        ]
        links.loc[det, "match_probability"] = 1.0
    links["match_probability"] = links["match_probability"].astype(float)
    links["match_weight"] = links["match_weight"].astype(float)
    return links[LINKS_COLUMNS].sort_values(["unique_id_l", "unique_id_r"], kind="mergesort").reset_index(drop=True)


def _assignments_frame(uids: np.ndarray, cluster_key: np.ndarray, links: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"unique_id": uids, "cluster_key": cluster_key})
    if links.empty:
        return out.assign(link_method="singleton", match_probability=np.nan)[ASSIGNMENT_COLUMNS]
    ends = pd.concat([
        links[["unique_id_l", "link_method", "match_probability"]].rename(columns={"unique_id_l": "unique_id"}),
        links[["unique_id_r", "link_method", "match_probability"]].rename(columns={"unique_id_r": "unique_id"}),
    ], ignore_index=True)
    ends["_p"] = ends["link_method"].map(METHOD_PRIORITY)
    ends = ends.sort_values(["unique_id", "_p", "match_probability"], ascending=[True, True, False],
                            kind="mergesort").drop_duplicates("unique_id")
    out = out.merge(ends[["unique_id", "link_method", "match_probability"]], on="unique_id", how="left")
    out["link_method"] = out["link_method"].fillna("singleton")
    out["match_probability"] = out["match_probability"].astype(float)
    return out[ASSIGNMENT_COLUMNS]


def _identifier_conflicts(cidx: ConstraintIndex, roots: np.ndarray, uids: np.ndarray,
                          scored: pd.DataFrame) -> pd.DataFrame:
    """Pairs of records in one cluster holding conflicting NHS numbers or UPNs (made by must-links)."""
    rows: list[tuple[str, str, str]] = []
    nhs = pd.DataFrame({"root": roots, "i": np.arange(len(roots)), "v": cidx.nhs}).dropna()
    nhs = nhs.drop_duplicates(["root", "v"])  # first (smallest id) record per value
    multi = nhs[nhs.duplicated("root", keep=False)]
    for _, grp in multi.groupby("root", sort=True):
        first = int(grp["i"].iloc[0])
        rows.extend((uids[first], uids[int(j)], "conflicting_identifiers:nhs_number") for j in grp["i"].iloc[1:])
    upn = pd.DataFrame({"root": roots, "i": np.arange(len(roots)), "v": cidx.upn}).dropna()
    upn = upn.drop_duplicates(["root", "v"])
    multi = upn[upn.duplicated("root", keep=False)]
    for _, grp in multi.groupby("root", sort=True):
        idx = grp["i"].astype(int).tolist()
        for k, a in enumerate(idx):
            for b in idx[k + 1:]:
                if cidx.upn_conflict((cidx.upn[a], cidx.former_upn[a]), (cidx.upn[b], cidx.former_upn[b])):
                    rows.append((uids[a], uids[b], "conflicting_identifiers:upn"))
    if not rows:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    out = canonical_pairs(pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r", "reason"]))
    out = out.merge(scored, on=["unique_id_l", "unique_id_r"], how="left")
    out["evidence"] = [e if isinstance(e, str) else json.dumps([{"comparison": r.split(":")[1],
                                                                  "level": "conflict", "match_weight": None}])
                       for e, r in zip(out["evidence"], out["reason"])]
    return out[REVIEW_COLUMNS]
