"""Build-then-swap publishing of the warehouse and its analytics file, as one unit.

A run never writes the published files. It first takes the warehouse's writer lock (an ``flock`` on
``.<stem>.lock``: the kernel drops it when the holder dies, however it dies), and only then creates
anything. It builds ``.<stem>.build-<run>.duckdb`` beside the warehouse, seeded with a copy of the published
warehouse (so the citizen registry, steward decisions, stored models and run history carry over), runs its
checks there, writes ``.<stem>_analytics.build-<run>.duckdb``, and stamps both with its run id
(``audit.publication``).

Publishing is a small journal (``.<stem>.publish.json``, written atomically) naming both builds, then two
``os.replace`` calls. The journal is the commit point: a run killed after it is written is finished by
the next run (roll forward), so the warehouse and the analytics file are always from the same run once any
run has started; a run killed before it leaves only build files, which the next run removes (it holds the
lock, so their owner is dead). Readers that hold the old files keep reading the old inodes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from schemas.errors import SvocError
from svoc.warehouse.analytics import analytics_path
from svoc.warehouse.files import (
    MAX_FREE_SHARE,  # noqa: F401 - part of this module's API (the tests read it here)
    PRIVATE_FILE,
    chmod_private,
    copy_checkpointed,
    make_private_dir,
    private_files,
)
from svoc.warehouse.lock import (
    RunCancelled,
    WarehouseBusy,
    is_ended,
    acquire_lock,
    holds_lock,
    lock_holder,
    lock_path,
    mark_ended,
    release_lock,
)
from svoc.warehouse.sql import ensure_tables, file_value, one_row, quote_ident

log = logging.getLogger(__name__)

__all__ = ["RunCancelled", "WarehouseBusy", "acquire_lock", "holds_lock", "lock_holder", "lock_path",
           "release_lock"]  # the writer lock lives in svoc.warehouse.lock; these names are part of this module's API

BUILD_MARK = ".build-"

_SWAP = threading.Lock()  # publish vs. cancel within one process
_CANCELLED: set[str] = set()


# ---- paths ---------------------------------------------------------------------------------------------------

def build_path(target: Path, run_id: str) -> Path:
    return target.parent / f".{target.stem}{BUILD_MARK}{run_id}.duckdb"


def analytics_build_path(target: Path, run_id: str) -> Path:
    return target.parent / f".{target.stem}_analytics{BUILD_MARK}{run_id}.duckdb"


def prev_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}.prev.duckdb")


def journal_path(target: Path) -> Path:
    return target.with_name(f".{target.stem}.publish.json")


def _leftover_pattern(target: Path) -> re.Pattern[str]:
    stem = re.escape(target.stem)
    return re.compile(rf"^\.{stem}(?:_analytics)?\.(?:build|prev)-(?P<run>[^./]+)\.duckdb(?:\.wal|\.tmp)?$")


def leftovers(target: Path) -> list[Path]:
    """Build and staging files beside ``target`` (of any run), plus a half-written journal."""
    pattern = _leftover_pattern(target)
    found = [p for p in target.parent.glob(f".{target.stem}*") if pattern.match(p.name)]
    tmp_journal = journal_path(target).with_suffix(".tmp")
    return sorted(found + ([tmp_journal] if tmp_journal.exists() else []))


# ---- connections ---------------------------------------------------------------------------------------------

def connect(path: Path, *, memory_limit: str = "4GB", threads: int = 2, spill_dir: Path | None = None,
            read_only: bool = False) -> duckdb.DuckDBPyConnection:
    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": memory_limit, "threads": threads}
    if spill_dir:
        make_private_dir(Path(spill_dir))
        config["temp_directory"] = str(spill_dir)
    return duckdb.connect(str(path), read_only=read_only, config=config)


def attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str, *, read_only: bool = False) -> None:
    """``ATTACH`` a database file; the path travels as a parameter (an apostrophe in it is just a character)."""
    options = " (READ_ONLY)" if read_only else ""
    con.execute(f"ATTACH ? AS {quote_ident(alias)}{options}", [str(path)])


def _busy_message(target: Path) -> str:
    return (f"{target}: another program holds this warehouse open for writing (a read-write DuckDB connection, "
            "for example in a notebook or DBeaver); close it, or reopen it read-only, and run again")


def check_not_held(target: Path) -> None:
    """Stop with one line when another program holds the published warehouse open read-write."""
    if not Path(target).exists():
        return
    try:
        duckdb.connect(str(target), read_only=True).close()
    except duckdb.IOException:
        raise SvocError(_busy_message(target)) from None
    except duckdb.Error:
        return  # not a lock problem: the build reports it with its own message


# ---- cleaning up after dead runs -----------------------------------------------------------------------------

def remove_leftovers(target: Path, run_id: str) -> list[Path]:
    """Delete other runs' build and staging files. Only the lock holder may: the lock proves their owner is dead.

    Files owned by another user are left alone (and logged); the journal of an unfinished publish is
    rolled forward first, so nothing it names is ever removed here."""
    if not holds_lock(target, run_id):
        raise SvocError(f"{target}: cannot clean up build files without holding the writer lock")
    pattern = _leftover_pattern(target)
    removed = []
    for p in leftovers(target):
        m = pattern.match(p.name)
        if m and m.group("run") == run_id:
            continue
        try:
            if p.stat().st_uid != os.getuid():
                log.warning("leftover build file owned by another user left in place: %s", p.name)
                continue
        except FileNotFoundError:
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    if removed:
        log.info("removed %d leftover build files of dead runs", len(removed))
    return removed


def discard_build(target: Path, run_id: str) -> list[Path]:
    """After a failed or interrupted run: drop this run's own build files and release its lock.

    Another run's files are never touched (a refused second run must not delete the first run's build)."""
    with _SWAP:  # after this the run holds no lock and can open no build, so it cannot publish or write
        mark_ended(target, run_id)
        removed = remove_own_build(target, run_id) if holds_lock(target, run_id) else []
        release_lock(target, run_id)
        _CANCELLED.discard(run_id)
    return removed


def remove_own_build(target: Path, run_id: str) -> list[Path]:
    """This run's build files (also a ``.wal`` its abandoned worker wrote after the discard, at process exit)."""
    pattern = _leftover_pattern(target)
    removed = []
    for p in leftovers(target):
        m = pattern.match(p.name)
        if m and m.group("run") == run_id:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


