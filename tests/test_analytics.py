"""The analysts' file holds no identifying values, and its pseudonyms depend on the key."""

import hashlib
import hmac

import duckdb
import pytest

from svoc.warehouse.analytics import analytics_path, build_analytics, pseudonym, pseudonyms
from tests.e2e import query

pytestmark = pytest.mark.slow

IDENTIFYING = {
    "staging.identity_records": ["first_name", "middle_names", "last_name", "preferred_surname", "former_surname",
                                 "nhs_number", "nhs_number_raw", "upn", "upn_raw", "former_upn", "address_line",
                                 "postcode", "dob_raw", "source_record_id"],
    "linked.single_view": ["first_name", "last_name", "nhs_number", "upn", "postcode", "citizen_id"],
}


# Controlled vocabularies: their values may coincide with a name ("Summer" term, "Summer" the child).
VOCABULARY = {"source", "sources", "event_type", "event_code", "role", "academic_year", "term", "sex",
              "sen_provision", "ethnicity", "agencies", "attendance_band", "run_id", "age_band", "measure",
              "table_name", "quasi_identifiers"}


def analytics_tables(path):
    return query(path, "SELECT schema_name, table_name FROM duckdb_tables()")


def test_analytics_file_is_published_beside_the_warehouse(demo_run):
    assert analytics_path(demo_run).exists()
    tables = {f"{s}.{t}" for s, t in analytics_tables(analytics_path(demo_run))}
    assert {"linked.single_view", "linked.interactions", "marts.agency_overlap",
            "marts.children_known_to_three_plus", "marts.linkage_quality"} <= tables


def test_analytics_file_contains_no_identifying_value(demo_run):
    secret: set[str] = set()
    for table, cols in IDENTIFYING.items():
        for col in cols:
            secret |= {str(v).strip().lower() for (v,) in query(demo_run, f"SELECT DISTINCT {col} FROM {table}")
                       if v is not None and str(v).strip()}
    secret |= {d.isoformat() for (d,) in query(demo_run, "SELECT DISTINCT dob FROM staging.identity_records")
               if d is not None}
    assert len(secret) > 1000
    path = analytics_path(demo_run)
    checked = 0
    for schema, table in analytics_tables(path):
        cols = query(path, "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? "
                           "AND table_name = ?", [schema, table])
        for col, typ in cols:
            assert col not in {"dob", "date_of_birth", "date_of_death", "first_name", "last_name", "nhs_number",
                               "upn", "postcode", "address_line", "citizen_id", "source_record_id", "detail"}
            if typ.startswith("VARCHAR") and col not in VOCABULARY:
                values = {str(v).strip().lower() for (v,) in query(
                    path, f'SELECT DISTINCT CAST("{col}" AS VARCHAR) FROM {schema}.{table}') if v is not None}
                assert not values & secret, f"{schema}.{table}.{col} leaks {sorted(values & secret)[:3]}"
                checked += 1
    assert checked >= 5


def test_dob_leaves_as_an_age_band_and_postcode_as_a_district(demo_run):
    rows = query(analytics_path(demo_run), "SELECT age_band, postcode_district FROM linked.single_view "
                                           "WHERE age_band IS NOT NULL AND postcode_district IS NOT NULL LIMIT 50")
    assert rows
    for band, district in rows:
        assert band in {"unborn", "0-4", "5-10", "11-15", "16-17", "18+"}
        assert " " not in district


def test_demo_analytics_meets_the_uniqueness_target(demo_run):
    """Issue 13: 1,575 of 2,001 demo children were unique on (DOB month, sex, postcode district)."""
    risk = dict(query(demo_run, "SELECT measure, unique_children FROM audit.disclosure "
                                "WHERE run_id = (SELECT max(run_id) FROM audit.disclosure)"))
    assert risk["unprotected"] > 1000
    assert risk["published"] == 0
    smallest = query(analytics_path(demo_run), "SELECT min(n) FROM (SELECT count(*) AS n FROM linked.single_view "
                                               "GROUP BY age_band, sex, postcode_district, ethnicity)")[0][0]
    assert smallest >= 5


def test_demo_marts_publish_no_small_cells(demo_run):
    path = analytics_path(demo_run)
    for table in ("agency_overlap", "attendance_vs_involvement"):
        counts = [n for (n,) in query(path, f"SELECT children FROM marts.{table}")]
        assert counts and all(n is None or n >= 5 for n in counts)


def test_pseudonyms_change_with_the_key(demo_run, tmp_path):
    import shutil

    shutil.copy(demo_run, tmp_path / "w.duckdb")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        build_analytics(con, tmp_path / "a.duckdb", b"key-one")
        build_analytics(con, tmp_path / "b.duckdb", b"key-two")
        build_analytics(con, tmp_path / "c.duckdb", b"key-one")
    finally:
        con.close()
    sql = "SELECT citizen_pseudonym FROM linked.single_view ORDER BY 1"
    a, b, c = (set(query(tmp_path / f"{x}.duckdb", sql)) for x in "abc")
    assert a == c
    assert not a & b
    some_id = query(demo_run, "SELECT min(citizen_id) FROM linked.single_view")[0][0]
    assert (pseudonym(b"key-one", some_id),) in a


