"""Generic inputs in sources.yaml (issue 12 item 4): named identifiers, cannot-link identifiers, the earliest
plausible DOB, and non-UK postcodes kept as raw values.

Pure tests on the config models and the connectors, one migration test on a real DuckDB file, and one end to
end test through the CLI (``tests/e2e.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import string
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors import extract_source, load_source_configs
from connectors.standardise import IDENTIFIER_KEY, identifier_lists, standardise_identity
from schemas.config import (
    FileConfig,
    InteractionFileConfig,
    SourceConfig,
    SourcesOptions,
    cannot_link_names,
    identifier_name,
    load_sources_options,
    resolve_dob_from,
)
from schemas.errors import UnusableInputError
from schemas.records import IDENTITY_COLUMNS, IdentityRecord, identifier_entry, split_identifier_entry
from schemas.rules import DOB_FROM_DEFAULT, DOB_TOO_EARLY_FLAG
from schemas.tables import TABLES
from tests.e2e import query, run_cli

REF = dt.date(2024, 1, 1)
NAME_CHARS = string.ascii_letters + string.digits + "_"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- the column
def test_identifiers_is_a_varchar_list_column_of_identity_records() -> None:
    assert "identifiers" in IDENTITY_COLUMNS
    assert ("identifiers", "VARCHAR[]") in TABLES["staging.identity_records"]
    record = IdentityRecord(source="s", source_record_id="1", source_file="f", source_line=2,
                            identifiers=["SOC_SEC_ID=1234567"])
    assert record.identifiers == ["SOC_SEC_ID=1234567"]


@given(name=st.text(alphabet=NAME_CHARS, min_size=1, max_size=20),
       value=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_identifier_entry_round_trips(name: str, value: str) -> None:
    entry = identifier_entry(name, value)
    got_name, got_value = split_identifier_entry(entry)
    assert got_name == name.strip().upper()
    assert got_value == value.strip().upper()  # a value may itself hold '='


@pytest.mark.parametrize(("raw", "expected"), [
    ({"ssn": ["123-45", " 987 ", None], "email": ["A@B.ORG", "", "c@d.org"]},
     [["SSN=123-45", "EMAIL=A@B.ORG"], ["SSN=987"], ["EMAIL=C@D.ORG"]]),
    ({"ssn": ["NULL", "n/k", "  "], "email": [None, None, None]}, [[], [], []]),  # missing tokens left out
])
def test_identifier_lists(raw: dict, expected: list) -> None:
    frame = pd.DataFrame({f"col_{k}": pd.Series(v, dtype=object) for k, v in raw.items()})
    cfg = FileConfig(file="people", identifiers={k: f"col_{k}" for k in raw})
    colmap = {IDENTIFIER_KEY + k: f"col_{k}" for k in raw}
    assert identifier_lists(frame, cfg, colmap) == expected


def test_identifier_lists_without_identifiers_are_empty() -> None:
    assert identifier_lists(pd.DataFrame({"a": ["1", "2"]}), FileConfig(file="x"), {}) == [[], []]


# --------------------------------------------------------------------------------------- config models
@given(st.text(alphabet=NAME_CHARS, min_size=1, max_size=40))
def test_identifier_name_accepts_only_simple_names(name: str) -> None:
    valid = name[0].isalpha() and name.isascii()
    if valid:
        assert identifier_name(name) == name.lower()
    else:
        with pytest.raises(ValueError):
            identifier_name(name)


@pytest.mark.parametrize("name", ["", "1abc", "soc sec", "soc=sec", "ssn-id", "x" * 64])
def test_bad_identifier_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        FileConfig(file="people", identifiers={name: "SSN"})


@pytest.mark.parametrize(("identity", "error"), [
    ({"identifiers": {"ssn": "SSN", "SSN": "Other"}}, "given twice"),
    ({"identifiers": {"ssn": ""}}, "must name a source column"),
    ({"identifiers": {"ssn": "SSN"}, "cannot_link_identifiers": ["email"]}, "not names under 'identifiers:'"),
])
def test_identity_identifier_errors(identity: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        FileConfig(file="people", **identity)


def test_identifiers_names_are_lower_cased_and_cannot_links_deduplicated() -> None:
    cfg = FileConfig(file="people", identifiers={"Soc_Sec_ID": "SSN"}, cannot_link_identifiers=["SOC_SEC_ID", "soc_sec_id"])
    assert cfg.identifiers == {"soc_sec_id": "SSN"}
    assert cfg.cannot_link_identifiers == ["soc_sec_id"]


def test_identifiers_are_refused_on_an_interaction_file() -> None:
    with pytest.raises(ValidationError, match="identity section"):
        InteractionFileConfig(file="events", identifiers={"ssn": "SSN"})


@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_any_dob_from_date_is_allowed(day: dt.date) -> None:
    options = SourcesOptions.model_validate({"matching": {"dob_from": day.isoformat()}})
    assert options.matching.dob_from == day


@pytest.mark.parametrize(("setting", "in_file", "expected"), [
    (None, None, DOB_FROM_DEFAULT),
    (None, dt.date(1850, 1, 1), dt.date(1850, 1, 1)),
    (dt.date(1900, 6, 1), dt.date(1850, 1, 1), dt.date(1900, 6, 1)),  # the setting (env) wins over the file
    (dt.date(1900, 6, 1), None, dt.date(1900, 6, 1)),
])
def test_resolve_dob_from(setting: dt.date | None, in_file: dt.date | None, expected: dt.date) -> None:
    options = SourcesOptions.model_validate({"matching": {"dob_from": in_file}})
    assert resolve_dob_from(setting, options) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("sources: []\nmatching: {dob_from: not-a-date}\n", "matching.dob_from"),
    ("sources: []\nmatching: {dob_form: 1850-01-01}\n", "matching.dob_form"),
    ("sources: []\nmatchng: {dob_from: 1850-01-01}\n", "matchng"),
    ("sources: []\ncannot_link_identifiers: ['bad name']\n", "cannot_link_identifiers"),
])
def test_bad_top_level_keys_stop_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "sources.yaml", text)
    with pytest.raises(UnusableInputError) as err:
        load_sources_options(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def _sources_yaml(*registers: tuple[str, str, str]) -> str:
    """A sources.yaml of people registers, each ``(name, identifiers, extra identity lines)``, all alike but for
    these, with ``soc_sec_id`` as a top-level cannot-link and ``dob_from`` 1850-01-01."""
    body = "".join(f"""
  - name: {name}
    identity:
      file: people
      date_formats: ["%Y%m%d"]
      columns: {{source_record_id: rec_id, first_name: given_name, last_name: surname, dob: date_of_birth,
                postcode: postcode}}
      identifiers: {identifiers}{extra}""" for name, identifiers, extra in registers)
    return f"""
