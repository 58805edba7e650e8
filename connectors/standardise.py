"""Raw source rows -> canonical identity frames (vectorised; per-distinct-value caching), and the field access,
flags and value cleaning that ``connectors.interactions`` shares.

Input is a raw frame of the file's own columns (``str``/``None``) and a ``FileConfig`` saying which source
column feeds which canonical field. Output frames carry exactly ``IDENTITY_COLUMNS`` in order. Nothing here logs values: only counts leave this module.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import partial

import numpy as np
import pandas as pd
from ftfy import fix_encoding

from connectors.dates import blank_to_none, factorize, map_distinct, parse_dates_repaired, typed_digits
from connectors.names import split_names
from schemas.collector import collector_paused
from schemas.config import FileConfig
from schemas.identifiers import (
    check_nhs_number,
    check_pnc_id,
    check_postcode,
    check_series,
    check_upn,
)
from schemas.records import (
    IDENTITY_COLUMNS,
    IDENTITY_TEXT_FIELDS,
    identifier_entry,
)
from schemas.rules import (
    AGE_TOLERANCE_YEARS,
    DOB_CONTRADICTS_AGE_FLAG,
    DOB_FROM_DEFAULT,
    DOB_TOO_EARLY_FLAG,
    MISSING_TOKENS,
    is_placeholder_first_name,
)

DEFAULT_SEX_MAP = {"M": "M", "F": "F", "MALE": "M", "FEMALE": "F"}
BOOL_MAP = {"TRUE": True, "T": True, "YES": True, "Y": True, "1": True,
            "FALSE": False, "F": False, "NO": False, "N": False, "0": False}
_SPACES = re.compile(r"\s+")


class Flags:
    """Collects quality-flag codes per row; ``lists()`` gives one Python list per row."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, mask, code: str) -> None:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx):
            self._parts.append((idx, np.full(len(idx), code, dtype=object)))

    def add_codes(self, codes: pd.Series) -> None:
        values = codes.to_numpy(dtype=object)
        idx = np.flatnonzero(pd.notna(values))
        if len(idx):
            self._parts.append((idx, values[idx]))

    def lists(self) -> list[list[str]]:
        with collector_paused():
            out: list[list[str]] = [[] for _ in range(self.n)]
            for idx, codes in self._parts:
                for i, code in zip(idx.tolist(), codes.tolist(), strict=True):
                    out[i].append(code)
        return out


def _text(value: object) -> str | None:
    clean = str(value)
    if not clean.isascii():  # "ZoÃ©": UTF-8 bytes read as Windows-1252 somewhere upstream, put back as "Zoé"
        clean = fix_encoding(clean)  # before stripping: "à" so mangled ends in a no-break space
    clean = clean.strip()
    return None if clean.upper() in MISSING_TOKENS else _SPACES.sub(" ", clean)


def text(series: pd.Series) -> pd.Series:
    """Blank tokens -> None, whitespace collapsed, text mangled by a wrong encoding upstream repaired."""
    return map_distinct(series, _text)


def field_series(raw: pd.DataFrame, cfg: FileConfig, colmap: dict[str, str], field: str) -> pd.Series:
    """The raw text feeding ``field``: a constant, a concatenation, a mapped column, or all None."""
    n = len(raw)
    if field in cfg.constants:
        return pd.Series([cfg.constants[field]] * n, index=raw.index, dtype=object)
    if field in cfg.concat:
        parts = [text(raw[colmap["col:" + c]]) for c in cfg.concat[field] if "col:" + c in colmap]
        if not parts:
            return pd.Series(None, index=raw.index, dtype=object)
        acc = parts[0].fillna("")
        for part in parts[1:]:
            pv = part.fillna("")
            acc = acc + np.where((acc != "") & (pv != ""), ", ", "") + pv
        return acc.where(acc != "", None).astype(object)
    col = colmap.get(field)
    if col is None:
        return pd.Series(None, index=raw.index, dtype=object)
    series = raw[col]  # not copied, so shared_factorize recognises the column: callers never change it in place
    return series if series.dtype == object else series.astype(object)


