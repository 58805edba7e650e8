"""Disclosure control in the analytics file: declared columns only, small cells suppressed, no child unique on
the published quasi-identifiers (issue 13, "Analysts and BI tools")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.presets import PRESETS
from svoc.stages.marts import MARTS, analytics_marts, build_marts
from svoc.stages.single_view import build_single_view
from svoc.warehouse.analytics import build_analytics
from svoc.warehouse.disclosure import generalise, uniqueness
from svoc.warehouse.sql import ensure_tables, write_frame

D = dt.date(2026, 11, 1)


def people(n: int) -> list[dict]:
    """n children, each with an education and a health record; a few share districts and ages."""
    rows = []
    for i in range(n):
        base = {"first_name": f"Kid{i}", "last_name": f"Fam{i}", "dob": dt.date(2010 + i % 7, 1 + i % 12, 1 + i % 27),
                "sex": "MF"[i % 2], "postcode": f"LS{1 + i % 9} {i % 10}AA", "quality_flags": [],
                "alternative_names": [], "source_line": 2}
        rows.append({**base, "source": "education", "source_record_id": f"P{i}", "source_file": "e.csv",
                     "fsm_eligible": i % 3 == 0})
        rows.append({**base, "source": "health", "source_record_id": f"H{i}", "source_file": "h.csv",
                     "nhs_number": None})
    return rows


@pytest.fixture()
def build(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    ensure_tables(con)
    ident = people(60)
    write_frame(con, "staging.identity_records", pd.DataFrame(ident))
    terms = [{"source": "education", "source_record_id": f"P{i}", "event_id": f"T{i}", "event_type": "attendance_term",
              "event_date": dt.date(2025, 9, 1), "academic_year": "2025/26", "term": "Autumn",
              "sessions_possible": 100, "sessions_authorised_absence": 25 if i < 3 else i % 15, "sessions_unauthorised_absence": 0,
              "source_file": "a.csv", "source_line": 2, "quality_flags": []} for i in range(60)]
    write_frame(con, "staging.interactions", pd.DataFrame(terms))
    rc = pd.DataFrame({"source": [r["source"] for r in ident], "source_record_id": [r["source_record_id"] for r in ident],
                       "citizen_id": [f"C{r['source_record_id'][1:]}" for r in ident]})
    con.register("rc", rc)
    con.execute("INSERT INTO linked.record_citizen SELECT source, source_record_id, citizen_id, 'x', 1.0, 'r' FROM rc")
    build_single_view(con, D, list(PRESETS.values()))
    build_marts(con, "run-1", D)
    return con


def publish(con: duckdb.DuckDBPyConnection, tmp_path: Path, threshold: int = 5) -> duckdb.DuckDBPyConnection:
    out = tmp_path / "a.duckdb"
    build_analytics(con, out, b"key", marts=analytics_marts(), small_cell_threshold=threshold, run_id="run-1")
    return duckdb.connect(str(out), read_only=True)


def test_small_cells_are_suppressed_and_marked(build, tmp_path):
    a = publish(build, tmp_path)
    rows = a.execute("SELECT children, mean_attendance_rate, suppressed FROM marts.attendance_vs_involvement").fetchall()
    assert rows
    raw = build.execute("SELECT children FROM marts.attendance_vs_involvement").fetchall()
    assert any(1 <= n < 5 for (n,) in raw), "the fixture must have small cells"
    for children, mean, suppressed in rows:
        assert suppressed == (children is None)
        assert children is None or children >= 5
        assert (mean is None) == suppressed
    assert sum(1 for r in rows if r[2]) == sum(1 for (n,) in raw if 1 <= n < 5)


@pytest.mark.parametrize("threshold", [2, 5, 11])
def test_threshold_is_a_setting(build, tmp_path, threshold):
    a = publish(build, tmp_path, threshold)
    counts = [n for (n,) in a.execute("SELECT children FROM marts.attendance_vs_involvement").fetchall()]
    assert all(n is None or n >= threshold for n in counts)


def test_undeclared_tables_and_columns_do_not_leave(build, tmp_path):
    build.execute('CREATE TABLE marts."Weekly summary" AS SELECT first_name, dob, nhs_number FROM linked.single_view')
    build.execute("ALTER TABLE marts.agency_overlap ADD COLUMN secret_names VARCHAR DEFAULT 'Kid1'")
    a = publish(build, tmp_path)
    tables = {f"{s}.{t}" for s, t in a.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
    assert "marts.Weekly summary" not in tables
    assert {"linked.single_view", "linked.interactions", "audit.disclosure", *MARTS} <= tables
    cols = {c for (c,) in a.execute("SELECT column_name FROM duckdb_columns()").fetchall()}
    assert not cols & {"secret_names", "first_name", "last_name", "dob", "nhs_number", "postcode", "citizen_id",
                       "upn", "event_date", "date_of_death", "dob_month"}


def test_no_child_is_unique_on_the_published_quasi_identifiers(build, tmp_path):
    a = publish(build, tmp_path)
    risk = {m: (u, below) for m, u, below in build.execute(
        "SELECT measure, unique_children, children_below_threshold FROM audit.disclosure").fetchall()}
    assert risk["unprotected"][0] > 0  # DOB month, sex and district single children out
    assert risk["published"] == (0, 0)
    assert a.execute("SELECT count(*) FROM audit.disclosure").fetchone()[0] == 2
    classes = a.execute("SELECT min(n) FROM (SELECT count(*) n FROM linked.single_view "
                        "GROUP BY age_band, sex, postcode_district, ethnicity)").fetchone()[0]
    assert classes >= 5


def test_dates_leave_as_months_and_dob_as_age_band(build, tmp_path):
    a = publish(build, tmp_path)
    bands = {b for (b,) in a.execute("SELECT DISTINCT age_band FROM linked.single_view").fetchall()}
    assert bands <= {"unborn", "0-4", "5-10", "11-15", "16-17", "18+", None}
    days = {d.day for (d,) in a.execute("SELECT event_month FROM linked.interactions UNION ALL "
                                        "SELECT first_seen_month FROM linked.single_view").fetchall() if d}
    assert days == {1}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from("MF"), st.sampled_from(["LS1", "LS2", "LS3", None]),
                          st.sampled_from(["W", "B", None])), min_size=1, max_size=40),
       st.integers(min_value=2, max_value=6))
def test_generalise_leaves_no_small_class(rows, k):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id INTEGER, age_band VARCHAR, sex VARCHAR, postcode_district VARCHAR, "
                "ethnicity VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [[i, *r] for i, r in enumerate(rows)])
    generalise(con, "t", "id", k)
    small = con.execute("SELECT age_band, sex, postcode_district, ethnicity, count(*) FROM t GROUP BY ALL "
                        "HAVING count(*) < ?", [k]).fetchall()
    # A small class is left only when the whole table is smaller than k (then every cell is blank).
    if len(rows) >= k:
        assert small == []
    else:
        assert small == [(None, None, None, None, len(rows))]
    m = uniqueness(con, "t", ("age_band", "sex", "postcode_district", "ethnicity"), k)
    assert m["children"] == len(rows)
    assert m["children_below_threshold"] == sum(r[4] for r in small)


def test_the_blank_class_is_topped_up_from_the_largest_class():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id INTEGER, age_band VARCHAR, sex VARCHAR, postcode_district VARCHAR, "
                "ethnicity VARCHAR)")
    rows = [("A", "M", "LS1", "W")] * 9 + [("B", "F", "LS2", "B")] * 6 + [("C", "F", "LS3", "W")]
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [[i, *r] for i, r in enumerate(rows)])
    generalise(con, "t", "id", 5)
    sizes = sorted(con.execute("SELECT count(*) FROM t GROUP BY age_band, sex, postcode_district, ethnicity")
                   .fetchall())
    assert sizes == [(5,), (5,), (6,)]  # the lone C joined by the first four of the nine As, all blanked
    blank = [i for (i,) in con.execute("SELECT id FROM t WHERE age_band IS NULL ORDER BY id").fetchall()]
    assert blank == [0, 1, 2, 3, 15]
    # no class can spare four children (8 - 4 < 5): every cell is blanked instead
    con.execute("DELETE FROM t")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [[i, *r] for i, r in enumerate(rows[1:])])
    generalise(con, "t", "id", 5)
    assert con.execute("SELECT count(*) FROM t WHERE coalesce(age_band, sex, postcode_district, ethnicity) IS NOT NULL").fetchone() == (0,)


@pytest.mark.slow
def test_a_hand_made_marts_table_with_a_space_neither_breaks_the_next_run_nor_leaves(demo_run, tmp_path):
    """Issue 13: an analyst's marts."Weekly summary" (names, DOBs, NHS numbers) stopped the next run, and any
    table in marts was copied to the analytics file."""
    import shutil

    from svoc.warehouse.analytics import analytics_path
    from tests.e2e import DEMO, query, run_cli

    target = tmp_path / "wh" / "svoc.duckdb"
    target.parent.mkdir()
    shutil.copy(demo_run, target)
    con = duckdb.connect(str(target))
    con.execute('CREATE TABLE marts."Weekly summary" AS SELECT first_name, dob, nhs_number FROM linked.single_view')
    con.close()
    run_cli("run", "--drop", str(DEMO), "--warehouse", str(target), tmp=tmp_path)
    assert query(target, 'SELECT count(*) FROM marts."Weekly summary"')[0][0] > 0  # the analyst's table is kept
    tables = {t for (t,) in query(analytics_path(target), "SELECT table_name FROM duckdb_tables()")}
    assert "Weekly summary" not in tables and "agency_overlap" in tables
