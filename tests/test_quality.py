"""Quality gates: GX suites per source, blocking vs warning, results frame, Data Docs, no phone-home."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import socket

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quality
from connectors.presets import PRESETS
from quality.runner import _blank, identity_batch
from quality.suites import rules_for
from schemas.identifiers import MISSING_TOKENS, check_nhs_number, is_missing
from schemas.records import EVENT_TYPES, IDENTITY_COLUMNS, INTERACTION_COLUMNS
from schemas.tables import TABLES

REF = dt.date(2025, 6, 30)


def run_suite(source, *args, **kw):
    """A source's suite with its preset's ``quality:`` thresholds (the generic rules without a preset)."""
    return quality.run_source_suite(source, *args, rules=rules_for(PRESETS.get(source, source)), **kw)
SOURCES = ("education", "health", "police", "social_care", "youth_justice")


def nhs_number(i: int) -> str:
    """A valid NHS number (mod-11 check digit), skipping bases whose check digit would be 10."""
    while True:
        base = f"{900000000 + i:09d}"
        total = sum(int(d) * w for d, w in zip(base, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return base + str(check)
        i += 7919


def identity_frame(n: int, source: str = "health") -> pd.DataFrame:
    """A valid staged identity frame of n rows with exactly IDENTITY_COLUMNS."""
    rows = []
    for i in range(n):
        row = dict.fromkeys(IDENTITY_COLUMNS)
        nhs = nhs_number(i) if source in ("health", "social_care") else None
        row.update(
            source=source,
            source_record_id=f"{source[:2].upper()}{i:06d}",
            first_name=f"First{i}",
            last_name=f"Surname{i}",
            alternative_names=[],
            dob=dt.date(2008, 1, 1) + dt.timedelta(days=i),
            dob_raw="x",
            sex="MF"[i % 2],
            sex_raw="MF"[i % 2],
            postcode="LS1 4AB",
            postcode_raw="LS1 4AB",
            nhs_number=nhs,
            nhs_number_raw=nhs,
            quality_flags=[],
            source_file="identity.csv",
            source_line=i + 2,
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(IDENTITY_COLUMNS))


def interactions_frame(identity: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for i, rid in enumerate(identity["source_record_id"]):
        row = dict.fromkeys(INTERACTION_COLUMNS)
        row.update(
            source=identity["source"].iat[0],
            source_record_id=rid,
            event_id=f"E{i}",
            event_type=EVENT_TYPES[i % len(EVENT_TYPES)],
            event_date=dt.date(2024, 1, 1),
            quality_flags=[],
            source_file="events.csv",
            source_line=i + 2,
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(INTERACTION_COLUMNS))


def by_check(results):
    return {r.check: r for r in results}


@pytest.mark.parametrize("source", SOURCES)
def test_good_frame_passes_every_check(source):
    ident = identity_frame(60, source)
    results = run_suite(source, ident, interactions_frame(ident), 60, REF)
    failed = [r.observed for r in results if not r.passed]
    assert failed == []
    checks = by_check(results)
    assert {
        "identity_records_not_empty",
        "identity_records_have_unique_keys",
        "dob_not_all_null",
        "row_count_not_collapsed",
        "dob_within_range",
        "sex_codes_valid",
        "interaction_event_types_valid",
    } <= set(checks)
    assert quality.blocking_failures(results) == []
    assert {r.suite for r in results} == {f"svoc_{source}_identity", f"svoc_{source}_interactions"}


def test_health_suite_checks_nhs_numbers():
    checks = by_check(run_suite("health", identity_frame(40), None, None, REF))
    assert checks["nhs_numbers_mostly_valid"].passed
    assert "40 of 40 non-blank NHS numbers" in checks["nhs_numbers_mostly_valid"].observed


def _blocking(results, check):
    failures = {r.check: r for r in quality.blocking_failures(results)}
    assert check in failures, [r.observed for r in results if not r.passed]
    result = failures[check]
    assert result.severity == "blocking" and not result.passed
    return result


def test_empty_extract_blocks():
    result = _blocking(
        run_suite("police", identity_frame(0, "police"), None, None, REF),
        "identity_records_not_empty",
    )
    assert result.observed == "source 'police' check 'identity_records_not_empty': 0 rows in the extract"


def test_duplicate_record_ids_block():
    ident = identity_frame(50, "education")
    ident.loc[[3, 4], "source_record_id"] = "ED000001"
    result = _blocking(
        run_suite("education", ident, None, None, REF), "identity_records_have_unique_keys"
    )
    assert result.observed.startswith("source 'education' check 'identity_records_have_unique_keys': ")
    assert "3 of 50 rows share a source_record_id" in result.observed


def test_dob_all_null_blocks():
    ident = identity_frame(2000)
    ident["dob"] = None
    result = _blocking(run_suite("health", ident, None, None, REF), "dob_not_all_null")
    assert result.observed == "source 'health' check 'dob_not_all_null': 0 of 2,000 rows have a DOB or age"


def test_missing_required_column_blocks():
    ident = identity_frame(20).drop(columns=["last_name"])
    results = run_suite("health", ident, None, None, REF)
    result = _blocking(results, "required_columns_present")
    assert "missing column(s): last_name" in result.observed
    assert "column 'last_name' is missing" in _blocking(results, "last_name_not_all_null").observed


@pytest.mark.parametrize(
    ("rows", "previous", "collapsed"),
    [
        (49, 100, True),
        (10, 2000, True),
        (50, 100, False),
        (100, 100, False),
        (30, None, False),
        (5, 0, False),
    ],
)
def test_row_count_collapse_blocks_when_more_than_halved(rows, previous, collapsed):
    results = run_suite(
        "social_care", identity_frame(rows, "social_care"), None, previous, REF
    )
    check = by_check(results)["row_count_not_collapsed"]
    assert check.severity == "blocking"
    assert check.passed is not collapsed
    if collapsed:
        assert check.observed == (
            f"source 'social_care' check 'row_count_not_collapsed': {rows:,} rows this run vs "
            f"{previous:,} in the previous run ({rows / previous:.1%})"
        )
        assert check in quality.blocking_failures(results)


def _only_warning(results, check):
    failed = [r for r in results if not r.passed]
    assert [r.check for r in failed] == [check], [r.observed for r in failed]
    assert failed[0].severity == "warning"
    assert quality.blocking_failures(results) == []
    assert quality.warning_failures(results) == failed
    return failed[0]


def test_invalid_sex_code_warns():
    ident = identity_frame(30)
    ident.loc[0, "sex"] = "X"
    result = _only_warning(run_suite("health", ident, None, None, REF), "sex_codes_valid")
    assert "1 of 30 non-blank sex codes" in result.observed


def test_low_nhs_validity_warns_without_leaking_numbers():
    ident = identity_frame(100)
    ident.loc[:5, "nhs_number_raw"] = "1234567890"  # rows 0-5: invalid check digit, so NULL
    ident.loc[:5, "nhs_number"] = None
    ident.loc[90:, ["nhs_number_raw", "nhs_number"]] = None  # blank raw values do not count
    result = _only_warning(
        run_suite("health", ident, None, None, REF), "nhs_numbers_mostly_valid"
    )
    assert "84 of 90 non-blank NHS numbers (93.3%) are valid; expected at least 95%" in result.observed
    assert "1234567890" not in result.observed


@pytest.mark.parametrize(("source", "warns"), [("health", True), ("social_care", False)])
def test_expected_dob_allowed_only_for_social_care(source, warns):
    ident = identity_frame(20, source)
    ident.loc[0, "dob"] = REF + dt.timedelta(days=120)  # an unborn child's expected date
    results = run_suite(source, ident, None, None, REF)
    if warns:
        result = _only_warning(results, "dob_within_range")
        assert (
            "1 of 20 rows with a DOB" in result.observed and str(ident.loc[0, "dob"]) not in result.observed
        )
    else:
        assert all(r.passed for r in results)


def test_dob_before_1990_and_out_of_pandas_range_count_as_out_of_range():
    ident = identity_frame(10, "police")
    ident.loc[0, "dob"] = dt.date(1985, 1, 1)
    ident.loc[1, "dob"] = dt.date(1066, 10, 14)
    result = _only_warning(run_suite("police", ident, None, None, REF), "dob_within_range")
    assert "2 of 10 rows with a DOB" in result.observed


@pytest.mark.parametrize(("source", "warns"), [("police", False), ("health", True)])
def test_dob_completeness_threshold_is_per_source(source, warns):
    ident = identity_frame(100, source)
    ident.loc[:24, "dob"] = None  # 75% present: fine for police (70%), not for health (98%)
    results = run_suite(source, ident, None, None, REF)
    if warns:
        assert "75 of 100 rows have a DOB or age" in _only_warning(results, "dob_mostly_present").observed
    else:
        assert all(r.passed for r in results)


def test_interaction_problems_warn():
    ident = identity_frame(20, "police")
    inter = interactions_frame(ident)
    inter.loc[0, "event_type"] = "burglary"
    inter.loc[1, "source_record_id"] = "NOBODY"
    results = run_suite("police", ident, inter, None, REF)
    failed = {r.check: r for r in results if not r.passed}
    assert set(failed) == {"interaction_event_types_valid", "interactions_link_to_identity_records"}
    assert all(r.severity == "warning" for r in failed.values())
    assert (
        "1 of 20 interactions (5.0%) refer to no identity record"
        in failed["interactions_link_to_identity_records"].observed
    )


def test_frames_read_back_from_duckdb_pass():
    """The pipeline reads staged frames from DuckDB: DATE comes back as datetime64, lists as arrays."""
    import duckdb

    ident = identity_frame(25, "social_care")
    ident.loc[0, "dob"] = dt.date(1066, 10, 14)
    inter = interactions_frame(ident)
    con = duckdb.connect()
    con.register("ident_view", ident)
    con.register("inter_view", inter)
    ident_db = con.execute("SELECT * FROM ident_view").df()
    inter_db = con.execute("SELECT * FROM inter_view").df()
    results = run_suite("social_care", ident_db, inter_db, 25, REF)
    result = _only_warning(results, "dob_within_range")
    assert "1 of 25 rows with a DOB" in result.observed


def test_empty_interactions_frame_passes_interaction_checks():
    ident = identity_frame(10, "education")
    empty = pd.DataFrame(columns=list(INTERACTION_COLUMNS))
    results = run_suite("education", ident, empty, None, REF)
    inter = [r for r in results if r.suite == "svoc_education_interactions"]
    assert len(inter) == 4 and all(r.passed for r in inter)


def test_check_names_do_not_depend_on_run_inputs():
    """Dagster declares the checks up front, so every run must report the same set of check names."""
    first = run_suite("health", identity_frame(0), None, None, REF)
    later = run_suite("health", identity_frame(5), None, 3, REF + dt.timedelta(days=1))
    assert [r.check for r in first] == [r.check for r in later]
    assert len({r.check for r in later}) == len(later)


def test_results_frame_matches_audit_table():
    results = run_suite("health", identity_frame(10), None, None, REF)
    frame = quality.results_frame(results, "run-42")
    assert list(frame.columns) == [c for c, _ in TABLES["audit.quality_results"]]
    assert len(frame) == len(results)
    assert (frame["run_id"] == "run-42").all() and frame["passed"].dtype == bool
    assert set(frame["severity"]) == {"blocking", "warning"}
    assert pd.api.types.is_datetime64_any_dtype(frame["checked_at"])


def test_data_docs_name_each_suite_and_hold_no_personal_data(tmp_path):
    by_source = {}
    for source in SOURCES[:4]:
        ident = identity_frame(15, source)
        ident.loc[0, "sex"] = "X"  # a failing check so the failure page is rendered too
        by_source[source] = run_suite(source, ident, interactions_frame(ident), None, REF)
    docs_dir = quality.data_docs_dir(tmp_path / "svoc.duckdb")
    assert docs_dir == tmp_path / "svoc_data_docs"
    index = quality.write_data_docs(by_source, docs_dir, run_id="run-7")
    assert index == docs_dir / "index.html" and index.is_file()
    html = index.read_text(encoding="utf-8")
    for source in SOURCES[:4]:
        assert f"svoc_{source}_identity" in html and f"svoc_{source}_interactions" in html
    all_html = "".join(p.read_text(encoding="utf-8") for p in docs_dir.rglob("*.html"))
    assert "run-7" in all_html
    for leaked in ("Surname3", "First3", nhs_number(3), "2008-01-04"):
        assert leaked not in all_html
    pages = sorted(p.relative_to(docs_dir) for p in docs_dir.rglob("*.html"))
    quality.write_data_docs(by_source, docs_dir, run_id="run-7")  # rewritten later in the same run
    assert sorted(p.relative_to(docs_dir) for p in docs_dir.rglob("*.html")) == pages


def test_gx_analytics_disabled_and_no_network(monkeypatch, tmp_path):
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"
    assert quality.analytics_disabled()
    from quality import _gx

    assert _gx.context().config.analytics_enabled is False
    assert _gx.context().mode == "ephemeral"
    # GX 1.24 ships no analytics client; the PyPI version checker exists but nothing calls it.
    assert importlib.util.find_spec("great_expectations.analytics") is None

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    results = run_suite("health", identity_frame(10), None, None, REF)
    quality.write_data_docs({"health": results}, tmp_path / "docs")
    assert attempts == []
    assert all(r.passed for r in results)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.sampled_from(sorted(MISSING_TOKENS)),
            st.text(max_size=6),
            st.sampled_from([" n/a ", "943 476 5919", "9434765918", "null"]),
        ),
        max_size=20,
    )
)
def test_blank_detection_matches_is_missing(raws):
    series = pd.Series(raws, dtype=object)
    assert _blank(series).tolist() == [is_missing(r) for r in raws]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.just(""),
            st.sampled_from(["9434765919", "9434765918", "12345"]),
            st.text(alphabet="0123456789 ", max_size=12),
        ),
        max_size=20,
    )
)
def test_nhs_validity_flag_matches_identifier_check(raws):
    ident = pd.DataFrame({"nhs_number_raw": pd.Series(raws, dtype=object)})
    ident["nhs_number"] = [check_nhs_number(r).value for r in raws]
    flags = identity_batch(ident, rules_for(PRESETS["health"]))["nhs_number_raw_is_valid"].tolist()
    assert flags == [None if is_missing(r) else check_nhs_number(r).value is not None for r in raws]

