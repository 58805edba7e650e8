"""UK identifier validation: NHS number, UPN, PNC id, postcode, and the bulk check_series path."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stdnum.gb import nhs as std_nhs
from stdnum.gb import upn as std_upn

from schemas.identifiers import (
    MISSING_TOKENS,
    IdCheck,
    check_nhs_number,
    check_pnc_id,
    check_postcode,
    check_series,
    check_upn,
    is_missing,
    is_temporary_upn,
    partial_postcode_parts,
    pnc_check_letter,
    postcode_parts,
)


# ------------------------------------------------------------------------------------------ missing
@pytest.mark.parametrize("raw", [None, float("nan"), np.nan, pd.NA, pd.NaT, "", "   ", "NULL", "n/a", "Unknown", "none"])
def test_is_missing_true(raw):
    assert is_missing(raw)


@pytest.mark.parametrize("raw", ["0", 0, "9434765919", "Smith", "UNKNOWNS"])
def test_is_missing_false(raw):
    assert not is_missing(raw)


def test_missing_tokens_are_upper_case():
    assert all(t == t.upper() for t in MISSING_TOKENS)


# ------------------------------------------------------------------------------------------ NHS
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("943 476 5919", IdCheck("9434765919", None)),
        ("943-476-5919", IdCheck("9434765919", None)),
        (" 9434765919 ", IdCheck("9434765919", None)),
        (9434765919, IdCheck("9434765919", None)),
        (9434765919.0, IdCheck("9434765919", None)),
        ("9434765918", IdCheck(None, "nhs_number_invalid_check_digit")),
        ("943476591", IdCheck(None, "nhs_number_invalid_format")),
        ("94347659190", IdCheck(None, "nhs_number_invalid_format")),
        ("94347A5919", IdCheck(None, "nhs_number_invalid_format")),
        ("0000000000", IdCheck(None, "nhs_number_invalid_format")),
        ("9999999999", IdCheck(None, "nhs_number_invalid_format")),
        ("", IdCheck(None, None)),
        ("N/A", IdCheck(None, None)),
        (None, IdCheck(None, None)),
    ],
)
def test_check_nhs_number(raw, expected):
    assert check_nhs_number(raw) == expected


@st.composite
def valid_nhs(draw) -> str:
    base = draw(st.text("0123456789", min_size=9, max_size=9))
    digits = [d for d in "0123456789" if std_nhs.checksum(base + d) == 0]  # stdnum's modulus 11
    assume(digits)  # remainder 10: no valid check digit exists for this base
    number = base + digits[0]
    assume(len(set(number)) > 1)  # repeated-digit fillers are rejected on purpose
    return number


@given(valid_nhs(), st.sampled_from(["", " ", "-", "."]))
def test_nhs_accepts_every_valid_number(number, sep):
    spaced = sep.join((number[:3], number[3:6], number[6:]))
    assert check_nhs_number(spaced) == IdCheck(number, None)
    assert check_nhs_number(int(number)) == IdCheck(number, None)  # spreadsheet integer, leading zeros lost


@given(valid_nhs(), st.integers(0, 9), st.integers(1, 9))
def test_nhs_rejects_every_single_digit_substitution(number, pos, delta):
    # weights 1..10 are non-zero mod 11 and so is any digit change (1..9): always detected
    mutated = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert check_nhs_number(mutated).value is None


@given(valid_nhs(), st.integers(0, 8))
def test_nhs_rejects_every_adjacent_transposition(number, pos):
    # swapping digits a != b at adjacent weights changes the sum by (a - b) mod 11 != 0: always detected
    assume(number[pos] != number[pos + 1])
    mutated = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
    assert check_nhs_number(mutated).value is None


# ------------------------------------------------------------------------------------------ UPN
LA_NUMBERS = sorted(std_upn._la_numbers)  # noqa: SLF001


@st.composite
def valid_upn(draw, temporary: bool | None = None) -> str:
    temp = draw(st.booleans()) if temporary is None else temporary
    body = f"{draw(st.sampled_from(LA_NUMBERS)):03d}" + draw(st.text("0123456789", min_size=6, max_size=6))
    tail = draw(st.text("0123456789", min_size=2, max_size=2))
    tail += draw(st.sampled_from("ABCDEFGHJKLMNPQRTUVWXYZ")) if temp else draw(st.sampled_from("0123456789"))
    return std_upn.calc_check_digit(body + tail) + body + tail


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("B801200005001", IdCheck("B801200005001", None)),
        ("b801 2000 05001", IdCheck("B801200005001", None)),
        ("A801200005001", IdCheck(None, "upn_invalid_check_digit")),
        ("X80120000A001", IdCheck(None, "upn_invalid_format")),
        ("E000200005001", IdCheck(None, "upn_invalid_format")),  # unknown LA number
        ("B80120000500", IdCheck(None, "upn_invalid_format")),
        ("", IdCheck(None, None)),
    ],
)
def test_check_upn(raw, expected):
    assert check_upn(raw) == expected


@given(valid_upn())
def test_upn_accepts_every_valid_number(upn):
    result = check_upn(upn)
    assert result.value == upn
    assert (result.flag == "upn_temporary") == upn[-1].isalpha() == is_temporary_upn(upn)
    assert check_upn(upn, field="former_upn").flag in (None, "former_upn_temporary")


def _upn_checksum_detects(mutated: str) -> bool:
    return std_upn.calc_check_digit(mutated[1:]) != mutated[0]


@given(valid_upn(), st.integers(0, 12), st.data())
def test_upn_rejects_substitutions_the_check_letter_detects(upn, pos, data):
    alphabet = "ABCDEFGHJKLMNPQRTUVWXYZ" if pos == 0 else "0123456789"
    if pos == 12:
        alphabet = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"
    new = data.draw(st.sampled_from([c for c in alphabet if c != upn[pos]]))
    mutated = upn[:pos] + new + upn[pos + 1 :]
    result = check_upn(mutated)
    if _upn_checksum_detects(mutated):
        assert result.value is None
    assert (result.value is not None) == std_upn.is_valid(mutated)


@given(valid_upn(), st.integers(0, 11))
def test_upn_rejects_transpositions_the_check_letter_detects(upn, pos):
    assume(upn[pos] != upn[pos + 1])
    mutated = upn[:pos] + upn[pos + 1] + upn[pos] + upn[pos + 2 :]
    result = check_upn(mutated)
    if pos == 0 or _upn_checksum_detects(mutated):
        assert result.value is None
    assert (result.value is not None) == std_upn.is_valid(mutated)


# ------------------------------------------------------------------------------------------ PNC
@given(st.integers(0, 99), st.integers(0, 9_999_999))
def test_pnc_round_trip(year, serial):
    yy, sn = f"{year:02d}", f"{serial:07d}"
    canonical = f"{yy}/{sn}{pnc_check_letter(yy, sn)}"
    assert check_pnc_id(canonical) == IdCheck(canonical, None)
    assert check_pnc_id(canonical.lower().replace("/", " / ")).value == canonical
    assert check_pnc_id(f"20{yy}/{sn}{canonical[-1]}").value == canonical
    assert check_pnc_id(f"{yy}{sn}{canonical[-1]}").value == canonical
    assert check_pnc_id(f"{yy}/{serial}{canonical[-1]}").value == canonical  # unpadded serial
    wrong = next(c for c in "ZABCDEFGHJKLMNPQRTUVWXY" if c != canonical[-1])
    assert check_pnc_id(canonical[:-1] + wrong) == IdCheck(None, "pnc_id_invalid_check_digit")


@pytest.mark.parametrize(
    "yy, serial, letter",
    [("00", "0000000", "Z"), ("00", "0000001", "A"), ("00", "0000009", "J"), ("00", "0000022", "Y"),
     ("00", "0000023", "Z"), ("01", "0000000", "P")],  # 10,000,000 mod 23 = 14 -> P
)
def test_pnc_check_letter_table(yy, serial, letter):
    assert pnc_check_letter(yy, serial) == letter


@pytest.mark.parametrize("raw", ["12/12345", "ABC", "123/0012345A", "1200123A", "12/00123456A"])
def test_pnc_invalid_format(raw):
    assert check_pnc_id(raw) == IdCheck(None, "pnc_id_invalid_format")


# ------------------------------------------------------------------------------------------ postcode
@pytest.mark.parametrize(
    "raw, value, flag",
    [
        ("sw1a1aa", "SW1A 1AA", None),
        ("  SW1A   1AA ", "SW1A 1AA", None),
        ("m1 1ae", "M1 1AE", None),
        ("B33 8TH", "B33 8TH", None),
        ("CR2 6XH", "CR2 6XH", None),
        ("DN55 1PT", "DN55 1PT", None),
        ("W1A 0AX", "W1A 0AX", None),
        ("EC1A 1BB", "EC1A 1BB", None),
        ("gir 0aa", "GIR 0AA", None),
        ("LS1", None, "postcode_partial"),
        ("LS1 4", None, "postcode_partial"),
        ("QA1 1AA", None, "postcode_invalid_format"),  # Q never first
        ("LS1 1CA", None, "postcode_invalid_format"),  # C never in the inward code
        ("ZZ99 3VZ", None, "postcode_invalid_format"),  # NHS pseudo postcode: not a place
        ("12345", None, "postcode_invalid_format"),
        ("", None, None),
    ],
)
def test_check_postcode(raw, value, flag):
    assert check_postcode(raw) == IdCheck(value, flag)


@pytest.mark.parametrize(
    "postcode, area, district, sector",
    [("SW1A 1AA", "SW", "SW1A", "SW1A 1"), ("M1 1AE", "M", "M1", "M1 1"), ("DN55 1PT", "DN", "DN55", "DN55 1"),
     (None, None, None, None)],
)
def test_postcode_parts(postcode, area, district, sector):
    assert postcode_parts(postcode) == {"postcode_area": area, "postcode_district": district, "postcode_sector": sector}


@pytest.mark.parametrize(
    "raw, district, sector", [("ls1", "LS1", None), ("LS1 4", "LS1", "LS1 4"), ("ls14ab", "LS1", "LS1 4"),
                              # no space: an outward code on its own is the district (LS14), not LS1 sector 4
                              ("LS14", "LS14", None), ("m14", "M14", None), ("LS14 2", "LS14", "LS14 2"),
                              ("LS142", "LS14", "LS14 2"), ("ls 14", "LS14", None), ("M1 4", "M1", "M1 4"),
                              ("rubbish!", None, None), (None, None, None)],
)
def test_partial_postcode_parts(raw, district, sector):
    parts = partial_postcode_parts(raw)
    assert (parts["postcode_district"], parts["postcode_sector"]) == (district, sector)


POSTCODE_RE = r"[A-PR-UWYZ][A-HK-Y]?[0-9][0-9]?[0-9][ABD-HJLNP-UW-Z]{2}"


@given(st.from_regex(POSTCODE_RE, fullmatch=True), st.sampled_from(["", " ", "  "]), st.booleans())
def test_postcode_normalisation_is_idempotent_on_valid(compact, space, lower):
    raw = compact[:-3] + space + compact[-3:]
    raw = raw.lower() if lower else raw
    first = check_postcode(raw)
    assert first.value is not None and first.value.count(" ") == 1
    assert check_postcode(first.value) == first


@given(st.text(max_size=12))
def test_postcode_normalisation_is_idempotent_on_anything(raw):
    first = check_postcode(raw)
    if first.value is not None:
        assert check_postcode(first.value) == first
        assert first.value == first.value.upper().strip()


# ------------------------------------------------------------------------------------------ check_series
def test_check_series_handles_missing_and_mixed_types():
    raw = pd.Series(["943 476 5919", None, np.nan, pd.NA, 9434765919, "x", "N/A", 9434765919.0], index=range(10, 18))
    values, flags = check_series(raw, check_nhs_number)
    assert list(values.index) == list(raw.index)
    assert values.tolist() == ["9434765919", None, None, None, "9434765919", None, None, "9434765919"]
    assert flags.tolist() == [None, None, None, None, None, "nhs_number_invalid_format", None, None]
    assert not any(isinstance(v, float) and math.isnan(v) for v in [*values, *flags])


def test_check_series_on_empty_and_nullable_string_series():
    values, flags = check_series(pd.Series([], dtype=object), check_postcode)
    assert len(values) == len(flags) == 0
    values, _ = check_series(pd.Series(["ls1 4ab", pd.NA], dtype="string"), check_postcode)
    assert values.tolist() == ["LS1 4AB", None]


def _mixed_values(number_strategy):
    return st.one_of(
        number_strategy,
        number_strategy.map(str.lower),
        number_strategy.map(lambda s: s[:4] + " " + s[4:]),
        number_strategy.map(lambda s: s[:-1] + "Z"),
        st.text("0123456789ABCIOSZ", min_size=9, max_size=14),
        st.sampled_from([None, np.nan, pd.NA, "", "NULL"]),
    )


@settings(max_examples=60)
@given(st.lists(_mixed_values(valid_nhs()), max_size=30))
def test_vectorised_nhs_matches_scalar(raw):
    values, flags = check_series(pd.Series(raw, dtype=object), check_nhs_number)
    expected = [check_nhs_number(v) for v in raw]
    assert list(zip(values, flags, strict=True)) == [tuple(e) for e in expected]


@settings(max_examples=60)
@given(st.lists(_mixed_values(valid_upn()), max_size=30), st.sampled_from(["upn", "former_upn"]))
def test_vectorised_upn_matches_scalar(raw, field):
    check = check_upn if field == "upn" else partial(check_upn, field=field)
    values, flags = check_series(pd.Series(raw, dtype=object), check)
    expected = [check_upn(v, field=field) for v in raw]
    assert list(zip(values, flags, strict=True)) == [tuple(e) for e in expected]
