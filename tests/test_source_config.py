"""One home per source (issue 11): quality thresholds, survivorship ranks, the known_to flag and indicator opt-ins
are fields of the source's config, set in its preset and overridable in sources.yaml."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import PRESETS, load_source_configs
from quality.suites import GENERIC_RULES, identity_specs, rules_for
from schemas.errors import UnusableInputError
from schemas.indicators import INDICATORS
from svoc.stages.single_view import reliability_ranks


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("source", "field", "expected"), [
    ("education", "present", {"last_name": 0.98, "first_name": 0.98, "dob": 0.98, "postcode": 0.9}),
    ("health", "id_validity", {"nhs_number": 0.95}),
    ("police", "dob_in_range_mostly", 0.98),
    ("social_care", "dob_future_months", 9),
])
def test_presets_carry_the_reference_quality_thresholds(source, field, expected):
    assert getattr(rules_for(PRESETS[source]), field) == expected


def test_every_catalogue_indicator_is_fed_by_a_preset():
    fed = {name for cfg in PRESETS.values() for name in cfg.indicators}
    assert fed == set(INDICATORS)


def test_presets_carry_the_reference_survivorship_ranks():
    ranks = reliability_ranks(list(PRESETS.values()))
    assert ranks["name"] == {"education": 4, "health": 3, "social_care": 2, "police": 1}
    assert ranks["dob"] == ranks["sex"] == {"education": 3, "health": 4, "social_care": 2, "police": 1}
    assert ranks["postcode"] == {"education": 3, "health": 3, "social_care": 2, "police": 1}


def test_sources_yaml_overrides_a_preset_and_adds_a_first_class_source(tmp_path):
    path = _yaml(tmp_path, """
sources:
  - name: police
    preset: police
    reliability: {dob: 5}
    quality:
      present: {postcode: 0.2}
      dob_in_range_mostly: 0.9
    indicators: [police_missing_episodes_12m]
    known_to: known_to_police_force
  - name: youth_justice
    identity:
      file: yot_people
      columns: {source_record_id: YOTRef, last_name: Surname, dob: DOB}
    indicators: [police_incidents_12m]
""")
    police, yj = load_source_configs(path)
    assert police.reliability == {"name": 1, "dob": 5, "sex": 1, "postcode": 1}
    assert police.quality.present == {"last_name": 0.9, "first_name": 0.85, "dob": 0.7, "postcode": 0.2}
    assert police.quality.dob_in_range_mostly == 0.9
    assert police.quality.id_validity == {"pnc_id": 0.9}  # kept from the preset
    assert police.indicators == ["police_missing_episodes_12m"]
    assert police.known_to_column() == "known_to_police_force"
    assert yj.quality == GENERIC_RULES
    assert yj.known_to_column() == "known_to_youth_justice"
    assert yj.reliability == {} and reliability_ranks([yj])["name"] == {"youth_justice": 0}
    specs = {s.check: s for s in identity_specs(rules_for(police), None, dt.date(2026, 1, 1))}
    assert specs["postcode_mostly_present"].kwargs["mostly"] == 0.2
    assert specs["dob_within_range"].kwargs["mostly"] == 0.9
    # Check names and severities do not depend on the thresholds.
    generic = {s.check: s.severity for s in identity_specs(GENERIC_RULES, None, dt.date(2026, 1, 1))}
    assert all(generic[c] == s.severity for c, s in specs.items() if c in generic)


@pytest.mark.parametrize(("entry", "message"), [
    ("indicators: [knife_crime_12m]", "unknown indicators ['knife_crime_12m']"),
    ("reliability: {address: 3}", "reliability ranks fields"),
    ("reliability: {dob: 1000}", "whole numbers from 0 to 99"),
    ("known_to: 'Robert; DROP TABLE'", "known_to must be"),
    ("quality: {id_validity: {passport: 0.9}}", "id_validity can check"),
    ("quality: {present: {dob: 1.5}}", "between 0 and 1"),
    ("quality: {colour: blue}", "Extra inputs are not permitted"),
])
def test_a_bad_per_source_key_stops_with_one_line(tmp_path, entry, message):
    path = _yaml(tmp_path, f"""
