"""A record with an age instead of a DOB (a police record's age at the incident): parsed, staged with the date it
was true on, turned into the birth window it allows, and linked only with more than names."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import extract_source
from connectors.standardise import MAX_AGE, dob_contradicts_age, parse_age
from matching.comparisons import AGE_LABEL
from matching.dates import age_window
from matching.features import build_features
from schemas.config import FileConfig, SourceConfig
from schemas.rules import DOB_CONTRADICTS_AGE_FLAG
from tests.e2e import query, run_cli

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "demo"


@pytest.mark.parametrize(("raw", "age"), [
    ("12", 12), ("12.0", 12), (" 7 yrs", 7), ("3 years old", 3), ("0", 0), ("15Y", 15),
    ("", None), (None, None), ("abc", None), ("12.5", None), ("-3", None), ("1000", None), ("twelve", None),
])
def test_parse_age(raw, age):
    assert parse_age(raw) == age


@given(st.integers(min_value=0, max_value=999), st.sampled_from(["", ".0", " yrs", " years", " years old", "y"]))
def test_an_age_written_any_of_these_ways_reads_back(age: int, suffix: str):
    assert parse_age(f"{age}{suffix}") == age


@given(st.text(max_size=20))
def test_parse_age_never_raises_and_gives_whole_years_or_none(raw: str):
    got = parse_age(raw)
    assert got is None or (isinstance(got, int) and got >= 0)


@pytest.mark.parametrize(("age", "on", "window"), [
    (10, dt.date(2020, 4, 1), (dt.date(2009, 4, 2), dt.date(2010, 4, 1))),
    (0, dt.date(2020, 4, 1), (dt.date(2019, 4, 2), dt.date(2020, 4, 1))),
    (3, dt.date(2024, 2, 29), (dt.date(2020, 3, 1), dt.date(2021, 2, 28))),  # a leap day: born 29 Feb 2020 is 4
])
def test_age_window(age, on, window):
    assert age_window(age, on) == window


def _dates(*values: str | None) -> pd.Series:
    return pd.Series([dt.date.fromisoformat(v) if v else None for v in values], dtype=object)


@pytest.mark.parametrize(("dob", "age", "on", "contradicts"), [
    ("2004-01-26", 16, "2020-04-01", False),
    ("2004-05-26", 16, "2020-04-01", False),   # 15 on the day: a year out is an estimate, not a contradiction
    ("2004-05-26", 17, "2020-04-01", True),    # 15 on the day, said to be 17
    ("2004-04-01", 16, "2020-04-01", False),   # the birthday itself
    ("1972-06-20", 16, "2020-04-01", True),    # a parent's DOB, or a child's age from another record
    ("2019-06-20", 16, "2020-04-01", True),
    (None, 16, "2020-04-01", False),           # nothing to contradict
    ("1972-06-20", None, None, False),
])
def test_a_dob_more_than_a_year_from_the_age_beside_it_contradicts_it(dob, age, on, contradicts):
    got = dob_contradicts_age(_dates(dob), pd.Series([age], dtype=object), _dates(on))
    assert got.tolist() == [contradicts]


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2024, 1, 1)), st.integers(0, 3000))
def test_the_age_a_dob_gives_never_contradicts_it(born: dt.date, days_later: int):
    on = born + dt.timedelta(days=days_later)
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    got = dob_contradicts_age(pd.Series([born], dtype=object), pd.Series([years], dtype=object),
                              pd.Series([on], dtype=object))
    assert not got.any()


def _extract(tmp_path: Path, rows: str, **columns: str) -> pd.DataFrame:
    cfg = SourceConfig(name="police", identity=FileConfig(
        file="people", date_formats=["%Y-%m-%d"],
        columns={"source_record_id": "Ref", "first_name": "Forename", "last_name": "Surname", "age": "Age",
                 **columns}))
    (tmp_path / "police").mkdir()
    header = "Ref,Forename,Surname,Age" + "".join(f",{c}" for c in columns.values())
    (tmp_path / "police" / "people.csv").write_text(f"{header}\n{rows}", encoding="utf-8")
    return extract_source(tmp_path / "police", cfg, reference_date=dt.date(2024, 6, 1)).identity.set_index(
        "source_record_id")


def test_an_age_is_staged_with_the_date_it_was_true_on(tmp_path):
    ident = _extract(tmp_path, "p1,Ann,Lee,12,2023-05-01\np2,Bo,Lee,12 yrs,\np3,Cy,Lee,old,2023-05-01\n"
                               f"p4,Di,Lee,{MAX_AGE + 1},2023-05-01\np5,Ed,Lee,,2023-05-01\n"
                               "p6,Flo,Lee,9,2030-01-01\n", age_recorded_on="Seen")
    got = {k: (v.age, v.age_recorded_on) for k, v in ident.iterrows()}
    assert got["p1"] == (12, dt.date(2023, 5, 1))
    assert got["p2"] == (12, dt.date(2024, 6, 1))  # no date given: the drop date
    for ref, flag in [("p3", "age_invalid_format"), ("p4", "age_implausible"), ("p6", "age_recorded_on_in_future")]:
        assert pd.isna(got[ref][0]) and pd.isna(got[ref][1]) and flag in ident.loc[ref, "quality_flags"]
    assert pd.isna(got["p5"][0]) and pd.isna(got["p5"][1])


def test_features_give_the_birth_window_only_without_a_usable_dob():
    identity = pd.DataFrame({
        "source": ["police"] * 3, "source_record_id": ["a", "b", "c"], "first_name": ["Ann", "Bo", "Cy"],
        "last_name": ["Lee"] * 3, "dob": [None, dt.date(2011, 3, 3), None], "age": [12, 12, 40],
        "age_recorded_on": [dt.date(2023, 5, 1)] * 3, "quality_flags": [[], [], []]})
    f = build_features(identity, dt.date(2024, 6, 1)).set_index("source_record_id")
    assert (f.loc["a", "birth_earliest"], f.loc["a", "birth_latest"]) == (dt.date(2010, 5, 2), dt.date(2011, 5, 1))
    assert f.loc["b", "birth_earliest"] is None  # the DOB is the evidence
    assert f.loc["c", "birth_earliest"] is None  # born before the plausible DOB range (1990 by default)


def test_a_dob_that_contradicts_its_age_is_flagged_and_compared_by_the_age_and_the_digits_typed(tmp_path):
    ident = _extract(tmp_path, "p1,Ann,Lee,12,2011-03-03\np2,Bo,Lee,12,2001-03-03\np3,Cy,Lee,,2001-03-03\n",
                     dob="Born")
    assert [DOB_CONTRADICTS_AGE_FLAG in ident.loc[r, "quality_flags"] for r in ("p1", "p2", "p3")] == [
        False, True, False]
    assert ident.loc["p2", "dob"] == dt.date(2001, 3, 3)  # kept for the record: either field may be the wrong one
    f = build_features(ident.reset_index(), dt.date(2024, 6, 1)).set_index("source_record_id")
    assert f.loc["p1", "dob"] == dt.date(2011, 3, 3) and f.loc["p1", "birth_earliest"] is None
    assert f.loc["p2", "dob"] is None and f.loc["p2", "dob_str"] == "2001-03-03"
    assert (f.loc["p2", "birth_earliest"], f.loc["p2", "birth_latest"]) == (dt.date(2011, 6, 2), dt.date(2012, 6, 1))
    assert f.loc["p3", "dob"] == dt.date(2001, 3, 3)


def _police_with_ages(tmp_path: Path, dob: str) -> tuple[Path, pd.DataFrame, pd.Series]:
    """The sample drop with each police nominal's age on the drop date beside (``dob="keep"``) or instead of
    (``"drop"``) the DOB, or beside a DOB keyed 5 years out (a sibling's) for every fourth nominal (``"every_fourth_wrong"``):
    ``(warehouse after svoc run, record_citizen with child_id, source_record_ids whose DOB was changed)``."""
    drop = tmp_path / "drop"
    shutil.copytree(SAMPLE, drop)
    nominals = drop / "police" / "nominals.csv"
    raw = pd.read_csv(nominals, dtype=str, keep_default_na=False)
    born = pd.to_datetime(raw["DateOfBirth"], format="%d-%b-%Y", errors="coerce")
    on = pd.Timestamp(json.loads((drop / "manifest.json").read_text())["drop_date"])
    before = (born.dt.month > on.month) | ((born.dt.month == on.month) & (born.dt.day > on.day))
    age = on.year - born.dt.year - before.astype(int)
    raw["Age"] = age.astype("Int64").astype(str).replace("<NA>", "")
    changed = pd.Series(dtype=str)
    if dob == "drop":
        raw["DateOfBirth"] = ""
    elif dob == "every_fourth_wrong":
        wrong = born.notna() & (raw.index % 4 == 0)
        raw.loc[wrong, "DateOfBirth"] = (born[wrong] - pd.DateOffset(years=5)).dt.strftime("%d-%b-%Y")
        changed = raw.loc[wrong & (raw["NominalID"] != ""), "NominalID"]  # a row without an id is quarantined
    raw.to_csv(nominals, index=False)
    (tmp_path / "sources.yaml").write_text(
        "sources:\n" + "".join(f"- name: {s}\n  preset: {s}\n" for s in ("education", "health", "social_care"))
        + "- name: police\n  preset: police\n  identity:\n    columns: {age: Age}\n", encoding="utf-8")
    warehouse = tmp_path / "w" / "svoc.duckdb"
    run_cli("run", "--drop", str(drop), "--warehouse", str(warehouse), "--sources", str(tmp_path / "sources.yaml"),
            tmp=tmp_path)
    truth = pd.read_csv(drop / "truth.csv", dtype=str)[["source", "source_record_id", "child_id"]]
    rc = pd.DataFrame(query(warehouse, "SELECT source, source_record_id, citizen_id FROM linked.record_citizen"),
                      columns=["source", "source_record_id", "citizen_id"]).merge(truth)
    assert (rc.groupby("citizen_id")["child_id"].nunique() == 1).all()  # no child's record in another's file
    return warehouse, rc, changed


def _share_linked_to_their_child(rc: pd.DataFrame, police_ids: pd.Series | None = None) -> float:
    """Of the police nominals (those in ``police_ids`` when given) whose child other sources hold, the share
    linked to every one of that child's other records."""
    police = rc[rc.source == "police"]
    if police_ids is not None:
        police = police[police.source_record_id.isin(police_ids)]
    others = rc[rc.source != "police"]
    linked = police[police.child_id.isin(others.child_id)].merge(others, on="child_id", suffixes=("", "_o"))
    assert len(linked) > 0
    return float((linked.citizen_id == linked.citizen_id_o).groupby(linked.source_record_id).all().mean())


@pytest.mark.slow
def test_police_records_with_ages_instead_of_dobs_link_to_the_right_children(tmp_path):
    """Every police nominal's DOB replaced by the age on the drop date: the nominals still link to their children
    (name, surname and address with an age that fits), never to another child, and the evidence shows the age
    level."""
    warehouse, rc, _ = _police_with_ages(tmp_path, dob="drop")
    staged = query(warehouse, "SELECT count(age), count(dob), min(age_recorded_on) FROM staging.identity_records "
                              "WHERE source = 'police'")
    assert staged[0][0] > 100 and staged[0][1] == 0 and staged[0][2] is not None
    share = _share_linked_to_their_child(rc)
    assert share >= 0.9, share
    levels = query(warehouse, "SELECT count(*) FROM audit.match_evidence WHERE evidence LIKE ?", [f"%{AGE_LABEL}%"])
    assert levels[0][0] > 0


@pytest.mark.slow
def test_a_police_dob_that_contradicts_the_age_beside_it_still_links_by_the_age(tmp_path):
    """Ages beside the DOBs, every fourth DOB keyed 5 years out (a sibling's): exactly those are flagged, and they link to
    their children as well as the rest do (by name, address and the age), never to another child."""
    warehouse, rc, changed = _police_with_ages(tmp_path, dob="every_fourth_wrong")
    flagged = {r[0] for r in query(warehouse, "SELECT source_record_id FROM staging.identity_records WHERE source ="
                                              " 'police' AND list_contains(quality_flags, ?)", [DOB_CONTRADICTS_AGE_FLAG])}
    assert flagged == set(changed) and len(flagged) > 20
    share = _share_linked_to_their_child(rc, changed)
    assert share >= 0.9, share