def map_codes(clean: pd.Series, mapping: Mapping[str, object]) -> pd.Series:
    """Case-insensitive code lookup (object Series); unmapped values and nulls are NaN, '' maps to None."""
    upper = {str(k).strip().upper(): v for k, v in mapping.items()}
    codes, uniques = factorize(clean.to_numpy(dtype=object))
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [upper.get(u.upper(), np.nan) if isinstance(u, str) else np.nan for u in uniques]
    mapped[-1] = np.nan
    return pd.Series(mapped[codes], index=clean.index, dtype=object)


def _stripped_text(value: object) -> object:
    if isinstance(value, str):
        return value.strip() or None
    return np.nan


def stripped(raw: pd.Series) -> pd.Series:
    """Surrounding whitespace removed; blank text and nulls become None (non-text values NaN)."""
    return map_distinct(raw, _stripped_text)


def harmonise_sex(raw: pd.Series, mapping: dict[str, str] | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(sex M/F/None, sex_raw, unrecognised mask) from a source's own codes."""
    clean = blank_to_none(raw)
    mapped = map_codes(clean, mapping or DEFAULT_SEX_MAP)
    sex = mapped.where(mapped.isin(["M", "F"]), None).astype(object)
    unrecognised = clean.notna() & mapped.isna()
    return sex, stripped(raw), unrecognised


def _identifier(raw: pd.Series, check) -> tuple[pd.Series, pd.Series, pd.Series]:
    raw_clean = stripped(raw)
    values, flags = check_series(raw_clean, check)
    return values.astype(object), flags.astype(object), raw_clean


def _split_list(series: pd.Series, sep: str) -> list[list[str]]:
    clean = blank_to_none(series)
    cache: dict[str, list[str]] = {}
    out: list[list[str]] = []
    for v in clean.tolist():
        if v is None:
            out.append([])
            continue
        if v not in cache:
            parts = blank_to_none(pd.Series(v.split(sep), dtype=object))
            cache[v] = [_SPACES.sub(" ", p) for p in parts if p is not None]
        out.append(list(cache[v]))
    return out


IDENTIFIER_KEY = "id:"  # colmap key prefix of a named identifier's column (``id:<name>``)


def identifier_lists(raw: pd.DataFrame, cfg: FileConfig, colmap: dict[str, str]) -> list[list[str]]:
    """Per row, the ``NAME=VALUE`` entries of the identifiers mapped under ``identifiers:`` (in the order
    mapped; a missing value, or a column absent from the file, is left out)."""
    columns = []
    for name in cfg.identifiers:
        col = colmap.get(IDENTIFIER_KEY + name)
        if col is not None:
            columns.append(map_distinct(raw[col], lambda v, name=name: (
                None if (clean := _text(v)) is None else identifier_entry(name, clean))).to_numpy(dtype=object))
    with collector_paused():
        if not columns:
            return [[] for _ in range(len(raw))]
        return [[v for v in row if v is not None] for row in zip(*columns, strict=True)]


def dates_field(raw, cfg, colmap, field, flags: Flags) -> tuple[pd.Series, pd.Series]:
    series = field_series(raw, cfg, colmap, field)
    dates, missing, unparseable, repaired = parse_dates_repaired(series, cfg.date_formats)
    flags.add(unparseable, f"{field}_unparseable")
    flags.add(repaired, f"{field}_repaired")
    return dates, missing


_AGE = re.compile(r"(\d{1,3})(?:\.0+)?(?:\s*(?:y|yr|yrs|year|years)(?:\s*old)?)?", re.IGNORECASE)
MAX_AGE = 120


def parse_age(value: object) -> int | None:
    """Whole years from an age as sources write it (``12``, ``12.0``, ``12 yrs``); None when it is not one."""
    clean = _text(value)
    m = _AGE.fullmatch(clean) if clean else None
    return int(m.group(1)) if m else None


def age_fields(raw, cfg, colmap, flags: Flags, reference_date: dt.date) -> tuple[pd.Series, pd.Series]:
    """``(age, age_recorded_on)``: the age in whole years (flagged ``age_invalid_format`` when given but not an
    age, ``age_implausible`` over ``MAX_AGE``) and the date it was true on: the mapped column (or constant),
    else ``reference_date`` (the drop date). Both None where there is no usable age."""
    given = text(field_series(raw, cfg, colmap, "age"))
    age = map_distinct(given, parse_age)
    flags.add(given.notna() & age.isna(), "age_invalid_format")
    implausible = age.notna() & (age.where(age.notna(), 0) > MAX_AGE)
    flags.add(implausible, "age_implausible")
    age = age.where(age.notna() & ~implausible, None).astype(object)
    on, _ = dates_field(raw, cfg, colmap, "age_recorded_on", flags)
    later = on.notna() & (on.where(on.notna(), dt.date.min) > reference_date)
    flags.add(later, "age_recorded_on_in_future")
    on = on.where(on.notna(), reference_date).where(age.notna() & ~later, None).astype(object)
    return age.where(on.notna(), None).astype(object), on


def dob_contradicts_age(dob: pd.Series, age: pd.Series, on: pd.Series) -> np.ndarray:
    """Where a record gives both, its DOB and its age (in whole years on ``on``) more than
    ``AGE_TOLERANCE_YEARS`` apart: a 1972 DOB beside an age of 16 in 2020."""
    d, a, o = dob.to_numpy(dtype=object), age.to_numpy(dtype=object), on.to_numpy(dtype=object)
    out = np.zeros(len(d), dtype=bool)
    at = np.flatnonzero(pd.notna(d) & pd.notna(a) & pd.notna(o))
    if not len(at):
        return out
    (by, bm, bd), (oy, om, od) = _year_month_day(d[at]), _year_month_day(o[at])
    years = oy - by - ((om < bm) | ((om == bm) & (od < bd)))
    out[at] = np.abs(years - a[at].astype(np.int64)) > AGE_TOLERANCE_YEARS
    return out


def _year_month_day(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day arrays of ``datetime.date`` values (any year: numpy's day precision, not pandas')."""
    days = np.asarray(dates.tolist(), dtype="datetime64[D]")
    years, months = days.astype("datetime64[Y]"), days.astype("datetime64[M]")
    return (years.astype(np.int64) + 1970, (months - years).astype(np.int64) + 1,
            (days - months).astype(np.int64) + 1)


def standardise_identity(raw: pd.DataFrame, cfg: FileConfig, colmap: dict[str, str], *, source: str,
                         record_ids: pd.Series, lines: np.ndarray, file_label: str, run_id: str | None,
                         reference_date: dt.date, dob_from: dt.date = DOB_FROM_DEFAULT) -> pd.DataFrame:
    """Canonical identity frame (``IDENTITY_COLUMNS``) for rows whose record id is already validated.

    A DOB before ``dob_from`` (the earliest plausible DOB) is flagged ``DOB_TOO_EARLY_FLAG``."""
    n = len(raw)
    flags = Flags(n)
    out: dict[str, object] = {"source": source, "source_record_id": record_ids.to_numpy(dtype=object)}
    for field in IDENTITY_TEXT_FIELDS:
        series = text(field_series(raw, cfg, colmap, field))
        if field in cfg.code_maps:
            mapped = map_codes(series, cfg.code_maps[field])
            series = mapped.where(mapped.notna(), series).replace("", None).astype(object)
        out[field] = series.to_numpy(dtype=object)
    full = text(field_series(raw, cfg, colmap, "full_name")).to_numpy(dtype=object) if "full_name" in colmap else None
    by_comma, by_whole = split_names(out, full)
    flags.add(by_comma, "name_split_at_comma")
    flags.add(by_whole, "name_split_from_full_name")
    for field in ("first_name", "last_name"):
        flags.add(pd.isna(np.asarray(out[field])), f"{field}_missing")
    placeholder = map_distinct(pd.Series(out["first_name"], dtype=object), is_placeholder_first_name)
    flags.add(placeholder.to_numpy(dtype=object) == True, "first_name_placeholder")  # noqa: E712
    sep = cfg.split.get("alternative_names")
    alt = field_series(raw, cfg, colmap, "alternative_names")
    with collector_paused():
        out["alternative_names"] = _split_list(alt, sep) if sep else [[] if v is None else [v] for v in text(alt)]

    dob, dob_missing = dates_field(raw, cfg, colmap, "dob", flags)
    dob_raw = text(field_series(raw, cfg, colmap, "dob"))
    flags.add(dob_missing, "dob_missing")
    # an unreadable DOB (a day of 97, a 31 February) keeps its digits as typed, in the file's layout
    unread = pd.Series(dob_raw.where(dob.isna() & ~dob_missing.astype(bool), None), dtype=object)
    dob_digits = map_distinct(unread, partial(typed_digits, formats=tuple(cfg.date_formats)))
    has_dob = dob.notna()
    future = has_dob & (dob.where(has_dob, dt.date.min) > reference_date)
    early = has_dob & (dob.where(has_dob, dt.date.max) < dob_from)
    if cfg.future_dob == "expected":
        flags.add(future, "dob_expected")
    else:
        flags.add(future, "dob_in_future")
    flags.add(early, DOB_TOO_EARLY_FLAG)
    age, age_on = age_fields(raw, cfg, colmap, flags, reference_date)
    flags.add(dob_contradicts_age(dob, age, age_on), DOB_CONTRADICTS_AGE_FLAG)
    dod, _ = dates_field(raw, cfg, colmap, "date_of_death", flags)
    has_dod = dod.notna()
    dod_bad = has_dob & has_dod & (dod.where(has_dod, dt.date.max) < dob.where(has_dob, dt.date.min))
    flags.add(dod_bad, "dod_before_dob")
    flags.add(has_dod & (dod.where(has_dod, dt.date.min) > reference_date), "date_of_death_in_future")
    impossible = (future if cfg.future_dob != "expected" else False) | early | dod_bad
    flags.add(impossible, "dob_impossible")

    sex, sex_raw, sex_bad = harmonise_sex(field_series(raw, cfg, colmap, "sex"), cfg.code_maps.get("sex"))
    flags.add(sex_bad, "sex_invalid_format")

    postcode, pc_flags, pc_raw = _identifier(field_series(raw, cfg, colmap, "postcode"), check_postcode)
    flags.add_codes(pc_flags)
    nhs, nhs_flags, nhs_raw = _identifier(field_series(raw, cfg, colmap, "nhs_number"), check_nhs_number)
    flags.add_codes(nhs_flags)
    upn, upn_flags, upn_raw = _identifier(field_series(raw, cfg, colmap, "upn"), check_upn)
    flags.add_codes(upn_flags)
    fupn, fupn_flags, _ = _identifier(field_series(raw, cfg, colmap, "former_upn"),
                                      partial(check_upn, field="former_upn"))
    flags.add_codes(fupn_flags)
    pnc, pnc_flags, pnc_raw = _identifier(field_series(raw, cfg, colmap, "pnc_id"), check_pnc_id)
    flags.add_codes(pnc_flags)

    fsm_text = blank_to_none(field_series(raw, cfg, colmap, "fsm_eligible"))
    fsm = map_codes(fsm_text, BOOL_MAP)
    flags.add(fsm_text.notna() & fsm.isna(), "fsm_eligible_invalid_format")
    start, _ = dates_field(raw, cfg, colmap, "start_date", flags)
    end, _ = dates_field(raw, cfg, colmap, "end_date", flags)

    out.update({
        "dob": dob, "dob_raw": dob_raw, "dob_digits": dob_digits, "age": age, "age_recorded_on": age_on, "sex": sex, "sex_raw": sex_raw, "postcode": postcode,
        "postcode_raw": pc_raw, "nhs_number": nhs, "nhs_number_raw": nhs_raw, "upn": upn, "upn_raw": upn_raw,
        "former_upn": fupn, "pnc_id": pnc, "pnc_id_raw": pnc_raw,
        "identifiers": identifier_lists(raw, cfg, colmap), "date_of_death": dod,
        "fsm_eligible": fsm.astype(object).where(fsm.notna(), None), "start_date": start, "end_date": end,
        "quality_flags": flags.lists(), "source_file": file_label, "source_line": lines, "run_id": run_id,
        "row_digest": None,  # set by the extract (connectors.reuse)
    })
    frame = pd.DataFrame({c: frame_values(out[c], n) for c in IDENTITY_COLUMNS}, copy=False)
    frame["source_line"] = frame["source_line"].astype("int64")
    return frame


def frame_values(value, n: int):
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=object)
    if value is None or isinstance(value, str):
        return np.full(n, value, dtype=object)
    return value
