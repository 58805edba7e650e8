"""What a drop is: a folder with one subfolder per source, optionally a ``manifest.json``.

The drop date (the "as of" date for twelve-month indicators and for "in the future" checks) comes from
the manifest's ``drop_date``, else from a ``YYYY-MM-DD`` folder name, else today.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from schemas.errors import UnusableInputError

_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COMPLETE_MARKERS = ("manifest.json", "_SUCCESS")


def drop_date(drop: Path) -> dt.date:
    manifest = drop / "manifest.json"
    if manifest.exists():
        try:
            value = json.loads(manifest.read_text(encoding="utf-8")).get("drop_date")
        except json.JSONDecodeError as err:
            raise UnusableInputError(manifest, f"not valid JSON ({err.msg})", "fix or remove the manifest") from err
        if value:
            return dt.date.fromisoformat(value)
    if _DATED.match(drop.name):
        return dt.date.fromisoformat(drop.name)
    return dt.date.today()


def check_drop(drop: Path) -> None:
    if not drop.is_dir():
        raise UnusableInputError(drop, "drop folder does not exist", "pass --drop with a folder of source subfolders")


def dated_drops(landing: Path) -> list[Path]:
    """Dated drop folders under the landing area, oldest first."""
    if not landing.is_dir():
        return []
    return sorted(p for p in landing.iterdir() if p.is_dir() and _DATED.match(p.name))


def is_complete(drop: Path) -> bool:
    """A drop is complete once its sender has written a manifest or a ``_SUCCESS`` marker."""
    return any((drop / m).exists() for m in COMPLETE_MARKERS)


def unconfigured_folders(drop: Path, sources: list[str]) -> list[str]:
    """Subfolders of the drop that no configured source reads (hidden ``.x`` and ``_x`` folders aside)."""
    if not drop.is_dir():
        return []
    return sorted(p.name for p in drop.iterdir()
                  if p.is_dir() and p.name not in sources and not p.name.startswith((".", "_")))


def drop_notices(drop: Path, sources_file: Path | None) -> list[str]:
    """One line per thing in the drop the run will not read, saying what to do about it."""
    from connectors import load_source_configs

    names = [cfg.name for cfg in load_source_configs(sources_file)]
    return [f"{drop}: folder {name!r} is not a configured source, so its files are not read "
            "(add it to sources.yaml to read it, or remove the folder)"
            for name in unconfigured_folders(drop, names)]
