"""Tests for the synthetic drop generator (svoc.synth)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from pathlib import Path

import jellyfish
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.gb import nhs as stdnhs
from stdnum.gb import upn as stdupn

from svoc.synth import build_state, corrupt, generate_drop, ids

N, SEED = 300, 11
SPEC = {  # the reference layouts, copied from the spec (not from the generator)
    "education/pupils.csv": "PupilID UPN FormerUPN Surname Forename MiddleNames PreferredSurname FormerSurname DOB "
                            "Sex AddressLine1 AddressLine2 Town Postcode SchoolURN SchoolName EntryDate LeavingDate "
                            "SENProvision FSMEligible",
    "education/attendance.csv": "PupilID AcademicYear Term SessionsPossible SessionsAuthorisedAbsence "
                                "SessionsUnauthorisedAbsence",
    "education/exclusions.csv": "PupilID StartDate Category Reason Sessions",
    "health/patients.csv": "PatientID NHSNumber GivenName OtherGivenNames FamilyName DateOfBirth Gender AddressLine1 "
                           "AddressLine2 AddressLine3 Postcode GPPracticeCode DateOfDeath",
    "health/encounters.csv": "PatientID EncounterDate EncounterType Detail",
    "police/nominals.csv": "NominalID PNCID Surname Forename1 Forename2 DateOfBirth Gender Address Postcode",
    "police/occurrences.csv": "OccurrenceRef NominalID OccurrenceDate OccurrenceType Role",
    "social_care/persons.csv": "PersonID NHSNumber UPN FirstName MiddleName LastName AlternativeNames DOB Gender "
                               "AddressLine1 AddressLine2 Town Postcode Ethnicity",
    "social_care/episodes.xlsx": "EpisodeID PersonID EpisodeType StartDate EndDate Reason",
}
IDENTITY = {"education": ("education/pupils.csv", "PupilID", "utf-8"),
            "health": ("health/patients.csv", "PatientID", "utf-8-sig"),
            "police": ("police/nominals.csv", "NominalID", "cp1252"),
            "social_care": ("social_care/persons.csv", "PersonID", "utf-8")}


@pytest.fixture(scope="module")
def drops(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    out = {}
    for key, night in (("n1", 1), ("n1b", 1), ("n2", 2)):
        generate_drop(N, SEED, base / key, night=night)
        out[key] = base / key
    return out


def read_rows(path: Path, encoding: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (starting physical line, fields) of every row, tolerant of undecodable bytes."""
    text = path.read_bytes().decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    rows, start = [], reader.line_num + 1
    for row in reader:
        rows.append((start, row))
        start = reader.line_num + 1
    return header, rows


def manifest(drop: Path) -> dict:
    return json.loads((drop / "manifest.json").read_text())


def test_layouts_have_exactly_the_spec_columns(drops):
    for rel, cols in SPEC.items():
        path = drops["n1"] / rel
        if rel.endswith(".xlsx"):
            header = list(pd.read_excel(path, sheet_name=0, nrows=0).columns)
        else:
            enc = "cp1252" if rel.startswith("police") else "utf-8-sig"
            header = next(csv.reader(io.StringIO(path.read_bytes().decode(enc, errors="replace"))))
        assert header == cols.split(), rel


