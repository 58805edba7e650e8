"""Evidence from partly recorded fields (issue 12): a middle initial against a full middle name, a first name
that is only a relationship word, and a date of birth misread or written day-first in a month-first file."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.dates import parse_dates, parse_dates_repaired, repair_candidates
from matching import settings as S
from matching.artifact import ModelArtifact
from matching.comparisons import FIRST_INITIAL_LABEL
from matching.model import predict_pairs
from matching.training import train_model
from schemas.rules import is_placeholder_first_name
from tests.test_model import _row, synthetic_features


# ------------------------------------------------------------------------------------ dates
@pytest.mark.parametrize(("raw", "fmt", "expected"), [
    ("200906Z5", "%Y%m%d", dt.date(2009, 6, 25)),       # Z read for 2
    ("20O9o930", "%Y%m%d", dt.date(2009, 9, 30)),       # O and o read for 0
    ("04/08/20|3", "%m/%d/%Y", dt.date(2013, 4, 8)),    # | read for 1
    ("27/12/2010", "%m/%d/%Y", dt.date(2010, 12, 27)),  # day first in a month-first file
    ("20162410", "%Y%m%d", dt.date(2016, 10, 24)),      # YYYYDDMM in a YYYYMMDD file
    ("o4/12/Z014", "%m/%d/%Y", dt.date(2014, 4, 12)),   # both repairs' first: lookalikes
])
def test_an_unreadable_date_is_read_as_the_one_date_it_can_be(raw, fmt, expected):
    dates, missing, bad, repaired = parse_dates_repaired(pd.Series([raw], dtype=object), [fmt])
    assert dates.iat[0] == expected and bool(repaired.iat[0]) and not bad.iat[0] and not missing.iat[0]


@pytest.mark.parametrize(("raw", "fmt"), [
    ("2007R26", "%Y%m%d"),        # R is no digit
    ("53/05/2014", "%m/%d/%Y"),   # neither way round a date
    ("20100439", "%Y%m%d"),       # 39th of April, 4th of the 39th month
    ("OSZBOSZB", "%Y%m%d"),       # too many letters to be a misread date
    ("Not a date", "%Y%m%d"),
])
def test_a_value_no_repair_makes_a_date_stays_unparseable(raw, fmt):
    dates, _, bad, repaired = parse_dates_repaired(pd.Series([raw], dtype=object), [fmt])
    assert dates.iat[0] is None and bool(bad.iat[0]) and not repaired.iat[0]


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)),
       st.sampled_from(["%Y%m%d", "%m/%d/%Y", "%d/%m/%Y", "%Y-%m-%d"]))
def test_a_readable_date_is_never_repaired(day, fmt):
    dates, _, bad, repaired = parse_dates_repaired(pd.Series([day.strftime(fmt)], dtype=object), [fmt])
    assert dates.iat[0] == day and not bad.iat[0] and not repaired.iat[0]


@given(st.text(max_size=12))
def test_repairs_only_ever_yield_digits_and_separators(text):
    for candidate in repair_candidates(text):
        assert all(ch.isdigit() or ch in "/-. " for ch in candidate)


def test_parse_dates_keeps_its_three_results():
    dates, missing, bad = parse_dates(pd.Series(["2009-06-25", None, "junk"], dtype=object))
    assert dates.tolist() == [dt.date(2009, 6, 25), None, None]
    assert missing.tolist() == [False, True, False] and bad.tolist() == [False, False, True]


# ------------------------------------------------------------------------------------ first names
@pytest.mark.parametrize(("value", "placeholder"), [
    ("Husband", True), ("Granddaughter", True), ("Person", True), ("Occupant", True), ("Mr", True),
    ("Baby Boy", True), ("Son Of", True),
    ("Sonny", False), ("Madison", False), ("Sister Mary", False), ("Ladybird", False),
])
def test_a_relationship_word_is_not_a_first_name(value, placeholder):
    assert is_placeholder_first_name(value) is placeholder


# ------------------------------------------------------------------------------------ middle initials
def test_the_middle_name_comparison_has_an_initial_level():
    comp = next(c for c in S.build_settings().create_settings_dict("duckdb")["comparisons"]
                if c["output_column_name"] == "middle_names")
    labels = [lvl.get("label_for_charts") for lvl in comp["comparison_levels"]]
    assert labels.index("middle initial matches the other record's middle name") < labels.index(
        "middle names different")


@pytest.fixture(scope="module")
def trained() -> tuple[pd.DataFrame, ModelArtifact]:
    base = synthetic_features()
    return base, train_model(base, seed=11, u_max_pairs=2e5, threads=1)


def _pair(first_r: str | None, middle_l: str | None, middle_r: str | None, postcode_r: str) -> pd.DataFrame:
    dob = dt.date(2012, 3, 18)
    left = _row("census:X1", "emmanuel", "gaspard", dob, "M", "LS6 2AB", "4", "elm road")
    right = _row("ssa:X2", first_r or "x", "gaspard", dob, "M", postcode_r, "9", "oak road")
    left["middle_names_std"], right["middle_names_std"] = middle_l, middle_r
    if first_r is None:
        right.update(first_name_std=None, first_name_groups=[], first_name_phonetic=None)
    return pd.DataFrame([left, right])


@pytest.mark.parametrize(("middle_l", "middle_r", "eligible", "gap"), [
    ("m", "mateo", True, None),       # the initial agrees with the full middle name
    ("mateo", "mateo", True, None),
    ("m", "kayla", False, "middle_names_differ"),  # the initial disagrees: a household, not a child (not queued)
    (None, None, False, "first_name_missing"),     # nothing against it: a person may find the first name
])
def test_no_first_name_links_on_exact_dob_surname_and_a_middle_name(trained, middle_l, middle_r, eligible, gap):
    base, model = trained
    scored = predict_pairs(pd.concat([base, _pair(None, middle_l, middle_r, "BD1 1AA")], ignore_index=True),
                           model, 0.0, threads=1)
    pair = scored[(scored["unique_id_l"] == "census:X1") & (scored["unique_id_r"] == "ssa:X2")]
    assert len(pair) == 1
    assert bool(pair["auto_link_eligible"].iat[0]) is eligible
    assert pair["evidence_gap"].iat[0] == gap


@pytest.mark.parametrize(("first_r", "sex_r", "middle_r", "eligible"), [
    (None, "M", None, True),        # no first name: same DOB, surname and household
    (None, "F", None, False),       # ... but a different sex: a co-twin or a sibling given the same DOB
    (None, "M", "kayla", False),    # ... or different middle names
    ("emmanuel", "F", None, True),  # first name and DOB agree: a miscoded sex does not stop the link
])
def test_a_household_link_without_a_first_name_needs_nothing_against_it(trained, first_r, sex_r, middle_r, eligible):
    base, model = trained
    pair = _pair(first_r, "mateo" if middle_r else None, middle_r, "LS6 2AB")
    pair.loc[1, ["sex", "house_number", "address_std"]] = [sex_r, "4", "4 elm road"]
    scored = predict_pairs(pd.concat([base, pair], ignore_index=True), model, 0.0, threads=1)
    row = scored[(scored["unique_id_l"] == "census:X1") & (scored["unique_id_r"] == "ssa:X2")]
    assert len(row) == 1
    assert bool(row["auto_link_eligible"].iat[0]) is eligible


@pytest.mark.parametrize(("sex_r", "middle_r", "postcode_r", "gap", "queued"), [
    ("M", None, "LS6 2AB", None, False),                          # names and address agree: linked
    ("F", None, "LS6 2AB", "dob_missing_sex_differs", True),       # only the sex differs: a person can check
    ("M", "kayla", "LS6 2AB", "middle_names_differ", False),       # a different middle name: two people
    ("M", None, None, "dob_missing_no_address", True),             # names only: a person may find more
    ("M", "mateo", None, None, False),                             # first, middle and surname all agree
    ("M", "m", None, None, False),                                 # ... the middle name as its initial
    ("M", None, "BD1 1AA", "dob_missing_address_differs", False),  # names only, and they live elsewhere: not asked
])
def test_a_pair_without_a_dob_is_labelled_with_what_stops_it(trained, sex_r, middle_r, postcode_r, gap, queued):
    from matching.linker import QUEUEABLE_GAPS
    from matching.review import REASON_TEXT

    base, model = trained
    pair = _pair("emmanuel", "mateo" if middle_r else None, middle_r, postcode_r)
    pair.loc[1, ["sex", "dob", "dob_year", "dob_month", "dob_day", "dob_str", "dob_precision"]] = [sex_r] + [None] * 6
    if postcode_r == "LS6 2AB":
        pair.loc[1, ["house_number", "address_std"]] = ["4", "4 elm road"]
    if postcode_r is None:  # no address at all on one record (a national register)
        pair.loc[1, ["postcode", "postcode_sector", "postcode_district", "postcode_token", "house_number",
                     "address_std"]] = [None] * 6
    scored = predict_pairs(pd.concat([base, pair], ignore_index=True), model, 0.0, threads=1)
    row = scored[(scored["unique_id_l"] == "census:X1") & (scored["unique_id_r"] == "ssa:X2")]
    assert len(row) == 1
    assert bool(row["auto_link_eligible"].iat[0]) is (gap is None)
    assert (row["evidence_gap"].iat[0] if gap else None) == gap
    assert (gap in QUEUEABLE_GAPS) is queued
    assert not queued or f"weak_evidence:{gap}" in REASON_TEXT  # every queued reason is worded for people


# ------------------------------------------------------------------------------------ DOBs that cannot be births
@pytest.mark.parametrize(("dob", "flags", "usable", "typed"), [
    (dt.date(2014, 2, 16), [], True, "2014-02-16"),
    (dt.date(2094, 2, 16), ["dob_in_future"], False, "2094-02-16"),  # kept as typed: one digit from 2014
    (dt.date(2026, 5, 1), ["dob_expected"], False, None),             # an unborn child's expected date: never
    (None, ["dob_unparseable"], False, None),
])
def test_a_dob_that_cannot_be_a_birth_is_compared_only_as_typed(dob, flags, usable, typed):
    from matching.features import build_features

    identity = pd.DataFrame([{"source": "health", "source_record_id": "1", "first_name": "Luca",
                              "last_name": "Romero", "dob": dob, "quality_flags": flags}])
    row = build_features(identity, dt.date(2025, 6, 1)).iloc[0]
    assert (row["dob"] is not None) is usable
    assert row["dob_str"] == typed


# (that a DOB typed one digit from the other record's is compared, not treated as missing:
# tests/test_comparison_levels.py, by the level each pair reaches)


# ------------------------------------------------------------------------------------ first-name initials
@pytest.mark.parametrize(("first_l", "first_r", "same_home", "level", "eligible", "gap"), [
    # one system keeps only the initial: with the exact DOB, surname and home it is one child
    ("emmanuel", "e", True, FIRST_INITIAL_LABEL, True, None),
    ("e", "e", True, FIRST_INITIAL_LABEL, True, None),
    # ... without the home, an initial fits a brother as well as the child: a person decides
    ("emmanuel", "e", False, FIRST_INITIAL_LABEL, False, "first_name_initial_only"),
    ("e", "e", False, FIRST_INITIAL_LABEL, False, "first_name_initial_only"),
    # two different initials are two different names, however alike one letter sounds or however few edits apart
    ("k", "c", True, "first name different", False, "first_name_differs"),
    ("k", "p", True, "first name different", False, "first_name_differs"),
    ("emmanuel", "x", True, "first name different", False, "first_name_differs"),
])
def test_a_first_name_initial_counts_only_with_the_household(trained, first_l, first_r, same_home, level, eligible,
                                                              gap):
    from matching.linker import QUEUEABLE_GAPS

    base, model = trained
    pair = _pair(first_r, None, None, "LS6 2AB" if same_home else "BD1 1AA")
    pair.loc[0, ["first_name_std", "first_name_groups", "first_name_phonetic"]] = pd.Series(
        [first_l, [first_l], first_l.upper()], dtype=object).to_numpy()
    pair.loc[1, ["first_name_groups", "first_name_phonetic"]] = pd.Series([[first_r], first_r.upper()],
                                                                          dtype=object).to_numpy()
    if same_home:
        pair.loc[1, ["house_number", "address_std"]] = ["4", "4 elm road"]
    scored = predict_pairs(pd.concat([base, pair], ignore_index=True), model, 0.0, threads=1)
    row = scored[(scored["unique_id_l"] == "census:X1") & (scored["unique_id_r"] == "ssa:X2")]
    assert len(row) == 1
    assert row["level_first_name"].iat[0] == level
    assert bool(row["auto_link_eligible"].iat[0]) is eligible
    assert row["evidence_gap"].iat[0] == gap
    assert (gap in QUEUEABLE_GAPS) is (gap == "first_name_initial_only")
