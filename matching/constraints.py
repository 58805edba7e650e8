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

import math
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

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
from matching.names import load_name_groups
from schemas.rules import is_placeholder_first_name as placeholder_rule

TWIN_NAME_JW_THRESHOLD = 0.88
# A first name held by at least this many records is an established given name, not a one-off typo.
ESTABLISHED_NAME_COUNT = 3
# One letter apart, the rarer name must be held by at least this share of the commoner one's records to count
# as a second given name (Leo/Leon) rather than a typo of it (Riely beside Riley).
TYPO_FREQUENCY_RATIO = 0.1

_SURNAME_SPLIT = re.compile(r"[\s\-']+")

_MULTI = object()  # a cluster holding more than one NHS number (only must-links can make one)



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
    items: Iterable[object] = [value]
    if isinstance(value, Iterable) and not isinstance(value, str):
        try:
            items = list(value)
        except TypeError:  # a 0-d numpy array has __iter__ but cannot be iterated
            items = [value]
    out = [clean_str(v) for v in items]
    return [v for v in out if v]


def is_placeholder_first_name(name: str | None) -> bool:
    """Not a usable given name for the twin guard: missing, a lone initial, or a placeholder (``schemas.rules``)."""
    if not name:
        return True
    return len(name.strip()) <= 1 or placeholder_rule(name)


@lru_cache(maxsize=200_000)
def _names_clearly_different(a: str, b: str) -> bool:
    """Different names by spelling: not equal, neither a prefix of the other, Jaro-Winkler below threshold."""
    if a == b or a.startswith(b) or b.startswith(a):
        return False
    return JaroWinkler.similarity(a, b) < TWIN_NAME_JW_THRESHOLD


def first_names_clearly_different(a: str | None, groups_a: Sequence[str], b: str | None,
                                  groups_b: Sequence[str]) -> bool:
    """True only when both names are usable and differ by spelling *and* share no nickname group."""
    if a is None or b is None or is_placeholder_first_name(a) or is_placeholder_first_name(b):
        return False
    a_u, b_u = a.upper(), b.upper()
    ga = set(groups_a) or {a_u}
    gb = set(groups_b) or {b_u}
    if ga & gb:
        return False
    return _names_clearly_different(a_u, b_u)


# ----------------------------------------------------------------------------------------------
# Deterministic links


# ----------------------------------------------------------------------------------------------
# Cannot-links: per-record data and per-cluster signatures


