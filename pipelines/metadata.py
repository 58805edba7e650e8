"""Asset metadata in Dagster's standard keys, so the catalog shows row counts and columns and checks can plot them.

``dagster/row_count``, ``dagster/column_schema`` and ``dagster/table_name`` instead of custom keys; the
column schema is read from the build file itself, so it is what analysts will find after publishing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import duckdb

from schemas.tables import TABLES
from svoc.warehouse.sql import qualified


def contract_schema(table: str) -> dg.TableSchema:
    """The contract columns of ``table`` (``schemas.tables``), for an asset's definition before it first runs."""
    return dg.TableSchema(columns=[dg.TableColumn(name=col, type=typ) for col, typ in TABLES[table]])


def column_schema(con: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    """The columns of ``schema.table`` in the open database, in order, with their DuckDB types."""
    schema, name = table.split(".", 1)
    rows = con.execute("SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                       "WHERE schema_name = ? AND table_name = ? ORDER BY column_index", [schema, name]).fetchall()
    return dg.TableSchema(columns=[
        dg.TableColumn(name=col, type=typ, constraints=dg.TableColumnConstraints(nullable=bool(nullable)))
        for col, typ, nullable in rows])


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, *, rows: int | None = None,
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Standard table metadata for one warehouse table: row count (counted unless given), columns, name."""
    if rows is None:
        found = con.execute(f"SELECT count(*) FROM {qualified(table)}").fetchone()
        rows = int(found[0]) if found else 0
    return {"dagster/row_count": rows, "dagster/column_schema": column_schema(con, table),
            "dagster/table_name": table, **(extra or {})}
