"""Vectorised date parsing with per-source formats, ISO fallback and a tolerated midnight time.

Parsing works on distinct strings (``pd.factorize``), so a 1M-row file with a few thousand distinct dates
costs a few thousand parses. Each distinct value is tried against the file's own formats, then ISO
``YYYY-MM-DD`` and ISO date-times; a trailing ``00:00``/``00:00:00`` is ignored. Dates outside pandas'
nanosecond range (e.g. ``9999-12-31``) are parsed with ``datetime.strptime``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from schemas.identifiers import MISSING_TOKENS

ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S.%f")
_MIDNIGHT = re.compile(r"[ T]00:00(?::00(?:\.0+)?)?$")
_MISSING_UPPER = frozenset(MISSING_TOKENS)


def map_distinct(series: pd.Series, fn) -> pd.Series:
    """Apply ``fn`` once per distinct non-null value; nulls stay None. Returns an object Series."""
    codes, uniques = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [fn(u) for u in uniques]
    mapped[-1] = None
    return pd.Series(mapped[codes], index=series.index, dtype=object)


def _blank(value: object) -> str | None:
    text = str(value).strip()
    return None if text.upper() in _MISSING_UPPER else text


def blank_to_none(series: pd.Series) -> pd.Series:
    """Strip text; empty, whitespace and the missing tokens (NULL, N/A, Unknown, ...) become None."""
    return map_distinct(series, _blank)


def _parse_uniques(uniques: pd.Index, formats: Sequence[str]) -> list[dt.date | None]:
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
    out: list[dt.date | None] = [None if pd.isna(ts) else ts.date() for ts in result]
    for i in np.flatnonzero(result.isna().to_numpy()):  # out of pandas' range: plain strptime
        for text in (trimmed.iat[i], originals.iat[i]):
            for fmt in fmts:
                try:
                    out[i] = dt.datetime.strptime(text, fmt).date()
                    break
                except ValueError:
                    continue
            if out[i] is not None:
                break
    return out


def parse_dates(series: pd.Series, formats: Sequence[str] = ()) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse text dates. Returns ``(dates, missing, unparseable)``.

    ``dates`` holds ``datetime.date`` or None; ``missing`` is True where the raw value was blank;
    ``unparseable`` is True where a value was given but no format fits.
    """
    clean = blank_to_none(series)
    missing = clean.isna()
    codes, uniques = pd.factorize(clean, use_na_sentinel=True)
    parsed = np.array([*_parse_uniques(pd.Index(uniques), formats), None], dtype=object) if len(uniques) else \
        np.array([None], dtype=object)
    dates = pd.Series(parsed[codes], index=series.index, dtype=object)
    unparseable = dates.isna() & ~missing
    return dates, missing, unparseable
