"""Read a table or a query through SQLAlchemy as raw string rows (same path as files afterwards).

Rows get ``line_number`` = 1-based row ordinal and the label ``<table or 'query'>@<dialect>``. The URL is
never logged, stored or put in an error message: it may hold a password.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from connectors import raw as rawmod
from connectors.raw import CHUNK_ROWS, RawChunk, RawStream, dedupe_header
from connectors.values import stringify_frame
from schemas.config import SqlLocation
from schemas.errors import UnusableInputError


def _scrub(message: str, url: sa.URL) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    for secret in (url.password, url.render_as_string(hide_password=False)):
        if secret:
            first = first.replace(str(secret), "***")
    return first[:200]


class SqlStream(RawStream):
    def __init__(self, url: str, table: str | None = None, query: str | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        if bool(table) == bool(query):
            raise ValueError("give exactly one of table or query")
        try:
            self._url = sa.make_url(url)
        except Exception:
            raise UnusableInputError("sql", "the database URL cannot be parsed",
                                     "check the environment variable named by url_env") from None
        self.label = self.path = f"{table or 'query'}@{self._url.get_backend_name()}"
        self.chunk_rows = chunk_rows
        self.header_lines = 0
        if table:
            schema, _, name = table.rpartition(".")
            self._stmt = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
        else:
            self._stmt = sa.text(query)
        self._engine = sa.create_engine(self._url)
        try:
            with self._engine.connect() as conn:
                result = conn.execute(self._stmt_limited())
                names = list(result.keys())
                self.header = dedupe_header([str(k).strip() for k in names])
                result.close()
        except sa.exc.SQLAlchemyError as err:
            self._engine.dispose()
            raise UnusableInputError(self.label, f"cannot read from the database: {type(err).__name__}: "
                                     f"{_scrub(str(getattr(err, 'orig', None) or err), self._url)}") from None

    def _stmt_limited(self):
        if isinstance(self._stmt, sa.TextClause):
            return sa.select(sa.text("*")).select_from(self._stmt.columns().subquery("q")).limit(0)
        return self._stmt.limit(0)

    def chunks(self) -> Iterator[RawChunk]:
        start = 1
        try:
            with self._engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=self.chunk_rows).execute(self._stmt)
                for rows in result.partitions(self.chunk_rows):
                    frame = stringify_frame(pd.DataFrame([tuple(r) for r in rows], columns=self.header,
                                                         dtype=object))
                    n = len(frame)
                    yield RawChunk(frame, np.arange(start, start + n, dtype=np.int64), np.ones(n, np.int64),
                                   None, [])
                    start += n
        except sa.exc.SQLAlchemyError as err:
            raise UnusableInputError(self.label, f"reading failed: {type(err).__name__}: "
                                     f"{_scrub(str(getattr(err, 'orig', None) or err), self._url)}") from None
        finally:
            self._engine.dispose()
        self.lines_in = start - 1
        if start == 1:
            yield RawChunk(pd.DataFrame(columns=self.header, dtype=object), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), None, [])


def read_sql(url: str, table: str | None = None, query: str | None = None,
             chunk_rows: int = CHUNK_ROWS) -> SqlStream:
    """A ``RawStream`` over a table (``schema.table`` allowed) or a query. ``.to_frame()`` reads it all."""
    return SqlStream(url, table, query, chunk_rows)


def open_sql(location: SqlLocation, chunk_rows: int | None = None) -> SqlStream:
    """Open a configured SQL location; the URL is read from the environment variable it names."""
    url = os.environ.get(location.url_env)
    if not url:
        raise UnusableInputError(f"{location.table or 'query'}@sql",
                                 f"environment variable {location.url_env} is not set",
                                 "set it to the SQLAlchemy URL of the database")
    return SqlStream(url, location.table, location.query, chunk_rows or rawmod.CHUNK_ROWS)
