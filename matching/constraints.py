"""Cannot-links for clustering: may these two clusters merge?

* ``ConstraintIndex``: per-record constraint data plus per-cluster signatures (NHS numbers, UPNs,
  cannot-link identifiers, dates of birth for the twin guard, steward ``different`` partners) so that
  "may these two clusters merge?" is answered without looking at all record pairs. Signatures are built
  lazily: a record that was never merged costs nothing beyond its row in a few Python lists. The twin guard
  itself (first-name distinctness, established names) lives in ``matching.twin_guard``.
* Must-links (``deterministic_links``, ``latest_decisions``, ``steward_links``) live in
  ``matching.must_links`` and are re-exported here.

Nothing here logs personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from matching.must_links import (  # noqa: F401 - re-exported: the constraints API includes its must-links
    DECISION_COLUMNS,
    DETERMINISTIC_METHODS,
    LINK_COLUMNS,
    canonical_pairs,
    clean_id_column,
    deterministic_evidence,
    deterministic_links,
    latest_decisions,
    steward_links,
)
from matching.twin_guard import TwinGuard, as_list

_MULTI = object()  # a cluster holding more than one NHS number (only must-links can make one)
# Conflict reasons that are two different valid identifiers: the identifiers decide, so such a pair is never a
# question for a person (the others, twins and steward decisions, are).
IDENTIFIER_CONFLICTS = ("nhs_number", "upn", "identifier:")


# ----------------------------------------------------------------------------------------------
# Cannot-links: per-record data and per-cluster signatures


class ConstraintIndex(TwinGuard):
    """Cannot-link checks between clusters of records addressed by integer index ``0..n-1``.

    Conflicts: different valid NHS numbers; different valid UPNs (unless one equals the other's former
    UPN); a steward ``different`` decision; the twin guard (same DOB, same household, clearly different
    first names). Cluster signatures live under the cluster's root and are merged small-to-large.
    """

    def __init__(self, features: pd.DataFrame, cannot_pairs: Sequence[tuple[int, int]] = (),
                 cannot_link_identifiers: Iterable[str] = ()) -> None:
        super().__init__(features)  # twin-guard data: names, household, twin_dob, id_keys, source
        n = len(features)
        self.n = n

        def col(name: str) -> list:
            if name not in features:
                return [None] * n
            return clean_id_column(features[name]).tolist()

        self.nhs = col("nhs_number")
        self.upn = col("upn")
        self.former_upn = col("former_upn")
        names = {x.upper() for x in cannot_link_identifiers}
        # cannot-link identifiers per record: {NAME: VALUE}; only records that carry one are listed
        self.cl_ids: dict[int, dict[str, str]] = {}
        if names:
            for i, raw in enumerate(self._identifier_keys):  # not cached: every record is read once here
                keys = as_list(raw)
                vals = {k.split("=", 1)[0].upper(): k.split("=", 1)[1] for k in keys if "=" in k}
                vals = {k: v for k, v in vals.items() if k in names}
                if vals:
                    self.cl_ids[i] = vals
        # steward 'different' partners per record
        self.diff_partners: dict[int, list[int]] = {}
        for a, b in cannot_pairs:
            self.diff_partners.setdefault(a, []).append(b)
            self.diff_partners.setdefault(b, []).append(a)
        # per-cluster signatures, indexed by root. ``None`` in the list slots means "never merged":
        # the signature is then the record's own, computed on demand (no allocation per record).
        self.nhs_root: list = list(self.nhs)  # value, None, or _MULTI when must-links joined two numbers
        self.upn_root: list = [None] * n  # list of record indices holding a UPN
        self.twin_root: list = [None] * n  # list of record indices eligible for the twin guard
        self.diff_root: list = [None] * n  # list of record indices with steward 'different' partners
        self.clid_root: list = [None] * n  # list of record indices holding a cannot-link identifier
        self._has_upn = [u is not None for u in self.upn]

    # -- per record ---------------------------------------------------------------------------
    def identifier_conflict(self, ma: Sequence[int], mb: Sequence[int]) -> str | None:
        """Two different values of one cannot-link identifier (and no shared value of it) across the groups."""
        for i in ma:
            vi = self.cl_ids.get(i)
            if not vi:
                continue
            for j in mb:
                vj = self.cl_ids.get(j)
                if not vj:
                    continue
                for name, value in vi.items():
                    if name in vj and vj[name] != value:
                        return f"identifier:{name.lower()}"
        return None

    def upn_conflict(self, a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
        return a[0] != b[0] and a[0] != b[1] and b[0] != a[1]

    def pair_identifier_conflict(self, i: int, j: int) -> str | None:
        """Two different valid identifiers on two single records (``IDENTIFIER_CONFLICTS``), or None; cheaper
        than ``pair_conflict``, which also runs the twin guard."""
        return self._identifier_conflict((i,), (j,), i, j)

    def pair_conflict(self, i: int, j: int) -> str | None:
        """Reason two single records may not share a cluster, or None."""
        return self._conflict((i,), (j,), lambda x: x, i, j)

    # -- per cluster --------------------------------------------------------------------------
    def _members(self, store: list, flags: list[bool] | dict, r: int) -> list[int] | tuple[int, ...]:
        m = store[r]
        if m is not None:
            return m
        return (r,) if (r in flags if isinstance(flags, dict) else flags[r]) else ()

    def _identifier_conflict(self, ma: tuple | None, mb: tuple | None, ra: int, rb: int) -> str | None:
        """Two different valid identifiers between clusters rooted at ra and rb (``IDENTIFIER_CONFLICTS``), or None
        (``ma``/``mb``: explicit member tuples for the record-level check, else None to use the signatures)."""
        if ma is None:
            na, nb = self.nhs_root[ra], self.nhs_root[rb]
        else:
            assert mb is not None, "member tuples come for both clusters or neither"
            na, nb = self.nhs[ma[0]], self.nhs[mb[0]]
        if na is not None and nb is not None and (na != nb or na is _MULTI):
            return "nhs_number"
        ua = ma if ma is not None else self._members(self.upn_root, self._has_upn, ra)
        ub = mb if mb is not None else self._members(self.upn_root, self._has_upn, rb)
        if ua and ub:
            upn, former = self.upn, self.former_upn
            for i in ua:
                if upn[i] is None:
                    continue
                for j in ub:
                    if upn[j] is not None and self.upn_conflict((upn[i], former[i]), (upn[j], former[j])):
                        return "upn"
        if self.cl_ids:
            ia = ma if ma is not None else self._members(self.clid_root, self.cl_ids, ra)
            ib = mb if mb is not None else self._members(self.clid_root, self.cl_ids, rb)
            if ia and ib:
                return self.identifier_conflict(ia, ib)
        return None

    def _conflict(self, ma: tuple | None, mb: tuple | None, find: Callable[[int], int], ra: int,
                  rb: int) -> str | None:
        """Conflict between clusters rooted at ra and rb (``ma``/``mb``: explicit member tuples for the
        record-level check, else None to use the cluster signatures)."""
        reason = self._identifier_conflict(ma, mb, ra, rb)
        if reason:
            return reason
        if self.diff_partners:
            da = ma if ma is not None else self._members(self.diff_root, self.diff_partners, ra)
            db = mb if mb is not None else self._members(self.diff_root, self.diff_partners, rb)
            for members, other in ((da, rb), (db, ra)):
                for i in members:
                    for partner in self.diff_partners.get(i, ()):
                        if find(partner) == other:
                            return "steward_decision"
        ta = ma if ma is not None else self._members(self.twin_root, self._twin_ok, ra)
        if ta:
            tb = mb if mb is not None else self._members(self.twin_root, self._twin_ok, rb)
            if tb:
                return self._twin_conflict_between(ta, tb, ma is not None)
        return None

    def cluster_conflict(self, ra: int, rb: int, find: Callable[[int], int]) -> str | None:
        """Reason clusters rooted at ``ra`` and ``rb`` may not merge, or None."""
        return self._conflict(None, None, find, ra, rb)

    def steward_conflict(self, ra: int, rb: int, find: Callable[[int], int]) -> str | None:
        """Only the steward ``different`` check (must-links are refused by nothing else)."""
        for members, other in ((self._members(self.diff_root, self.diff_partners, ra), rb),
                               (self._members(self.diff_root, self.diff_partners, rb), ra)):
            for i in members:
                for partner in self.diff_partners.get(i, ()):
                    if find(partner) == other:
                        return "steward_decision"
        return None

    def merge(self, into: int, other: int) -> None:
        """Fold the signature of root ``other`` into root ``into`` (``into`` should be the larger cluster,
        so lists grow small-to-large)."""
        na, nb = self.nhs_root[into], self.nhs_root[other]
        if na is None:
            self.nhs_root[into] = nb
        elif nb is not None and nb != na:
            self.nhs_root[into] = _MULTI
        for store, flags in ((self.upn_root, self._has_upn), (self.twin_root, self._twin_ok),
                             (self.diff_root, self.diff_partners), (self.clid_root, self.cl_ids)):
            ma = self._members(store, flags, into)
            mb = self._members(store, flags, other)
            if isinstance(ma, list):
                ma.extend(mb)
            else:
                store[into] = [*ma, *mb]
            store[other] = None

    def components_needing_checks(self, comp: np.ndarray) -> np.ndarray:
        """Boolean per component label (``comp[i]`` = label of record i, labels ``0..k-1``): True where two
        records of the component *could* conflict (a conservative superset: >1 NHS number, >1 UPN, one DOB
        with >1 usable first name, or both ends of a steward ``different`` decision). Clustering skips the
        cannot-link checks inside the other components: no order of merges can violate a constraint there.
        """
        k = int(comp.max()) + 1 if comp.size else 0
        dirty = np.zeros(k, dtype=bool)

        def multi(values: list, mask: np.ndarray | None = None) -> None:
            codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
            keep = codes >= 0 if mask is None else (codes >= 0) & mask
            if not keep.any():
                return
            pairs = pd.DataFrame({"c": comp[keep], "v": codes[keep]}).drop_duplicates()
            dirty[pairs["c"].to_numpy()[pairs.duplicated("c", keep=False).to_numpy()]] = True

        multi(self.nhs)
        multi(self.upn)
        for name in {k for vals in self.cl_ids.values() for k in vals}:
            multi([self.cl_ids.get(i, {}).get(name) for i in range(self.n)])
        tdob = np.asarray(self.twin_dob, dtype=np.int64)
        eligible = tdob >= 0
        if eligible.any():
            codes, _ = pd.factorize(pd.Series(self.first, dtype=object), use_na_sentinel=True)
            t = pd.DataFrame({"c": comp[eligible], "d": tdob[eligible], "f": codes[eligible]}).drop_duplicates()
            dirty[t["c"].to_numpy()[t.duplicated(["c", "d"], keep=False).to_numpy()]] = True
        for a, partners in self.diff_partners.items():
            for b in partners:
                if comp[a] == comp[b]:
                    dirty[comp[a]] = True
        return dirty


def ambiguous_links(cidx: ConstraintIndex, left: np.ndarray, right: np.ndarray, max_partners: int = 50) -> np.ndarray:
    """Mask over candidate links ``(left[k], right[k])``: the links of a record with no usable first name (missing,
    a lone initial, a placeholder) into two records that may not share a cluster. "L Smith" beside twins Lily and
    Lila Smith (same DOB and household) fits both: which child it is, if either, is a question for a person, not
    for the order in which links are tried."""
    out = np.zeros(len(left), dtype=bool)
    weak = ~np.asarray(cidx.usable_first, dtype=bool)
    wl, wr = weak[left], weak[right]
    ends = np.concatenate([left[wl], right[wr]])
    if not len(ends):
        return out
    partners = np.concatenate([right[wl], left[wr]])
    rows = np.concatenate([np.flatnonzero(wl), np.flatnonzero(wr)])
    by_end = np.argsort(ends, kind="stable")
    ends, partners, rows = ends[by_end], partners[by_end], rows[by_end]
    starts = np.flatnonzero(np.r_[True, ends[1:] != ends[:-1]])
    stops = np.r_[starts[1:], len(ends)]
    for s, e in zip(starts.tolist(), stops.tolist(), strict=True):
        if e - s < 2 or e - s > max_partners:
            continue
        ps = partners[s:e].tolist()
        if any(cidx.pair_conflict(ps[x], ps[y]) for x in range(len(ps)) for y in range(x + 1, len(ps))):
            out[rows[s:e]] = True  # all its links: a partner as weak as itself may be either child too
    return out


def records_conflict(features_a: pd.DataFrame, features_b: pd.DataFrame) -> str | None:
    """Reason two groups of feature rows may not be one person (``nhs_number``, ``upn``, ``twin_guard``)."""
    both = pd.concat([features_a, features_b], ignore_index=True)
    idx = ConstraintIndex(both)
    na = len(features_a)
    for i in range(na):
        for j in range(na, len(both)):
            reason = idx.pair_conflict(i, j)
            if reason:
                return reason
    return None