def test_police_is_cp1252_and_health_patients_has_bom(drops):
    for rel in ("police/nominals.csv", "police/occurrences.csv"):
        raw = (drops["n1"] / rel).read_bytes()
        text = raw.decode("cp1252")  # strict: must decode
        assert "Ł" not in text and "\r\n" in text
    assert (drops["n1"] / "health/patients.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not (drops["n1"] / "education/pupils.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_deterministic_byte_identical(drops):
    a, b = drops["n1"], drops["n1b"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_manifest(drops):
    m1, m2 = manifest(drops["n1"]), manifest(drops["n2"])
    assert (m1["drop_date"], m1["night"], m1["seed"], m1["children"]) == ("2026-11-01", 1, SEED, N)
    assert m2["drop_date"] == "2026-11-02" and m2["night"] == 2
    assert set(m1["files"]) == set(SPEC)
    assert {b["kind"] for b in m1["broken_lines"]} == {"wrong_field_count", "missing_record_id",
                                                       "undecodable_bytes", "duplicate_record_id"}


def test_broken_lines_are_broken_where_the_manifest_says(drops):
    drop = drops["n1"]
    for b in manifest(drop)["broken_lines"]:
        rel = b["file"]
        enc = "cp1252" if rel.startswith("police") else "utf-8-sig"
        header, rows = read_rows(drop / rel, enc)
        row = dict(rows)[b["line"]]
        if b["kind"] == "wrong_field_count":
            assert len(row) != len(header)
        elif b["kind"] == "missing_record_id":
            assert row[0] == ""
        elif b["kind"] == "undecodable_bytes":
            raw = (drop / rel).read_bytes().split(b"\n")[b["line"] - 1]
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        else:
            assert [r[0] for _, r in rows].count(row[0]) == 2


def test_truth_covers_every_non_broken_identity_row(drops):
    drop = drops["n1"]
    truth = pd.read_csv(drop / "truth.csv", dtype=str, keep_default_na=False)
    assert list(truth.columns) == ["source", "source_record_id", "child_id", "family_id", "twin_group",
                                   "ethnicity", "dob_true"]
    broken = defaultdict(set)
    for b in manifest(drop)["broken_lines"]:
        broken[b["file"]].add(b["line"])
    for src, (rel, _, enc) in IDENTITY.items():
        _, rows = read_rows(drop / rel, enc)
        ids_in_file = [r[0] for line, r in rows if line not in broken[rel]]
        expected = truth.loc[truth["source"] == src, "source_record_id"].tolist()
        assert sorted(ids_in_file) == sorted(expected), src
        assert len(set(ids_in_file)) == len(ids_in_file)


def test_interactions_reference_identity_records(drops):
    drop = drops["n1"]
    truth = pd.read_csv(drop / "truth.csv", dtype=str)
    known = set(truth["source_record_id"])
    broken = {(b["file"], b["line"]) for b in manifest(drop)["broken_lines"]}

    def good_rows(rel: str, enc: str) -> pd.DataFrame:
        header, rows = read_rows(drop / rel, enc)
        return pd.DataFrame([r for line, r in rows if (rel, line) not in broken], columns=header)

    enc = good_rows("health/encounters.csv", "utf-8")
    occ = good_rows("police/occurrences.csv", "cp1252")
    ep = pd.read_excel(drop / "social_care/episodes.xlsx", dtype=str)
    assert enc["PatientID"].isin(known).all() and occ["NominalID"].isin(known).all()
    assert ep["PersonID"].isin(known).all()
    assert occ["OccurrenceDate"].str.match(r"^\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}$").all()
    total_inter = sum(v for k, v in manifest(drop)["records"].items() if k.split("/")[1].split(".")[0] in
                      ("attendance", "exclusions", "encounters", "occurrences", "episodes"))
    assert 3 <= total_inter / len(truth) <= 8


def test_date_formats(drops):
    pupils = pd.read_csv(drops["n1"] / "education/pupils.csv", dtype=str, keep_default_na=False,
                         encoding_errors="replace", on_bad_lines="skip")
    dob = pupils["DOB"]
    assert dob.str.match(r"^(\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2})( 00:00:00)?$").all()
    assert dob.str.match(r"^\d{2}/\d{2}/\d{4}$").mean() > 0.95
    assert pupils["AddressLine1"].str.contains("\n").any()  # RFC 4180 quoted embedded newline
    nominals = pd.read_csv(drops["n1"] / "police/nominals.csv", dtype=str, keep_default_na=False,
                           encoding="cp1252", on_bad_lines="skip")
    assert nominals["DateOfBirth"].str.match(r"^(\d{2}-[A-Z][a-z]{2}-\d{4})?$").all()
    assert set(nominals["Gender"]) <= {"Male", "Female", "Unknown"}


def test_twins_share_dob_surname_postcode_and_appear_in_several_sources(drops):
    state = build_state(N, SEED)
    pop = state["world"].pop
    twins = pop[pop["twin_group"] != ""]
    assert twins["twin_group"].nunique() >= 2
    postcode = state["world"].places.homes(twins["home"].to_numpy())["postcode"].to_numpy()
    twins = twins.assign(postcode=postcode)
    for _, g in twins.groupby("twin_group"):
        assert len(g) >= 2 and g["dob"].nunique() == 1 and g["surname"].nunique() == 1
        assert g["postcode"].nunique() == 1 and g["first"].nunique() == len(g)
    truth = pd.read_csv(drops["n1"] / "truth.csv", dtype=str, keep_default_na=False)
    per_twin = truth[truth["twin_group"] != ""].groupby("child_id")["source"].nunique()
    assert (per_twin >= 2).mean() > 0.6


def _identifier_owners(drop: Path) -> tuple[dict, dict]:
    truth = pd.read_csv(drop / "truth.csv", dtype=str, keep_default_na=False)
    child = dict(zip(zip(truth["source"], truth["source_record_id"], strict=False), truth["child_id"], strict=False))
    nhs, upn = defaultdict(set), defaultdict(set)
    sources = [("health", "NHSNumber", None), ("social_care", "NHSNumber", "UPN"),
               ("education", None, "UPN"), ("education", None, "FormerUPN")]
    for src, nhs_col, upn_col in sources:
        rel, id_col, enc = IDENTITY[src]
        df = pd.read_csv(drop / rel, dtype=str, keep_default_na=False, encoding=enc, encoding_errors="replace",
                         on_bad_lines="skip")
        for _, r in df.iterrows():
            who = child.get((src, r[id_col]))
            if who is None:
                continue
            if nhs_col and stdnhs.is_valid(re.sub(r"[\s-]", "", r[nhs_col])):
                nhs[re.sub(r"[\s-]", "", r[nhs_col])].add(who)
            if upn_col and stdupn.is_valid(r[upn_col]):
                upn[r[upn_col]].add(who)
    return nhs, upn


def test_no_valid_identifier_shared_by_two_children(drops):
    nhs, upn = _identifier_owners(drops["n1"])
    assert len(nhs) > N * 0.8 and len(upn) > N * 0.4
    assert all(len(v) == 1 for v in nhs.values())
    assert all(len(v) == 1 for v in upn.values())
    per_child = defaultdict(set)
    for number, who in nhs.items():
        per_child[next(iter(who))].add(number)
    assert all(len(v) == 1 for v in per_child.values())  # a child's valid NHS number is the same everywhere


def test_night2_keeps_persisting_ids_and_adds_new(drops):
    t1 = pd.read_csv(drops["n1"] / "truth.csv", dtype=str, keep_default_na=False)
    t2 = pd.read_csv(drops["n2"] / "truth.csv", dtype=str, keep_default_na=False)
    m = t1.merge(t2, on=["source", "source_record_id"], how="outer", indicator=True)
    both = m[m["_merge"] == "both"]
    assert (both["child_id_x"] == both["child_id_y"]).all()
    assert len(both) > 0.98 * len(t1)
    assert (m["_merge"] == "right_only").sum() > 0
    new_children = set(t2["child_id"]) - set(t1["child_id"])
    assert new_children


def test_xlsx_header_row_one_and_can_be_disabled(drops, tmp_path):
    df = pd.read_excel(drops["n1"] / "social_care/episodes.xlsx", sheet_name=0, dtype=str)
    assert list(df.columns) == SPEC["social_care/episodes.xlsx"].split() and len(df) > 0
    generate_drop(40, 3, tmp_path / "d", xlsx_files=())
    assert (tmp_path / "d/social_care/episodes.csv").exists()
    assert not (tmp_path / "d/social_care/episodes.xlsx").exists()


@pytest.mark.parametrize("raw,expected", [("Łukasz", "Lukasz"), ("Zoë", "Zoë"), ("Ștefan", "Stefan"),
                                          ("O'Brien", "O'Brien"), ("Wiśniewski", "Wisniewski")])
def test_cp1252_transliteration(raw, expected):
    assert corrupt.to_cp1252_safe(raw) == expected
    expected.encode("cp1252")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=12), st.integers(0, 2**32 - 1))
