"""SQL reader: social care persons and episodes from SQLite and from a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import extract_source, load_source_configs, read_sql
from connectors.presets import PRESETS
from schemas.config import SqlLocation
from schemas.errors import UnusableInputError
from schemas.records import IDENTITY_COLUMNS, INTERACTION_COLUMNS
from tests.pg import postgres_url  # noqa: F401  (fixture)

REF = dt.date(2026, 3, 1)

PERSONS = pd.DataFrame({
    "PersonID": ["S1", "S2", "S3", "S2", None],
    "NHSNumber": ["943 476 5919", None, "1234567890", None, None],
    "UPN": [None, None, None, None, None],
    "FirstName": ["Zoë", "Baby", "Łukasz", "Ann", "Nobody"],
    "MiddleName": [None, None, None, None, None],
    "LastName": ["O'Brien", "Smith", "Nowak", "Lee", "X"],
    "AlternativeNames": ["Zoe;Zo", None, None, None, None],
    "DOB": [dt.date(2012, 1, 3), dt.date(2026, 6, 1), dt.date(2011, 2, 3), dt.date(2010, 1, 1), None],
    "Gender": ["F", "U", "M", "F", "M"],
    "AddressLine1": ["1 High St", None, None, None, None],
    "AddressLine2": [None, None, None, None, None],
    "Town": ["Leeds", None, None, None, None],
    "Postcode": ["ls1 4ap", None, None, None, None],
    "Ethnicity": ["WBRI", None, None, None, None],
})
EPISODES = pd.DataFrame({
    "EpisodeID": [101, 102, 103],
    "PersonID": ["S1", "S1", "S3"],
    "EpisodeType": ["CP_PLAN", "LAC", "CONTACT"],
    "StartDate": [dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1, 9, 30), dt.datetime(2025, 3, 1)],
    "EndDate": [None, dt.datetime(2025, 6, 1), None],
    "Reason": ["neglect", None, "school concern"],
})


def _load(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        PERSONS.to_sql("persons", conn, index=False, if_exists="replace")
        EPISODES.to_sql("episodes", conn, index=False, if_exists="replace")
    engine.dispose()


def _sql_config(monkeypatch, url: str):
    monkeypatch.setenv("CV_TEST_SC_URL", url)
    cfg = PRESETS["social_care"].model_copy(deep=True)
    cfg.identity.sql = SqlLocation(url_env="CV_TEST_SC_URL", table="persons")
    cfg.interactions[0].sql = SqlLocation(url_env="CV_TEST_SC_URL", query="SELECT * FROM episodes ORDER BY 1")
    return cfg


def _check_extract(extract, dialect: str) -> None:
    ident = extract.identity
    assert tuple(ident.columns) == IDENTITY_COLUMNS
    assert tuple(extract.interactions.columns) == INTERACTION_COLUMNS
    assert ident["source_record_id"].tolist() == ["S1", "S2", "S3"]
    assert set(ident["source_file"]) == {f"persons@{dialect}"}
    assert ident["source_line"].tolist() == [1, 2, 3]
    s1 = ident.iloc[0]
    assert s1["nhs_number"] == "9434765919" and s1["postcode"] == "LS1 4AP" and s1["dob"] == dt.date(2012, 1, 3)
    assert s1["alternative_names"] == ["Zoe", "Zo"] and s1["first_name"] == "Zoë" and s1["sex"] == "F"
    assert "dob_expected" in ident.iloc[1]["quality_flags"] and ident.iloc[1]["sex"] is None
    assert ident.iloc[2]["nhs_number"] is None and "nhs_number_invalid_check_digit" in ident.iloc[2]["quality_flags"]
    q = extract.quarantine.sort_values("line_number")
    assert q["line_number"].tolist() == [4, 5]
    assert q["reason"].tolist() == ["PersonID 'S2' already seen at line 2", "PersonID is missing"]
    assert set(q["file"]) == {f"persons@{dialect}"}
    ix = extract.interactions
    assert ix["event_id"].tolist() == ["101", "102", "103"]
    assert ix["event_type"].tolist() == ["cp_plan", "lac", "sc_contact"]
    assert ix["event_date"].tolist() == [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
    assert ix["end_date"].tolist() == [None, dt.date(2025, 6, 1), None]
    assert set(ix["source_file"]) == {f"query@{dialect}"}
    for account in extract.accounts:
        assert account.lines_in == account.records_out + account.quarantined


def test_read_sql_sqlite_table_and_query(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'sc.db'}"
    _load(url)
    stream = read_sql(url, table="persons")
    assert stream.label == "persons@sqlite"
    frame, quarantined = stream.to_frame()
    assert quarantined == [] and len(frame) == 5 and frame["__line__"].tolist() == [1, 2, 3, 4, 5]
    assert frame.loc[0, "DOB"] == "2012-01-03" and frame.loc[4, "PersonID"] is None
    q_frame, _ = read_sql(url, query="SELECT EpisodeID, StartDate FROM episodes").to_frame()
    assert q_frame["EpisodeID"].tolist() == ["101", "102", "103"]
    starts = q_frame["StartDate"].tolist()  # SQLite keeps datetimes as text, as given
    assert starts[0].startswith("2025-01-01") and starts[1].startswith("2025-02-01 09:30:00")
    with pytest.raises(ValueError):
        read_sql(url)


def test_extract_social_care_from_sqlite(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'sc.db'}"
    _load(url)
    extract = extract_source(tmp_path / "no_folder_needed", _sql_config(monkeypatch, url), reference_date=REF)
    _check_extract(extract, "sqlite")


def test_missing_table_and_env_var_errors_are_one_line(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(UnusableInputError) as err:
        read_sql(url, table="persons")
    assert str(err.value).startswith("persons@sqlite: cannot read from the database") and "\n" not in str(err.value)
    cfg = PRESETS["social_care"].model_copy(deep=True)
    cfg.identity.sql = SqlLocation(url_env="CV_TEST_UNSET_URL", table="persons")
    monkeypatch.delenv("CV_TEST_UNSET_URL", raising=False)
    with pytest.raises(UnusableInputError, match="environment variable CV_TEST_UNSET_URL is not set"):
        extract_source(tmp_path, cfg)


def test_sql_location_from_sources_yaml(tmp_path: Path):
    yaml_path = tmp_path / "sources.yaml"
    yaml_path.write_text(
        "sources:\n"
        "  - name: social_care\n    preset: social_care\n"
        "    identity: {sql: {url_env: SC_DB_URL, table: reporting.persons}}\n"
    )
    [cfg] = load_source_configs(yaml_path)
    assert cfg.identity.sql.url_env == "SC_DB_URL" and cfg.identity.sql.table == "reporting.persons"
    assert cfg.identity.columns["source_record_id"] == "PersonID"  # preset mapping kept


@pytest.mark.postgres
def test_extract_social_care_from_postgresql(postgres_url, monkeypatch):  # noqa: F811
    _load(postgres_url)
    extract = extract_source(Path("/nonexistent"), _sql_config(monkeypatch, postgres_url), reference_date=REF)
    _check_extract(extract, "postgresql")


@pytest.mark.postgres
def test_postgresql_errors_never_show_the_password(postgres_url):  # noqa: F811
    password = sa.make_url(postgres_url).password
    with pytest.raises(UnusableInputError) as err:
        read_sql(postgres_url, table="no_such_table")
    assert password not in str(err.value) and str(err.value).startswith("no_such_table@postgresql:")
    bad = postgres_url.replace(password, password + "x")
    with pytest.raises(UnusableInputError) as err:
        read_sql(bad, table="persons")
    assert password not in str(err.value)
