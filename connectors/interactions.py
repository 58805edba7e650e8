"""Interaction files standardised into the canonical interaction frame (``INTERACTION_COLUMNS``): events with a
type from the shared vocabulary, or attendance terms (academic year and term, sessions). Shares the field access,
flags and date parsing of ``connectors.standardise``."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from connectors.dates import blank_to_none, factorize
from connectors.standardise import Flags, dates_field, field_series, frame_values, map_codes, text
from schemas.config import FileConfig, InteractionFileConfig
from schemas.records import EVENT_TYPES, INTERACTION_COLUMNS

TERM_STARTS = {"Autumn": (0, 9, 1), "Spring": (1, 1, 1), "Summer": (1, 4, 15)}  # (year offset, month, day)
_ACADEMIC_YEAR = re.compile(r"^(\d{4})\s*[/-]\s*(\d{2}|\d{4})$")


def attendance_keys(raw: pd.DataFrame, cfg: FileConfig, colmap: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    """Normalised academic year (``2025/26``) and term (``Autumn``/``Spring``/``Summer``); raw text when invalid."""
    year = blank_to_none(field_series(raw, cfg, colmap, "academic_year"))
    term = blank_to_none(field_series(raw, cfg, colmap, "term")).str.title()

    def norm(v: str | None) -> str | None:
        if v is None:
            return None
        m = _ACADEMIC_YEAR.match(v.replace(" ", ""))
        if not m:
            return v
        start, end = int(m.group(1)), m.group(2)
        if int(end) % 100 != (start + 1) % 100:
            return v
        return f"{start}/{(start + 1) % 100:02d}"

    cache = {v: norm(v) for v in pd.unique(year)}
    # pandas-stubs: map's result type excludes None, which a dict value may be (pandas keeps it)
    return year.map(cache).astype(object), term.astype(object)  # type: ignore[type-var]


def _term_start(year: pd.Series, term: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(term start date, valid year, valid term): computed per distinct year and term, mapped back by code."""
    cy, uy = factorize(year.to_numpy(dtype=object))
    ct, ut = factorize(term.to_numpy(dtype=object))
    years = [str(y) for y in uy]
    ok_year = np.array([bool(re.match(r"^\d{4}/\d{2}$", y)) for y in years] + [False], dtype=bool)
    ok_term = np.array([t in TERM_STARTS for t in ut] + [False], dtype=bool)
    valid_year, valid_term = ok_year[cy], ok_term[ct]  # code -1 (null) picks the trailing False
    width = len(ut) + 1
    pair_codes, pairs = pd.factorize(np.where(cy < 0, len(years), cy) * width + np.where(ct < 0, len(ut), ct))
    starts = np.empty(len(pairs) + 1, dtype=object)  # per distinct (year, term) pair present
    for k, pair in enumerate(pairs.tolist()):
        i, j = divmod(pair, width)
        ok = ok_year[i] and ok_term[j]
        starts[k] = dt.date(int(years[i][:4]) + TERM_STARTS[ut[j]][0], *TERM_STARTS[ut[j]][1:]) if ok else None
    dates = starts[pair_codes]
    return (pd.Series(dates, index=year.index, dtype=object), pd.Series(valid_year, index=year.index),
            pd.Series(valid_term, index=year.index))


def _numbers(series: pd.Series, field: str, flags: Flags, integer: bool) -> pd.Series:
    clean = blank_to_none(series)
    codes, uniques = factorize(clean.to_numpy(dtype=object))
    parsed = np.append(pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype="float64"),
                       np.nan)  # per distinct value; code -1 (blank) -> NaN
    num = pd.Series(parsed[codes], index=series.index, dtype="float64")
    bad = clean.notna() & num.isna()
    if integer:
        frac = num.notna() & (num != num.round())
        bad |= frac
        num = num.where(~frac)
    flags.add(bad, f"{field}_invalid_format")
    return num.astype("Int64") if integer else num.astype("float64")


def standardise_interactions(raw: pd.DataFrame, cfg: InteractionFileConfig, colmap: dict[str, str], *,
                             source: str, record_ids: pd.Series, event_ids: pd.Series, lines: np.ndarray,
                             file_label: str, run_id: str | None,
                             terms: tuple[pd.Series, pd.Series] | None = None) -> pd.DataFrame:
    """Canonical interaction frame (``INTERACTION_COLUMNS``); ids are already validated by the caller.

    ``terms``: ``attendance_keys`` of ``raw`` when the caller has them already (attendance files)."""
    n = len(raw)
    flags = Flags(n)
    out: dict[str, object] = {"source": source, "source_record_id": record_ids.to_numpy(dtype=object),
                              "event_id": event_ids.to_numpy(dtype=object)}
    none = pd.Series(None, index=raw.index, dtype=object)
    if cfg.kind == "attendance":
        year, term = terms if terms is not None else attendance_keys(raw, cfg, colmap)
        event_date, valid_year, valid_term = _term_start(year, term)
        flags.add(year.notna() & ~valid_year, "academic_year_invalid_format")
        flags.add(term.notna() & ~valid_term, "term_invalid_format")
        flags.add(year.isna(), "academic_year_missing")
        flags.add(term.isna(), "term_missing")
        out.update(event_type="attendance_term", event_code=none, event_date=event_date, end_date=none,
                   academic_year=year, term=term)
        for field in ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence"):
            out[field] = _numbers(field_series(raw, cfg, colmap, field), field, flags, integer=True)
    else:
        code = text(field_series(raw, cfg, colmap, "event_type"))
        if cfg.event_type and "event_type" not in colmap:
            etype = pd.Series(cfg.event_type, index=raw.index, dtype=object)
        else:
            mapped = map_codes(code, cfg.code_maps.get("event_type", {}))
            lower = code.str.lower()
            fallback = lower.where(lower.isin(EVENT_TYPES))
            etype = mapped.where(mapped.notna() & (mapped != ""), fallback)
            flags.add(code.notna() & etype.isna(), "event_type_unrecognised")
            flags.add(code.isna(), "event_type_missing")
            etype = etype.fillna("other").astype(object)
        event_code = text(field_series(raw, cfg, colmap, "event_code")) if "event_code" in colmap else code
        event_date, date_missing = dates_field(raw, cfg, colmap, "event_date", flags)
        flags.add(date_missing, "event_date_missing")
        end_date, _ = dates_field(raw, cfg, colmap, "end_date", flags)
        out.update(event_type=etype, event_code=event_code, event_date=event_date, end_date=end_date,
                   academic_year=none, term=none)
        for field in ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence"):
            out[field] = pd.Series(pd.NA, index=raw.index, dtype="Int64")
    out["role"] = text(field_series(raw, cfg, colmap, "role"))
    out["detail"] = text(field_series(raw, cfg, colmap, "detail"))
    out["sessions"] = _numbers(field_series(raw, cfg, colmap, "sessions"), "sessions", flags, integer=False)
    out.update(quality_flags=flags.lists(), source_file=file_label, source_line=lines, run_id=run_id,
               row_digest=None)  # set by the extract (connectors.reuse)
    frame = pd.DataFrame({c: _col(out[c], n) for c in INTERACTION_COLUMNS}, copy=False)
    frame["source_line"] = frame["source_line"].astype("int64")
    return frame


def _col(value: object, n: int) -> object:
    if isinstance(value, pd.Series):
        return value.reset_index(drop=True) if value.dtype != object else value.to_numpy(dtype=object)
    return frame_values(value, n)
