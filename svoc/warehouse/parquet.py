"""The published warehouse as Parquet, for lakehouse readers: one file per table, swapped in with the warehouse.

Beside ``svoc.duckdb`` the folder ``svoc_parquet/`` holds ``<schema>/<table>.parquet`` for every table of the
published warehouse. ``svoc_parquet`` is a symbolic link to this run's folder (``.svoc_parquet-<run>/``): the run
writes its folder and a staged link (``.svoc_parquet.build-<run>``) before publishing, and the publish journal
swaps that link in with the warehouse (``svoc.warehouse.build.publish`` ``also``), so readers see the Parquet
files of the same run as the warehouse, whole, or the previous run's. Files are 0600 and folders 0700: the
tables identify children.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from svoc.warehouse.files import PRIVATE_DIR, PRIVATE_FILE, make_private_dir
from svoc.warehouse.sql import qualified

log = logging.getLogger(__name__)

BATCH_ROWS = 200_000


def parquet_link(target: Path) -> Path:
    """The folder readers open: ``<stem>_parquet`` beside the warehouse (a link to the published run's folder)."""
    return target.with_name(f"{target.stem}_parquet")


def run_dir(target: Path, run_id: str) -> Path:
    return target.with_name(f".{target.stem}_parquet-{run_id}")


def build_link(target: Path, run_id: str) -> Path:
    return target.with_name(f".{target.stem}_parquet.build-{run_id}")


def write_tables(db: Path, out: Path) -> dict[str, int]:
    """Every table of the DuckDB file ``db`` as ``out/<schema>/<table>.parquet`` (streamed in batches);
    returns rows per ``schema.table``."""
    make_private_dir(out)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary "
                             "ORDER BY schema_name, table_name").fetchall()
        for schema, table in tables:
            folder = out / schema
            make_private_dir(folder)
            path = folder / f"{table}.parquet"
            reader = con.sql(f"SELECT * FROM {qualified(f'{schema}.{table}')}").to_arrow_reader(BATCH_ROWS)
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as sink, pq.ParquetWriter(sink, reader.schema) as writer:
                n = 0
                for batch in reader:
                    writer.write_batch(batch)
                    n += batch.num_rows
            counts[f"{schema}.{table}"] = n
    finally:
        con.close()
    return counts


def stage(target: Path, run_id: str, db: Path) -> tuple[Path, Path]:
    """Write this run's Parquet folder from its build ``db`` and a staged link to it; returns the swap
    ``(staged link, published link)`` for the publish journal. Holding the writer lock, it first removes the
    folders of dead and superseded runs (``remove_stale``)."""
    remove_stale(target, keep=run_id)
    folder = run_dir(target, run_id)
    shutil.rmtree(folder, ignore_errors=True)
    counts = write_tables(db, folder)
    os.chmod(folder, PRIVATE_DIR)
    link = build_link(target, run_id)
    link.unlink(missing_ok=True)
    os.symlink(folder.name, link)  # relative: the warehouse folder can move
    log.info("parquet staged run=%s tables=%d rows=%d", run_id[:8], len(counts), sum(counts.values()))
    return link, parquet_link(target)


def remove_stale(target: Path, keep: str = "") -> list[Path]:
    """Remove Parquet folders and staged links of runs other than the published one and ``keep``."""
    link = parquet_link(target)
    current = os.readlink(link) if link.is_symlink() else None
    pattern = re.compile(rf"^\.{re.escape(target.stem)}_parquet(?:-|\.build-)[^/]+$")
    removed = []
    for p in target.parent.glob(f".{target.stem}_parquet*"):
        if not pattern.match(p.name) or p.name == current or (keep and p.name.endswith(f"-{keep}")):
            continue
        if p.is_symlink() or p.is_file():
            p.unlink()
        else:
            shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed
