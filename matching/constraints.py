"""Must-links and cannot-links for clustering.

* ``deterministic_links``: equal valid NHS numbers / UPNs (a UPN equal to another record's former UPN
  counts) produce a spanning star of links per identifier value - never all pairs.
* ``ConstraintIndex``: per-record constraint data plus per-cluster signatures (NHS numbers, UPNs,
  dates of birth for the twin guard, steward ``different`` partners) so that "may these two clusters
  merge?" is answered without looking at all record pairs. Signatures are built lazily: a record that
  was never merged costs nothing beyond its row in a few Python lists.
* ``latest_decisions`` / ``steward_links``: steward decisions (append-only; latest per pair wins).

Nothing here logs personal data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler

TWIN_NAME_JW_THRESHOLD = 0.88

PLACEHOLDER_FIRST_NAMES = frozenset(
    {
        "BABY", "BABYBOY", "BABYGIRL", "BABY BOY", "BABY GIRL", "BABY OF", "INFANT", "UNBORN", "NEWBORN",
        "UNKNOWN", "UNNAMED", "NOT KNOWN", "NOTKNOWN", "NK", "N/K", "TBC", "TBA", "NONE", "NULL", "NA", "N/A",
        "MALE", "FEMALE", "BOY", "GIRL", "CHILD", "TWIN", "TWIN 1", "TWIN 2", "TWIN ONE", "TWIN TWO",
        "TWIN A", "TWIN B", "X", "XX", "XXX", "ZZZ", "TEST",
    }
)
_PLACEHOLDER_PREFIXES = ("BABY ", "TWIN ", "UNBORN ", "INFANT ")
_SURNAME_SPLIT = re.compile(r"[\s\-']+")

DETERMINISTIC_METHODS = ("steward", "nhs_number", "upn")
LINK_COLUMNS = ["unique_id_l", "unique_id_r", "link_method"]
DECISION_COLUMNS = ["unique_id_l", "unique_id_r", "decision", "reviewer", "reason", "decided_at"]


def clean_str(value: object) -> str | None:
    """None for missing values (None, NaN, pd.NA, empty/blank string), else the stripped string."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    s = str(value).strip()
    return s or None


def as_list(value: object) -> list[str]:
    """A list-like cell (list, tuple, numpy array, None/NaN) as a list of clean, non-empty strings."""
    if value is None or value is pd.NA:
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    if isinstance(value, str):
        items: Iterable[object] = [value]
    else:
        try:
            items = list(value)  # type: ignore[call-overload]
        except TypeError:
            items = [value]
    out = [clean_str(v) for v in items]
    return [v for v in out if v]


def is_placeholder_first_name(name: str | None) -> bool:
    if not name:
        return True
    n = name.strip().upper()
    return len(n) <= 1 or n in PLACEHOLDER_FIRST_NAMES or n.startswith(_PLACEHOLDER_PREFIXES)


@lru_cache(maxsize=200_000)
def _names_clearly_different(a: str, b: str) -> bool:
    """Different names by spelling: not equal, neither a prefix of the other, Jaro-Winkler below threshold."""
    if a == b or a.startswith(b) or b.startswith(a):
        return False
    return JaroWinkler.similarity(a, b) < TWIN_NAME_JW_THRESHOLD


def first_names_clearly_different(a: str | None, groups_a: Sequence[str], b: str | None,
                                  groups_b: Sequence[str]) -> bool:
    """True only when both names are usable and differ by spelling *and* share no nickname group."""
    if is_placeholder_first_name(a) or is_placeholder_first_name(b):
        return False
    a_u, b_u = a.upper(), b.upper()  # type: ignore[union-attr]
    ga = set(groups_a) or {a_u}
    gb = set(groups_b) or {b_u}
    if ga & gb:
        return False
    return _names_clearly_different(a_u, b_u)


# ----------------------------------------------------------------------------------------------
# Deterministic links


def _star_links(frame: pd.DataFrame, key: str, method: str) -> pd.DataFrame:
    """Link every record holding a key value to the smallest unique_id holding it (a spanning star)."""
    f = frame[["unique_id", key]].dropna().drop_duplicates()
    if f.empty:
        return pd.DataFrame(columns=LINK_COLUMNS)
    hub = f.groupby(key, sort=False)["unique_id"].transform("min")
    out = pd.DataFrame({"unique_id_l": hub.to_numpy(), "unique_id_r": f["unique_id"].to_numpy()})
    out = out[out["unique_id_l"] != out["unique_id_r"]]
    out["link_method"] = method
    return out


