"""A DOB no format reads whole (a day of 97, a 31 February) keeps its digits as typed: connectors lay them out
``YYYY-MM-DD`` (``dob_digits``), features compare them only digit by digit, and a pair one keyed digit apart links
as one with a mistyped readable DOB would, while a pair whose digits differ more has no DOB evidence at all."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.dates import typed_digits
from connectors.standardise import standardise_identity
from matching.features import build_features
from matching.model import predict_pairs
from matching.training import train_model
from schemas.config import FileConfig
from schemas.records import IDENTITY_COLUMNS, IdentityRecord
from tests.test_model import _row, synthetic_features

REF = dt.date(2026, 1, 1)


@pytest.mark.parametrize(("text", "formats", "expected"), [
    ("20060597", ["%Y%m%d"], "2006-05-97"),  # a day of 97
    ("31/02/2010", ["%d/%m/%Y"], "2010-02-31"),  # no 31 February
    ("00/05/2010", ["%d/%m/%Y"], "2010-05-00"),
    ("5/97/2006", ["%m/%d/%Y"], "2006-05-97"),  # one-digit fields are padded
    ("19403407", ["%Y%m%d"], "1940-34-07"),  # a month of 34: the digits, whatever they say
    (" 2006-13-45 ", ["%d/%m/%Y"], "2006-13-45"),  # the ISO layout is tried after the file's own
    ("May 2006", ["%d/%m/%Y"], None),  # another layout
    ("0999-05-40", [], None),  # no plausible year
    ("052006", ["%m%Y"], None),  # no day in the layout
])
def test_an_unreadable_date_keeps_its_digits_in_the_files_layout(text, formats, expected) -> None:
    assert typed_digits(text, formats) == expected


@given(st.integers(1000, 9999), st.integers(0, 99), st.integers(0, 99),
       st.sampled_from(["%Y%m%d", "%d/%m/%Y", "%m-%d-%Y", "%Y-%m-%d"]))
def test_any_two_digit_day_and_month_come_back_in_order(year, month, day, fmt) -> None:
    text = fmt.replace("%Y", f"{year:04d}").replace("%m", f"{month:02d}").replace("%d", f"{day:02d}")
    assert typed_digits(text, [fmt]) == f"{year:04d}-{month:02d}-{day:02d}"


def test_the_connector_keeps_the_digits_beside_the_unparseable_flag() -> None:
    raw = pd.DataFrame({"id": ["1", "2", "3", "4"], "dob": ["20060597", "20060507", "", "junk"]}, dtype=object)
    cfg = FileConfig(file="p", columns={"source_record_id": "id", "dob": "dob"}, date_formats=["%Y%m%d"])
    out = standardise_identity(raw, cfg, {"source_record_id": "id", "dob": "dob"}, source="s",
                               record_ids=raw["id"], lines=np.array([2, 3, 4, 5]), file_label="p.csv",
                               run_id=None, reference_date=REF)
    assert out["dob_digits"].tolist() == ["2006-05-97", None, None, None]
    assert out["dob"].tolist()[:2] == [None, dt.date(2006, 5, 7)]
    assert ["dob_unparseable" in f for f in out["quality_flags"]] == [True, False, False, True]


def test_the_digits_are_compared_as_typed_never_as_a_date() -> None:
    base = {"source": "s", "source_file": "p.csv", "source_line": 2, "first_name": "Ann", "last_name": "Lee"}
    rows = [IdentityRecord(**base, source_record_id="1", dob_raw="20060597", dob_digits="2006-05-97",
                           quality_flags=["dob_unparseable"]).model_dump(),
            IdentityRecord(**base, source_record_id="2", dob=dt.date(2006, 5, 7)).model_dump()]
    f = build_features(pd.DataFrame(rows, columns=list(IDENTITY_COLUMNS)), REF).set_index("source_record_id")
    assert f.loc["1", "dob_str"] == "2006-05-97" and f.loc["1", "dob"] is None
    assert f.loc["1", "dob_precision"] is None and pd.isna(f.loc["1", "dob_year"])
    assert f.loc["2", "dob_str"] == "2006-05-07"


def _unreadable(row: dict, digits: str) -> dict:
    """``row`` as the features of a record whose DOB no format read (typed ``digits``), with no address."""
    return {**row, "dob": None, "dob_year": None, "dob_month": None, "dob_day": None, "dob_str": digits,
            "dob_precision": None, "postcode": None, "postcode_sector": None, "postcode_district": None,
            "address_std": None, "house_number": None, "postcode_token": None}


def test_a_pair_one_keyed_digit_apart_links_and_one_further_apart_is_held() -> None:
    features = synthetic_features(150)
    model = train_model(features, seed=2, u_max_pairs=5e4)
    day = dt.date(2013, 7, 23)
    full = _row("census:C1", "rowena", "quartermaine", day, "F", "LS7 3AB", "9", "oak road")
    near = _unreadable(_row("ssa:S1", "rowena", "quartermaine", day, "F", None, None, None), "2013-07-93")
    far = _unreadable(_row("ssa:S2", "rowena", "quartermaine", day, "F", None, None, None), "2013-37-93")
    both = pd.concat([features, pd.DataFrame([full, near, far])], ignore_index=True)
    scored = predict_pairs(both, model, threshold_probability=0.01, threads=1).set_index(["unique_id_l",
                                                                                          "unique_id_r"])
    one_digit = scored.loc[("census:C1", "ssa:S1")]
    assert bool(one_digit["auto_link_eligible"]) and "one digit" in str(one_digit["level_dob"])
    further = scored.loc[("census:C1", "ssa:S2")]  # no DOB evidence, no address: names alone are held
    assert "missing" in str(further["level_dob"]) and not bool(further["auto_link_eligible"])
    assert further["evidence_gap"] == "dob_missing_no_address"
