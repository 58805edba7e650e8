"""UK identifier types: NHS number, UPN, PNC id and postcode.

Each ``check_*`` function takes one raw value and returns ``IdCheck(value, flag)``: ``value`` is the
normalised identifier or ``None``; ``flag`` is a quality-flag code naming why the raw value was not
(fully) usable, ``None`` when it was usable or simply missing. Validation is done by python-stdnum where
it has the algorithm (NHS number, UPN); PNC id and postcode are checked here. ``check_series`` applies a
check to a pandas Series once per distinct value, so 1M rows cost one call per distinct value.

Decisions:

* **Placeholder NHS numbers.** ``0000000000``, ``1111111111`` ... ``9999999999`` all pass modulus 11
  (55 x d is a multiple of 11) but are well-known filler values, so they are ``nhs_number_invalid_format``.
* **Temporary UPNs** (a letter in the last position, issued while the permanent UPN is awaited) are valid
  and kept in ``upn`` but flagged ``upn_temporary`` (``former_upn_temporary`` for the former UPN). They
  are not stable across schools, so matching must not use them as deterministic evidence: use
  ``is_temporary_upn()``.
* **PNC id** is normalised to ``YY/NNNNNNNL``. ``YYYY/NNNNNNNL`` and a serial shorter than 7 digits are
  accepted (the check character only uses the last two year digits and the zero-padded serial); without
  a slash the serial must be the full 7 digits so the split is unambiguous.
* **Postcodes** are normalised to ``OUTWARD INWARD`` with one space and validated against the Royal Mail
  pattern (letters excluded per position, ``GIR 0AA`` allowed). An outward code alone, or outward code
  plus sector digit, is ``postcode_partial``: ``value`` is ``None`` but ``partial_postcode_parts()``
  still yields the district (and sector) for blocking.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
from stdnum import exceptions as stdnum_exc
from stdnum.gb import nhs as _nhs
from stdnum.gb import upn as _upn

from schemas.rules import MISSING_TOKENS

_PUNCT = re.compile(r"[\s\-./_,:;()\[\]]+")


class IdCheck(NamedTuple):
    value: str | None
    flag: str | None


_MISSING = IdCheck(None, None)


def is_missing(raw: object) -> bool:
    """True for None, NaN/NaT/pd.NA, blank strings and the missing tokens (``NULL``, ``N/A``, ``Unknown``...)."""
    if isinstance(raw, str):
        return len(raw) < 16 and raw.strip().upper() in MISSING_TOKENS
    if raw is None or raw is pd.NA or raw is pd.NaT:
        return True
    if isinstance(raw, (float, np.floating)) and raw != raw:  # NaN
        return True
    if isinstance(raw, (np.datetime64, np.timedelta64)) and np.isnat(raw):
        return True
    return str(raw).strip().upper() in MISSING_TOKENS


def _as_text(raw: object) -> str:
    """Raw value as text; integral floats from spreadsheets lose their ``.0``."""
    if isinstance(raw, (float, np.floating)) and float(raw).is_integer():
        return str(int(raw))
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return str(raw)


def _flag_for(field: str, err: Exception) -> str:
    if isinstance(err, stdnum_exc.InvalidChecksum):
        return f"{field}_invalid_check_digit"
    return f"{field}_invalid_format"


# --------------------------------------------------------------------------------------------- NHS number
def check_nhs_number(raw: object) -> IdCheck:
    """NHS number: 10 digits with a modulus-11 check digit, spaces and punctuation ignored.

    A number given as an int (spreadsheet cell) with fewer than 10 digits is zero-padded (Scottish CHI
    numbers start with 0). Repeated-digit filler values are ``nhs_number_invalid_format``.
    """
    if is_missing(raw):
        return _MISSING
    if isinstance(raw, str) and len(raw) == 10 and raw.isdigit() and raw.isascii():
        compact = raw  # fast path: already normalised
    else:
        compact = _PUNCT.sub("", _as_text(raw))
        if isinstance(raw, (int, np.integer, float, np.floating)) and compact.isdigit() and len(compact) < 10:
            compact = compact.zfill(10)
    if not (compact.isdigit() and compact.isascii()):
        return IdCheck(None, "nhs_number_invalid_format")
    if len(compact) != 10 or len(set(compact)) == 1:
        return IdCheck(None, "nhs_number_invalid_format")
    if _nhs.checksum(compact) != 0:  # stdnum's modulus-11 (weights 10..2, check digit weight 1)
        return IdCheck(None, "nhs_number_invalid_check_digit")
    return IdCheck(compact, None)


# -------------------------------------------------------------------------------------------------- UPN
def is_temporary_upn(upn: object) -> bool:
    """True when a (normalised) UPN is a temporary one: its 13th character is a letter."""
    return isinstance(upn, str) and len(upn) == 13 and upn[-1].isalpha()


def check_upn(raw: object, field: str = "upn") -> IdCheck:
    """UPN: check letter, LA number, establishment, year, serial (DfE algorithm via stdnum).

    A valid temporary UPN is returned as ``value`` with flag ``<field>_temporary``.
    """
    if is_missing(raw):
        return _MISSING
    compact = _PUNCT.sub("", _as_text(raw)).upper()
    try:
        value = _upn.validate(compact)
    except stdnum_exc.ValidationError as err:
        return IdCheck(None, _flag_for(field, err))
    if is_temporary_upn(value):
        return IdCheck(value, f"{field}_temporary")
    return IdCheck(value, None)


# ---------------------------------------------------------------------------------------------- PNC id
_PNC_SLASH = re.compile(r"^(\d{2}|19\d{2}|20\d{2})/(\d{1,7})([A-Z])$")
_PNC_PLAIN = re.compile(r"^(\d{2}|19\d{2}|20\d{2})(\d{7})([A-Z])$")
PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"  # index = (YY * 10^7 + serial) mod 23; I, O, S unused


def pnc_check_letter(yy: str, serial: str) -> str:
    """Check character of a PNC id from the 2-digit year and the serial (zero-padded to 7 digits)."""
    return PNC_CHECK_LETTERS[int(yy[-2:] + serial.zfill(7)) % 23]


def check_pnc_id(raw: object) -> IdCheck:
    """PNC id ``YY/NNNNNNNL``: the check letter is (YY followed by the 7-digit serial) mod 23."""
    if is_missing(raw):
        return _MISSING
    compact = re.sub(r"[\s\-_.]+", "", _as_text(raw)).upper()
    m = _PNC_SLASH.match(compact) or _PNC_PLAIN.match(compact)
    if not m:
        return IdCheck(None, "pnc_id_invalid_format")
    yy, serial, letter = m.group(1)[-2:], m.group(2).zfill(7), m.group(3)
    if pnc_check_letter(yy, serial) != letter:
        return IdCheck(None, "pnc_id_invalid_check_digit")
    return IdCheck(f"{yy}/{serial}{letter}", None)


# -------------------------------------------------------------------------------------------- postcode
_A1 = "[A-PR-UWYZ]"  # first letter: not Q, V, X
_A2 = "[A-HK-Y]"  # second letter: not I, J, Z
_A3 = "[A-HJKPSTUW]"  # third position letter in A9A
_A4 = "[ABEHMNPRVWXY]"  # fourth position letter in AA9A
_OUTWARD_RE = rf"(?:{_A1}[0-9][0-9]?|{_A1}{_A2}[0-9][0-9]?|{_A1}[0-9]{_A3}|{_A1}{_A2}[0-9]{_A4})"
_INWARD_RE = "[0-9][ABD-HJLNP-UW-Z]{2}"  # inward letters: not C, I, K, M, O, V
_POSTCODE = re.compile(rf"^({_OUTWARD_RE})({_INWARD_RE})$")
_OUTWARD = re.compile(rf"^({_OUTWARD_RE})$")
_OUTWARD_SECTOR = re.compile(rf"^({_OUTWARD_RE}) ?([0-9])$")


def _postcode_compact(raw: object) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", _as_text(raw)).upper()


def check_postcode(raw: object) -> IdCheck:
    """Normalise to upper case with one space (``SW1A 1AA``). An outward code alone is ``postcode_partial``.

    Idempotent: ``check_postcode(check_postcode(x).value) == check_postcode(x)`` for every valid ``x``.
    """
    if is_missing(raw):
        return _MISSING
    compact = _postcode_compact(raw)
    if compact == "GIR0AA":
        return IdCheck("GIR 0AA", None)
    m = _POSTCODE.match(compact)
    if m:
        return IdCheck(f"{m.group(1)} {m.group(2)}", None)
    spaced = re.sub(r"\s+", " ", _as_text(raw).strip().upper())
    if _OUTWARD.match(compact) or _OUTWARD_SECTOR.match(spaced):
        return IdCheck(None, "postcode_partial")
    return IdCheck(None, "postcode_invalid_format")


_NO_PARTS: dict[str, str | None] = {"postcode_area": None, "postcode_district": None, "postcode_sector": None}


def postcode_parts(postcode: str | None) -> dict[str, str | None]:
    """Area (``SW``), district (``SW1A``) and sector (``SW1A 1``) of a normalised postcode."""
    if not isinstance(postcode, str) or " " not in postcode:
        return dict(_NO_PARTS)
    outward, inward = postcode.split(" ", 1)
    area = re.match(r"^[A-Z]+", outward)
    return {
        "postcode_area": area.group(0) if area else None,
        "postcode_district": outward,
        "postcode_sector": f"{outward} {inward[0]}" if inward else None,
    }


def partial_postcode_parts(raw: object) -> dict[str, str | None]:
    """Parts recoverable from a raw postcode, full or partial (``SW1A`` → district; ``SW1A 1`` → sector)."""
    if is_missing(raw):
        return dict(_NO_PARTS)
    full = check_postcode(raw)
    if full.value:
        return postcode_parts(full.value)
    spaced = re.sub(r"\s+", " ", _as_text(raw).strip().upper())
    compact = _postcode_compact(raw)
    m = _OUTWARD_SECTOR.match(spaced)
    if _OUTWARD.match(compact) and (" " not in spaced or not m):  # LS14 is the district, LS1 4 a sector
        outward, sector = compact, None
    elif m:
        outward, sector = m.group(1), f"{m.group(1)} {m.group(2)}"
    else:
        return dict(_NO_PARTS)
    letters = re.match(r"^[A-Z]+", outward)
    assert letters is not None, "both outward patterns start with a letter"
    area = letters.group(0)
    return {"postcode_area": area, "postcode_district": outward, "postcode_sector": sector}


# ---------------------------------------------------------------------------------------- vectorised
def factorize_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` of ``series``: missing values (None, NaN, pd.NA, NaT) get code -1.

    Unhashable entries (lists) are factorized through their string form.
    """
    if isinstance(series, pd.Series) and isinstance(series.dtype, pd.ArrowDtype) \
            and pa.types.is_string(series.dtype.pyarrow_dtype):  # factorized by Arrow: no Python string per row
        codes, arrow_uniques = pd.factorize(series, use_na_sentinel=True)
        return np.asarray(codes), np.asarray(arrow_uniques.to_numpy(dtype=object), dtype=object)
    obj = pd.Series(series, copy=False).astype(object)
    try:
        codes, uniques = pd.factorize(obj, use_na_sentinel=True)
    except TypeError:
        as_text = obj.map(lambda v: v if v is None or pd.api.types.is_scalar(v) else str(v))
        codes, uniques = pd.factorize(as_text, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def map_distinct(series: pd.Series, func: Callable[[object], object], missing: object = None) -> np.ndarray:
    """Apply ``func`` once per distinct non-missing value of ``series``; missing values get ``missing``
    without calling ``func``. Returns an object ndarray aligned with ``series``."""
    return map_batch(series, lambda uniques: [func(value) for value in uniques], missing)


def map_batch(series: pd.Series, func: Callable[[Sequence[Any]], Sequence[object]],
              missing: object = None) -> np.ndarray:
    """``map_distinct`` for a ``func`` that takes every distinct non-missing value at once (a list) and returns
    their results in order."""
    codes, uniques = factorize_values(series)
    mapped = func(uniques.tolist())
    if len(mapped) != len(uniques):
        raise ValueError(f"a batch function gave {len(mapped)} results for {len(uniques)} values")
    results = np.empty(len(uniques) + 1, dtype=object)
    for i, result in enumerate(mapped):  # one by one: a tuple result stays one object
        results[i] = result
    results[-1] = missing  # code -1 indexes the last slot
    return results[codes]


_NHS_WEIGHTS = np.arange(10, 0, -1, dtype=np.int64)
_NULL = np.array(None, dtype=object)  # "no value" as an array, for np.where (a bare None is not array-like)


def _check_nhs_vectorised(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """NHS numbers in bulk: compact 10-digit strings are checked with numpy (same modulus 11 as stdnum), the
    rest (spaced, numeric, malformed) through ``check_nhs_number`` once per distinct value."""
    obj = pd.Series(series, copy=False).astype(object)
    is_str = np.array([type(v) is str for v in obj.to_numpy()], dtype=bool)
    compact = np.zeros(len(obj), dtype=bool)
    if is_str.any():
        compact[is_str] = obj[is_str].str.fullmatch(r"[0-9]{10}").to_numpy(dtype=bool)
    values = np.full(len(obj), None, dtype=object)
    flags = np.full(len(obj), None, dtype=object)
    if compact.any():
        strings = obj.to_numpy()[compact]
        digits = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(-1, 10) - 48
        ok = (digits.astype(np.int64) @ _NHS_WEIGHTS) % 11 == 0
        ok &= (digits != digits[:, :1]).any(axis=1)  # repeated-digit filler
        bad_format = (digits == digits[:, :1]).all(axis=1)
        values[compact] = np.where(ok, strings, _NULL)
        flags[compact] = np.where(ok, _NULL, np.where(bad_format, "nhs_number_invalid_format",
                                                     "nhs_number_invalid_check_digit"))
    rest = ~compact
    if rest.any():
        v, f = check_series(obj[rest], check_nhs_number, _vectorise=False)
        values[rest], flags[rest] = v.to_numpy(), f.to_numpy()
    return pd.Series(values, index=series.index, dtype=object), pd.Series(flags, index=series.index, dtype=object)


_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"  # stdnum.gb.upn's alphabet (value = index mod 23)
_UPN_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(_UPN_ALPHABET):
    _UPN_VALUE[ord(_c)] = _i
_UPN_LETTERS = np.array(list(_UPN_ALPHABET[:23]), dtype=object)
_UPN_LA = np.array(sorted(_upn._la_numbers), dtype=np.int64)  # noqa: SLF001 - stdnum's LA list
_UPN_WEIGHTS = np.arange(2, 14, dtype=np.int64)


def _check_upn_vectorised(series: pd.Series, field: str) -> tuple[pd.Series, pd.Series]:
    """UPNs in bulk: compact upper-case 13-character strings are checked with numpy (same check letter, LA
    list and temporary rule as ``check_upn``); the rest through ``check_upn`` once per distinct value."""
    obj = pd.Series(series, copy=False).astype(object)
    is_str = np.array([type(v) is str for v in obj.to_numpy()], dtype=bool)
    compact = np.zeros(len(obj), dtype=bool)
    if is_str.any():
        compact[is_str] = obj[is_str].str.fullmatch(r"[A-Z][0-9]{11}[A-Z0-9]").to_numpy(dtype=bool)
    values = np.full(len(obj), None, dtype=object)
    flags = np.full(len(obj), None, dtype=object)
    if compact.any():
        strings = obj.to_numpy()[compact]
        chars = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(-1, 13)
        codes = _UPN_VALUE[chars]
        known_chars = codes[:, 12] >= 0  # a first letter outside the alphabet is a checksum failure (stdnum)
        la = (chars[:, 1:4].astype(np.int64) - 48) @ np.array([100, 10, 1])
        la_ok = np.isin(la, _UPN_LA)
        check_ok = _UPN_LETTERS[(codes[:, 1:] @ _UPN_WEIGHTS) % 23] == np.asarray(
            [chr(c) for c in chars[:, 0]], dtype=object
        )
        ok = known_chars & la_ok & check_ok
        temporary = chars[:, 12] >= ord("A")
        values[compact] = np.where(ok, strings, _NULL)
        flags[compact] = np.where(
            ok,
            np.where(temporary, f"{field}_temporary", _NULL),
            np.where(known_chars & la_ok, f"{field}_invalid_check_digit", f"{field}_invalid_format"),
        )
    rest = ~compact
    if rest.any():
        v, f = check_series(obj[rest], partial(check_upn, field=field), _vectorise=False)
        values[rest], flags[rest] = v.to_numpy(), f.to_numpy()
    return pd.Series(values, index=series.index, dtype=object), pd.Series(flags, index=series.index, dtype=object)


def check_series(
    series: pd.Series, check: Callable[[object], IdCheck], _vectorise: bool = True
) -> tuple[pd.Series, pd.Series]:
    """Apply ``check`` to every value of ``series`` (one call per distinct value).

    Handles None, NaN, pd.NA and mixed types. Returns ``(values, flags)``: two object Series aligned with
    the input (same index), holding ``None`` rather than NaN where empty. NHS numbers and UPNs (``check_upn`` or
    ``partial(check_upn, field=...)``), nearly all distinct, take a vectorised path with identical results.
    """
    if _vectorise and check is check_nhs_number:
        return _check_nhs_vectorised(series)
    if _vectorise and check is check_upn:
        return _check_upn_vectorised(series, "upn")
    if _vectorise and isinstance(check, partial) and check.func is check_upn and not check.args:
        return _check_upn_vectorised(series, check.keywords.get("field", "upn"))
    codes, uniques = factorize_values(series)
    values = np.empty(len(uniques) + 1, dtype=object)
    flags = np.empty(len(uniques) + 1, dtype=object)
    for i, raw in enumerate(uniques):
        values[i], flags[i] = check(raw)
    values[-1] = flags[-1] = None
    return (
        pd.Series(values[codes], index=series.index, dtype=object),
        pd.Series(flags[codes], index=series.index, dtype=object),
    )