def _clean_id_column(series: pd.Series) -> pd.Series:
    s = series.astype("string").str.strip()
    return s.where(s.notna() & (s != ""), None).astype(object)


def deterministic_links(features: pd.DataFrame) -> pd.DataFrame:
    """Spanning links between records sharing a valid NHS number or UPN.

    NHS: one star per NHS number. UPN: one star per UPN value over the records whose current UPN it is;
    records whose *former* UPN equals that value are linked to the same hub (only when some record
    holds it as its current UPN). Output is canonical (``unique_id_l < unique_id_r``), de-duplicated and
    sorted; ``link_method`` is ``nhs_number`` or ``upn``.
    """
    parts = []
    if "nhs_number" in features:
        nhs = pd.DataFrame({"unique_id": features["unique_id"], "nhs": _clean_id_column(features["nhs_number"])})
        parts.append(_star_links(nhs, "nhs", "nhs_number"))
    if "upn" in features:
        cur = pd.DataFrame({"unique_id": features["unique_id"], "v": _clean_id_column(features["upn"])}).dropna()
        if not cur.empty:
            hubs = cur.groupby("v", sort=False)["unique_id"].min().rename("hub")
            parts.append(_star_links(cur, "v", "upn"))
            if "former_upn" in features:
                former = pd.DataFrame(
                    {"unique_id": features["unique_id"], "v": _clean_id_column(features["former_upn"])}
                ).dropna()
                former = former.join(hubs, on="v", how="inner")
                fl = pd.DataFrame({"unique_id_l": former["hub"].to_numpy(),
                                   "unique_id_r": former["unique_id"].to_numpy()})
                fl = fl[fl["unique_id_l"] != fl["unique_id_r"]]
                fl["link_method"] = "upn"
                parts.append(fl)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=LINK_COLUMNS)
    links = pd.concat(parts, ignore_index=True)
    return canonical_pairs(links).drop_duplicates(["unique_id_l", "unique_id_r", "link_method"]).sort_values(
        ["link_method", "unique_id_l", "unique_id_r"], kind="mergesort").reset_index(drop=True)


