"""Safe publishing: readers are never blocked, a killed run changes nothing, state carries over."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.e2e import CLI, DEMO, ROOT, cli_env, query, run_cli, sha256

pytestmark = pytest.mark.slow

# Holds a read-only connection and keeps querying until told to stop (a stop file appears).
READER = r"""
import os, sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
before = con.execute("SELECT count(*) FROM linked.single_view").fetchone()[0]
print("ready", flush=True)
deadline = time.time() + 900
n = 0
while not os.path.exists(sys.argv[2]) and time.time() < deadline:
    assert con.execute("SELECT count(*) FROM linked.single_view").fetchone()[0] == before
    n += 1
    time.sleep(0.1)
print("queries", n, flush=True)
"""


def start_reader(path: Path, stop: Path) -> subprocess.Popen:
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(stop)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "ready"
    return reader


@pytest.fixture()
def published(demo_run, tmp_path) -> Path:
    """A private copy of the demo warehouse, as if published by an earlier run."""
    target = tmp_path / "wh" / "svoc.duckdb"
    target.parent.mkdir()
    shutil.copy(demo_run, target)
    return target


def test_reader_holding_the_file_is_not_blocked_while_a_run_publishes(published, tmp_path):
    old_runs = {r[0] for r in query(published, "SELECT run_id FROM audit.runs")}
    stop = tmp_path / "stop"
    reader = start_reader(published, stop)
    run_cli("run", "--drop", str(DEMO), "--warehouse", str(published), tmp=tmp_path)
    assert reader.poll() is None, "the reader died while the run published"
    stop.touch()
    out, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0 and int(out.split()[-1]) > 0, out
    # A reader opening the file now sees the new run; the old file is kept as .prev.
    new_runs = {r[0] for r in query(published, "SELECT run_id FROM audit.runs")}
    assert len(new_runs - old_runs) == 1
    assert (published.parent / "svoc.prev.duckdb").exists()


def test_reader_keeps_a_consistent_view_through_the_swap(published, tmp_path):
    stop = tmp_path / "stop"
    reader = start_reader(published, stop)
    run_cli("run", "--drop", str(DEMO), "--warehouse", str(published), tmp=tmp_path)
    # The old inode is still what the reader sees: its counts never changed (asserted inside the reader).
    stop.touch()
    out, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0, out
    assert out.startswith("queries")


def test_run_killed_mid_build_leaves_the_published_file_unchanged(published, tmp_path):
    before = sha256(published)
    proc = subprocess.Popen([CLI, "run", "--drop", str(DEMO), "--warehouse", str(published)], cwd=ROOT,
                            env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    # Wait until the build file exists and at least one source has been staged into it.
    deadline = time.time() + 300
    for line in proc.stdout:
        if "staging__" in line or time.time() > deadline:
            break
    assert list(published.parent.glob(".svoc.build-*.duckdb")), "no build file while the run was going"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert sha256(published) == before
    # The next run clears the dead run's leftovers and publishes normally.
    run_cli("run", "--drop", str(DEMO), "--warehouse", str(published), tmp=tmp_path)
    assert not list(published.parent.glob(".svoc.build-*"))
    assert sha256(published) != before


def test_rerun_carries_ids_and_decisions_over(published, tmp_path):
    ids_before = query(published, "SELECT source, source_record_id, citizen_id FROM linked.record_citizen ORDER BY 1, 2")
    con = duckdb.connect(str(published))
    a, b = con.execute("SELECT unique_id_l, unique_id_r FROM audit.match_evidence WHERE status = 'linked' "
                       "AND link_method = 'probabilistic' ORDER BY unique_id_l LIMIT 1").fetchone()
    con.execute("INSERT INTO audit.review_decisions VALUES ('test-pair', ?, ?, 'same', 'tester', 'carry-over test', "
                "now())", [a, b])
    models = con.execute("SELECT model_version FROM audit.models").fetchall()
    con.close()
    run_cli("run", "--drop", str(DEMO), "--warehouse", str(published), tmp=tmp_path)
    ids_after = query(published, "SELECT source, source_record_id, citizen_id FROM linked.record_citizen ORDER BY 1, 2")
    assert ids_after == ids_before  # the same drop gives 100% identical citizen ids
    assert query(published, "SELECT reviewer FROM audit.review_decisions WHERE pair_id = 'test-pair'") == [("tester",)]
    assert query(published, "SELECT model_version FROM audit.models") == models  # the stored model was reused
    assert query(published, "SELECT count(*) FROM audit.citizen_events e JOIN audit.runs r USING (run_id) "
                            "WHERE r.started_at = (SELECT max(started_at) FROM audit.runs) "
                            "AND e.event IN ('created', 'merged', 'split', 'retired', 'record_moved')") == [(0,)]