sources:
  - name: health
    preset: health
    {entry}
""")
    with pytest.raises(UnusableInputError) as err:
        load_source_configs(path)
    text = str(err.value)
    assert message in text and "health" in text and "\n" not in text


def test_two_sources_cannot_share_a_known_to_column(tmp_path):
    path = _yaml(tmp_path, """
sources:
  - {name: police, preset: police}
  - name: police_two
    preset: police
    known_to: known_to_police
""")
    with pytest.raises(UnusableInputError) as err:
        load_source_configs(path)
    assert "known_to column 'known_to_police' is already the flag of source 'police'" in str(err.value)


@pytest.mark.slow
def test_a_fifth_source_in_sources_yaml_is_first_class_through_the_cli(demo_copy, tmp_path):
    """No code change: its own flag in the single view and the analytics file, and it feeds the indicator it
    lists (a police-style nominal copied as a youth justice record joins the same child)."""
    import csv

    from svoc.warehouse.analytics import analytics_path
    from tests.e2e import query, run_cli

    with open(demo_copy / "police" / "nominals.csv", encoding="utf-8") as fh:
        nominal = next(csv.DictReader(fh))
    yj = demo_copy / "youth_justice"
    yj.mkdir()
    (yj / "yot_people.csv").write_text(
        "YOTRef,Forename,Surname,DOB,Postcode\n"
        f"Y1,{nominal['Forename1']},{nominal['Surname']},{nominal['DateOfBirth']},{nominal['Postcode']}\n",
        encoding="utf-8")
    (yj / "yot_events.csv").write_text("YOTRef,Ref,Date,Kind\nY1,E1,2026-10-01,MISSING\n", encoding="utf-8")
    sources = _yaml(tmp_path, """
sources:
  - {name: education, preset: education}
  - {name: health, preset: health}
  - {name: police, preset: police}
  - {name: social_care, preset: social_care}
  - name: youth_justice
    identity:
      file: yot_people
      date_formats: ["%d-%b-%Y"]
      columns: {source_record_id: YOTRef, first_name: Forename, last_name: Surname, dob: DOB, postcode: Postcode}
    interactions:
      - file: yot_events
        columns: {source_record_id: YOTRef, event_id: Ref, event_date: Date, event_type: Kind}
        code_maps: {event_type: {MISSING: missing_person}}
    indicators: [police_missing_episodes_12m]
""")
    target = tmp_path / "wh" / "svoc.duckdb"
    run_cli("run", "--drop", str(demo_copy), "--warehouse", str(target), "--sources", str(sources), tmp=tmp_path)
    [(known, missing, agencies)] = query(target, """
        SELECT known_to_youth_justice, police_missing_episodes_12m, sources FROM linked.single_view
        WHERE citizen_id = (SELECT citizen_id FROM linked.record_citizen WHERE source = 'youth_justice')""")
    assert known is True and "youth_justice" in agencies
    assert missing >= 1
    assert query(target, "SELECT count(*) FROM linked.single_view WHERE known_to_youth_justice")[0][0] == 1
    assert "known_to_youth_justice" in {c for (c,) in query(
        analytics_path(target), "SELECT column_name FROM duckdb_columns() WHERE table_name = 'single_view'")}


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), st.sampled_from(["known_to_x\n", "known_to_yot", "known_to_Yot", "known_to_"])))
def test_known_to_accepts_only_plain_known_to_names(name):
    from schemas.config import FileConfig, SourceConfig
    from schemas.source_rules import KNOWN_TO_PATTERN

    try:
        cfg = SourceConfig(name="x", identity=FileConfig(file="f"), known_to=name)
    except ValueError:
        assert not KNOWN_TO_PATTERN.fullmatch(name)
    else:
        assert cfg.known_to_column() == name
        assert name.startswith("known_to_") and name.replace("_", "").isalnum() and name.isascii()
