"""The IG state store (svoc.state): SQLite beside the warehouse or PostgreSQL, decisions carried into a build."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from schemas.errors import SvocError
from svoc.state import carry_state_into_build, default_state_path, open_store, state_url_for
from svoc.warehouse.sql import ensure_tables
from tests.pg import postgres_url  # noqa: F401  (fixture)


def _warehouse(tmp_path: Path, name: str = "w.duckdb") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    con = duckdb.connect(str(path))
    ensure_tables(con)
    con.close()
    return path


def _exercise(store) -> None:
    store.log_access("ann", "explain", "citizen C1", "court order")
    store.add_decision(pair_id="p1", unique_id_l="a:1", unique_id_r="b:2", decision="same", reviewer="ann",
                       reason="same mother", purpose="queue", evidence_seen={"fields": [{"field": "dob"}]})
    assert [(e.who, e.subject) for e in store.access_log()] == [("ann", "citizen C1")]
    d = store.latest_decision("b:2", "a:1")
    assert (d["decision"], d["evidence_seen"]) == ("same", {"fields": [{"field": "dob"}]})
    assert store.decided_pair_ids() == {"p1"}


def test_sqlite_store_beside_the_warehouse(tmp_path):
    wh = _warehouse(tmp_path / "St John's – Ærø")
    with open_store(wh) as store:
        _exercise(store)
    assert default_state_path(wh).exists() and default_state_path(wh).stat().st_mode & 0o777 == 0o600
    assert sa.make_url(state_url_for(wh)).database == str(default_state_path(wh))


def test_purpose_is_required_to_log(tmp_path):
    with open_store(_warehouse(tmp_path)) as store, pytest.raises(SvocError, match="purpose"):
        store.log_access("ann", "explain", "citizen C1", "  ")


@pytest.mark.postgres
def test_postgresql_store(tmp_path, postgres_url):  # noqa: F811
    with open_store(_warehouse(tmp_path), postgres_url) as store:
        _exercise(store)


def test_unreachable_postgresql_is_one_line_without_the_url(tmp_path):
    url = "postgresql+psycopg2://ig:s3cret@127.0.0.1:1/state"
    with pytest.raises(SvocError) as err, open_store(_warehouse(tmp_path), url):
        pass
    assert "SVOC_STATE_URL" in str(err.value) and "s3cret" not in str(err.value)
    assert "OperationalError" not in str(err.value)


def test_a_build_gets_the_store_decisions_and_loses_the_access_log(tmp_path):
    wh = _warehouse(tmp_path)
    build = duckdb.connect(str(tmp_path / "build.duckdb"))
    ensure_tables(build)
    build.execute("INSERT INTO audit.review_decisions VALUES ('old', 'a:1', 'c:3', 'different', 'legacy', 'r', "
                  "TIMESTAMP '2025-01-01 00:00:00')")
    build.execute("INSERT INTO audit.access_log VALUES (TIMESTAMP '2025-01-01 00:00:00', 'legacy', 'explain', "
                  "'citizen C9', 'old purpose')")
    with open_store(wh) as store:
        store.add_decision(pair_id="p1", unique_id_l="a:1", unique_id_r="b:2", decision="same", reviewer="ann",
                           reason="same mother", decided_at=dt.datetime(2026, 1, 1))
        assert carry_state_into_build(build, store) == 2
        assert carry_state_into_build(build, store) == 2  # idempotent
        assert [e.who for e in store.access_log()] == ["legacy"]
    rows = build.execute("SELECT pair_id, reviewer FROM audit.review_decisions ORDER BY decided_at").fetchall()
    assert rows == [("old", "legacy"), ("p1", "ann")]
    assert build.execute("SELECT count(*) FROM audit.access_log").fetchone()[0] == 0
    build.close()
