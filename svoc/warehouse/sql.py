"""SQL helpers for the warehouse: the one identifier-quoting helper, contract tables, typed frame writes.

Values always travel as parameters. Identifiers (schema, table and column names) are never formatted into
SQL by hand: they go through ``quote_ident`` / ``qualified``, which double any embedded quote, so a table an
analyst named ``"Weekly summary"`` or a path with an apostrophe cannot break or change a statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import duckdb
import pandas as pd
import pyarrow as pa

from schemas.tables import SCHEMAS, TABLES, to_arrow


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def qualified(table: str) -> str:
    """``schema.table`` (split on the first dot) as a quoted, qualified name."""
    schema, sep, name = table.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}" if sep else quote_ident(schema)


def ensure_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, list[tuple[str, str]]] | None = None) -> None:
    """Create whatever contract schema, table or column is missing, so a new build and an old file converge
    (a column added to a contract is appended to an older file's table, NULL in its old rows)."""
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    for name, cols in (tables or TABLES).items():
        body = ", ".join(f"{quote_ident(c)} {t}" for c, t in cols)
        con.execute(f"CREATE TABLE IF NOT EXISTS {qualified(name)} ({body})")
        schema, _, table = name.partition(".")
        have = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND "
                                          "table_name = ? AND database_name = current_database()",
                                          [schema, table]).fetchall()}
        for c, t in cols:
            if c not in have:
                con.execute(f"ALTER TABLE {qualified(name)} ADD COLUMN {quote_ident(c)} {t}")


def repeated_texts(values: pd.Series) -> pd.Categorical:
    """A column of texts that repeat (evidence: pairs with the same levels share one) as a categorical, so each
    distinct text is written once. Categories in order of appearance: ``pd.Categorical`` sorts them, which for
    270k long texts at 1M pairs is most of its cost."""
    codes, categories = pd.factorize(values)
    # pandas-stubs type the codes as a Sequence[int]; pandas takes (and wants) the integer array
    return pd.Categorical.from_codes(cast(Any, codes), categories=pd.Index(categories))


def write_frame(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame | pa.Table, *,
                replace_where: str | None = None, params: list | None = None) -> int:
    """Append ``df`` to contract ``table`` (optionally deleting ``replace_where`` rows first). Returns rows written.
    An Arrow table is taken as already shaped for ``table`` (``schemas.tables.to_arrow``).

    ``replace_where`` is a fixed predicate written in code (``"source = ?"``); its values come in ``params``.
    """
    arrow = df if isinstance(df, pa.Table) else to_arrow(df, table)
    if replace_where:
        con.execute(f"DELETE FROM {qualified(table)} WHERE {replace_where}", params or [])
    con.register("_svoc_frame", arrow)
    try:
        con.execute(f"INSERT INTO {qualified(table)} BY NAME SELECT * FROM _svoc_frame")
    finally:
        con.unregister("_svoc_frame")
    return arrow.num_rows


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...]:
    """The row of a query that always returns one, such as an aggregate (``SELECT count(*) ...``).
    Fetched whole, so no unfinished result is left on the connection."""
    rows = con.execute(sql, list(params)).fetchall()
    assert rows, "an aggregate query returns one row"
    return rows[0]


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows in every table of the database, by ``schema.table``."""
    names = con.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2").fetchall()
    return {f"{s}.{t}": one_row(con, f"SELECT count(*) FROM {quote_ident(s)}.{quote_ident(t)}")[0]
            for s, t in names}


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows in ``schema.table`` (quoted through ``qualified``)."""
    return int(one_row(con, f"SELECT count(*) FROM {qualified(table)}")[0])


def file_value(path: Path, sql: str, *,
               unreadable: type[Exception] | tuple[type[Exception], ...] = duckdb.Error) -> Any:
    """The first value of ``sql``'s first row in the DuckDB file at ``path``, opened read-only and closed again.
    None when the file is absent, the query returns no row, or opening or querying raises ``unreadable``."""
    if not Path(path).exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except unreadable:
        return None
    try:
        row = con.execute(sql).fetchone()
    except unreadable:
        return None
    finally:
        con.close()
    return row[0] if row else None
