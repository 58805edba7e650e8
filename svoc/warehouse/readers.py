"""Reading the published warehouse from BI tools and notebooks, including connections held across the nightly swap.

Publishing replaces the file with ``os.replace``: a connection opened before the swap keeps reading the old
file (the old inode) until it is closed. That is what keeps a long query consistent, but a pooled
connection would keep serving last night's data for ever. ``reader_engine`` gives a SQLAlchemy engine whose
pool notices the swap: each pooled connection remembers which file (device and inode) it opened, and on
checkout a connection to a file that is no longer the published one is discarded and a fresh one opened.

Each of its connections is a private in-memory DuckDB that ``ATTACH``es the warehouse read-only (and ``USE``s
it). A plain ``duckdb.connect(path)`` would not do: within one process DuckDB shares one open database per
path, so while any connection still holds last night's file, a new connection to the path gets it too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

_FILE_KEY = "svoc_published_file"


def sqlalchemy_url(path: Path, *, read_only: bool = True) -> str:
    """``duckdb:///<absolute path>?access_mode=read_only`` (the URL a BI tool is given)."""
    url = sa.engine.URL.create("duckdb", database=str(Path(path).resolve()))
    if read_only:
        url = url.update_query_dict({"access_mode": "read_only"})
    return url.render_as_string(hide_password=False)


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def reader_engine(path: Path, **engine_kw: Any) -> sa.Engine:
    """A read-only SQLAlchemy engine on the published warehouse whose pooled connections follow the swap."""
    path = Path(path).resolve()
    engine_kw.setdefault("poolclass", sa.pool.QueuePool)  # an in-memory URL would otherwise get a singleton pool
    engine = sa.create_engine("duckdb:///:memory:", **engine_kw)

    @event.listens_for(engine, "connect")
    def _attach_published(dbapi_con, conn_rec) -> None:
        # Remember the file before opening it: if it is swapped in between, the next checkout reconnects once more.
        conn_rec.info[_FILE_KEY] = _file_identity(path)
        dbapi_con.execute("ATTACH ? AS svoc (READ_ONLY)", [str(path)])
        dbapi_con.execute("USE svoc")

    @event.listens_for(engine, "checkout")
    def _follow_swap(_dbapi_con, conn_rec, _proxy) -> None:
        if conn_rec.info.get(_FILE_KEY) != _file_identity(path):
            raise exc.DisconnectionError("the warehouse was republished; reconnecting to the new file")

    return engine
