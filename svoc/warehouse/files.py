"""Identifiable files are private: created 0600 in folders created 0700, whatever the operator's umask."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
# A published file with more than this share of free blocks is not copied byte for byte (``copy_checkpointed``):
# the caller builds it again through DuckDB, so free space left by replaced tables never accumulates.
MAX_FREE_SHARE = 0.25


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700 (existing folders are left as they are)."""
    missing = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with suppress(FileExistsError):
            d.mkdir(mode=PRIVATE_DIR)
        os.chmod(d, PRIVATE_DIR)


@contextmanager
def private_files() -> Iterator[None]:
    """Files and folders created inside (by us, DuckDB, reports, Data Docs) are 0600/0700, whatever the umask."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def chmod_private(*paths: Path) -> None:
    for p in paths:
        if p.exists():
            os.chmod(p, PRIVATE_FILE)


def copy_checkpointed(src: Path, dst: Path, *, max_free_share: float = MAX_FREE_SHARE) -> bool:
    """Copy the DuckDB file ``src`` to ``dst`` byte for byte (0.8 s at 1M records, against ~16 s through DuckDB).
    False, and nothing copied, when ``src`` has a write-ahead log (whose changes a byte copy would miss) or more
    than ``max_free_share`` of its blocks are free (the caller then builds through DuckDB, which writes a compact
    file). A read-only connection is held meanwhile: its shared lock keeps any writer out, so the bytes are one
    consistent checkpoint. ``dst`` is created 0600. Raises ``duckdb.IOException`` when a writer holds ``src``."""
    if src.with_name(src.name + ".wal").exists():
        return False
    guard = duckdb.connect(str(src), read_only=True)
    try:
        total, free = guard.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchall()[0]
        if total and free / total > max_free_share:
            return False
        with private_files():  # created 0600: the copy holds what the original does
            shutil.copyfile(src, dst)
    finally:
        guard.close()
    return True