def _identifier_one_typo(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two values of one named identifier (``NAME=VALUE``) one edit apart: a mistyped or swapped digit."""
    for x in a:
        name = x.split("=", 1)[0]
        for y in b:
            if y.split("=", 1)[0] == name and DamerauLevenshtein.distance(x, y) == 1:
                return True
    return False


class ConstraintIndex:
    """Cannot-link checks between clusters of records addressed by integer index ``0..n-1``.

    Conflicts: different valid NHS numbers; different valid UPNs (unless one equals the other's former
    UPN); a steward ``different`` decision; the twin guard (same DOB, same household, clearly different
    first names). Cluster signatures live under the cluster's root and are merged small-to-large.
    """

    def __init__(self, features: pd.DataFrame, cannot_pairs: Sequence[tuple[int, int]] = (),
                 cannot_link_identifiers: Iterable[str] = ()) -> None:
        n = len(features)
        self.n = n

        def col(name: str) -> list:
            if name not in features:
                return [None] * n
            return clean_id_column(features[name]).tolist()

        self.nhs = col("nhs_number")
        self.upn = col("upn")
        self.former_upn = col("former_upn")
        first = col("first_name_std")
        first_u = pd.Series(first, dtype=object).str.upper()
        self.first = first_u.where(first_u.notna(), None).tolist()
        self.groups = features["first_name_groups"].tolist() if "first_name_groups" in features else [None] * n
        self.last = features["last_name_std"].tolist() if "last_name_std" in features else [None] * n
        self.others = features["other_surnames"].tolist() if "other_surnames" in features else [None] * n
        self.postcode = col("postcode")
        self.address = col("address_std")
        dob = pd.to_datetime(features["dob"], errors="coerce") if "dob" in features else pd.Series([pd.NaT] * n)
        days = dob.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        ok = ~np.isnat(days)
        placeholders = {v for v in first_u.dropna().unique() if is_placeholder_first_name(v)}
        usable = (first_u.notna() & ~first_u.isin(placeholders)).to_numpy(dtype=bool)
        if "is_placeholder_first_name" in features:  # the feature stage also reads quality flags
            usable &= ~features["is_placeholder_first_name"].fillna(False).astype(bool).to_numpy()
        self.src: list[str] | list[int]
        if "source" in features:
            self.src = features["source"].astype(str).tolist()
        elif "unique_id" in features:
            self.src = features["unique_id"].astype(str).str.split(":", n=1).str[0].tolist()
        else:
            self.src = list(range(n))  # no source known: every record its own source
        counts = first_u.map(first_u.value_counts())
        known = {k.upper() for k in load_name_groups()}
        self.name_count = counts.fillna(0).astype(int).tolist()
        self.established = ((counts >= ESTABLISHED_NAME_COUNT) | first_u.isin(known)).fillna(False).tolist()
        middle = col("middle_names_std")
        self.middle = [frozenset(m.upper().split()) if m else frozenset() for m in middle]
        self.id_keys = [frozenset(as_list(v)) for v in features["identifier_keys"]] \
            if "identifier_keys" in features else [frozenset()] * n
        names = {x.upper() for x in cannot_link_identifiers}
        # cannot-link identifiers per record: {NAME: VALUE}; only records that carry one are listed
        self.cl_ids: dict[int, dict[str, str]] = {}
        if names:
            for i, keys in enumerate(self.id_keys):
                vals = {k.split("=", 1)[0].upper(): k.split("=", 1)[1] for k in keys if "=" in k}
                vals = {k: v for k, v in vals.items() if k in names}
                if vals:
                    self.cl_ids[i] = vals
        if "dob_precision" in features:  # a placeholder DOB (1 January, ...) is not the same birthday
            ok &= (features["dob_precision"].astype(object) == "day").fillna(False).to_numpy(dtype=bool)
        self.alts = features["alt_first_names"].tolist() if "alt_first_names" in features else [None] * n
        self.last_parts = features["last_name_parts"].tolist() if "last_name_parts" in features else [None] * n
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
        # per-cluster signatures, indexed by root. ``None`` in the list slots means "never merged":
        # the signature is then the record's own, computed on demand (no allocation per record).
        self.nhs_root: list = list(self.nhs)  # value, None, or _MULTI when must-links joined two numbers
        self.upn_root: list = [None] * n  # list of record indices holding a UPN
        self.twin_root: list = [None] * n  # list of record indices eligible for the twin guard
        self.diff_root: list = [None] * n  # list of record indices with steward 'different' partners
        self.clid_root: list = [None] * n  # list of record indices holding a cannot-link identifier
        self._twin_ok = [d >= 0 for d in self.twin_dob]
        self._has_upn = [u is not None for u in self.upn]

    # -- per record ---------------------------------------------------------------------------
    def surnames(self, i: int) -> frozenset[str]:
        s = self._surnames.get(i)
        if s is None:
            parts: set[str] = set()
            for v in [clean_str(self.last[i]), *as_list(self.others[i]), *as_list(self.last_parts[i])]:
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
        """Twin guard between two records: same DOB (to the day) and household, and first names that are
        *distinct names* (``distinct_names``) with nothing else making them one person."""
        fi, fj = self.first[i], self.first[j]
        if fi == fj or self.twin_dob[i] < 0 or self.twin_dob[i] != self.twin_dob[j]:
            return False
        pi, pj, ai, aj = self.postcode[i], self.postcode[j], self.address[i], self.address[j]
        if not ((pi is not None and pi == pj) or (ai is not None and ai == aj)):
            return False
        if not (self.surnames(i) & self.surnames(j)):
            return False
        return self.distinct_names(i, j) and not self.one_person_evidence(i, j)

    def distinct_names(self, i: int, j: int) -> bool:
        """Two given names, not one name written two ways: both usable, not a nickname group, an initial or a
        short form of the other, both established names (in the name lexicon or held by at least
        ``ESTABLISHED_NAME_COUNT`` records: a one-off spelling such as Jacb is a typo), and, when one letter
        apart (Leo/Leon, Luca/Lucas vs Riley/Riely), of comparable frequency (a typo is rare beside the name
        it mistypes)."""
        fi, fj = self.first[i], self.first[j]
        if not first_names_clearly_different(fi, self.name_groups(i), fj, self.name_groups(j)):
            if is_placeholder_first_name(fi) or is_placeholder_first_name(fj) or fi == fj:
                return False
            if set(self.name_groups(i)) & set(self.name_groups(j)):
                return False
            short, long_ = sorted((fi, fj), key=len)
            if long_.startswith(short) and len(long_) - len(short) >= 2:  # Sam/Samuel; not Leo/Leon
                return False
            return self.comparable_names(i, j)
        if DamerauLevenshtein.distance(fi, fj) <= 1:  # short names: Amy/Amt is "clearly different" by JW
            return self.comparable_names(i, j)
        # a one-off spelling (Jacb, Frderick) is a typo of some name, not a second child's given name
        return bool(self.established[i] and self.established[j])

    def comparable_names(self, i: int, j: int) -> bool:
        ci, cj = self.name_count[i], self.name_count[j]
        return bool(self.established[i] and self.established[j] and min(ci, cj) >= TYPO_FREQUENCY_RATIO * max(ci, cj))

    def one_person_evidence(self, i: int, j: int) -> bool:
        """Something besides the first name makes the two records one person: a middle name used as the first
        name, a known-as name, forename and surname transposed, or a shared identifier value."""
        fi, fj = self.first[i], self.first[j]
        if (fi and fi in self.middle[j]) or (fj and fj in self.middle[i]):
            return True
        li, lj = clean_str(self.last[i]), clean_str(self.last[j])
        if li and lj and fi == lj.upper() and fj == li.upper():
            return True
        if self.id_keys[i] & self.id_keys[j] or _identifier_one_typo(self.id_keys[i], self.id_keys[j]):
            return True
        alts_i, alts_j = as_list(self.alts[i]), as_list(self.alts[j])
        if alts_i or alts_j:  # a known alternative first name that matches the other record: not twins
            names_i = [x.upper() for x in [fi, *alts_i] if not is_placeholder_first_name(x)]
            names_j = [x.upper() for x in [fj, *alts_j] if not is_placeholder_first_name(x)]
            if any(not _names_clearly_different(x, y) for x in names_i for y in names_j):
                return True
        return False

    def distinct_given_names(self, i: int, j: int) -> bool:
        """Kept for callers: the twin guard's name test (``distinct_names``)."""
        return self.distinct_names(i, j)

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

    def pair_conflict(self, i: int, j: int) -> str | None:
        """Reason two single records may not share a cluster, or None."""
        return self._conflict((i,), (j,), lambda x: x, i, j)

    # -- per cluster --------------------------------------------------------------------------
    def _members(self, store: list, flags: list[bool] | dict, r: int) -> list[int] | tuple[int, ...]:
        m = store[r]
        if m is not None:
            return m
        return (r,) if (r in flags if isinstance(flags, dict) else flags[r]) else ()

    def _conflict(self, ma: tuple | None, mb: tuple | None, find: Callable[[int], int], ra: int,
                  rb: int) -> str | None:
        """Conflict between clusters rooted at ra and rb (``ma``/``mb``: explicit member tuples for the
        record-level check, else None to use the cluster signatures)."""
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
                reason = self.identifier_conflict(ia, ib)
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

    def _twin_conflict_between(self, ta: Sequence[int], tb: Sequence[int], records_only: bool) -> str | None:
        """Twin checks between two groups of twin-eligible records (usable DOB and first name): a record pair
        with the same DOB and household and distinct given names (``twin_conflict``), within one source or
        across sources alike (the reason says ``same_source_twin`` when both records come from one source),
        unless the groups are *bridged* by another same-DOB pair whose first names agree (exact, nickname
        group or close spelling): then the clash is one odd record (a typo, a known-as name), not twins."""
        dob, src = self.twin_dob, self.src
        clash = None
        for i in ta:
            di = dob[i]
            for j in tb:
                if dob[j] == di and self.twin_conflict(i, j):
                    clash = "same_source_twin" if src[i] == src[j] else "twin_guard"
                    break
            if clash:
                break
        if not clash:
            return None
        if not records_only and self._names_bridge(ta, tb):
            return None
        return clash

    def _names_bridge(self, ta: Sequence[int], tb: Sequence[int]) -> bool:
        dob, first = self.twin_dob, self.first
        for i in ta:
            for j in tb:
                if dob[j] == dob[i] and (first[i] == first[j] or not self.distinct_names(i, j)):
                    return True
        return False

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