def test_typo_is_one_edit_and_keeps_first_letter(name, seed):
    out = corrupt.typo(name, np.random.default_rng(seed))
    assert out[0] == name[0]
    assert jellyfish.damerau_levenshtein_distance(name, out) <= 1


@settings(max_examples=40, deadline=None)
@given(st.dates(min_value=pd.Timestamp("2006-01-02").date(), max_value=pd.Timestamp("2026-10-30").date()),
       st.integers(0, 2**32 - 1))
def test_dob_slip_is_plausible(d, seed):
    true = np.array([np.datetime64(d)], dtype="datetime64[D]")
    out = corrupt.dob_slips(true, np.random.default_rng(seed))[0]
    swapped = pd.Timestamp(d).month <= 12 and d.day <= 12 and d.day != d.month and \
        out == np.datetime64(f"{d.year:04d}-{d.day:02d}-{d.month:02d}")
    one_day = abs(int((out - true[0]).astype(int))) == 1
    one_year = pd.Timestamp(out).year - d.year in (-1, 1) and pd.Timestamp(out).month == d.month
    assert out != true[0] and (swapped or one_day or one_year)


def test_identifier_generators_are_valid_and_unique():
    rng = np.random.default_rng(5)
    nums = ids.nhs_numbers(rng, 500)
    assert len(set(nums.tolist())) == 500
    assert all(stdnhs.is_valid(s) for s in ids.format_nhs(nums))
    assert not any(stdnhs.is_valid(s) for s in ids.format_nhs(ids.nhs_mistype(rng, nums)))
    bodies = ids.unique_upn_bodies(rng, np.full(300, 383), np.full(300, 2001), np.full(300, 2015), False)
    upns = ids.make_upns(bodies)
    assert len(set(upns)) == 300 and all(stdupn.is_valid(u) for u in upns)
    assert all(stdupn.calc_check_digit(u[1:]) == u[0] for u in upns)