sources:{body}
cannot_link_identifiers: [soc_sec_id]
matching: {{dob_from: 1850-01-01}}
"""


SOURCES = _sources_yaml(("people_a", "{soc_sec_id: soc_sec_id, email: Email}", "\n      cannot_link_identifiers: [email]"),
                        ("people_b", "{soc_sec_id: SSN}", ""))


def test_cannot_link_names_from_top_level_and_sources(tmp_path: Path) -> None:
    path = _write(tmp_path / "sources.yaml", SOURCES)
    configs = load_source_configs(path)
    options = load_sources_options(path)
    assert options.matching.dob_from == dt.date(1850, 1, 1)
    assert cannot_link_names(options, configs, path) == ["soc_sec_id", "email"]
    unknown = SourcesOptions(cannot_link_identifiers=["council_id"])
    with pytest.raises(UnusableInputError, match="council_id"):
        cannot_link_names(unknown, configs, path)


def test_presets_merge_with_identifiers(tmp_path: Path) -> None:
    path = _write(tmp_path / "sources.yaml", """
sources:
  - name: police
    preset: police
    identity:
      identifiers: {custody_ref: CustodyRef}
""")
    [cfg] = load_source_configs(path)
    assert cfg.identity.identifiers == {"custody_ref": "CustodyRef"}
    assert cfg.identity.columns["last_name"]  # the preset's mapping is kept


# ----------------------------------------------------------------------------------------- connectors
PEOPLE = ("rec_id,given_name,surname,date_of_birth,postcode,soc_sec_id,Email\n"
          "a1,ann,lee,19230405,2612,1234567,ann@x.org\n"
          "a2,bob,ray,20120101,LS1 4AP,,NULL\n"
          "a3,cy,ng,,,7654321 ,\n")


@pytest.mark.parametrize(("dob_from", "early"), [(DOB_FROM_DEFAULT, {"a1"}), (dt.date(1850, 1, 1), set())])
def test_extract_fills_identifiers_and_honours_dob_from(tmp_path: Path, dob_from: dt.date, early: set) -> None:
    path = _write(tmp_path / "sources.yaml", SOURCES)
    cfg = load_source_configs(path)[0]
    _write(tmp_path / "drop" / "people_a" / "people.csv", PEOPLE)
    e = extract_source(tmp_path / "drop" / "people_a", cfg, reference_date=REF, dob_from=dob_from)
    ident = e.identity.set_index("source_record_id")
    assert ident.loc["a1", "identifiers"] == ["SOC_SEC_ID=1234567", "EMAIL=ANN@X.ORG"]
    assert ident.loc["a2", "identifiers"] == []
    assert ident.loc["a3", "identifiers"] == ["SOC_SEC_ID=7654321"]
    flagged = {rid for rid, flags in ident["quality_flags"].items() if DOB_TOO_EARLY_FLAG in flags}
    assert flagged == early
    assert ident.loc["a1", "dob"] == dt.date(1923, 4, 5)  # kept either way


def test_non_uk_postcode_keeps_its_raw_value(tmp_path: Path) -> None:
    cfg = load_source_configs(_write(tmp_path / "sources.yaml", SOURCES))[0]
    _write(tmp_path / "drop" / "people_a" / "people.csv", PEOPLE)
    ident = extract_source(tmp_path / "drop" / "people_a", cfg, reference_date=REF).identity
    ident = ident.set_index("source_record_id")
    assert ident.loc["a1", "postcode"] is None and ident.loc["a1", "postcode_raw"] == "2612"
    assert ident.loc["a2", "postcode"] == "LS1 4AP"


def test_a_missing_identifier_column_is_left_out_not_fatal(tmp_path: Path) -> None:
    cfg = SourceConfig(name="s", identity=FileConfig(file="people", columns={"source_record_id": "rec_id"},
                                                     identifiers={"council_id": "CouncilRef"}))
    _write(tmp_path / "s" / "people.csv", "rec_id\nr1\n")
    e = extract_source(tmp_path / "s", cfg, reference_date=REF)
    assert e.identity["identifiers"].tolist() == [[]]


def test_standardise_identity_dob_from_default_flags_before_1990() -> None:
    raw = pd.DataFrame({"id": ["1", "2"], "dob": ["1989-12-31", "1990-01-01"]}, dtype=object)
    cfg = FileConfig(file="p", columns={"source_record_id": "id", "dob": "dob"})
    out = standardise_identity(raw, cfg, {"source_record_id": "id", "dob": "dob"}, source="s",
                               record_ids=raw["id"], lines=np.array([2, 3]), file_label="p.csv", run_id=None,
                               reference_date=REF)
    assert [DOB_TOO_EARLY_FLAG in f for f in out["quality_flags"]] == [True, False]


# ------------------------------------------------------------------------------------ older warehouses
def test_an_older_warehouse_gains_the_identifiers_column(tmp_path: Path) -> None:
    from svoc.warehouse.sql import ensure_tables, write_frame

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    try:
        old = [(c, t) for c, t in TABLES["staging.identity_records"] if c != "identifiers"]
        con.execute("CREATE SCHEMA staging")
        con.execute("CREATE TABLE staging.identity_records ("
                    + ", ".join(f'"{c}" {t}' for c, t in old) + ")")
        ensure_tables(con)
        frame = pd.DataFrame([{"source": "s", "source_record_id": "1", "identifiers": ["SSN=1"],
                               "alternative_names": [], "quality_flags": [], "source_file": "f", "source_line": 2}])
        write_frame(con, "staging.identity_records", frame)
        got = con.execute("SELECT source_record_id, identifiers, source_line FROM staging.identity_records").fetchall()
    finally:
        con.close()
    assert got == [("1", ["SSN=1"], 2)]


# ---------------------------------------------------------------------------------------- end to end
E2E_SOURCES = _sources_yaml(("register_a", "{soc_sec_id: soc_sec_id}", ""), ("register_b", "{soc_sec_id: SSN}", ""))


def _e2e_drop(root: Path) -> Path:
    drop = root / "drop"
    people = [("Amelia", "Hart", "19480312", "2612", "5001"), ("Oliver", "Stone", "19611130", "4000", "5002"),
              ("Isla", "Moreno", "19790704", "3051", "5003"), ("Jack", "Finch", "19551019", "6000", "5004"),
              ("Ava", "Quinn", "19830228", "2000", "5005"), ("Noah", "Price", "19701201", "7000", "5006")]
    a = ["rec_id,given_name,surname,date_of_birth,postcode,soc_sec_id"]
    b = ["rec_id,given_name,surname,date_of_birth,postcode,SSN"]
    for i, (first, last, dob, pc, ssn) in enumerate(people):
        a.append(f"a{i},{first},{last},{dob},{pc},{ssn}")
        b.append(f"b{i},{first},{last},{dob},{pc},{ssn}")
    # Same name, DOB and postcode but two different social security numbers: a cannot-link keeps them apart.
    a.append("a6,Emma,Lowe,19660101,2000,5007")
    b.append("b6,Emma,Lowe,19660101,2000,5999")
    _write(drop / "register_a" / "people.csv", "\n".join(a) + "\n")
    _write(drop / "register_b" / "people.csv", "\n".join(b) + "\n")
    _write(drop / "manifest.json", json.dumps({"drop_date": "2024-01-01"}))
    return drop


@pytest.mark.slow
def test_sources_yaml_with_identifiers_through_the_cli(tmp_path: Path) -> None:
    drop = _e2e_drop(tmp_path)
    sources = _write(tmp_path / "sources.yaml", E2E_SOURCES)
    warehouse = tmp_path / "w" / "svoc.duckdb"
    run_cli("run", "--drop", str(drop), "--warehouse", str(warehouse), "--sources", str(sources), tmp=tmp_path)
    ids = dict(query(warehouse, "SELECT source || ':' || source_record_id, identifiers "
                                "FROM staging.identity_records"))
    assert ids["register_a:a0"] == ["SOC_SEC_ID=5001"] and ids["register_b:b5"] == ["SOC_SEC_ID=5006"]
    early = query(warehouse, "SELECT count(*) FROM staging.identity_records WHERE list_contains(quality_flags, ?)",
                  [DOB_TOO_EARLY_FLAG])
    assert early == [(0,)]  # matching.dob_from: 1850-01-01 makes these DOBs plausible
    assert query(warehouse, "SELECT postcode_raw FROM staging.identity_records WHERE source_record_id = 'a0'") \
        == [("2612",)]
    rc = dict(query(warehouse, "SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen"))
    assert len(rc) == 14
    assert all(rc[f"register_a:a{i}"] == rc[f"register_b:b{i}"] for i in range(6))  # each pair is one person
    assert rc["register_a:a6"] != rc["register_b:b6"]  # cannot_link_identifiers: [soc_sec_id]
    assert len(set(rc.values())) == 8

    # SVOC_DOB_FROM wins over the file: from 1960, the 1948 and 1955 DOBs (two people, two records each) are
    # flagged too early.
    again = tmp_path / "w2" / "svoc.duckdb"
    run_cli("run", "--drop", str(drop), "--warehouse", str(again), "--sources", str(sources), tmp=tmp_path,
            SVOC_DOB_FROM="1960-01-01")
    flagged = query(again, "SELECT source_record_id FROM staging.identity_records "
                           "WHERE list_contains(quality_flags, ?) ORDER BY 1", [DOB_TOO_EARLY_FLAG])
    assert flagged == [("a0",), ("a3",), ("b0",), ("b3",)]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("1850-01-01", "someday", "matching.dob_from"),  # a bad top-level key
    ("cannot_link_identifiers: [soc_sec_id]", "cannot_link_identifiers: [council_id]", "council_id"),
    ("identifiers: {soc_sec_id: SSN}", "identifiers: {soc sec: SSN}", "register_b"),  # a bad source entry
])
def test_a_bad_sources_yaml_stops_the_run_with_one_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    drop = _e2e_drop(tmp_path)
    assert old in E2E_SOURCES
    sources = _write(tmp_path / "sources.yaml", E2E_SOURCES.replace(old, new))
    proc = run_cli("run", "--drop", str(drop), "--warehouse", str(tmp_path / "w.duckdb"), "--sources",
                   str(sources), tmp=tmp_path, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and "sources.yaml" in errors[0]
    assert not (tmp_path / "w.duckdb").exists()


# ------------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(("value", "expected"), [("1850-01-01", dt.date(1850, 1, 1)), (None, None)])
def test_svoc_dob_from_setting(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: dt.date | None) -> None:
    from svoc.settings import get_settings

    monkeypatch.delenv("SVOC_DOB_FROM", raising=False)
    monkeypatch.delenv("CHILDVIEW_DOB_FROM", raising=False)
    if value is not None:
        monkeypatch.setenv("SVOC_DOB_FROM", value)
    assert get_settings().dob_from == expected


def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.errors import SvocError
    from svoc.settings import get_settings

    monkeypatch.setenv("SVOC_DOB_FROM", "not-a-date-secret")
    with pytest.raises(SvocError) as err:
        get_settings()
    message = str(err.value)
    assert "SVOC_DOB_FROM" in message and "\n" not in message
    assert "not-a-date-secret" not in message  # a value is never repeated: it could be a secret


def test_a_bad_setting_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    drop = _e2e_drop(tmp_path)
    proc = run_cli("run", "--drop", str(drop), "--warehouse", str(tmp_path / "w.duckdb"), tmp=tmp_path,
                   check=False, SVOC_DOB_FROM="someday")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "SVOC_DOB_FROM" in errors[0]
