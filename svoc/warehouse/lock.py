"""The warehouse's writer lock: one writer per warehouse, held from before a build is created until it ends.

An exclusive ``flock`` on ``.<stem>.lock`` beside the warehouse. The kernel drops it when the holder dies,
however it dies, so a killed run never blocks the next one. A run whose build was discarded (Ctrl-C, a
failure) is *ended*: it may not take the lock again, so an abandoned worker thread cannot start writing anew.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from schemas.errors import SvocError
from svoc.warehouse.files import PRIVATE_FILE, make_private_dir

_LOCKS: dict[str, tuple[str, int]] = {}  # target -> (run id, fd) for the locks this process holds
_ENDED: set[tuple[str, str]] = set()  # (warehouse, run) discarded: its abandoned worker may not write again


class WarehouseBusy(SvocError):
    """Another run (or a review command) holds the writer lock."""


class RunCancelled(SvocError):
    """The operator interrupted the run before it published."""


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.stem}.lock")


def _key(target: Path) -> str:
    return str(Path(target).resolve())


def lock_holder(target: Path) -> str:
    """What the lock file says about its holder ("run 1a2b3c4d, pid 123"), or ""."""
    try:
        info = json.loads(lock_path(target).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return ""
    return f"run {str(info.get('run_id', '?'))[:8]}, pid {info.get('pid', '?')}" if info else ""


def acquire_lock(target: Path, run_id: str) -> None:
    """One writer per warehouse: an exclusive ``flock`` held from before a build is created until it ends.

    The kernel releases it when the holding process exits, so a killed run never blocks the next one."""
    key = _key(target)
    if is_ended(target, run_id):
        raise RunCancelled(f"run {run_id[:8]} was interrupted; not writing")
    if key in _LOCKS:
        if _LOCKS[key][0] == run_id:
            return
        raise WarehouseBusy(f"{target}: run {_LOCKS[key][0][:8]} is already writing this warehouse; "
                            "try again when it has finished")
    make_private_dir(Path(target).parent)
    fd = os.open(lock_path(target), os.O_CREAT | os.O_RDWR, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = lock_holder(target)
        raise WarehouseBusy(f"{target}: another run{f' ({holder})' if holder else ''} is writing this warehouse; "
                            "try again when it has finished") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"run_id": run_id, "pid": os.getpid()}).encode(), 0)
    _LOCKS[key] = (run_id, fd)


def is_ended(target: Path, run_id: str) -> bool:
    return (_key(target), run_id) in _ENDED


def holds_lock(target: Path, run_id: str) -> bool:
    held = _LOCKS.get(_key(target))
    return bool(held and held[0] == run_id)


def release_lock(target: Path, run_id: str | None = None) -> None:
    """Release the lock if this process holds it (for ``run_id``, when given)."""
    key = _key(target)
    held = _LOCKS.get(key)
    if not held or (run_id is not None and held[0] != run_id):
        return
    del _LOCKS[key]
    os.ftruncate(held[1], 0)
    fcntl.flock(held[1], fcntl.LOCK_UN)
    os.close(held[1])


def mark_ended(target: Path, run_id: str) -> None:
    """``run_id`` was discarded: from now on it may not take the lock or open a build."""
    _ENDED.add((_key(target), run_id))
