"""Matching feature frame built from a tiny staged identity frame."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.gb import upn as std_upn

from matching.addresses import standardise_address
from matching.features import FEATURE_COLUMNS, build_features, normalise_town
from schemas.records import IDENTITY_COLUMNS, IdentityRecord

REF = dt.date(2026, 1, 1)
UPN = "B801200005001"
TEMP_UPN = std_upn.calc_check_digit("80120000501A") + "80120000501A"
FORMER_UPN = std_upn.calc_check_digit("380123412345") + "380123412345"


def _record(rid: str, **fields) -> dict:
    base = {"source": "education", "source_record_id": rid, "source_file": "pupils.csv", "source_line": 2}
    return IdentityRecord(**{**base, **fields}).model_dump()


def _frame(*records: dict) -> pd.DataFrame:
    return pd.DataFrame(list(records), columns=list(IDENTITY_COLUMNS))


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    frame = _frame(
        _record("p1", first_name="Ollie", last_name="Smith-Jones", former_surname="O'Brien",
                preferred_surname="Jones", alternative_names=["Olly Brown", "Ol"], dob=dt.date(2014, 3, 5),
                sex="M", address_line="Flat 2, 14 High St", postcode="LS1 4AB", nhs_number="9434765919",
                upn=UPN, former_upn=FORMER_UPN, ethnicity="WBRI"),
        _record("p2", first_name="Baby of Smith", last_name="SMITH", dob=None, dob_raw="31/02/2014",
                quality_flags=["dob_unparseable"], postcode=None, postcode_raw="LS1", nhs_number="9434765918",
                upn=TEMP_UPN),
        _record("p3", first_name="Zoë", last_name="Łukasz", dob=dt.date(2030, 1, 1),
                quality_flags=["dob_in_future"], sex=None, postcode_raw="ls1 4", address_line="Rose Cottage, Main St"),
        _record("p4", source="health", first_name="Mohammed", last_name="Khan", dob=dt.date(2027, 6, 1)),  # unflagged
        _record("p5", source="health", first_name="Muhammad", last_name="Khan", dob=dt.date(2012, 5, 1),
                date_of_death=dt.date(2011, 1, 1)),
        _record("p6", first_name=None, last_name=None, dob=dt.date(1985, 1, 1), quality_flags=["dob_before_1990"]),
    )
    return build_features(frame, REF).set_index("unique_id", drop=False)


def test_shape_and_columns(features):
    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert len(features) == 6
    assert features.index.tolist()[:4] == ["education:p1", "education:p2", "education:p3", "health:p4"]


def test_names(features):
    p1 = features.loc["education:p1"]
    assert p1.first_name_std == "ollie"
    assert "oliver" in p1.first_name_groups
    assert p1.last_name_std == "smith-jones"
    assert p1.last_name_parts == ["smith", "jones", "smithjones"]
    assert p1.other_surnames == sorted({"smith", "jones", "smithjones", "obrien", "brown"})
    assert p1.alt_first_names == ["ol", "olly"]
    assert p1.first_name_phonetic and p1.last_name_phonetic
    assert not p1.is_placeholder_first_name
    p3 = features.loc["education:p3"]
    assert (p3.first_name_std, p3.last_name_std) == ("zoe", "lukasz")
    assert features.loc["health:p4"].first_name_groups == features.loc["health:p5"].first_name_groups


def test_placeholder_first_name_is_missing(features):
    p2 = features.loc["education:p2"]
    assert p2.first_name_std is None and p2.first_name_groups == [] and p2.first_name_phonetic is None
    assert bool(p2.is_placeholder_first_name)
    p6 = features.loc["education:p6"]
    assert p6.first_name_std is None and not p6.is_placeholder_first_name
    assert p6.last_name_parts == [] and p6.other_surnames == []


@pytest.mark.parametrize(
    "uid, usable, typed",
    [("education:p1", True, "2014-03-05"), ("education:p2", False, None), ("education:p3", False, "2030-01-01"),
     ("health:p4", False, "2027-06-01"), ("health:p5", False, "2012-05-01"), ("education:p6", False, "1985-01-01")],
)
def test_only_usable_dob_is_evidence(features, uid, usable, typed):
    """An unusable DOB is no date evidence; only its typed digits stay (``dob_str``, compared one digit apart)."""
    row = features.loc[uid]
    assert row.dob_str == typed
    if usable:
        assert row.dob == dt.date(2014, 3, 5) and isinstance(row.dob, dt.date)
        assert (row.dob_year, row.dob_month, row.dob_day) == (2014, 3, 5)
    else:
        assert row.dob is None
        assert pd.isna(row.dob_year) and pd.isna(row.dob_month) and pd.isna(row.dob_day)


def test_postcode_and_address(features):
    p1 = features.loc["education:p1"]
    assert (p1.postcode, p1.postcode_sector, p1.postcode_district) == ("LS1 4AB", "LS1 4", "LS1")
    assert (p1.address_std, p1.house_number) == ("14 high street", "14")
    p2 = features.loc["education:p2"]  # partial raw postcode: district only
    assert (p2.postcode, p2.postcode_sector, p2.postcode_district) == (None, None, "LS1")
    p3 = features.loc["education:p3"]
    assert (p3.postcode, p3.postcode_sector, p3.postcode_district) == (None, "LS1 4", "LS1")
    assert (p3.address_std, p3.house_number) == ("main street", None)


def test_identifiers_only_valid_and_stable(features):
    p1 = features.loc["education:p1"]
    assert (p1.nhs_number, p1.upn, p1.former_upn) == ("9434765919", UPN, FORMER_UPN)
    assert p1.upn_any == [UPN, FORMER_UPN]
    p2 = features.loc["education:p2"]
    assert p2.nhs_number is None  # bad check digit
    assert p2.upn is None and p2.upn_any == []  # temporary UPN is not identity evidence


def test_sex_and_ethnicity(features):
    assert features.loc["education:p1", "sex"] == "M"
    assert features.loc["education:p3", "sex"] is None
    assert features.loc["education:p1", "ethnicity"] == "WBRI"
    assert features.loc["education:p2", "ethnicity"] is None


def test_list_cells_are_independent_objects(features):
    lists = features["upn_any"].tolist() + features["alt_first_names"].tolist() + features["last_name_parts"].tolist()
    empties = [v for v in lists if v == []]
    assert len({id(v) for v in empties}) == len(empties)


def test_empty_frame():
    out = build_features(_frame(), REF)
    assert list(out.columns) == list(FEATURE_COLUMNS) and len(out) == 0


def test_input_index_is_ignored_and_order_kept():
    frame = _frame(_record("b", first_name="Alfie"), _record("a", first_name="Alfred"))
    frame.index = [10, 3]
    out = build_features(frame, REF)
    assert out["unique_id"].tolist() == ["education:b", "education:a"]
    assert out["first_name_std"].tolist() == ["alfie", "alfred"]


@pytest.mark.parametrize(
    "line, std, house",
    [
        ("12 High St", "12 high street", "12"),
        ("Flat 2, 14 High St, Leeds LS1 1AA", "14 high street", "14"),
        ("14 A Church Rd", "14a church road", "14a"),
        ("3 St Mary's Ave", "3 saint marys avenue", "3"),
        ("22 Queen’s Gdns", "22 queens gardens", "22"),
        ("7 Acacia Cres.", "7 acacia crescent", "7"),
        ("Rose Cottage, Main St", "main street", None),
        ("", None, None),
    ],
)
def test_standardise_address(line, std, house):
    assert standardise_address(line) == (std, house)


@pytest.mark.parametrize(("raw", "expected"), [
    ("St. Albans", "st albans"), ("  LEEDS ", "leeds"), ("Newcastle-upon-Tyne", "newcastle upon tyne"),
    ("Zürich", "zurich"), ("King's Lynn", "kings lynn"), (None, None), ("", None), ("  ", None), ("--", None),
])
def test_town_compares_on_letters_only(raw, expected):
    assert normalise_town(raw) == expected


@given(st.text(max_size=30))
def test_a_normalised_town_is_lower_case_letters_and_single_spaces(raw):
    out = normalise_town(raw)
    assert out is None or (out == out.strip() and "  " not in out and all(c == " " or "a" <= c <= "z" for c in out))
