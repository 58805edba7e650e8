"""Identifiable files are private: created 0600 in folders created 0700, whatever the operator's umask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


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
