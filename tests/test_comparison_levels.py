"""Which comparison level a pair of feature values falls in, evaluated by DuckDB on the model's own SQL:
the order and the edges of the levels (town below postcode and address, full middle names above initials)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from matching import settings as S
from matching.comparisons import AGE_LABEL, AGE_NEAR_LABEL, FIRST_INITIAL_LABEL, TYPED_SAME_LABEL


def comparison_level(comparison: str, left: dict, right: dict) -> str:
    """The label of the level a pair of (partial) feature rows falls in, evaluated by DuckDB as Splink would."""
    comp = next(c for c in S.build_settings().create_settings_dict("duckdb")["comparisons"]
                if c["output_column_name"] == comparison)
    cols = {f"{k}_l": v for k, v in left.items()} | {f"{k}_r": v for k, v in right.items()}
    con = duckdb.connect()
    frame = pd.DataFrame([cols]).astype(object)
    for c in frame.columns:  # date columns typed as the features table has them, even when both are NULL
        if c.rsplit("_", 1)[0] in ("dob", "birth_earliest", "birth_latest"):
            frame[c] = pd.to_datetime(frame[c])
    con.register("pair", frame)
    for lvl in comp["comparison_levels"]:
        cond = lvl["sql_condition"]
        if cond == "ELSE" or con.execute(f"SELECT coalesce(({cond}), false) FROM pair").fetchone()[0]:
            return lvl["label_for_charts"]
    raise AssertionError("no level matched")


_PLACE = ("postcode_token", "address_std", "house_number", "postcode_sector", "postcode_district", "town_std")


def _place(**given: str) -> dict:
    return {c: given.get(c) for c in _PLACE}


@pytest.mark.parametrize(("left", "right", "label"), [
    (_place(town_std="london"), _place(town_std="london"),
     "same town or city (postcode and address differ or missing)"),
    (_place(town_std="london"), _place(town_std="leeds"), "different area"),
    (_place(town_std="london"), _place(postcode_token="LS14AB", postcode_district="LS1"),
     "postcode, address and town missing on one or both records"),
    (_place(postcode_token="LS14AB", postcode_district="LS1", town_std="leeds"),
     _place(postcode_token="LS14AB", postcode_district="LS1", town_std="otley"),
     "same postcode (address differs or missing)"),
    (_place(postcode_token="LS14AB", postcode_district="LS1", town_std="leeds"),
     _place(postcode_token="BD35XY", postcode_district="BD3", town_std="leeds"),
     "same town or city (postcode and address differ or missing)"),
])
def test_the_town_is_place_evidence_only_below_postcode_and_address(left, right, label):
    assert comparison_level("location", left, right) == label


@pytest.mark.parametrize(("left", "right", "label"), [
    ("amelia", "amelia", "middle names exact match"),
    ("j", "j", "middle initial matches the other record's middle name"),  # initials only: not "exact"
    ("n", "nicole", "middle initial matches the other record's middle name"),
    ("amelia", "amelie", "middle names similar (JW >= 0.88)"),
    ("j", "k", "middle names different"),
])
def test_only_full_middle_names_match_exactly(left, right, label):
    assert comparison_level("middle_names", {"middle_names_std": left}, {"middle_names_std": right}) == label


def _dob(value: str | None, age_window: tuple[str, str] | None = None, typed: str | None = None) -> dict:
    """A record's DOB features; ``typed`` alone is a DOB that cannot be used (it contradicts the record's age)."""
    d = pd.Timestamp(value).date() if value else None
    lo, hi = (pd.Timestamp(v).date() for v in age_window) if age_window else (None, None)
    return {"dob": d, "dob_str": value or typed, "dob_year": d.year if d else None, "dob_month": d.month if d else None,
            "dob_day": d.day if d else None, "dob_precision": "day" if d else None,
            "birth_earliest": lo, "birth_latest": hi}


AGED_10 = ("2009-04-02", "2010-04-01")  # 10 years old on 2020-04-01


@pytest.mark.parametrize(("left", "right", "label"), [
    (_dob("2009-12-25"), _dob(None, AGED_10), AGE_LABEL),
    (_dob(None, AGED_10), _dob("2010-04-01"), AGE_LABEL),                   # the window's last day
    (_dob(None, AGED_10), _dob("2010-04-02"), AGE_NEAR_LABEL),   # a day too young to be 10
    (_dob(None, AGED_10), _dob("2010-12-01"), AGE_NEAR_LABEL),   # 9 on the day: a year out
    (_dob(None, AGED_10), _dob("2006-06-01"), "date of birth different"),   # 13: a sibling, not a slip
    (_dob(None, AGED_10), _dob(None, ("2010-01-01", "2010-12-31")), AGE_LABEL),  # two ages that can agree
    (_dob(None, AGED_10), _dob(None, ("2011-01-01", "2011-12-31")), AGE_NEAR_LABEL),
    (_dob(None, AGED_10), _dob(None, ("2013-01-01", "2013-12-31")), "date of birth different"),
    (_dob(None, AGED_10), _dob(None), "date of birth missing or unusable on one or both records"),
    (_dob("2009-12-25"), _dob(None), "date of birth missing or unusable on one or both records"),
    # a DOB that contradicts its own record's age: the age's window first, then the digits as typed
    (_dob(None, AGED_10, typed="1972-06-20"), _dob("2009-06-20"), AGE_LABEL),
    (_dob(None, AGED_10, typed="1972-06-20"), _dob("1972-06-20"), TYPED_SAME_LABEL),
    (_dob(None, typed="1972-06-20"), _dob("1972-06-20"), TYPED_SAME_LABEL),
    (_dob(None, typed="1972-06-20"), _dob("1972-06-21"),
     "date of birth one digit different (or two neighbouring digits swapped)"),
    (_dob(None, typed="1972-06-20"), _dob("1985-03-02"), "date of birth missing or unusable on one or both records"),
])
def test_an_age_is_compared_with_the_dob_or_age_of_the_other_record(left, right, label):
    assert comparison_level("dob", left, right) == label


@pytest.mark.parametrize(("left", "right", "label"), [
    ("2012-01-18", "2012-01-18", "date of birth exact match"),
    ("2012-03-04", "2012-04-03", "date of birth with day and month swapped"),
    ("2012-01-18", "2012-10-18", "date of birth one digit different (or two neighbouring digits swapped)"),
    ("2015-03-12", "2015-03-21", "date of birth one digit different (or two neighbouring digits swapped)"),
    ("2015-03-12", "2015-03-17", "date of birth one digit different (or two neighbouring digits swapped)"),
    ("2015-03-12", "2015-03-29", "date of birth same month and year"),
    ("2012-01-18", "2012-11-19", "date of birth different"),
])
def test_a_dob_with_two_neighbouring_digits_keyed_the_wrong_way_round_is_one_digit_out(left, right, label):
    assert comparison_level("dob", _dob(left), _dob(right)) == label


@pytest.mark.parametrize(("left", "right", "label"), [
    ("j", "joshua", FIRST_INITIAL_LABEL),
    ("t", "t", FIRST_INITIAL_LABEL),         # two initials: no more than an initial, never "exact"
    ("joshua", "joshua", "first name exact match"),
    ("k", "p", "first name different"),        # one edit apart, but two different names
    ("k", "c", "first name different"),        # alike in sound, but two different names
    ("amy", "ami", "first name one typo apart"),   # a one-letter typo in a short name still counts
    ("camila", "carnila", "first name two typos apart (six letters or more)"),  # a scanned "rn" for "m"
    ("griffin", "gritfij", "first name two typos apart (six letters or more)"),
    ("emma", "enmw", "first name different"),     # two slips in a four-letter name: too close to another name
])
def test_a_lone_initial_agrees_only_as_an_initial(left, right, label):
    def row(name: str) -> dict:
        return {"first_name_std": name, "first_name_groups": [name], "first_name_phonetic": name.upper(),  # no two alike here
                "last_name_std": "smith", "alt_first_names": [], "middle_names_std": None}

    assert comparison_level("first_name", row(left), row(right)) == label
