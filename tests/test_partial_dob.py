"""A DOB no format reads whole (a day of 97, a 31 February) still gives its year and month: connectors keep them
(``dob_partial``), features use them at month or year precision, and such a pair links as a placeholder DOB would."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.dates import partial_date
from connectors.standardise import standardise_identity
from matching.dates import with_partial_dobs
from matching.model import predict_pairs
from matching.training import train_model
from schemas.config import FileConfig
from tests.test_model import _row, synthetic_features

REF = dt.date(2026, 1, 1)


@pytest.mark.parametrize(("text", "formats", "expected"), [
    ("20060597", ["%Y%m%d"], "2006-05"),  # a day of 97
    ("31/02/2010", ["%d/%m/%Y"], "2010-02"),  # no 31 February
    ("00/05/2010", ["%d/%m/%Y"], "2010-05"),  # an unknown day written as 00
    ("05/97/2006", ["%m/%d/%Y"], "2006-05"),
    ("2006-13-45", [], "2006"),  # ISO with a month of 13: the year alone
    ("00/00/2010", ["%d/%m/%Y"], "2010"),
    (" 2006-05-40 ", ["%d/%m/%Y"], "2006-05"),  # the ISO layout is tried after the file's own
    ("May 2006", ["%d/%m/%Y"], None),  # another layout: nothing is told
    ("0999-05-40", [], None),  # no plausible year
    ("12345678", ["%d%b%Y"], None),  # a format with a month name: not read by position
])
def test_an_unreadable_date_gives_the_year_and_month_its_layout_holds(text, formats, expected) -> None:
    assert partial_date(text, formats) == expected


@given(st.integers(1900, 2030), st.integers(1, 12), st.integers(32, 99),
       st.sampled_from(["%Y%m%d", "%d/%m/%Y", "%m-%d-%Y", "%Y-%m-%d"]))
def test_any_date_with_an_impossible_day_keeps_its_year_and_month(year, month, day, fmt) -> None:
    text = fmt.replace("%Y", f"{year:04d}").replace("%m", f"{month:02d}").replace("%d", f"{day:02d}")
    assert partial_date(text, [fmt]) == f"{year:04d}-{month:02d}"


@given(st.dates(dt.date(1900, 1, 1), dt.date(2030, 12, 31)))
def test_a_readable_date_read_by_position_gives_its_own_month(day: dt.date) -> None:
    """A readable date never reaches ``partial_date`` in the pipeline; read by position it agrees with itself."""
    assert partial_date(day.strftime("%d/%m/%Y"), ["%d/%m/%Y"]) == f"{day.year:04d}-{day.month:02d}"


def test_the_connector_keeps_the_partial_dob_beside_the_unparseable_flag() -> None:
    raw = pd.DataFrame({"id": ["1", "2", "3", "4"], "dob": ["20060597", "20060507", "", "junk"]}, dtype=object)
    cfg = FileConfig(file="p", columns={"source_record_id": "id", "dob": "dob"}, date_formats=["%Y%m%d"])
    out = standardise_identity(raw, cfg, {"source_record_id": "id", "dob": "dob"}, source="s",
                               record_ids=raw["id"], lines=np.array([2, 3, 4, 5]), file_label="p.csv",
                               run_id=None, reference_date=REF)
    assert out["dob_partial"].tolist() == ["2006-05", None, None, None]
    assert out["dob"].tolist()[:2] == [None, dt.date(2006, 5, 7)]
    assert ["dob_unparseable" in f for f in out["quality_flags"]] == [True, False, False, True]


@pytest.mark.parametrize(("partial", "dob_from", "expected", "precision"), [
    ("2006-05", dt.date(1990, 1, 1), dt.date(2006, 5, 1), "month"),
    ("2006", dt.date(1990, 1, 1), dt.date(2006, 1, 1), "year"),
    ("2030-01", dt.date(1990, 1, 1), None, None),  # after the drop date
    ("1989-12", dt.date(1990, 1, 1), None, None),  # before the plausible range
    ("1989", dt.date(1989, 6, 1), dt.date(1989, 1, 1), "year"),  # the year overlaps the range
    ("1850-02", None, dt.date(1850, 2, 1), "month"),  # any past date when no floor is set
    (None, dt.date(1990, 1, 1), None, None),
])
def test_a_partial_dob_is_month_or_year_evidence_within_the_plausible_range(partial, dob_from, expected,
                                                                            precision) -> None:
    dob = pd.to_datetime(pd.Series([None, "2012-03-04"]))
    got, prec = with_partial_dobs(dob, np.array([None, "day"], dtype=object),
                                  pd.Series([partial, "2001-01"], dtype=object), REF, dob_from)
    assert (None if pd.isna(got.iloc[0]) else got.iloc[0].date()) == expected and prec[0] == precision
    assert got.iloc[1] == pd.Timestamp("2012-03-04") and prec[1] == "day"  # a read DOB is never replaced


def _with_month_only(row: dict) -> dict:
    """``row`` as the features of a record whose DOB gave only its year and month (no address either)."""
    dob = row["dob"]
    first = dt.date(dob.year, dob.month, 1)
    return {**row, "dob": first, "dob_year": dob.year, "dob_month": dob.month, "dob_day": 1, "dob_str": None,
            "dob_precision": "month", "postcode": None, "postcode_sector": None, "postcode_district": None,
            "address_std": None, "house_number": None, "postcode_token": None}


def test_a_pair_agreeing_on_names_and_a_partial_dob_month_links_without_an_address() -> None:
    features = synthetic_features(150)
    model = train_model(features, seed=2, u_max_pairs=5e4)
    day = dt.date(2013, 7, 23)
    full = _row("census:C1", "rowena", "quartermaine", day, "F", "LS7 3AB", "9", "oak road")
    partial = _with_month_only(_row("ssa:S1", "rowena", "quartermaine", day, "F", None, None, None))
    names_only = {**partial, "unique_id": "ssa:S2", "source_record_id": "S2", "dob": None, "dob_year": None,
                  "dob_month": None, "dob_day": None, "dob_precision": None}
    both = pd.concat([features, pd.DataFrame([full, partial, names_only])], ignore_index=True)
    scored = predict_pairs(both, model, threshold_probability=0.01, threads=1).set_index(["unique_id_l",
                                                                                          "unique_id_r"])
    with_month = scored.loc[("census:C1", "ssa:S1")]
    assert bool(with_month["auto_link_eligible"]) and "year" in str(with_month["level_dob"]).lower()
    without = scored.loc[("census:C1", "ssa:S2")]  # names alone, no DOB and no address: held
    assert not bool(without["auto_link_eligible"]) and without["evidence_gap"] == "dob_missing_no_address"
