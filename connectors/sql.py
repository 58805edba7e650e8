"""Read a table or a query through SQLAlchemy as raw string rows (same path as files afterwards).

Rows get ``line_number`` = 1-based row ordinal and the label ``<table or 'query'>@<dialect>``. The URL is
never logged, stored or put in an error message: it may hold a password. A message names the source and
the environment variable that holds the URL instead, and says what to check.

Connecting is bounded: a server that does not answer stops the run after ``CONNECT_TIMEOUT_S`` seconds
(unless the URL sets its own ``connect_timeout``), and a missing driver stops it at once, never after retries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from connectors import raw as rawmod
from connectors.raw import CHUNK_ROWS, RawChunk, RawStream, dedupe_header
from connectors.values import stringify_frame
from schemas.config import SqlLocation
from schemas.errors import UnusableInputError

CONNECT_TIMEOUT_S = 10

# The connect-timeout argument each DBAPI driver takes (seconds), by SQLAlchemy driver name.
_TIMEOUT_ARG = {"psycopg": "connect_timeout", "psycopg2": "connect_timeout", "pg8000": "timeout",
                "pymysql": "connect_timeout", "mysqldb": "connect_timeout", "pyodbc": "timeout",
                "pymssql": "login_timeout", "oracledb": "tcp_connect_timeout"}

# What a connection failure means, from words in the driver's message, and what to check.
_CONNECT_CAUSES = (
    (("password authentication failed", "access denied", "login failed", "authentication failed"),
     "the server refused the user name or password"),
    (("timeout expired", "timed out", "timeout"), "the server did not answer within the connect timeout"),
    (("could not translate host name", "name or service not known", "nodename nor servname",
      "unknown host", "temporary failure in name resolution"), "the host name cannot be resolved"),
    (("connection refused",), "the server refused the connection (nothing is listening on that host and port)"),
    (("does not exist", "unknown database"), "the database or user named in the URL does not exist"),
    (("no route to host", "network is unreachable"), "the host cannot be reached from this machine"),
)


def _scrub(message: str, url: sa.URL) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    for secret in (url.password, url.render_as_string(hide_password=False)):
        if secret:
            first = first.replace(str(secret), "***")
    return first[:200]


def connect_failure(message: str) -> str:
    """A plain description of why connecting failed, from the driver's message (never the message itself)."""
    low = message.lower()
    for words, cause in _CONNECT_CAUSES:
        if any(w in low for w in words):
            return cause
    return "the connection failed"


def engine_for(url: sa.URL, timeout_s: int | None = None) -> sa.Engine:
    """An engine whose connections give up after ``timeout_s`` seconds (the URL's own setting wins).

    Raises ``ImportError`` when the driver the URL needs is not installed, ``NoSuchModuleError`` for an
    unknown dialect.
    """
    arg = _TIMEOUT_ARG.get(url.get_driver_name())
    connect_args = {arg: timeout_s or CONNECT_TIMEOUT_S} if arg and arg not in url.query else {}
    return sa.create_engine(url, connect_args=connect_args)


class SqlStream(RawStream):
    """Rows of a table or query. ``where`` names the source and URL variable in messages (e.g.
    ``"social_care, SC_DB_URL"``); without it messages carry only the label."""

    def __init__(self, url: str, table: str | None = None, query: str | None = None,
                 chunk_rows: int = CHUNK_ROWS, *, source: str | None = None, url_env: str | None = None) -> None:
        if bool(table) == bool(query):
            raise ValueError("give exactly one of table or query")
        what = table or "query"
        var = url_env or "the database URL"
        try:
            self._url = sa.make_url(url)
        except Exception:
            raise UnusableInputError(self._where(source, f"{what}@sql"), f"the database URL in {var} cannot be parsed",
                                     f"set {var} to a SQLAlchemy URL such as postgresql://user:password@host/db"
                                     ) from None
        self.label = f"{what}@{self._url.get_backend_name()}"
        self.path = self._where(source, self.label)
        self._var = var
        self.chunk_rows = chunk_rows
        self.header_lines = 0
        self._stmt: sa.Select[Any] | sa.TextClause
        if table:
            schema, _, name = table.rpartition(".")
            self._stmt = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
        else:
            assert query is not None, "exactly one of table or query (checked above)"
            self._stmt = sa.text(query)
        try:
            self._engine = engine_for(self._url)
        except (ImportError, sa.exc.NoSuchModuleError) as err:
            missing = getattr(err, "name", None) or self._url.drivername
            raise UnusableInputError(self.path, f"the database driver for the URL in {var} is not installed "
                                     f"({missing})", "install the driver, or change the URL's scheme "
                                     "(postgresql:// uses psycopg)") from None
        self._read_header()

    @staticmethod
    def _where(source: str | None, label: str) -> str:
        return f"{source}/{label}" if source else label

    def _read_header(self) -> None:
        try:
            conn = self._engine.connect()
        except sa.exc.SQLAlchemyError as err:
            self._engine.dispose()
            cause = connect_failure(str(getattr(err, "orig", None) or err))
            raise UnusableInputError(self.path, f"cannot connect to the database in {self._var}: {cause}",
                                     f"check the server is running and reachable from this machine, and the host, "
                                     f"port, database, user and password in {self._var}") from None
        try:
            with conn:
                result = conn.execute(self._stmt_limited())
                names = list(result.keys())
                self.header = dedupe_header([str(k).strip() for k in names])
                result.close()
        except sa.exc.SQLAlchemyError as err:
            self._engine.dispose()
            raise UnusableInputError(self.path, "cannot read from the database: "
                                     f"{_scrub(str(getattr(err, 'orig', None) or err), self._url)}",
                                     "check the table or query in sources.yaml") from None

    def _stmt_limited(self) -> sa.Select[Any]:
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
            raise UnusableInputError(self.path, "reading failed: "
                                     f"{_scrub(str(getattr(err, 'orig', None) or err), self._url)}",
                                     f"check the database in {self._var} and re-run") from None
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


def open_sql(location: SqlLocation, chunk_rows: int | None = None, source: str | None = None) -> SqlStream:
    """Open a configured SQL location; the URL is read from the environment variable it names."""
    url = os.environ.get(location.url_env)
    if not url:
        where = f"{location.table or 'query'}@sql"
        raise UnusableInputError(f"{source}/{where}" if source else where,
                                 f"environment variable {location.url_env} is not set",
                                 "set it to the SQLAlchemy URL of the database")
    return SqlStream(url, location.table, location.query, chunk_rows or rawmod.CHUNK_ROWS, source=source,
                     url_env=location.url_env)
