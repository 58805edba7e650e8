"""Small helpers added while typing the code (issue 11): what they return on good and odd input."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pytest

from pipelines.defs.sensors import configured_warehouse
from svoc.state import open_store
from svoc.warehouse.sql import ensure_tables, one_row
from tests.pg import postgres_url  # noqa: F401  (fixture)


@pytest.mark.parametrize(("run_config", "expected"), [
    ({"resources": {"warehouse": {"config": {"path": "/srv/w.duckdb"}}}}, "/srv/w.duckdb"),
    ({"resources": {"drop": {"config": {"path": "/landing/2026-11-30"}}}}, None),
    ({}, None),
    ({"resources": None}, None),
    ({"resources": {"warehouse": {"config": {"path": 7}}}}, None),
    ({"resources": {"warehouse": "not a mapping"}}, None),
])
def test_configured_warehouse(run_config: dict[str, object], expected: str | None) -> None:
    assert configured_warehouse(run_config) == expected


@pytest.mark.parametrize(("sql", "params", "expected"), [
    ("SELECT count(*) FROM range(5)", (), (5,)),
    ("SELECT count(*), max(range) FROM range(?)", (3,), (3, 2)),
    ("SELECT max(range) FROM range(0)", (), (None,)),
])
def test_one_row(sql: str, params: tuple[object, ...], expected: tuple[object, ...]) -> None:
    con = duckdb.connect()
    assert one_row(con, sql, params) == expected
    # the whole result was fetched: the connection takes the next statement
    assert con.execute("SELECT 1").fetchall() == [(1,)]


def _legacy_warehouse(path: Path) -> Path:
    """A warehouse as an older version left it: a decision and an access-log row in its audit schema (keyed by
    a fresh id, so a state database shared with other tests holds no copy yet)."""
    key = uuid.uuid4().hex[:16]
    con = duckdb.connect(str(path))
    ensure_tables(con)
    con.execute("INSERT INTO audit.review_decisions VALUES (?, 'health:H1', 'police:N1', 'same', 'old-ig', "
                "'from 2025', TIMESTAMP '2025-01-02 03:04:05')", [key])
    con.execute("INSERT INTO audit.access_log VALUES (TIMESTAMP '2025-01-02 03:00:00', 'old-ig', 'explain', "
                "?, 'legacy')", [f"citizen {key}"])
    con.close()
    return path


def _migrate_twice(warehouse: Path, state_url: str | None) -> list[dict[str, int]]:
    moved = []
    with open_store(warehouse, state_url, migrate=False) as store:
        for _ in range(2):
            con = duckdb.connect(str(warehouse), read_only=True)
            try:
                moved.append(store.migrate_from_warehouse(con))
            finally:
                con.close()
    return moved


def test_migration_inserts_once_on_sqlite(tmp_path: Path) -> None:
    moved = _migrate_twice(_legacy_warehouse(tmp_path / "w.duckdb"), None)
    assert moved == [{"decisions": 1, "access_log": 1}, {"decisions": 0, "access_log": 0}]


@pytest.mark.postgres
def test_migration_inserts_once_on_postgresql(tmp_path: Path, postgres_url: str) -> None:  # noqa: F811
    moved = _migrate_twice(_legacy_warehouse(tmp_path / "w.duckdb"), postgres_url)
    assert moved == [{"decisions": 1, "access_log": 1}, {"decisions": 0, "access_log": 0}]
