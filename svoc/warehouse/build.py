"""Build-then-swap publishing of the warehouse file.

A run never writes the published file. It builds ``.<stem>.build-<run>.duckdb`` beside it, seeded with
a copy of the published warehouse (so the citizen registry, steward decisions, stored models and run
history carry over), runs its checks there, and only then swaps it in with ``os.replace``: readers that
already hold the old file keep reading the old inode, new readers see the new file, and a killed run
leaves at most an orphaned build file that the next run removes.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import duckdb

from schemas.errors import SvocError
from svoc.warehouse.sql import ensure_tables

log = logging.getLogger(__name__)

BUILD_MARK = ".build-"


_LOCKS: dict[str, tuple[str, int]] = {}


def acquire_lock(target: Path, run_id: str) -> None:
    """One writer per warehouse: an exclusive lock held from the start of a build until publish or failure."""
    key = str(target.resolve())
    if key in _LOCKS:
        if _LOCKS[key][0] == run_id:
            return
        raise SvocError(f"{target}: run {_LOCKS[key][0][:8]} is already writing this warehouse")
    fd = os.open(target.with_name(f".{target.stem}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SvocError(f"{target}: another run is writing this warehouse; try again when it has finished") from None
    _LOCKS[key] = (run_id, fd)


def release_lock(target: Path) -> None:
    held = _LOCKS.pop(str(target.resolve()), None)
    if held:
        fcntl.flock(held[1], fcntl.LOCK_UN)
        os.close(held[1])


def build_path(target: Path, run_id: str) -> Path:
    return target.parent / f".{target.stem}{BUILD_MARK}{run_id}.duckdb"


def prev_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}.prev.duckdb")


def connect(path: Path, *, memory_limit: str = "4GB", threads: int = 2, spill_dir: Path | None = None,
            read_only: bool = False) -> duckdb.DuckDBPyConnection:
    config = {"memory_limit": memory_limit, "threads": threads}
    if spill_dir:
        Path(spill_dir).mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(spill_dir)
    return duckdb.connect(str(path), read_only=read_only, config=config)


def discard_build(target: Path) -> list[Path]:
    """After a failed run: drop its build file and release the warehouse lock."""
    removed = remove_stale_builds(target)
    release_lock(target)
    return removed


def remove_stale_builds(target: Path, keep_run_id: str | None = None) -> list[Path]:
    """Delete build files of runs that died (a killed run's leftovers never touch the published file)."""
    removed = []
    for p in target.parent.glob(f".{target.stem}{BUILD_MARK}*.duckdb*"):
        if keep_run_id and f"{BUILD_MARK}{keep_run_id}." in p.name:
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def start_build(target: Path, run_id: str, **conn_kw) -> Path:
    """Create this run's build file, seeded from the published warehouse when there is one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    acquire_lock(target, run_id)
    remove_stale_builds(target, keep_run_id=run_id)
    path = build_path(target, run_id)
    if path.exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = connect(tmp, **conn_kw)
    try:
        if target.exists():
            con.execute(f"ATTACH '{target}' AS published (READ_ONLY)")
            own = con.execute("SELECT current_database()").fetchone()[0]
            con.execute(f"COPY FROM DATABASE published TO \"{own}\"")
            con.execute("DETACH published")
        ensure_tables(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, path)
    log.info("build started run=%s seeded_from_published=%s", run_id, target.exists())
    return path


def publish(target: Path, run_id: str) -> Path:
    """Atomically replace the published file with this run's build, keeping the old one as ``.prev``."""
    path = build_path(target, run_id)
    con = duckdb.connect(str(path))
    con.execute("CHECKPOINT")
    con.close()
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{path}: write-ahead log still present after checkpoint; not publishing")
    if target.exists():
        staged_prev = target.with_name(f".{target.stem}.prev-{run_id}.duckdb")
        staged_prev.unlink(missing_ok=True)
        os.link(target, staged_prev)
        os.replace(staged_prev, prev_path(target))
    os.replace(path, target)
    _fsync_dir(target.parent)
    release_lock(target)
    log.info("published run=%s", run_id)
    return target


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
