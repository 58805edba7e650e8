"""Custom layouts through sources.yaml alone: renamed columns on a preset, and a new source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors import PRESETS, extract_source, load_source_configs
from schemas.errors import UnusableInputError
from schemas.records import IDENTITY_COLUMNS, INTERACTION_COLUMNS

REF = dt.date(2026, 3, 1)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def test_no_file_means_the_four_presets():
    configs = load_source_configs(None)
    assert [c.name for c in configs] == ["education", "health", "police", "social_care"]
    configs[0].identity.columns["dob"] = "changed"
    assert PRESETS["education"].identity.columns["dob"] == "DOB"  # callers get copies


def test_renamed_columns_on_a_preset(tmp_path: Path):
    yaml_path = _write(tmp_path / "sources.yaml", """
sources:
  - name: police
    preset: police
    identity:
      file: people
      encoding: utf-8
      date_formats: ["%Y%m%d"]
      columns: {source_record_id: PersonRef, last_name: FamilyName, dob: BirthDate}
      code_maps:
        sex: {"1": M, "2": F}
    interactions:
      - file: occurrences
        columns: {event_type: IncidentKind}
        code_maps:
          event_type: {MISPER: missing_person}
""")
    [cfg] = load_source_configs(yaml_path)
    assert cfg.identity.columns["first_name"] == "Forename1"  # preset mapping kept
    assert cfg.interactions[0].columns["event_id"] == "OccurrenceRef"
    assert cfg.interactions[0].code_maps["event_type"]["MISSING_PERSON"] == "missing_person"
    folder = tmp_path / "drop" / "police"
    _write(folder / "people.csv", "PersonRef,PNCID,FamilyName,Forename1,Forename2,BirthDate,Gender,Address,Postcode\n"
                                  "R1,,Nowak,Łukasz,,20120103,1,,LS1 4AP\nR2,,Lee,Amy,,2012-02-03,2,,\n")
    _write(folder / "occurrences.csv", "OccurrenceRef,NominalID,OccurrenceDate,IncidentKind,Role\n"
                                       "O1,R1,03-Jan-2025 10:00,MISPER,SUBJECT\nO2,R2,04-Jan-2025 10:00,CRIME,\n")
    e = extract_source(folder, cfg, reference_date=REF)
    assert e.identity[["source_record_id", "last_name", "first_name", "dob", "sex"]].values.tolist() == [
        ["R1", "Nowak", "Łukasz", dt.date(2012, 1, 3), "M"], ["R2", "Lee", "Amy", dt.date(2012, 2, 3), "F"]]
    assert e.interactions["event_type"].tolist() == ["missing_person", "crime"]
    assert e.quarantine.empty


def test_extra_source_youth_justice(tmp_path: Path):
    yaml_path = _write(tmp_path / "sources.yaml", """
sources:
  - preset: education
    name: education
  - name: youth_justice
    identity:
      file: yot_clients
      date_formats: ["%d.%m.%Y"]
      columns:
        source_record_id: ClientNo
        first_name: Given
        last_name: Family
        dob: Born
        sex: Sex
        postcode: PostCode
        pnc_id: PNC
      concat: {address_line: [Street, District]}
      required: [source_record_id, last_name, dob]
      code_maps:
        sex: {Boy: M, Girl: F}
    interactions:
      - file: orders
        columns: {source_record_id: ClientNo, event_id: OrderNo, event_date: Made, end_date: Ends, detail: Kind}
        event_type: crime
        date_formats: ["%d.%m.%Y"]
""")
    configs = load_source_configs(yaml_path)
    assert [c.name for c in configs] == ["education", "youth_justice"]
    yj = configs[1]
    folder = tmp_path / "drop" / "youth_justice"
    _write(folder / "yot_clients.csv", "ClientNo,Given,Family,Born,Sex,Street,District,PostCode,PNC,Unused\n"
                                       "Y1,Jay,Khan,03.01.2009,Boy,1 Road,Hunslet,LS10 1AB,,x\n"
                                       "Y2,Kim,Ng,31.02.2009,Girl,,,ls10,,x\n"
                                       "Y1,Again,Khan,03.01.2009,Boy,,,,,x\n")
    _write(folder / "orders.csv", "OrderNo,ClientNo,Made,Ends,Kind\nORD1,Y1,01.02.2025,,Referral order\n")
    e = extract_source(folder, yj, run_id="r9", reference_date=REF)
    assert tuple(e.identity.columns) == IDENTITY_COLUMNS and tuple(e.interactions.columns) == INTERACTION_COLUMNS
    y1, y2 = e.identity.to_dict("records")
    assert y1["source"] == "youth_justice" and y1["sex"] == "M" and y1["address_line"] == "1 Road, Hunslet"
    assert y1["dob"] == dt.date(2009, 1, 3) and y1["postcode"] == "LS10 1AB" and y1["run_id"] == "r9"
    assert y2["dob"] is None and "dob_unparseable" in y2["quality_flags"] and "postcode_partial" in y2["quality_flags"]
    assert e.quarantine["reason"].tolist() == ["ClientNo 'Y1' already seen at line 2"]
    [order] = e.interactions.to_dict("records")
    assert (order["event_id"], order["event_type"], order["event_date"], order["detail"]) == \
        ("ORD1", "crime", dt.date(2025, 2, 1), "Referral order")


@pytest.mark.parametrize("yaml_text, message", [
    ("sources:\n  - name: x\n    preset: nope\n    identity: {file: a}\n", "unknown preset 'nope'"),
    ("sources:\n  - name: x\n    identity: {file: a, colums: {}}\n", "source 'x': identity.colums"),
    ("sources:\n  - name: x\n    identity: {file: a}\n    interactions:\n      - file: b\n"
     "        code_maps: {event_type: {A: not_a_type}}\n", "not in the shared vocabulary"),
    ("sources:\n  - name: x\n    identity: {file: a, encoding: klingon}\n", "unknown encoding"),
    ("sources:\n  - name: x\n    identity: {file: a, columns: {source_record_id: ID, frist_name: F}}\n",
     "identity: columns: 'frist_name' is not a field svoc reads from an identity file; did you mean 'first_name'?"),
    ("sources:\n  - name: x\n    identity: {file: a, columns: {source_record_id: ID}}\n    interactions:\n"
     "      - {file: b, columns: {source_record_id: ID, event_dat: D}}\n",
     "'event_dat' is not a field svoc reads from an interaction file; did you mean 'event_date'?"),
    ("sources:\n  - name: x\n    identity: {file: a, required: [dob, fullname]}\n",
     "required: 'fullname' is not a field svoc reads from an identity file; did you mean 'full_name'?"),
    ("sources:\n  - preset: police\n  - preset: police\n", "configured twice"),
    ("sources: [\n", "cannot be parsed"),
    ("sources: []\n", "non-empty 'sources:' list"),
])
def test_bad_sources_yaml_gives_one_line_error(tmp_path: Path, yaml_text: str, message: str):
    path = _write(tmp_path / "sources.yaml", yaml_text)
    with pytest.raises(UnusableInputError) as err:
        load_source_configs(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(str(path))


def test_interactions_list_replaces_the_presets(tmp_path: Path):
    path = _write(tmp_path / "sources.yaml", "sources:\n  - preset: education\n    interactions:\n"
                                             "      - {file: exclusions, optional: true}\n")
    [cfg] = load_source_configs(path)
    assert [i.file for i in cfg.interactions] == ["exclusions"]
    assert cfg.interactions[0].optional and cfg.interactions[0].columns["event_type"] == "Category"
