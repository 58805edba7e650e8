"""Small helpers added while typing the code (issue 11): what they return on good and odd input."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.defs.sensors import configured_warehouse
from svoc.warehouse.sql import one_row


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