# ---- the run id each published file carries ------------------------------------------------------------------

def stamp(path: Path, run_id: str) -> None:
    """Record in ``audit.publication`` (one row) the run this build file was built by."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS audit")
        con.execute("CREATE OR REPLACE TABLE audit.publication (run_id VARCHAR, built_at TIMESTAMP)")
        con.execute("INSERT INTO audit.publication VALUES (?, ?)", [run_id, dt.datetime.now()])
        con.execute("CHECKPOINT")
    finally:
        con.close()


def stamped_run(path: Path) -> str | None:
    """The run id a published file was built by (None when it has no stamp or cannot be read)."""
    return file_value(path, "SELECT run_id FROM audit.publication LIMIT 1")


def published_pair(target: Path) -> tuple[str | None, str | None]:
    """(warehouse run id, analytics run id) as readers see them now."""
    return stamped_run(target), stamped_run(analytics_path(target))


# ---- publishing as one unit ----------------------------------------------------------------------------------

def _write_journal(target: Path, run_id: str, swaps: list[tuple[Path, Path]]) -> None:
    path = journal_path(target)
    tmp = path.with_suffix(".tmp")
    body = json.dumps({"run_id": run_id, "swaps": [[src.name, dst.name] for src, dst in swaps]})
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.write(fd, body.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(target.parent)


def _roll_forward(target: Path, on_step: Callable[[str], None]) -> str | None:
    """Finish the swaps a journal names (idempotent: each step is skipped once done). Returns its run id."""
    path = journal_path(target)
    if not path.exists():
        return None
    journal = json.loads(path.read_text(encoding="utf-8"))
    run_id = journal["run_id"]
    for src_name, dst_name in journal["swaps"]:
        src, dst = target.parent / src_name, target.parent / dst_name
        if not src.exists():
            continue  # already swapped in
        if dst == target and target.exists():
            staged_prev = target.with_name(f".{target.stem}.prev-{run_id}.duckdb")
            staged_prev.unlink(missing_ok=True)
            os.link(target, staged_prev)
            on_step("prev linked")
            os.replace(staged_prev, prev_path(target))
            on_step("prev swapped")
        os.replace(src, dst)
        on_step(f"{'warehouse' if dst == target else 'analytics'} swapped")
    _fsync_dir(target.parent)
    path.unlink()
    _fsync_dir(target.parent)
    on_step("journal removed")
    return run_id


def recover(target: Path, run_id: str) -> dict[str, object]:
    """At the start of a run, holding the lock: finish an interrupted publish, remove dead runs' files, and
    check that the warehouse and analytics file readers see come from the same run."""
    finished = _roll_forward(target, lambda _step: None)
    if finished:
        log.warning("finished the publish of run %s, which was interrupted between its swaps", finished[:8])
    removed = remove_leftovers(target, run_id)
    pair = published_pair(target)
    mismatch = bool(pair[0] and analytics_path(target).exists() and pair[0] != pair[1])
    if mismatch:
        log.warning("the published analytics file is not from the published warehouse's run; this run "
                    "replaces both")
    return {"rolled_forward": finished, "removed": removed, "mismatch": mismatch}


def start_build(target: Path, run_id: str, **conn_kw: Any) -> Path:
    """Take the writer lock, recover from dead runs, then create this run's build seeded from the published file."""
    acquire_lock(target, run_id)
    path = build_path(target, run_id)
    if path.exists():
        return path
    recover(target, run_id)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with private_files():
        copied = target.exists() and _copy_published(target, tmp)
        con = connect(tmp, **conn_kw)
        try:
            if target.exists() and not copied:
                try:
                    attach(con, target, "published", read_only=True)
                except duckdb.IOException:
                    raise SvocError(_busy_message(target)) from None
                own = one_row(con, "SELECT current_database()")[0]
                con.execute(f"COPY FROM DATABASE published TO {quote_ident(own)}")
                con.execute("DETACH published")
            ensure_tables(con)
            con.execute("CHECKPOINT")
        finally:
            con.close()
    chmod_private(tmp)
    with _SWAP:
        if is_ended(target, run_id):
            tmp.unlink(missing_ok=True)
            raise RunCancelled(f"run {run_id[:8]} was interrupted; not writing")
        os.replace(tmp, path)
    log.info("build started run=%s seeded_from_published=%s", run_id, target.exists())
    return path


