"""Private temporary folders that name the process owning them, and a sweep for those whose owner is gone.

A run's private Dagster home (``pipelines.runner``) and the extract worker's folder (``svoc.stages.ahead``) are
``0700`` folders in the temp folder holding a file with their owner's pid. The owner removes its folder when it
ends; a folder left by a killed owner is removed by the next ``sweep_dead`` for its prefix. A folder without a
readable owner is left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

OWNER_FILE = "svoc-owner.pid"


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def private_temp_dir(prefix: str) -> Path:
    """A new ``0700`` folder in the temp folder, owned by this process (its pid in ``OWNER_FILE``)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / OWNER_FILE).write_text(str(os.getpid()))
    return folder


def sweep_dead(prefix: str, folder: Path | None = None) -> list[Path]:
    """Remove the ``prefix*`` folders in ``folder`` (the temp folder) whose owner process is gone; returns them."""
    removed = []
    for path in sorted(Path(folder or tempfile.gettempdir()).glob(prefix + "*")):
        try:
            pid = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
