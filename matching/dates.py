"""How much of a date of birth is evidence: placeholder days that one system writes for an unknown DOB.

Some systems store an unknown day (or day and month) as a fixed placeholder: 1 January, 1 July, the 1st or the
15th of the month. Such a DOB is evidence of its year (and month) only. ``dob_precision`` finds those placeholder
patterns per source from the data itself: a pattern is a source's placeholder when far more of that source's
DOBs fall on it than births would (``EXCESS_RATIO`` times the share expected from the calendar, and at least
``MIN_EXCESS_RECORDS`` records more than expected). Records of that source on that pattern get precision
``year`` (1 January, 1 July) or ``month`` (the 1st, the 15th); every other usable DOB is ``day``.
The matching model then compares such DOBs by year/month only (``matching.settings``): weights EM trains.

``age_window`` / ``age_windows``: the DOBs an age in whole years allows on the date it was true on, for a record
that has an age instead of a DOB (``birth_earliest`` .. ``birth_latest``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

# pattern name -> (precision it leaves, share of births expected on it)
PLACEHOLDER_PATTERNS: dict[str, tuple[str, float]] = {
    "01-01": ("year", 1 / 365.25),
    "07-01": ("year", 1 / 365.25),
    "day-01": ("month", 12 / 365.25),
    "day-15": ("month", 12 / 365.25),
}
EXCESS_RATIO = 4.0
MIN_EXCESS_RECORDS = 10


def _pattern_masks(dob: pd.Series) -> dict[str, np.ndarray]:
    month = dob.dt.month.to_numpy(dtype=float, na_value=np.nan)
    day = dob.dt.day.to_numpy(dtype=float, na_value=np.nan)
    return {
        "01-01": (month == 1) & (day == 1),
        "07-01": (month == 7) & (day == 1),
        "day-01": day == 1,
        "day-15": day == 15,
    }


def _aligned(source: pd.Series, dob: pd.Series) -> tuple[pd.Series, pd.Series]:
    return source.reset_index(drop=True).astype(str), pd.to_datetime(dob, errors="coerce").reset_index(drop=True)


def placeholder_patterns(source: pd.Series, dob: pd.Series, weight: pd.Series | None = None) -> dict[str, list[str]]:
    """``{source: [pattern, ...]}``: the DOB placeholder patterns each source shows (see module docstring).
    ``weight``: how many records each row stands for (a count of records per source and DOB), else one each."""
    src, dob = _aligned(source, dob)
    w = None if weight is None else np.asarray(weight, dtype=np.int64)
    return _found_patterns(src, dob, _pattern_masks(dob), w)


def _found_patterns(src: pd.Series, dob: pd.Series, masks: dict[str, np.ndarray],
                    weight: np.ndarray | None = None) -> dict[str, list[str]]:
    known = dob.notna().to_numpy()
    w = np.ones(len(src), dtype=np.int64) if weight is None else weight
    out: dict[str, list[str]] = {}
    for name in pd.unique(src):
        in_src = (src == name).to_numpy() & known
        n = int(w[in_src].sum())
        found = []
        for pattern, (_, share) in PLACEHOLDER_PATTERNS.items():
            observed = int(w[masks[pattern] & in_src].sum())
            expected = n * share
            if observed >= EXCESS_RATIO * expected and observed - expected >= MIN_EXCESS_RECORDS:
                found.append(pattern)
        if found:
            out[str(name)] = found
    return out


_NULL = np.array(None, dtype=object)  # "no value" as an array, for np.where (a bare None is not array-like)


def dob_precision(source: pd.Series, dob: pd.Series,
                  patterns: dict[str, list[str]] | None = None) -> np.ndarray:
    """Per record: ``day``, ``month`` or ``year`` (a source placeholder), or ``None`` when there is no usable DOB.
    ``patterns``: each source's placeholder patterns when already known (``placeholder_patterns`` over every
    record of the sources; an incremental night judges only its new records by them), else found in these records."""
    src, dob = _aligned(source, dob)
    precision = np.where(dob.notna().to_numpy(), "day", _NULL).astype(object)
    masks = _pattern_masks(dob)
    if patterns is None:
        patterns = _found_patterns(src, dob, masks)
    for name, found in patterns.items():
        in_src = (src == name).to_numpy()
        # coarsest first: a 1 January placeholder is a year, even though it is also "the 1st"
        for pattern in sorted(found, key=lambda p: PLACEHOLDER_PATTERNS[p][0] != "year"):
            hit = in_src & masks[pattern] & (precision == "day")
            precision[hit] = PLACEHOLDER_PATTERNS[pattern][0]
    return precision


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def age_window(age: int, on: dt.date) -> tuple[dt.date, dt.date]:
    """The DOBs an age in whole years allows on a date: 10 on 2020-04-01 is born 2009-04-02 to 2010-04-01."""
    return _years_before(on, age + 1) + dt.timedelta(days=1), _years_before(on, age)


def age_windows(age: pd.Series, on: pd.Series, wanted: np.ndarray,
                 dob_from: dt.date | None) -> tuple[np.ndarray, np.ndarray]:
    """Per record, ``(birth_earliest, birth_latest)`` from its age where ``wanted`` (no usable DOB); None
    elsewhere, and where the window ends before ``dob_from`` (an age outside the plausible range)."""
    n = len(age)
    earliest, latest = np.full(n, None, dtype=object), np.full(n, None, dtype=object)
    ages, days = age.to_numpy(dtype=object), pd.to_datetime(on, errors="coerce").dt.date.to_numpy(dtype=object)
    cache: dict[tuple[int, dt.date], tuple[dt.date, dt.date] | None] = {}
    for i in np.flatnonzero(wanted & pd.notna(ages) & pd.notna(days)):
        key = (int(ages[i]), days[i])
        if key not in cache:
            lo, hi = age_window(*key)
            cache[key] = None if dob_from is not None and hi < dob_from else (lo, hi)
        if (window := cache[key]) is not None:
            earliest[i], latest[i] = window
    return earliest, latest
