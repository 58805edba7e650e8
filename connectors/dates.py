"""Vectorised date parsing with per-source formats, ISO fallback and a tolerated midnight time.

Parsing works on distinct strings (``pd.factorize``), so a 1M-row file with a few thousand distinct dates
costs a few thousand parses. Each distinct value is tried against the file's own formats, then ISO
``YYYY-MM-DD`` and ISO date-times; a trailing ``00:00``/``00:00:00`` is ignored. Dates outside pandas'
nanosecond range (e.g. ``9999-12-31``) are parsed with ``datetime.strptime``.

A value that no format fits is given two repairs before it is called unparseable (``repair_candidates``):
letters that scanning and keying put for digits (``O`` for 0, ``l`` or ``|`` for 1, ``Z`` for 2, ``S`` for
5, ``B`` for 8) are read as those digits, and a day and month written the other way round than the file's format
says (``27/12/2010`` in a month-first file) are read the other way. Either repair only ever turns a value that
could not be read into the one date it can be; the record is flagged ``<field>_repaired``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

import numpy as np
import pandas as pd

from schemas.rules import MISSING_TOKENS

ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S.%f")
_MIDNIGHT = r"[ T]00:00(?::00(?:\.0+)?)?$"  # a trailing midnight time, dropped before parsing
_MISSING_UPPER = frozenset(MISSING_TOKENS)


_SHARED: ContextVar[dict | None] = ContextVar("connectors_shared_factorize", default=None)


@contextmanager
def shared_factorize() -> Iterator[None]:
    """Within the block, ``factorize`` works out each array's distinct values at most once.

    Arrays are recognised by memory address, shape and strides (and kept alive until the block ends), so
    they must not be changed in place inside the block. ``extract_file`` opens one block per chunk.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _key(values: np.ndarray) -> tuple:
    return values.__array_interface__["data"][0], values.shape, values.strides


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, use_na_sentinel=True)`` of an object array, as (codes, uniques array).

    Inside ``shared_factorize`` the result is remembered, and so is the output of ``map_distinct``, whose
    codes then come from its input's codes instead of hashing every value again."""
    values = np.asarray(values, dtype=object)
    memo = _SHARED.get()
    if memo is None:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return codes, np.asarray(uniques, dtype=object)
    key = _key(values)
    hit = memo.get(key)
    if hit is None:
        derived = memo.pop(("map", key), None)
        if derived is not None:  # output of map_distinct: (its codes, the mapped distinct values + None)
            in_codes, mapped = derived
            ucodes, uniques = pd.factorize(mapped[:-1], use_na_sentinel=True)
            codes = np.append(ucodes, -1)[in_codes]  # first appearances keep their order: same as pd.factorize
        else:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
        hit = memo[key] = (values, codes, np.asarray(uniques, dtype=object))
    return hit[1], hit[2]


def map_distinct(series: pd.Series, fn: Callable[..., object]) -> pd.Series:
    """Apply ``fn`` once per distinct non-null value; nulls stay None. Returns an object Series."""
    codes, uniques = factorize(series.to_numpy(dtype=object))
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [fn(u) for u in uniques]
    mapped[-1] = None
    out = mapped[codes]
    memo = _SHARED.get()
    if memo is not None:
        memo[("map", _key(out))] = (codes, mapped)
        memo[("keep", _key(out))] = out  # keeps the address taken until the block ends
        out.flags.writeable = False  # an in-place change would make the remembered codes wrong: refuse it
    return pd.Series(out, index=series.index, dtype=object)


def _blank(value: object) -> str | None:
    text = str(value).strip()
    return None if text.upper() in _MISSING_UPPER else text


def blank_to_none(series: pd.Series) -> pd.Series:
    """Strip text; empty, whitespace and the missing tokens (NULL, N/A, Unknown, ...) become None."""
    return map_distinct(series, _blank)


# Characters that optical character recognition and keying put for digits.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "Q": "0", "D": "0", "I": "1", "l": "1", "|": "1",
                                   "i": "1", "!": "1", "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8",
                                   "G": "6", "b": "6", "g": "9", "q": "9"})
MAX_LOOKALIKES = 2  # more letters than this in a date is not a misread date


def _day_month_swapped(fmt: str) -> str | None:
    """``fmt`` with its day and month directives exchanged (None when it lacks either)."""
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def repair_candidates(text: str) -> list[str]:
    """The digit-lookalike reading of ``text`` (when it has 1-``MAX_LOOKALIKES`` such letters and is otherwise
    digits and separators), else nothing."""
    changed = sum(ch in "OoQDIl|i!ZzSsBGbgq" for ch in text)
    if not 0 < changed <= MAX_LOOKALIKES:
        return []
    fixed = text.translate(_DIGIT_LOOKALIKES)
    return [fixed] if all(ch.isdigit() or ch in "/-. " for ch in fixed) else []


