"""Matching feature frame: one row per staged identity record, every field in the form the model compares.

``build_features(identity, reference_date)`` takes a frame with ``schemas.records.IDENTITY_COLUMNS`` and
returns ``FEATURE_COLUMNS``. Everything is computed once per distinct value (names, identifiers,
postcodes, addresses: ``matching.addresses``, all of a drop's distinct lines at once), with numpy for NHS
numbers and UPNs (nearly all distinct) and pandas for dates: about 15 s of CPU for 1M records.

Evidence rules:

* ``dob`` is NULL unless it is usable evidence: not flagged ``dob_in_future``, ``dob_before_1990``, ``dob_contradicts_age``,
  ``dod_before_dob``, ``dob_unparseable``, ``dob_expected``, ``dob_impossible``, and (re-checked here) not
  after ``reference_date``, not before ``dob_from`` (default ``schemas.rules.DOB_FROM_DEFAULT``) and not after the date of death.
* ``nhs_number`` / ``upn`` / ``former_upn`` are re-validated; invalid ones are NULL. Temporary UPNs are
  NULL in ``upn``/``former_upn`` and absent from ``upn_any`` (they are not stable identity).
* ``postcode_district`` / ``postcode_sector`` fall back to a partial raw postcode (``LS1``, ``LS1 4``).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from matching.addresses import standardise_addresses
from matching.dates import age_windows, dob_precision
from matching.names import (
    fold_text,
    is_placeholder_first_name,
    name_groups,
    normalise_first_name,
    normalise_name,
    phonetic,
    surname_parts,
)
from schemas.collector import collector_paused
from schemas.identifiers import (
    check_nhs_number,
    check_postcode,
    check_series,
    check_upn,
    is_missing,
    map_batch,
    map_distinct,
    partial_postcode_parts,
)
from schemas.rules import DOB_FROM_DEFAULT, DOB_TOO_EARLY_FLAG, NOT_EVIDENCE_DOB_FLAGS, PROVISIONAL_DOB_FLAGS

FEATURE_COLUMNS: tuple[str, ...] = (
    "unique_id", "source", "source_record_id",
    "first_name_std", "first_name_groups", "first_name_phonetic", "middle_names_std",
    "last_name_std", "last_name_parts", "last_name_phonetic", "other_surnames", "alt_first_names",
    "dob", "dob_year", "dob_month", "dob_day", "dob_str", "sex",
    "postcode", "postcode_sector", "postcode_district", "address_std", "house_number",
    "nhs_number", "upn", "former_upn", "upn_any", "ethnicity", "is_placeholder_first_name",
    "dob_precision", "postcode_token", "identifier_keys", "identifier_names", "town_std",
    "birth_earliest", "birth_latest",
)
# The staged identity columns ``build_features`` reads (a caller may load only these; absent ones count as NULL).
FEATURE_INPUT_COLUMNS: tuple[str, ...] = (
    "source", "source_record_id", "first_name", "middle_names", "last_name", "preferred_surname",
    "former_surname", "alternative_names", "dob", "dob_digits", "sex", "address_line", "postcode", "postcode_raw",
    "nhs_number", "upn", "former_upn", "identifiers", "date_of_death", "ethnicity", "quality_flags",
    "town", "age", "age_recorded_on",
)
LIST_COLUMNS = ("first_name_groups", "last_name_parts", "other_surnames", "alt_first_names", "upn_any",
                "identifier_keys", "identifier_names")

# A DOB flagged wrong or provisional is not evidence; the rule is stated once in ``schemas.rules``.
UNUSABLE_DOB_FLAGS = NOT_EVIDENCE_DOB_FLAGS
EARLIEST_DOB = DOB_FROM_DEFAULT

_NOT_LETTERS = re.compile(r"[^a-z]+")


@lru_cache(maxsize=100_000)
def _normalise_town(text: str) -> str | None:
    out = _NOT_LETTERS.sub(" ", fold_text(text.replace("'", ""))).strip()
    return out or None


def normalise_town(value: object) -> str | None:
    """Town or city in its compared form: lower case, accents folded, letters only (``St. Albans`` →
    ``st albans``); ``None`` when missing."""
    return None if is_missing(value) else _normalise_town(str(value))


def _col(identity: pd.DataFrame, name: str) -> pd.Series:
    """A staged column as Python values (None for missing); absent: all None."""
    if name in identity.columns:
        s = identity[name]
        if isinstance(s.dtype, pd.ArrowDtype):  # Arrow text (the match stage reads it so): None, not pd.NA
            return pd.Series(s.to_numpy(dtype=object, na_value=None), index=s.index, dtype=object)  # type: ignore[arg-type]
        return s
    return pd.Series(np.full(len(identity), None, dtype=object), index=identity.index)


def _text(identity: pd.DataFrame, name: str) -> pd.Series:
    """A text column for ``map_distinct`` as it is (Arrow text is factorized without a Python string per row)."""
    return identity[name] if name in identity.columns else _col(identity, name)


def _as_list(v: object) -> list:
    if isinstance(v, (list, tuple, np.ndarray)):
        return [x for x in v if isinstance(x, str)]
    return []


def _nonempty(values: pd.Series) -> np.ndarray:
    """Positions holding a non-empty list/array (list columns: alternative_names, quality_flags)."""
    return np.flatnonzero([isinstance(v, (list, tuple, np.ndarray)) and len(v) > 0 for v in values])


_NULL = np.array(None, dtype=object)  # "no value" as an array, for np.where (a bare None is not array-like)


def _object_array(items) -> np.ndarray:
    """Object ndarray of arbitrary items (lists stay lists: never broadcast into a 2-D array)."""
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


def _fresh_lists(values: np.ndarray) -> np.ndarray:
    """Copy of an object array of lists with one list object per row (map_distinct shares them)."""
    return _object_array([list(v) if isinstance(v, (list, tuple)) else [] for v in values])


@lru_cache(maxsize=200_000)
def _alt_name(alt: str) -> tuple[str | None, tuple[str, ...]]:
    """``(first name, surname parts)`` of one alternative (known-as) name; a single word is a first name."""
    norm = normalise_name(alt)
    if not norm:
        return None, ()
    words = norm.split(" ")
    return normalise_first_name(words[0]), tuple(surname_parts(words[-1])) if len(words) > 1 else ()


def _other_names(last_parts: np.ndarray, former: pd.Series, preferred: pd.Series, alternative: pd.Series):
    """``(other_surnames, alt_first_names)`` object arrays of lists: union of surname parts, known-as firsts.

    Only rows with a former/preferred surname or alternative names are merged in Python.
    """
    former_parts = map_distinct(former, surname_parts, missing=[])
    preferred_parts = map_distinct(preferred, surname_parts, missing=[])
    others = _fresh_lists(last_parts)
    alt_firsts = _object_array([[] for _ in range(len(last_parts))])
    has_alt = np.zeros(len(last_parts), dtype=bool)
    has_alt[_nonempty(alternative)] = True
    rows = np.flatnonzero(has_alt | former.notna().to_numpy() | preferred.notna().to_numpy())
    alt_values = alternative.to_numpy()
    for i in rows:
        surnames = {*last_parts[i], *former_parts[i], *preferred_parts[i]}
        firsts = set()
        for alt in _as_list(alt_values[i]) if has_alt[i] else ():
            first, parts = _alt_name(alt)
            if first:
                firsts.add(first)
            surnames.update(parts)
        others[i] = sorted(surnames)
        alt_firsts[i] = sorted(firsts)
    return others, alt_firsts


def _flag_masks(flags: pd.Series, dob_flags: frozenset[str] = UNUSABLE_DOB_FLAGS) -> tuple[np.ndarray, np.ndarray]:
    """``(dob unusable, first name placeholder)`` boolean masks from ``quality_flags``."""
    dob_bad = np.zeros(len(flags), dtype=bool)
    placeholder = np.zeros(len(flags), dtype=bool)
    values = flags.to_numpy()
    for i in _nonempty(flags):
        fs = set(_as_list(values[i]))
        dob_bad[i] = not dob_flags.isdisjoint(fs)
        placeholder[i] = "first_name_placeholder" in fs
    return dob_bad, placeholder


def _usable_dob(identity: pd.DataFrame, reference_date: dt.date, flagged: np.ndarray,
                dob_from: dt.date | None) -> pd.Series:
    dob = pd.to_datetime(_col(identity, "dob"), errors="coerce").reset_index(drop=True)
    dod = pd.to_datetime(_col(identity, "date_of_death"), errors="coerce").reset_index(drop=True)
    bad = (
        flagged
        | (dob > pd.Timestamp(reference_date)).to_numpy()
        | (dod.notna() & (dod < dob)).to_numpy()
    )
    if dob_from is not None:
        bad |= (dob < pd.Timestamp(dob_from)).to_numpy()
    return dob.where(~bad)


def _arr(values) -> np.ndarray:
    return values if isinstance(values, np.ndarray) else pd.Series(values).to_numpy(dtype=object)


def build_features(identity: pd.DataFrame, reference_date: dt.date,
                   dob_from: dt.date | None = DOB_FROM_DEFAULT) -> pd.DataFrame:
    """One feature row per identity record (same order, fresh RangeIndex), columns ``FEATURE_COLUMNS``.

    ``unique_id`` is ``source:source_record_id``. List columns (``LIST_COLUMNS``) hold one Python list per
    row (``VARCHAR[]`` in DuckDB), empty rather than NULL. ``dob`` holds ``datetime.date`` or ``None``;
    ``dob_year``/``dob_month``/``dob_day`` are nullable ``Int64``. ``dob_from`` is the earliest plausible
    DOB (``None``: any past date); a connector's "before the default floor" flag is then re-judged here.
    ``dob_precision`` says how much of the DOB is evidence (``matching.dates``): ``day``, or ``month`` /
    ``year`` where the record's source defaults unknown days to a placeholder.
    """
    with collector_paused():  # millions of row lists and strings, none in a reference cycle
        return _build_features(identity, reference_date, dob_from)


def _build_features(identity: pd.DataFrame, reference_date: dt.date, dob_from: dt.date | None) -> pd.DataFrame:
    n = len(identity)
    cols: dict[str, object] = {}
    source = _col(identity, "source").astype(str).to_numpy(dtype=object)
    record_id = _col(identity, "source_record_id").astype(str).to_numpy(dtype=object)
    cols["unique_id"] = source + ":" + record_id
    cols["source"], cols["source_record_id"] = source, record_id

    first_raw = _text(identity, "first_name")
    first_std = pd.Series(map_distinct(first_raw, normalise_first_name), dtype=object)
    cols["first_name_std"] = first_std.to_numpy()
    cols["first_name_groups"] = _fresh_lists(map_distinct(first_std, name_groups, missing=[]))
    cols["first_name_phonetic"] = map_distinct(first_std, phonetic)
    cols["middle_names_std"] = map_distinct(_text(identity, "middle_names"), normalise_name)
    last_std = pd.Series(map_distinct(_text(identity, "last_name"), normalise_name), dtype=object)
    last_parts = map_distinct(last_std, surname_parts, missing=[])
    cols["last_name_std"] = last_std.to_numpy()
    cols["last_name_parts"] = _fresh_lists(last_parts)
    cols["last_name_phonetic"] = map_distinct(last_std, phonetic)
    cols["other_surnames"], cols["alt_first_names"] = _other_names(
        last_parts, _col(identity, "former_surname"), _col(identity, "preferred_surname"),
        _col(identity, "alternative_names"),
    )

    dob_flags = UNUSABLE_DOB_FLAGS if dob_from == EARLIEST_DOB else UNUSABLE_DOB_FLAGS - {DOB_TOO_EARLY_FLAG}
    dob_flagged, placeholder_flagged = _flag_masks(_col(identity, "quality_flags"), dob_flags)
    dob = _usable_dob(identity, reference_date, dob_flagged, dob_from)
    ok = dob.notna().to_numpy()
    days = dob.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    cols["dob"] = np.where(ok, days.astype(object), _NULL)  # datetime.date objects
    cols["dob_year"] = dob.dt.year.astype("Int64").array
    cols["dob_month"] = dob.dt.month.astype("Int64").array
    cols["dob_day"] = dob.dt.day.astype("Int64").array
    # The DOB as typed, even when it cannot be a birth date (in the future, before the plausible range): a
    # typed 2094 beside a 2014 is one digit apart. The model compares it only at its "one digit different"
    # level; an unborn child's expected date is never compared.
    typed = pd.to_datetime(_col(identity, "dob"), errors="coerce").reset_index(drop=True)
    typed_ok = typed.notna().to_numpy() & ~_flag_masks(_col(identity, "quality_flags"), PROVISIONAL_DOB_FLAGS)[0]
    typed_days = typed.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    # a DOB no format reads (a day of 97) is compared the same way, by the digits typed (``dob_digits``)
    cols["dob_str"] = np.where(typed_ok, typed_days.astype(str).astype(object),
                               _col(identity, "dob_digits").to_numpy(dtype=object))
    cols["dob_precision"] = dob_precision(pd.Series(source), dob)
    cols["birth_earliest"], cols["birth_latest"] = age_windows(
        _col(identity, "age"), _col(identity, "age_recorded_on"), ~ok, dob_from)
    sex = _col(identity, "sex").to_numpy(dtype=object)
    cols["sex"] = np.where(np.isin(sex, ["M", "F"]), sex, _NULL)

    postcode = pd.Series(map_distinct(_text(identity, "postcode"), lambda v: check_postcode(v).value), dtype=object)
    given = _col(identity, "postcode_raw")
    raw_pc = pd.Series(given.to_numpy(dtype=object)).where(postcode.isna(), postcode)
    parts = map_distinct(raw_pc, partial_postcode_parts, missing={})
    cols["postcode"] = postcode.to_numpy()
    cols["postcode_token"] = _postcode_tokens(postcode, given)
    cols["postcode_sector"] = _arr([p.get("postcode_sector") for p in parts])
    cols["postcode_district"] = _arr([p.get("postcode_district") for p in parts])
    addr = map_batch(_text(identity, "address_line"), standardise_addresses, missing=(None, None))
    cols["address_std"] = _arr([a[0] for a in addr])
    cols["house_number"] = _arr([a[1] for a in addr])
    cols["town_std"] = map_distinct(_text(identity, "town"), normalise_town)

    cols["nhs_number"] = check_series(_col(identity, "nhs_number"), check_nhs_number)[0].to_numpy()
    upn, former_upn = _stable_upns(_col(identity, "upn")), _stable_upns(_col(identity, "former_upn"))
    cols["upn"], cols["former_upn"] = upn, former_upn
    upn_any = _object_array([[] for _ in range(n)])
    for i in np.flatnonzero(pd.notna(upn) | pd.notna(former_upn)):
        upn_any[i] = [u for u in dict.fromkeys((upn[i], former_upn[i])) if u is not None]
    cols["upn_any"] = upn_any
    ethnicity = _col(identity, "ethnicity").to_numpy(dtype=object)
    cols["ethnicity"] = np.where(pd.notna(ethnicity), ethnicity, _NULL)
    cols["is_placeholder_first_name"] = (
        map_distinct(first_raw, is_placeholder_first_name, missing=False).astype(bool) | placeholder_flagged
    )
    cols["identifier_keys"], cols["identifier_names"] = _identifier_lists(_col(identity, "identifiers"))
    return pd.DataFrame({c: cols[c] for c in FEATURE_COLUMNS}, copy=False)  # fresh arrays: no 2-D block copy


def _postcode_token(raw: object) -> str | None:
    """A raw postcode that is not a UK postcode as an address token: upper case, letters and digits only."""
    if not isinstance(raw, str):
        return None
    token = _NON_ALNUM_UPPER.sub("", raw.upper())
    return token or None


_NON_ALNUM_UPPER = re.compile(r"[^A-Z0-9]+")


def _postcode_tokens(postcode: pd.Series, raw: pd.Series) -> np.ndarray:
    """The valid UK postcode without its space, else the normalised raw value (a non-UK postcode still counts
    as address evidence; ``postcode`` itself stays NULL, as the warehouse contract says)."""
    raw_tok = map_distinct(pd.Series(raw.to_numpy(dtype=object)), _postcode_token)
    uk = postcode.to_numpy(dtype=object)
    return _object_array([u.replace(" ", "") if isinstance(u, str) else r for u, r in zip(uk, raw_tok, strict=True)])


def _identifier_lists(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(identifier_keys, identifier_names)``: ``NAME=VALUE`` strings as staged, and their names."""
    keys = _object_array([[] for _ in range(len(values))])
    names = _object_array([[] for _ in range(len(values))])
    arr = values.to_numpy(dtype=object)
    for i in _nonempty(values):
        items = sorted({x.strip() for x in _as_list(arr[i]) if "=" in x and x.split("=", 1)[1].strip()})
        keys[i] = items
        names[i] = sorted({x.split("=", 1)[0] for x in items})
    return keys, names


def _stable_upns(series: pd.Series) -> np.ndarray:
    """Valid, permanent UPNs; invalid and temporary ones are NULL."""
    values, flags = check_series(series, check_upn)
    return values.where(flags.isna(), None).to_numpy(dtype=object)
