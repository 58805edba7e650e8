"""``$DAGSTER_HOME`` for a CLI run: created with the project's instance settings when missing, one line when unusable.

In process, on the function the runner calls: a whole ``svoc run`` under a persistent home was tried as a CLI
test, and there Dagster's compute-log capture once left two ``tail -F`` processes holding the test's output pipe.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from pipelines.runner import (
    TEMP_HOME_PREFIX,
    _close_instance,
    _dagster_instance,
    sweep_private_homes,
)
from schemas.errors import SvocError
from svoc.private_temp import OWNER_FILE


def test_a_missing_dagster_home_is_created_with_the_projects_settings(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "not" / "yet" / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = _dagster_instance(dg)
    try:
        assert not instance.is_ephemeral and home.is_dir()
        assert "telemetry:\n  enabled: false" in (home / "dagster.yaml").read_text()  # no banner, no reporting
    finally:
        instance.dispose()


def test_an_existing_dagster_home_is_left_as_it_is(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    _dagster_instance(dg).dispose()
    assert not (tmp_path / "dagster.yaml").exists()  # an operator's own home is not rewritten


@pytest.mark.parametrize("value", ["", None])
def test_no_dagster_home_gives_a_private_home_removed_after_the_run(monkeypatch, value) -> None:
    """Not Dagster's ephemeral instance: its shared-cache in-memory SQLite let the progress reader's query and
    the run's own status write collide ("database table is locked: runs") and fail a run."""
    if value is None:
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
    else:
        monkeypatch.setenv("DAGSTER_HOME", value)
    instance = _dagster_instance(dg)
    root = Path(instance.root_directory)
    try:
        assert not instance.is_ephemeral and root.name.startswith(TEMP_HOME_PREFIX)
        assert "telemetry:\n  enabled: false" in (root / "dagster.yaml").read_text()
    finally:
        _close_instance(instance)
    assert not root.exists()


def test_a_killed_runs_private_home_is_swept_by_the_next_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # a process that has ended
    homes = {}
    for name, owner in (("dead", dead), ("alive", str(os.getpid())), ("unowned", None), ("garbled", "not a pid")):
        home = homes[name] = tmp_path / f"{TEMP_HOME_PREFIX}{name}"
        home.mkdir()
        if owner is not None:
            (home / OWNER_FILE).write_text(owner)
    other = tmp_path / "someone-elses-folder"
    other.mkdir()
    assert sweep_private_homes(tmp_path) == [homes["dead"]]
    assert not homes["dead"].exists()
    assert all(homes[k].is_dir() for k in ("alive", "unowned", "garbled")) and other.is_dir()


def test_closing_an_operators_home_keeps_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    _close_instance(_dagster_instance(dg))
    assert tmp_path.is_dir()


def test_a_dagster_home_that_is_a_file_stops_with_one_line(tmp_path: Path, monkeypatch) -> None:
    a_file = tmp_path / "dagster.txt"
    a_file.write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(a_file))
    with pytest.raises(SvocError) as err:
        _dagster_instance(dg)
    assert str(err.value) == f"DAGSTER_HOME {a_file}: not a folder; set DAGSTER_HOME to a folder, or unset it"