def _copy_published(target: Path, tmp: Path) -> bool:
    """Seed the build with a byte copy of the published file (``copy_checkpointed``); False when it must be
    copied through DuckDB instead, which replays a write-ahead log and writes a compact file."""
    try:
        return copy_checkpointed(target, tmp)
    except duckdb.IOException:
        raise SvocError(_busy_message(target)) from None


def open_build(target: Path, run_id: str, **conn_kw: Any) -> duckdb.DuckDBPyConnection:
    """A connection to this run's build (created on first use). Refused once the run was interrupted, so an
    abandoned worker thread never re-creates a discarded build."""
    path = start_build(target, run_id, **conn_kw)
    with _SWAP:
        if is_ended(target, run_id) or not path.exists():
            raise RunCancelled(f"run {run_id[:8]} was interrupted; not writing")
        return connect(path, **conn_kw)


def cancel(target: Path, run_id: str) -> bool:
    """Stop ``run_id`` from publishing. False when it is too late (its publish is already committed)."""
    with _SWAP:
        if journal_path(target).exists() or (stamped_run(target) == run_id):
            return False
        _CANCELLED.add(run_id)
        return True


def _checkpoint(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    if path.with_name(path.name + ".wal").exists():
        raise SvocError(f"{path.name}: write-ahead log still present after checkpoint; not publishing")


def publish(target: Path, run_id: str, *, analytics: bool = True,
            on_step: Callable[[str], None] = lambda _step: None, also: tuple[tuple[Path, Path], ...] = ()) -> Path:
    """Swap this run's warehouse build and analytics build in, as one unit; keep the old warehouse as ``.prev``.

    ``on_step`` is called after each durable step (tests kill the process there). ``also``: more ``(staged,
    published)`` renames in the same journal (the Parquet folder's link, ``svoc.warehouse.parquet``)."""
    if not holds_lock(target, run_id):
        raise SvocError(f"{target}: run {run_id[:8]} does not hold the writer lock; not publishing")
    swaps = [(build_path(target, run_id), target)]
    if analytics:
        swaps.append((analytics_build_path(target, run_id), analytics_path(target)))
    for src, _dst in swaps:
        _checkpoint(src)
        chmod_private(src)
    swaps += list(also)
    on_step("builds checkpointed")
    with _SWAP:
        if run_id in _CANCELLED or not holds_lock(target, run_id):
            raise RunCancelled(f"run {run_id[:8]} was interrupted; not publishing")
        _write_journal(target, run_id, swaps)
    on_step("journal written")
    _roll_forward(target, on_step)
    release_lock(target, run_id)
    log.info("published run=%s", run_id)
    return target


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
