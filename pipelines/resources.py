"""Resources: where the drop is and where the warehouse is, from settings and environment variables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from childview.drops import check_drop, drop_date
from childview.settings import get_settings
from childview.warehouse.build import connect, start_build


class WarehouseResource(dg.ConfigurableResource):
    """The published warehouse file; each run works on its own build file beside it."""

    path: str
    memory_limit: str = "4GB"
    threads: int = 2
    spill_dir: str | None = None

    @property
    def target(self) -> Path:
        return Path(self.path)

    def _conn_kw(self) -> dict:
        return {"memory_limit": self.memory_limit, "threads": self.threads,
                "spill_dir": Path(self.spill_dir) if self.spill_dir else None}

    @contextmanager
    def build(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(start_build(self.target, run_id, **self._conn_kw()), **self._conn_kw())
        try:
            yield con
        finally:
            con.close()


class DropResource(dg.ConfigurableResource):
    """Tonight's drop folder (one subfolder per source)."""

    path: str

    @property
    def dir(self) -> Path:
        check_drop(Path(self.path))
        return Path(self.path)

    @property
    def date(self) -> dt.date:
        return drop_date(self.dir)


def default_resources() -> dict:
    s = get_settings()
    return {
        "warehouse": WarehouseResource(path=str(s.warehouse), memory_limit=s.duckdb_memory_limit,
                                       threads=s.duckdb_threads, spill_dir=str(s.spill_dir) if s.spill_dir else None),
        "drop": DropResource(path=str(s.drop)),
    }
