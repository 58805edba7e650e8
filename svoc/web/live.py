"""The published warehouse, read-only, as the web app sees it: one connection per published file.

The nightly build swaps a new file in atomically. Each request checks the file (device, inode, modification
time, size); when it has changed, the app waits for requests still reading the old file to finish, closes it
and opens the new one, so no request is served last night's data after the swap is seen. (DuckDB hands a new
connection to a path the database it already has open there, so the old connection must be closed first.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from schemas.errors import SvocError
from svoc.report.data import Warehouse
from svoc.review.access import open_read_only

Signature = tuple[int, int, int, int]


def file_signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SvocError(f"{path}: no published warehouse yet; run the pipeline first") from None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class LiveWarehouse:
    """Read-only access to whatever file is published at ``path`` right now."""

    def __init__(self, path: Path, drain_seconds: float = 30.0) -> None:
        self.path = path
        self.drain_seconds = drain_seconds
        self._con: duckdb.DuckDBPyConnection | None = None
        self._signature: Signature | None = None
        self._readers = 0
        self._cond = threading.Condition()
        self.opened = 0  # how many times a file was opened (the tests watch it)

    def _acquire(self) -> duckdb.DuckDBPyConnection:
        with self._cond:
            sig = file_signature(self.path)
            if self._con is not None and sig != self._signature:
                self._cond.wait_for(lambda: self._readers == 0, timeout=self.drain_seconds)
                if self._readers == 0:
                    self._con.close()
                    self._con = None
                else:  # a reader is stuck: ask this user to retry rather than serve the old file
                    raise SvocError("the warehouse was just replaced and is still being read; try again shortly")
            if self._con is None:
                self._con = open_read_only(self.path)
                self._signature = sig
                self.opened += 1
            self._readers += 1
            return self._con.cursor()

    def _release(self, cur: duckdb.DuckDBPyConnection) -> None:
        try:
            cur.close()
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def reader(self) -> Iterator[Warehouse]:
        cur = self._acquire()
        try:
            yield Warehouse(cur)
        finally:
            self._release(cur)

    def close(self) -> None:
        with self._cond:
            if self._con is not None:
                self._con.close()
                self._con = None
