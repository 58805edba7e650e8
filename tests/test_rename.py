"""svoc is childview renamed: same results on the demo drop, and one release of compatibility."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from svoc.settings import get_settings
from tests.e2e import ROOT, cli_env
from tests.golden import fingerprint

GOLDEN = json.loads((ROOT / "tests" / "data" / "demo_golden.json").read_text())


@pytest.mark.slow
def test_svoc_run_publishes_what_childview_run_did(demo_run: Path):
    """Same tables, same row counts and the same grouping of records into children as before the move."""
    assert fingerprint(demo_run) == GOLDEN


def test_childview_command_says_it_is_now_svoc(tmp_path):
    exe = str(Path(sys.executable).with_name("childview"))
    proc = subprocess.run([exe, "--help"], env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stderr.strip().splitlines()[0] == ("childview is now svoc: run 'svoc' instead "
                                                   "(this alias goes in the next release)")
    assert "run" in proc.stdout and "review" in proc.stdout


@pytest.mark.parametrize(("env", "expected", "warns"), [
    ({"CHILDVIEW_WAREHOUSE": "old.duckdb"}, "old.duckdb", True),
    ({"SVOC_WAREHOUSE": "new.duckdb", "CHILDVIEW_WAREHOUSE": "old.duckdb"}, "new.duckdb", False),
    ({"SVOC_WAREHOUSE": "new.duckdb"}, "new.duckdb", False),
    ({}, "warehouse/svoc.duckdb", False),
])
def test_legacy_variables_are_read_when_the_new_one_is_unset(monkeypatch, env, expected, warns):
    for name in ("SVOC_WAREHOUSE", "CHILDVIEW_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = get_settings()
    assert settings.warehouse == Path(expected)
    legacy = [w for w in caught if "CHILDVIEW_WAREHOUSE" in str(w.message)]
    assert bool(legacy) is warns
    if warns:
        assert "SVOC_WAREHOUSE" in str(legacy[0].message)


def test_explicit_overrides_beat_both_prefixes(monkeypatch):
    monkeypatch.setenv("CHILDVIEW_DUCKDB_THREADS", "7")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert get_settings(duckdb_threads=3).duckdb_threads == 3