@pytest.mark.parametrize("key,ids", [
    (b"key-one", ["C1", "C2", "C1"]),
    (b"k" * 100, ["", "Zoë-7", "0" * 64]),  # a key longer than the hash block, an empty id, a non-ASCII id
    (b"", ["C1"]),
    (b"key-two", []),
])
def test_pseudonyms_are_the_hmac_sha256_of_each_id(key, ids):
    expected = [hmac.new(key, c.encode("utf-8"), hashlib.sha256).hexdigest() for c in ids]
    assert pseudonyms(key, ids) == expected
    assert [pseudonym(key, c) for c in ids] == expected


# ------------------------------------------------------------------ a night that keeps the published timeline
KEY = b"timeline-key"


def _published_rows(path) -> dict[str, list]:
    """Every row of every analytics table (the disclosure rows without their timestamp), in a stable order."""
    out = {}
    for schema, table in analytics_tables(path):
        rows = query(path, f"SELECT * EXCLUDE (measured_at) FROM {schema}.{table}" if table == "disclosure"
                     else f"SELECT * FROM {schema}.{table}")
        out[f"{schema}.{table}"] = sorted(rows, key=repr)
    return out


def _change(con, change: str) -> tuple[list[str], list[str]]:
    """Change the build's timeline as a night would; returns (the children it changed, the ids to pass)."""
    a, b = (r[0] for r in con.execute("SELECT citizen_id FROM linked.interactions GROUP BY 1 HAVING count(*) > 1 "
                                      "ORDER BY 1 LIMIT 2").fetchall())
    first = "(SELECT min(event_id) FROM linked.interactions WHERE citizen_id = $a)"
    if change == "edited":
        con.execute(f"UPDATE linked.interactions SET event_code = 'X1' WHERE citizen_id = $a AND event_id = {first}",
                    {"a": a})
        return [a], [a]
    if change == "moved":  # an interaction re-delivered under another child's record
        con.execute(f"UPDATE linked.interactions SET citizen_id = $b WHERE citizen_id = $a AND event_id = {first}",
                    {"a": a, "b": b})
        return [a, b], [a, b]
    if change == "removed":
        con.execute("DELETE FROM linked.interactions WHERE citizen_id = ?", [a])
        return [a], [a]
    # merged: a's id retired, its records now b's
    con.execute("UPDATE linked.interactions SET citizen_id = ? WHERE citizen_id = ?", [b, a])
    con.execute("DELETE FROM linked.single_view WHERE citizen_id = ?", [a])
    return [a, b], [a, b]


@pytest.mark.parametrize("change", ["edited", "moved", "removed", "merged"])
def test_a_timeline_kept_for_unchanged_children_equals_a_whole_build(demo_run, tmp_path, caplog, change):
    import shutil

    from svoc.stages.marts import analytics_marts

    shutil.copy(demo_run, tmp_path / "w.duckdb")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        build_analytics(con, tmp_path / "published.duckdb", KEY, marts=analytics_marts())
        _, changed = _change(con, change)
        with caplog.at_level("INFO", logger="svoc.warehouse.analytics"):
            build_analytics(con, tmp_path / "kept.duckdb", KEY, marts=analytics_marts(),
                            timeline_from=tmp_path / "published.duckdb", changed_children=changed)
        assert "timeline kept for unchanged children" in caplog.text
        build_analytics(con, tmp_path / "whole.duckdb", KEY, marts=analytics_marts())
    finally:
        con.close()
    assert (tmp_path / "kept.duckdb").stat().st_mode & 0o777 == 0o600  # a copy of a private file is private
    kept, whole = _published_rows(tmp_path / "kept.duckdb"), _published_rows(tmp_path / "whole.duckdb")
    assert kept == whole
    assert kept["linked.interactions"] != _published_rows(tmp_path / "published.duckdb")["linked.interactions"]


@pytest.mark.parametrize("why", ["another key", "a child left out", "no published file"])
def test_a_timeline_that_cannot_be_kept_is_built_whole(demo_run, tmp_path, caplog, why):
    import shutil

    shutil.copy(demo_run, tmp_path / "w.duckdb")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        build_analytics(con, tmp_path / "published.duckdb", b"other-key" if why == "another key" else KEY)
        _, changed = _change(con, "removed")
        with caplog.at_level("INFO", logger="svoc.warehouse.analytics"):
            build_analytics(con, tmp_path / "kept.duckdb", KEY, changed_children=[] if why == "a child left out"
                            else changed, timeline_from=tmp_path / ("missing.duckdb" if why == "no published file"
                                                                    else "published.duckdb"))
        assert "timeline built for every child" in caplog.text
        build_analytics(con, tmp_path / "whole.duckdb", KEY)
    finally:
        con.close()
    assert _published_rows(tmp_path / "kept.duckdb") == _published_rows(tmp_path / "whole.duckdb")
