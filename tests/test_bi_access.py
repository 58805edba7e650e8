"""BI access: SQLAlchemy reflection of every table, the read-only URL, and pooled connections after the swap."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from svoc.warehouse.analytics import analytics_path
from svoc.warehouse.build import stamp
from svoc.warehouse.readers import reader_engine, sqlalchemy_url
from svoc.warehouse.sql import ensure_tables


def tables_of(path: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2").fetchall()
    finally:
        con.close()


def columns_of(path: Path) -> dict[tuple[str, str], list[str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT schema_name, table_name, column_name FROM duckdb_columns() "
                           "ORDER BY schema_name, table_name, column_index").fetchall()
    finally:
        con.close()
    out: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in rows:
        out.setdefault((schema, table), []).append(column)
    return out


def assert_every_table_reflects(path: Path) -> int:
    expected = columns_of(path)
    tables = set(tables_of(path))
    assert tables and tables <= set(expected)
    for engine in (sa.create_engine(sqlalchemy_url(path)), reader_engine(path)):
        try:
            inspector = sa.inspect(engine)
            for schema, table in sorted(tables):
                assert table in inspector.get_table_names(schema=schema), (schema, table)
                reflected = [c["name"] for c in inspector.get_columns(table, schema=schema)]
                assert reflected == expected[(schema, table)], (schema, table)
                sa.Table(table, sa.MetaData(), schema=schema, autoload_with=engine)
        finally:
            engine.dispose()
    return len(tables)


def test_every_contract_table_reflects_through_sqlalchemy(tmp_path):
    path = tmp_path / "St John's" / "svoc.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path))
    ensure_tables(con)
    con.close()
    stamp(path, "run-a")
    assert assert_every_table_reflects(path) > 10


@pytest.mark.slow
def test_every_table_of_a_published_warehouse_and_its_analytics_file_reflects(demo_run):
    assert assert_every_table_reflects(demo_run) > 10
    assert assert_every_table_reflects(analytics_path(demo_run)) >= 2


def test_the_url_is_read_only(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    assert sqlalchemy_url(path).endswith("?access_mode=read_only")
    engine = sa.create_engine(sqlalchemy_url(path))
    try:
        with engine.connect() as c, pytest.raises(sa.exc.DBAPIError, match="read-only"):
            c.exec_driver_sql("CREATE TABLE t (a INT)")
    finally:
        engine.dispose()


def publish_fake(path: Path, night: str) -> None:
    """Replace ``path`` the way publishing does: build beside it, then os.replace."""
    build = path.with_name(f".build-{night}.duckdb")
    con = duckdb.connect(str(build))
    con.execute("CREATE TABLE night AS SELECT ? AS night", [night])
    con.close()
    os.replace(build, path)


def test_a_pooled_connection_follows_the_nightly_swap(tmp_path):
    path = tmp_path / "svoc.duckdb"
    publish_fake(path, "monday")
    plain = sa.create_engine(sqlalchemy_url(path), pool_size=1, max_overflow=0)
    follows = reader_engine(path, pool_size=1, max_overflow=0)
    try:
        for engine in (plain, follows):
            with engine.connect() as c:
                assert c.exec_driver_sql("SELECT night FROM night").scalar() == "monday"
        publish_fake(path, "tuesday")
        with plain.connect() as c:  # an ordinary pool keeps last night's file open
            assert c.exec_driver_sql("SELECT night FROM night").scalar() == "monday"
        with follows.connect() as c:
            assert c.exec_driver_sql("SELECT night FROM night").scalar() == "tuesday"
        with follows.connect() as c:  # and keeps its new connection while the file stays the same
            assert c.exec_driver_sql("SELECT night FROM night").scalar() == "tuesday"
    finally:
        plain.dispose()
        follows.dispose()