def _strptime_any(texts: Sequence[str], fmts: Sequence[str]) -> dt.date | None:
    for text in texts:
        for fmt in fmts:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    return None


def _repair(text: str, formats: Sequence[str]) -> dt.date | None:
    """The one date an unreadable ``text`` can be read as: digit lookalikes, then day and month swapped."""
    own = [f for f in formats if f]
    swapped = [s for s in (_day_month_swapped(f) for f in own) if s]
    read = _strptime_any(repair_candidates(text), own)
    if read is None:
        read = _strptime_any([text, *repair_candidates(text)], swapped)
    return read


def _parse_uniques_repaired(uniques: pd.Index, formats: Sequence[str]) -> list[tuple[dt.date | None, bool]]:
    originals = pd.Series(uniques.astype(str), dtype=object)
    trimmed = originals.str.replace(_MIDNIGHT, "", regex=True)
    result = pd.Series(pd.NaT, index=originals.index, dtype="datetime64[ns]")
    fmts = list(dict.fromkeys([*formats, *ISO_FORMATS]))
    for candidates in (trimmed, originals):
        for fmt in fmts:
            todo = result.isna()
            if not todo.any():
                break
            result[todo] = pd.to_datetime(candidates[todo], format=fmt, errors="coerce")
    out: list[tuple[dt.date | None, bool]] = [(None if pd.isna(ts) else ts.date(), False) for ts in result]
    for i in np.flatnonzero(result.isna().to_numpy()):  # out of pandas' range: plain strptime
        read = _strptime_any([trimmed.iat[i], originals.iat[i]], fmts)
        out[i] = (read, False) if read is not None else (_repair(trimmed.iat[i], fmts), True)
    return [(d, repaired and d is not None) for d, repaired in out]


_PARTS = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{1,2})", "%d": r"(?P<d>\d{1,2})"}
_DIRECTIVE = re.compile(r"%.")


@lru_cache(maxsize=64)
def _part_pattern(fmt: str) -> re.Pattern[str] | None:
    """``fmt`` as a pattern of its year, month and day digits (None when it has other directives or no year)."""
    pieces, at = [], 0
    for m in _DIRECTIVE.finditer(fmt):
        if m.group() not in _PARTS:
            return None
        pieces += [re.escape(fmt[at:m.start()]), _PARTS[m.group()]]
        at = m.end()
    pieces.append(re.escape(fmt[at:]))
    if "%Y" not in fmt:
        return None
    try:
        return re.compile("".join(pieces))
    except re.error:  # a directive written twice
        return None


def typed_digits(text: str, formats: Sequence[str] = ()) -> str | None:
    """A date no format reads, as its year, month and day digits were typed, laid out ``YYYY-MM-DD`` by one of
    ``formats`` (or ISO): ``2006-05-97`` for ``20060597`` in a ``%Y%m%d`` file, ``2010-02-31`` for ``31/02/2010``
    in a ``%d/%m/%Y`` one; None for another layout or a year before 1000. Compared digit by digit, such a value
    can still be one keyed digit from another record's DOB."""
    for fmt in dict.fromkeys([*(f for f in formats if f), ISO_FORMATS[0]]):
        pattern = _part_pattern(fmt)
        m = pattern.fullmatch(text.strip()) if pattern else None
        if m is None or not {"m", "d"} <= set(m.groupdict()):
            continue
        year = int(m.group("Y"))
        return f"{year:04d}-{int(m.group('m')):02d}-{int(m.group('d')):02d}" if year >= 1000 else None
    return None


def parse_dates(series: pd.Series, formats: Sequence[str] = ()) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse text dates. Returns ``(dates, missing, unparseable)``.

    ``dates`` holds ``datetime.date`` or None; ``missing`` is True where the raw value was blank;
    ``unparseable`` is True where a value was given but no format fits (even after the repairs).
    """
    dates, missing, unparseable, _ = parse_dates_repaired(series, formats)
    return dates, missing, unparseable


def parse_dates_repaired(series: pd.Series, formats: Sequence[str] = ()
                         ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """``parse_dates`` plus ``repaired``: True where the date was read only after a repair (module docstring)."""
    clean = blank_to_none(series)
    missing = clean.isna()
    codes, uniques = factorize(clean.to_numpy(dtype=object))
    pairs = _parse_uniques_repaired(pd.Index(uniques), formats) if len(uniques) else []
    parsed = np.array([*(d for d, _ in pairs), None], dtype=object)
    fixed = np.array([*(r for _, r in pairs), False], dtype=bool)
    dates = pd.Series(parsed[codes], index=series.index, dtype=object)
    repaired = pd.Series(fixed[codes], index=series.index, dtype=bool)
    unparseable = dates.isna() & ~missing
    return dates, missing, unparseable, repaired