def canonical_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` with each pair ordered so that ``unique_id_l < unique_id_r``."""
    out = frame.copy()
    if out.empty:
        return out
    left = out["unique_id_l"].astype(str).to_numpy()
    right = out["unique_id_r"].astype(str).to_numpy()
    swap = left > right
    out["unique_id_l"] = np.where(swap, right, left)
    out["unique_id_r"] = np.where(swap, left, right)
    return out


# ----------------------------------------------------------------------------------------------
# Steward decisions


def latest_decisions(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The latest decision per (unordered) pair; decisions are append-only, so later rows win ties."""
    if decisions is None or decisions.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    d = canonical_pairs(decisions)
    d = d.assign(_order=np.arange(len(d)), _at=pd.to_datetime(d["decided_at"], errors="coerce", utc=True))
    d = d.sort_values(["_at", "_order"], kind="mergesort", na_position="first")
    d = d.drop_duplicates(["unique_id_l", "unique_id_r"], keep="last").drop(columns=["_order", "_at"])
    return d.sort_values(["unique_id_l", "unique_id_r"], kind="mergesort").reset_index(drop=True)


def steward_links(decisions: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(must_links, cannot_links) from the latest steward decisions.

    must_links: ``unique_id_l, unique_id_r, link_method='steward'``; cannot_links: ``unique_id_l,
    unique_id_r, reason='steward_decision'``.
    """
    latest = latest_decisions(decisions)
    same = latest[latest["decision"] == "same"][["unique_id_l", "unique_id_r"]].assign(link_method="steward")
    diff = latest[latest["decision"] == "different"][["unique_id_l", "unique_id_r"]].assign(
        reason="steward_decision")
    return same.reset_index(drop=True), diff.reset_index(drop=True)


def deterministic_evidence(method: str, probability: float | None = None, weight: float | None = None,
                           scored_evidence: str | None = None) -> str:
    """Evidence JSON for a deterministic/steward link; includes the model score when the pair was scored."""
    items: list[dict] = [{"comparison": method, "level": "exact" if method != "steward" else "decision",
                          "match_weight": None}]
    if probability is not None and not (isinstance(probability, float) and math.isnan(probability)):
        items.append({"comparison": "model_score", "level": "scored", "match_weight": weight,
                      "match_probability": probability})
        if scored_evidence:
            try:
                items.extend(json.loads(scored_evidence))
            except (TypeError, ValueError):
                pass
    return json.dumps(items)


# ----------------------------------------------------------------------------------------------
# Cannot-links: per-record data and per-cluster signatures


class ConstraintIndex:
    """Cannot-link checks between clusters of records addressed by integer index ``0..n-1``.

    Conflicts: different valid NHS numbers; different valid UPNs (unless one equals the other's former
    UPN); a steward ``different`` decision; the twin guard (same DOB, same household, clearly different
    first names). Cluster signatures live under the cluster's root and are merged small-to-large.
    """

    def __init__(self, features: pd.DataFrame, cannot_pairs: Sequence[tuple[int, int]] = ()) -> None:
        n = len(features)
        self.n = n

        def col(name: str) -> list:
            if name not in features:
                return [None] * n
            return _clean_id_column(features[name]).tolist()

        self.nhs = col("nhs_number")
        self.upn = col("upn")
        self.former_upn = col("former_upn")
        self.first = features["first_name_std"].tolist() if "first_name_std" in features else [None] * n
        self.groups = features["first_name_groups"].tolist() if "first_name_groups" in features else [None] * n
        self.last = features["last_name_std"].tolist() if "last_name_std" in features else [None] * n
        self.others = features["other_surnames"].tolist() if "other_surnames" in features else [None] * n
        self.postcode = col("postcode")
        self.address = col("address_std")
        dob = pd.to_datetime(features["dob"], errors="coerce") if "dob" in features else pd.Series([pd.NaT] * n)
        days = dob.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        ok = ~np.isnat(days)
        usable = np.array([not is_placeholder_first_name(clean_str(v)) for v in self.first], dtype=bool) \
            if n else np.zeros(0, dtype=bool)
        dob_int = np.where(ok, days.astype("int64", copy=False), -1)
        # DOB key for the twin guard: -1 when the record cannot take part (no DOB or no usable first name)
        self.twin_dob = np.where(ok & usable, dob_int, -1).tolist()
        self._surnames: dict[int, frozenset[str]] = {}
        self._groups: dict[int, tuple[str, ...]] = {}
        # steward 'different' partners per record
        self.diff_partners: dict[int, list[int]] = {}
        for a, b in cannot_pairs:
            self.diff_partners.setdefault(a, []).append(b)
            self.diff_partners.setdefault(b, []).append(a)
        # materialised per-cluster signatures (only for roots of merged clusters)
        self.c_nhs: dict[int, set[str]] = {}
        self.c_upn: dict[int, list[tuple[str, str | None]]] = {}
        self.c_dob: dict[int, dict[int, list[int]]] = {}
        self.c_diff: dict[int, list[tuple[int, int]]] = {}
        self._merged: set[int] = set()

    # -- per record ---------------------------------------------------------------------------
    def surnames(self, i: int) -> frozenset[str]:
        s = self._surnames.get(i)
        if s is None:
            parts: set[str] = set()
            for v in [clean_str(self.last[i]), *as_list(self.others[i])]:
                if v:
                    v = v.upper()
                    parts.add(v)
                    parts.update(p for p in _SURNAME_SPLIT.split(v) if len(p) > 1)
            s = self._surnames[i] = frozenset(parts)
        return s

    def name_groups(self, i: int) -> tuple[str, ...]:
        g = self._groups.get(i)
        if g is None:
            g = self._groups[i] = tuple(x.upper() for x in as_list(self.groups[i]))
        return g

    def twin_conflict(self, i: int, j: int) -> bool:
        """Twin guard between two records: same DOB and household, clearly different first names."""
        if self.twin_dob[i] < 0 or self.twin_dob[i] != self.twin_dob[j]:
            return False
        pi, pj, ai, aj = self.postcode[i], self.postcode[j], self.address[i], self.address[j]
        if not ((pi is not None and pi == pj) or (ai is not None and ai == aj)):
            return False
        if not (self.surnames(i) & self.surnames(j)):
            return False
        return first_names_clearly_different(clean_str(self.first[i]), self.name_groups(i),
                                             clean_str(self.first[j]), self.name_groups(j))

    def upn_conflict(self, a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
        return a[0] != b[0] and a[0] != b[1] and b[0] != a[1]

    def pair_conflict(self, i: int, j: int) -> str | None:
        """Reason two single records may not share a cluster, or None."""
        return self._conflict_sigs(self._record_sig(i), self._record_sig(j), lambda x: x, i, j)

    # -- per cluster --------------------------------------------------------------------------
    def _sig(self, r: int) -> tuple:
        if r in self._merged:
            return (self.c_nhs.get(r), self.c_upn.get(r), self.c_dob.get(r), self.c_diff.get(r))
        return self._record_sig(r)

    def _record_sig(self, r: int) -> tuple:
        nhs = {self.nhs[r]} if self.nhs[r] is not None else None
        upn = [(self.upn[r], self.former_upn[r])] if self.upn[r] is not None else None
        dob = {self.twin_dob[r]: [r]} if self.twin_dob[r] >= 0 else None
        diff = [(r, p) for p in self.diff_partners[r]] if r in self.diff_partners else None
        return nhs, upn, dob, diff

    def _conflict_sigs(self, sa: tuple, sb: tuple, find: Callable[[int], int], ra: int, rb: int) -> str | None:
        nhs_a, upn_a, dob_a, diff_a = sa
        nhs_b, upn_b, dob_b, diff_b = sb
        if nhs_a and nhs_b and (len(nhs_a) > 1 or nhs_a != nhs_b):
            return "nhs_number"
        if upn_a and upn_b:
            for ua in upn_a:
                for ub in upn_b:
                    if self.upn_conflict(ua, ub):
                        return "upn"
        if diff_a or diff_b:
            # ra is the root of cluster a, rb of cluster b (for pair_conflict: the other record)
            for diffs, other in ((diff_a, rb), (diff_b, ra)):
                for _, partner in diffs or ():
                    if find(partner) == other:
                        return "steward_decision"
        if dob_a and dob_b:
            small, big = (dob_a, dob_b) if len(dob_a) <= len(dob_b) else (dob_b, dob_a)
            for d, recs in small.items():
                other_recs = big.get(d)
                if other_recs:
                    for i in recs:
                        for j in other_recs:
                            if self.twin_conflict(i, j):
                                return "twin_guard"
        return None

    def cluster_conflict(self, ra: int, rb: int, find: Callable[[int], int]) -> str | None:
        """Reason clusters rooted at ``ra`` and ``rb`` may not merge, or None."""
        return self._conflict_sigs(self._sig(ra), self._sig(rb), find, ra, rb)

    def merge(self, into: int, other: int) -> None:
        """Fold the signature of root ``other`` into root ``into`` (call with ``into`` the larger cluster).

        The larger cluster's materialised containers are extended in place, so a chain of merges costs
        O(n log n) overall (small-to-large).
        """
        nhs_a, upn_a, dob_a, diff_a = self._sig(into)
        nhs_b, upn_b, dob_b, diff_b = self._sig(other)
        if nhs_a is not None or nhs_b is not None:
            target = nhs_a if nhs_a is not None else set()
            target.update(nhs_b or ())
            self.c_nhs[into] = target
        for store, a, b in ((self.c_upn, upn_a, upn_b), (self.c_diff, diff_a, diff_b)):
            if a is not None or b is not None:
                target_list = a if a is not None else []
                target_list.extend(b or ())
                store[into] = target_list
        if dob_a is not None or dob_b is not None:
            target_dob = dob_a if dob_a is not None else {}
            for k, v in (dob_b or {}).items():
                target_dob.setdefault(k, []).extend(v)
            self.c_dob[into] = target_dob
        self._merged.add(into)
        for store in (self.c_nhs, self.c_upn, self.c_dob, self.c_diff):
            store.pop(other, None)
        self._merged.discard(other)


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
