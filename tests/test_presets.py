"""Each preset reads its reference layout; dates and sex codes in every preset's formats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from connectors import PRESETS, extract_source, harmonise_sex, parse_dates
from schemas.errors import UnusableInputError
from schemas.records import IDENTITY_COLUMNS, INTERACTION_COLUMNS, QUARANTINE_COLUMNS

REF = dt.date(2026, 3, 1)

PUPILS = (
    "PupilID,UPN,FormerUPN,Surname,Forename,MiddleNames,PreferredSurname,FormerSurname,DOB,Sex,AddressLine1,"
    "AddressLine2,Town,Postcode,SchoolURN,SchoolName,EntryDate,LeavingDate,SENProvision,FSMEligible\n"
    'P001,,,O\'Brien,Zoë,Ann Marie,Brien,,03/01/2012,F,"1 High St\nFlat 2",,Leeds,ls1 4ap,100001,Leeds Primary,'
    "01/09/2016,,K,true\n"
    "P002,,,Jones,Tom,,,,2012-05-06,M,2 Low St,,Leeds,LS1,100001,Leeds Primary,01/09/2016,,N,false\n"
)
ATTENDANCE = ("PupilID,AcademicYear,Term,SessionsPossible,SessionsAuthorisedAbsence,SessionsUnauthorisedAbsence\n"
              "P001,2025/26,Autumn,140,4,10\nP001,2025/26,Spring,120,0,0\nP002,2024/25,Summer,100,2,1\n")
EXCLUSIONS = "PupilID,StartDate,Category,Reason,Sessions\nP001,03/02/2026,SUSP,PA,2\nP002,04/02/2026,PERM,VA,\n"
PATIENTS = (
    "PatientID,NHSNumber,GivenName,OtherGivenNames,FamilyName,DateOfBirth,Gender,AddressLine1,AddressLine2,"
    "AddressLine3,Postcode,GPPracticeCode,DateOfDeath\n"
    "H1,943 476 5919,Łukasz,,Nowak,2012-01-03,1,1 A St,,Leeds,LS1 4AP,B86001,\n"
    "H2,943-476-5910,Amy,,Lee,2012-01-01 00:00:00,2,,,,,B86001,\n"
)
ENCOUNTERS = "PatientID,EncounterDate,EncounterType,Detail\nH1,2025-01-01,ED_ATTENDANCE,fall\nH2,2025-02-01,CAMHS_REFERRAL,\n"
NOMINALS = (
    "NominalID,PNCID,Surname,Forename1,Forename2,DateOfBirth,Gender,Address,Postcode\r\n"
    'N1,,ÉMILE,ZOË,Jo,03-Jan-2012,Female,"1 Rue Street, Leeds",LS1 4AP\r\n'
    "N2,,SMITH,Bob,,03-JAN-2012,Male,,LS1\r\n"
)
OCCURRENCES = ("OccurrenceRef,NominalID,OccurrenceDate,OccurrenceType,Role\n"
               "O1,N1,03-Jan-2025 14:30,MISSING_PERSON,SUBJECT\nO2,N2,04-Jan-2025 00:00,DOMESTIC_ABUSE,CHILD_PRESENT\n")
PERSONS = (
    "PersonID,NHSNumber,UPN,FirstName,MiddleName,LastName,AlternativeNames,DOB,Gender,AddressLine1,AddressLine2,"
    "Town,Postcode,Ethnicity\n"
    "S1,9434765919,,Zoe,,O'Brien,Zo; Zoey,2012-01-03,F,1 High St,,Leeds,LS1 4AP,WBRI\n"
    "S2,,,Baby,,Smith,,2026-06-01,U,,,,,\n"
)
EPISODES = ("EpisodeID,PersonID,EpisodeType,StartDate,EndDate,Reason\n"
            "E1,S1,CP_PLAN,2025-01-01,,neglect\nE2,S1,LAC,2025-02-01,2025-06-01,\nE3,S2,EARLY_HELP,2025-03-01,,\n")

REFERENCE = {
    "education": {"pupils.csv": (PUPILS, "utf-8"), "attendance.csv": (ATTENDANCE, "utf-8"),
                  "exclusions.csv": (EXCLUSIONS, "utf-8")},
    "health": {"patients.csv": (PATIENTS, "utf-8-sig"), "encounters.csv": (ENCOUNTERS, "utf-8")},
    "police": {"nominals.csv": (NOMINALS, "cp1252"), "occurrences.csv": (OCCURRENCES, "cp1252")},
    "social_care": {"persons.csv": (PERSONS, "utf-8"), "episodes.csv": (EPISODES, "utf-8")},
}


def write_reference_drop(root: Path, sources=tuple(REFERENCE)) -> Path:
    """A tiny drop in the four reference layouts (police in cp1252, health patients with a BOM)."""
    for source in sources:
        folder = root / source
        folder.mkdir(parents=True, exist_ok=True)
        for name, (content, encoding) in REFERENCE[source].items():
            (folder / name).write_bytes(content.encode(encoding))
    return root


def _extract(root: Path, source: str):
    extract = extract_source(root / source, PRESETS[source], run_id="r1", reference_date=REF)
    assert tuple(extract.identity.columns) == IDENTITY_COLUMNS
    assert tuple(extract.interactions.columns) == INTERACTION_COLUMNS
    assert tuple(extract.quarantine.columns) == QUARANTINE_COLUMNS
    for a in extract.accounts:
        assert a.lines_in == a.header_lines + a.record_lines + a.quarantined_lines
    return extract


def test_education_reference_layout(tmp_path: Path):
    e = _extract(write_reference_drop(tmp_path, ["education"]), "education")
    assert e.quarantine.empty
    p1, p2 = e.identity.to_dict("records")
    assert (p1["first_name"], p1["middle_names"], p1["last_name"], p1["preferred_surname"]) == \
        ("Zoë", "Ann Marie", "O'Brien", "Brien")
    assert p1["source_line"] == 2 and p2["source_line"] == 4  # the quoted address spans lines 2-3
    assert p1["address_line"] == "1 High St Flat 2" and p1["postcode"] == "LS1 4AP"
    assert p1["dob"] == dt.date(2012, 1, 3) and p1["start_date"] == dt.date(2016, 9, 1) and p1["sex"] == "F"
    assert p1["fsm_eligible"] is True and p2["fsm_eligible"] is False and p1["sen_provision"] == "K"
    assert p1["organisation_code"] == "100001" and p2["postcode"] is None and "postcode_partial" in p2["quality_flags"]
    ix = e.interactions.set_index("event_id")
    autumn = ix.loc["P001/2025/26/Autumn"]
    assert autumn["event_type"] == "attendance_term" and autumn["event_date"] == dt.date(2025, 9, 1)
    assert (autumn["sessions_possible"], autumn["sessions_unauthorised_absence"]) == (140, 10)
    assert ix.loc["P001/2025/26/Spring", "event_date"] == dt.date(2026, 1, 1)
    assert ix.loc["P002/2024/25/Summer", "event_date"] == dt.date(2025, 4, 15)
    exc = e.interactions[e.interactions["source_file"] == "exclusions.csv"]
    assert exc["event_type"].tolist() == ["suspension", "permanent_exclusion"]
    assert exc["event_code"].tolist() == ["PA", "VA"] and exc["sessions"].tolist()[0] == 2.0
    assert all(i.startswith(("P001/", "P002/")) for i in exc["event_id"])
    again = _extract(tmp_path, "education")  # hash-based event ids are stable
    assert again.interactions["event_id"].tolist() == e.interactions["event_id"].tolist()


def test_health_reference_layout_with_bom(tmp_path: Path):
    e = _extract(write_reference_drop(tmp_path, ["health"]), "health")
    h1, h2 = e.identity.to_dict("records")
    assert h1["source_record_id"] == "H1"  # BOM stripped from the header
    assert h1["first_name"] == "Łukasz" and h1["nhs_number"] == "9434765919" and h1["sex"] == "M"
    assert h1["nhs_number_raw"] == "943 476 5919" and h1["address_line"] == "1 A St, Leeds"
    assert h1["organisation_code"] == "B86001"
    assert h2["nhs_number"] is None and "nhs_number_invalid_check_digit" in h2["quality_flags"]
    assert h2["dob"] == dt.date(2012, 1, 1) and h2["sex"] == "F"
    assert e.interactions["event_type"].tolist() == ["ed_attendance", "camhs_referral"]
    assert e.interactions["event_id"].str.match(r"^H[12]/[0-9a-f]{16}$").all()


def test_police_reference_layout_cp1252(tmp_path: Path):
    e = _extract(write_reference_drop(tmp_path, ["police"]), "police")
    n1, n2 = e.identity.to_dict("records")
    assert (n1["last_name"], n1["first_name"], n1["middle_names"]) == ("ÉMILE", "ZOË", "Jo")
    assert n1["address_line"] == "1 Rue Street, Leeds" and n1["sex"] == "F" and n2["sex"] == "M"
    assert n1["dob"] == n2["dob"] == dt.date(2012, 1, 3)
    o1, o2 = e.interactions.to_dict("records")
    assert (o1["event_id"], o1["event_type"], o1["role"], o1["event_date"]) == \
        ("O1", "missing_person", "SUBJECT", dt.date(2025, 1, 3))
    assert o2["event_type"] == "domestic_abuse" and o2["event_date"] == dt.date(2025, 1, 4)


def test_police_file_arriving_as_utf8_still_reads(tmp_path: Path):
    folder = tmp_path / "police"
    folder.mkdir()
    (folder / "nominals.csv").write_text(NOMINALS, encoding="utf-8")
    (folder / "occurrences.csv").write_text(OCCURRENCES, encoding="utf-8")
    e = _extract(tmp_path, "police")
    assert e.identity["last_name"].tolist() == ["ÉMILE", "SMITH"] and e.quarantine.empty


def test_social_care_reference_layout(tmp_path: Path):
    e = _extract(write_reference_drop(tmp_path, ["social_care"]), "social_care")
    s1, s2 = e.identity.to_dict("records")
    assert s1["alternative_names"] == ["Zo", "Zoey"] and s2["alternative_names"] == []
    assert s1["ethnicity"] == "WBRI" and s1["nhs_number"] == "9434765919" and s2["sex"] is None
    assert "dob_expected" in s2["quality_flags"] and "dob_in_future" not in s2["quality_flags"]
    assert s2["dob"] == dt.date(2026, 6, 1) and "first_name_placeholder" in s2["quality_flags"]
    ep = e.interactions.set_index("event_id")
    assert ep.loc["E1", "event_type"] == "cp_plan" and ep.loc["E1", "detail"] == "neglect"
    assert ep.loc["E2", "end_date"] == dt.date(2025, 6, 1) and ep.loc["E3", "event_type"] == "early_help"


def test_xlsx_and_parquet_variants_read_the_same(tmp_path: Path):
    write_reference_drop(tmp_path / "csv", ["education"])
    base = _extract(tmp_path / "csv", "education").identity
    rows = list(pd.read_csv(tmp_path / "csv" / "education" / "pupils.csv", dtype=str, keep_default_na=False)
                .itertuples(index=False))
    header = list(pd.read_csv(tmp_path / "csv" / "education" / "pupils.csv", nrows=0).columns)
    for variant in ("xlsx", "parquet"):
        write_reference_drop(tmp_path / variant, ["education"])
        folder = tmp_path / variant / "education"
        (folder / "pupils.csv").unlink()
        if variant == "xlsx":
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.append(header)
            for r in rows:
                values = list(r)
                values[header.index("DOB")] = dt.datetime(2012, 1, 3) if r.PupilID == "P001" else r.DOB
                ws.append([v if v != "" else None for v in values])
            wb.save(folder / "pupils.xlsx")
        else:
            pd.DataFrame(rows, columns=header).replace("", None).to_parquet(folder / "pupils.parquet")
        got = _extract(tmp_path / variant, "education").identity
        assert got["source_file"].iat[0] == f"pupils.{variant}"
        cols = ["source_record_id", "first_name", "last_name", "dob", "sex", "address_line", "postcode",
                "fsm_eligible", "organisation_code"]
        assert got[cols].to_dict("records") == base[cols].to_dict("records")


def test_missing_required_column_is_one_line(tmp_path: Path):
    folder = tmp_path / "education"
    write_reference_drop(tmp_path, ["education"])
    (folder / "pupils.csv").write_text(PUPILS.replace(",DOB,", ",BirthDate,", 1), encoding="utf-8")
    with pytest.raises(UnusableInputError) as err:
        extract_source(folder, PRESETS["education"], reference_date=REF)
    msg = str(err.value)
    assert msg == (f"{folder / 'pupils.csv'}: required column 'DOB' is missing "
                   "(map it in sources.yaml or fix the export)")


def test_missing_file_and_missing_optional_column(tmp_path: Path):
    write_reference_drop(tmp_path, ["education"])
    (tmp_path / "education" / "exclusions.csv").unlink()
    with pytest.raises(UnusableInputError, match=r"exclusions: file is missing"):
        extract_source(tmp_path / "education", PRESETS["education"], reference_date=REF)
    write_reference_drop(tmp_path, ["education"])
    frame = pd.read_csv(tmp_path / "education" / "pupils.csv", dtype=str, keep_default_na=False)
    frame.drop(columns=["FormerUPN", "SchoolName"]).assign(Extra="x").to_csv(tmp_path / "education" / "pupils.csv",
                                                                               index=False)
    e = _extract(tmp_path, "education")
    assert e.identity["organisation_name"].isna().all() and len(e.identity) == 2


@pytest.mark.parametrize("name, content", [
    ("pupils.xlsx", b"PupilID,DOB\nP1,01/01/2012\n"),
    ("pupils.parquet", b"this is not parquet at all"),
    ("pupils.csv", b"PK\x03\x04\x14\x00\x00\x00binary"),
])
def test_file_not_what_its_extension_says(tmp_path: Path, name: str, content: bytes):
    write_reference_drop(tmp_path, ["education"])
    (tmp_path / "education" / "pupils.csv").unlink()
    (tmp_path / "education" / name).write_bytes(content)
    with pytest.raises(UnusableInputError) as err:
        extract_source(tmp_path / "education", PRESETS["education"], reference_date=REF)
    assert str(err.value).startswith(str(tmp_path / "education" / name))


@pytest.mark.parametrize("source, raw, expected", [
    ("education", "03/01/2012", dt.date(2012, 1, 3)),
    ("education", "3/1/2012", dt.date(2012, 1, 3)),
    ("education", "2012-01-03", dt.date(2012, 1, 3)),
    ("education", "03/01/2012 00:00:00", dt.date(2012, 1, 3)),
    ("education", "2012-01-03 00:00:00", dt.date(2012, 1, 3)),
    ("police", "03-Jan-2012", dt.date(2012, 1, 3)),
    ("police", "03-JAN-2012", dt.date(2012, 1, 3)),
    ("police", "03-Jan-2012 00:00:00", dt.date(2012, 1, 3)),
    ("police", "2012-01-03", dt.date(2012, 1, 3)),
    ("health", "2012-01-03", dt.date(2012, 1, 3)),
    ("health", "2012-01-03 00:00:00", dt.date(2012, 1, 3)),
    ("health", "2012-01-03T00:00:00", dt.date(2012, 1, 3)),
    ("social_care", "2012-01-03", dt.date(2012, 1, 3)),
    ("education", "31/02/2012", None),
    ("police", "31-Feb-2012", None),
    ("health", "03/01/2012", None),
    ("social_care", "yesterday", None),
    ("health", "", None),
])
def test_dob_formats(source: str, raw: str, expected):
    dates, missing, unparseable = parse_dates(pd.Series([raw], dtype=object), PRESETS[source].identity.date_formats)
    assert dates.iat[0] == expected
    assert bool(unparseable.iat[0]) == (expected is None and raw != "")
    assert bool(missing.iat[0]) == (raw == "")


def test_occurrence_datetime_format():
    fmts = PRESETS["police"].interactions[0].date_formats
    dates, _, bad = parse_dates(pd.Series(["03-Jan-2025 14:30", "03-Jan-2025 25:99"], dtype=object), fmts)
    assert dates.tolist() == [dt.date(2025, 1, 3), None] and bad.tolist() == [False, True]


@pytest.mark.parametrize("source, dob, flags", [
    ("education", "2027-01-01", {"dob_in_future", "dob_impossible"}),
    ("education", "1985-06-01", {"dob_before_1990", "dob_impossible"}),
    ("education", "not a date", {"dob_unparseable"}),
    ("social_care", "2027-01-01", {"dob_expected"}),
    ("health", "2012-01-01", set()),
])
def test_impossible_dob_is_kept_and_flagged(tmp_path: Path, source: str, dob: str, flags: set[str]):
    write_reference_drop(tmp_path, [source])
    path = next((tmp_path / source).glob(f"{PRESETS[source].identity.file}.csv"))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame[PRESETS[source].identity.columns["dob"]] = dob
    frame.to_csv(path, index=False)
    row = _extract(tmp_path, source).identity.iloc[0]
    date_flags = {f for f in row["quality_flags"] if f.startswith("dob_")}
    assert date_flags == flags
    assert (row["dob"] is None) == ("dob_unparseable" in flags)


def test_dod_before_dob(tmp_path: Path):
    write_reference_drop(tmp_path, ["health"])
    (tmp_path / "health" / "patients.csv").write_text(PATIENTS.replace("B86001,\nH2", "B86001,2011-01-01\nH2"))
    row = _extract(tmp_path, "health").identity.iloc[0]
    assert row["date_of_death"] == dt.date(2011, 1, 1) and "dod_before_dob" in row["quality_flags"]


@pytest.mark.parametrize("source, raw, expected", [
    ("education", "M", "M"), ("education", "F", "F"), ("education", "f", "F"), ("education", "", None),
    ("health", "1", "M"), ("health", "2", "F"), ("health", "9", None), ("health", "0", None),
    ("police", "Male", "M"), ("police", "Female", "F"), ("police", "Unknown", None), ("police", "MALE", "M"),
    ("social_care", "M", "M"), ("social_care", "F", "F"), ("social_care", "U", None), ("social_care", "I", None),
])
def test_sex_codes(source: str, raw: str, expected):
    sex, sex_raw, bad = harmonise_sex(pd.Series([raw], dtype=object), PRESETS[source].identity.code_maps["sex"])
    assert sex.iat[0] == expected and not bad.iat[0]
    assert sex_raw.iat[0] == (raw or None)


def test_unrecognised_sex_code_is_flagged():
    sex, _, bad = harmonise_sex(pd.Series(["X", "3"], dtype=object), PRESETS["health"].identity.code_maps["sex"])
    assert sex.tolist() == [None, None] and bad.tolist() == [True, True]
