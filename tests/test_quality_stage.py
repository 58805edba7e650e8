"""The quality stage reads only the staged columns the checks use, and its results equal a whole-table run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

import quality
from connectors.presets import PRESETS
from quality.runner import INTERACTION_COLUMNS, identity_columns
from quality.suites import rules_for
from svoc.stages.quality import _staged, arrow_frame, check_source_quality
from svoc.warehouse.sql import ensure_tables, write_frame
from tests.test_quality import REF, identity_frame, interactions_frame


def _staging(path: Path, source: str) -> duckdb.DuckDBPyConnection:
    """A build file with a small staged source holding a few problems (invalid id, no DOB, orphan event)."""
    ident = identity_frame(40, source)
    ident.loc[0, "sex"] = "X"
    ident.loc[1, "dob"] = None
    ident.loc[2, "dob"] = dt.date(1066, 10, 14)
    if source in ("health", "social_care"):
        ident.loc[3, "nhs_number_raw"], ident.loc[3, "nhs_number"] = "1234567890", None
    inter = interactions_frame(ident)
    inter.loc[0, "source_record_id"] = "NOBODY"
    inter.loc[1, "event_type"] = "burglary"
    con = duckdb.connect(str(path))
    ensure_tables(con)
    write_frame(con, "staging.identity_records", ident)
    write_frame(con, "staging.interactions", inter)
    write_frame(con, "staging.identity_records", identity_frame(5, "other"))  # another source: not read
    return con


@pytest.mark.parametrize("source", ["health", "social_care", "police", "education"])
def test_stage_results_equal_a_whole_table_run(tmp_path: Path, source: str) -> None:
    con = _staging(tmp_path / "build.duckdb", source)
    rules = rules_for(PRESETS[source])
    whole_id = con.execute("SELECT * FROM staging.identity_records WHERE source = ?", [source]).df()
    whole_ix = con.execute("SELECT * FROM staging.interactions WHERE source = ?", [source]).df()
    expected = quality.run_source_suite(source, whole_id, whole_ix, None, REF, rules=rules)
    got = check_source_quality(con, source, "run1", REF, tmp_path / "w.duckdb", rules=rules)
    assert [(r.check, r.passed, r.observed, r.details["evr"]["result"]) for r in got] == \
        [(r.check, r.passed, r.observed, r.details["evr"]["result"]) for r in expected]
    assert not all(r.passed for r in got)  # the planted problems are seen


def test_stage_loads_only_the_columns_the_checks_read(tmp_path: Path) -> None:
    con = _staging(tmp_path / "build.duckdb", "health")
    rules = rules_for(PRESETS["health"])
    ident = _staged(con, "staging.identity_records", identity_columns(rules), "health")
    inter = _staged(con, "staging.interactions", INTERACTION_COLUMNS, "health")
    assert "first_name" in ident.columns and "nhs_number_raw" in ident.columns and "dob" in ident.columns
    assert "alternative_names" not in ident.columns and "quality_flags" not in ident.columns
    assert set(inter.columns) == {"source_record_id", "event_id", "event_type", "event_date"}
    assert len(ident) == 40 and len(inter) == 40


@pytest.mark.parametrize("sql,kind", [
    ("SELECT * FROM (VALUES ('a'), (NULL), ('é')) t(x)", "string"),
    ("SELECT * FROM (VALUES (DATE '2020-02-29'), (NULL), (DATE '1066-10-14'), (DATE '9999-12-31')) t(x)", "date"),
    ("SELECT * FROM (VALUES (3::BIGINT), (NULL), (-1)) t(x)", "int"),
    ("SELECT * FROM (VALUES (2::INTEGER), (NULL)) t(x)", "int"),
    ("SELECT * FROM (VALUES (true), (false)) t(x)", "other"),
    ("SELECT 'a' AS x WHERE false", "string"),
])
def test_arrow_frame_holds_what_duckdb_df_holds_with_text_as_arrow_strings(sql, kind):
    con = duckdb.connect()
    expected = con.execute(sql).df()["x"]
    got = arrow_frame(con.sql(sql).to_arrow_table())["x"]
    assert len(got) == len(expected)
    assert got.isna().tolist() == expected.isna().tolist()
    if kind == "string":
        assert str(got.dtype) == "string"
        assert got.dropna().tolist() == expected.dropna().tolist()
    else:
        assert got.dropna().tolist() == expected.dropna().tolist()
        assert kind != "date" or got.dtype == expected.dtype


def _night_then_delivery(path: Path) -> duckdb.DuckDBPyConnection:
    """A build after night 'r1' (200 clean health records and their events, checked), then a changes-only drop
    ('r2') that re-delivers 10 of the records, 5 of them with an NHS number that fails its check digit, and one
    new event of a record the drop does not hold."""
    con = duckdb.connect(str(path))
    ensure_tables(con)
    ident = identity_frame(200, "health").assign(run_id="r1")
    write_frame(con, "staging.identity_records", ident)
    write_frame(con, "staging.interactions", interactions_frame(ident).assign(run_id="r1"))
    check_source_quality(con, "health", "r1", REF, path, rules=rules_for(PRESETS["health"]))
    delivered = ident.iloc[:10].assign(run_id="r2")
    delivered.loc[:4, "nhs_number"] = None
    delivered.loc[:4, "nhs_number_raw"] = "1234567890"
    write_frame(con, "staging.identity_records", delivered, replace_where="source = 'health' AND "
                "source_record_id IN (SELECT unnest(?::VARCHAR[]))", params=[delivered["source_record_id"].tolist()])
    event = interactions_frame(ident.iloc[[150]]).assign(event_id="NEW-1", run_id="r2")
    write_frame(con, "staging.interactions", event)
    return con


def test_a_changes_only_drop_checks_what_it_delivered(tmp_path: Path) -> None:
    con = _night_then_delivery(tmp_path / "build.duckdb")
    got = {r.check: r for r in check_source_quality(con, "health", "r2", REF, tmp_path / "w.duckdb",
                                                    rules=rules_for(PRESETS["health"]), changes_only=True)}
    nhs = next(r for c, r in got.items() if "nhs" in c and "valid" in c)
    assert not nhs.passed and "5 of 10" in nhs.observed  # half the delivery: not diluted by 190 unchanged records
    assert got["interactions_link_to_identity_records"].passed  # the new event's record was not re-delivered
    assert got["identity_records_not_empty"].passed and got["row_count_not_collapsed"].passed
    assert "removes no record" in got["row_count_not_collapsed"].observed
    whole = {r.check: r for r in check_source_quality(con, "health", "r2", REF, tmp_path / "w.duckdb",
                                                      rules=rules_for(PRESETS["health"]))}
    assert whole[nhs.check].passed and "195 of 200" in whole[nhs.check].observed  # the whole source: diluted


def test_a_source_the_changes_only_drop_does_not_hold_keeps_its_last_results(tmp_path: Path) -> None:
    con = _night_then_delivery(tmp_path / "build.duckdb")
    before = {(r.check, r.passed) for r in check_source_quality(con, "health", "r1", REF, tmp_path / "w.duckdb",
                                                                 rules=rules_for(PRESETS["health"]))}
    got = check_source_quality(con, "health", "r3", REF, tmp_path / "w.duckdb", rules=rules_for(PRESETS["health"]),
                               changes_only=True)  # run r3 staged nothing of health
    assert {(r.check, r.passed) for r in got} == before
    assert all(r.observed.startswith("unchanged: not in this changes-only drop") for r in got)
    stored = con.execute("SELECT count(*) FROM audit.quality_results WHERE run_id = 'r3'").fetchall()[0][0]
    assert stored == len(got)


def test_a_changes_only_drop_of_events_alone_passes_the_identity_checks_unrun(tmp_path: Path) -> None:
    con = _night_then_delivery(tmp_path / "build.duckdb")
    con.execute("UPDATE staging.identity_records SET run_id = 'r1'")  # the drop delivered the event alone
    got = check_source_quality(con, "health", "r2", REF, tmp_path / "w.duckdb", rules=rules_for(PRESETS["health"]),
                               changes_only=True)
    identity = [r for r in got if r.suite.endswith("identity")]
    assert identity and all(r.passed and "no identity record in this changes-only drop" in r.observed
                            for r in identity)
    assert got[-1].suite.endswith("interactions") and len(got) > len(identity)
