"""The twin guard: two records with the same date of birth and household but clearly different given
names are two people (twins, siblings), not one person written two ways.

* ``is_placeholder_first_name`` / ``first_names_clearly_different``: the first-name distinctness tests
  (spelling, nickname groups, placeholders and lone initials).
* ``TwinGuard``: per-record name, household and DOB data plus the record-level twin checks; established-name
  counting (lexicon names and names held by ``ESTABLISHED_NAME_COUNT`` records) tells a second given name
  from a one-off typo. ``matching.constraints.ConstraintIndex`` builds on it for its cluster signatures.
* ``clean_str`` / ``as_list``: cell helpers shared with ``matching.constraints``.

Nothing here logs personal data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from matching.must_links import clean_id_column
from matching.names import load_name_groups
from schemas.rules import is_placeholder_first_name as placeholder_rule

TWIN_NAME_JW_THRESHOLD = 0.88
# A first name held by at least this many records is an established given name, not a one-off typo.
ESTABLISHED_NAME_COUNT = 3
# One letter apart, the rarer name must be held by at least this share of the commoner one's records to count
# as a second given name (Luca/Lucas) rather than a typo of it (Riely beside Riley).
TYPO_FREQUENCY_RATIO = 0.1

# Days from 1970-01-01 back to the twin guard's epoch (over 2,700 years): every real DOB has a key >= 0.
TWIN_DOB_EPOCH_OFFSET = 1_000_000

_SURNAME_SPLIT = re.compile(r"[\s\-']+")


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


def _identifier_one_typo(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two values of one named identifier (``NAME=VALUE``) one edit apart: a mistyped or swapped digit."""
    for x in a:
        name = x.split("=", 1)[0]
        for y in b:
            if y.split("=", 1)[0] == name and DamerauLevenshtein.distance(x, y) == 1:
                return True
    return False


class TwinGuard:
    """Twin-guard data and checks for records addressed by integer index ``0..n-1``.

    Per record: upper-cased first name, nickname groups, surnames, household (postcode, address), middle
    and alternative first names, identifier keys, source, and ``twin_dob`` - the DOB as a day number (>= 0), or
    -1 when the record cannot take part (no day-precision DOB or no usable first name).
    """

    def __init__(self, features: pd.DataFrame) -> None:
        n = len(features)

        def col(name: str) -> list:
            if name not in features:
                return [None] * n
            return clean_id_column(features[name]).tolist()

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
        if "first_name_count" in features:  # counted over the whole drop (matching.spark clusters a part of it)
            counts = pd.to_numeric(features["first_name_count"], errors="coerce").where(first_u.notna())
        known = {k.upper() for k in load_name_groups()}
        self.name_count = counts.fillna(0).astype(int).tolist()
        self.established = ((counts >= ESTABLISHED_NAME_COUNT) | first_u.isin(known)).fillna(False).tolist()
        # middle names and identifier keys as sets only for the records a check reaches (a set per record at 1M
        # records was 0.5 GB, most of it for records no check ever compares)
        self._middle_names = col("middle_names_std")
        self._identifier_keys = features["identifier_keys"].tolist() if "identifier_keys" in features else [None] * n
        self._middle: dict[int, frozenset[str]] = {}
        self._ids: dict[int, frozenset[str]] = {}
        if "dob_precision" in features:  # a placeholder DOB (1 January, ...) is not the same birthday
            ok &= (features["dob_precision"].astype(object) == "day").fillna(False).to_numpy(dtype=bool)
        self.alts = features["alt_first_names"].tolist() if "alt_first_names" in features else [None] * n
        self.last_parts = features["last_name_parts"].tolist() if "last_name_parts" in features else [None] * n
        # DOB key for the twin guard: days from an epoch before any plausible DOB (a DOB before 1970 is a negative
        # day count from 1970, which once read as "cannot take part"), -1 when the record cannot take part (no
        # day-precision DOB or no usable first name)
        dob_int = np.where(ok, days.astype("int64", copy=False) + TWIN_DOB_EPOCH_OFFSET, -1)
        self.twin_dob = np.where(ok & usable, dob_int, -1).tolist()
        self.usable_first = usable.tolist()  # a given name (not missing, a lone initial or a placeholder)
        self._surnames: dict[int, frozenset[str]] = {}
        self._groups: dict[int, tuple[str, ...]] = {}
        self._twin_ok = [d >= 0 for d in self.twin_dob]

    # -- per record ---------------------------------------------------------------------------
    def middle(self, i: int) -> frozenset[str]:
        """Record ``i``'s middle names, upper-cased."""
        s = self._middle.get(i)
        if s is None:
            m = self._middle_names[i]
            s = self._middle[i] = frozenset(m.upper().split()) if m else frozenset()
        return s

    def id_keys(self, i: int) -> frozenset[str]:
        """Record ``i``'s identifier keys (``NAME=VALUE``)."""
        s = self._ids.get(i)
        if s is None:
            s = self._ids[i] = frozenset(as_list(self._identifier_keys[i]))
        return s

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
        apart (Luca/Lucas vs Riley/Riely), of comparable frequency (a typo is rare beside the name
        it mistypes)."""
        fi, fj = self.first[i], self.first[j]
        if not first_names_clearly_different(fi, self.name_groups(i), fj, self.name_groups(j)):
            if is_placeholder_first_name(fi) or is_placeholder_first_name(fj) or fi == fj:
                return False
            if set(self.name_groups(i)) & set(self.name_groups(j)):
                return False
            short, long_ = sorted((fi, fj), key=len)
            if long_.startswith(short) and len(long_) - len(short) >= 2:  # Sam/Samuel; not Luca/Lucas
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
        name, a known-as name, forename and surname transposed, a shared identifier value, or the same full
        middle names under two spellings of one first name (Sofia/Sofiia Amelia: co-twins may share a middle
        name, but not with first names one letter apart as well)."""
        fi, fj = self.first[i], self.first[j]
        if (fi and fi in self.middle(j)) or (fj and fj in self.middle(i)):
            return True
        mi = self.middle(i)
        if (mi and mi == self.middle(j) and all(len(t) > 1 for t in mi) and fi and fj
                and not _names_clearly_different(fi, fj)):
            return True
        li, lj = clean_str(self.last[i]), clean_str(self.last[j])
        if li and lj and fi == lj.upper() and fj == li.upper():
            return True
        ki, kj = self.id_keys(i), self.id_keys(j)
        if ki & kj or _identifier_one_typo(ki, kj):
            return True
        alts_i, alts_j = as_list(self.alts[i]), as_list(self.alts[j])
        if alts_i or alts_j:  # a known alternative first name that matches the other record: not twins
            names_i = [x.upper() for x in [fi, *alts_i] if not is_placeholder_first_name(x)]
            names_j = [x.upper() for x in [fj, *alts_j] if not is_placeholder_first_name(x)]
            if any(not _names_clearly_different(x, y) for x in names_i for y in names_j):
                return True
        return False

    # -- between groups of records ------------------------------------------------------------
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
