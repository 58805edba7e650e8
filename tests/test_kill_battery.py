"""The kill and bad-input battery: a run killed, interrupted or doubled at any point leaves a readable warehouse,
the next run completes, and nothing is left behind.

Everything runs under a folder named with an apostrophe, a space and non-ASCII letters, under umask 022, on a
small generated drop (500 children) so the whole battery stays within a few minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from svoc.warehouse.analytics import analytics_path
from svoc.warehouse.build import journal_path, leftovers, published_pair, stamped_run
from tests.e2e import CLI, ROOT, cli_env, query, run_cli, sha256

pytestmark = pytest.mark.slow

ODD = "St John's Zoë Łódź"
# Every durable step of publish_build, in order (svoc.stages.publish / svoc.warehouse.build call on_step).
PUBLISH_STEPS = ["analytics built", "stamped", "builds checkpointed", "journal written", "prev linked",
                 "prev swapped", "warehouse swapped", "analytics swapped", "journal removed", "report written"]
COMMITTED = PUBLISH_STEPS.index("journal written")
# Killed at: before the commit point, at it, and at every step between and after the two swaps.
KILL_POINTS = ["stamped", "journal written", "prev swapped", "warehouse swapped", "analytics swapped"]


@pytest.fixture(scope="module")
def battery(tmp_path_factory) -> dict[str, Path]:
    """Two small drops and a warehouse published from the first, under an awkward folder name."""
    root = tmp_path_factory.mktemp("battery") / ODD
    root.mkdir()
    drops = {}
    for name, seed in (("a", 7), ("b", 8)):
        drops[name] = root / f"drop {name}"
        run_cli("generate", "--children", "500", "--seed", str(seed), "--out", str(drops[name]), tmp=root)
    warehouse = root / "published" / "svoc.duckdb"
    old = os.umask(0o022)
    try:
        run_cli("run", "--drop", str(drops["a"]), "--warehouse", str(warehouse), tmp=root)
    finally:
        os.umask(old)
    return {"root": root, "warehouse": warehouse, **drops}


@pytest.fixture()
def published(battery, tmp_path) -> Path:
    """A private copy of the battery's published folder."""
    folder = tmp_path / ODD / "warehouse folder"
    shutil.copytree(battery["warehouse"].parent, folder)
    return folder / "svoc.duckdb"


def start(args: list[str], tmp: Path, cli: tuple[str, ...] = (CLI,), **env: str) -> subprocess.Popen:
    return subprocess.Popen([*cli, *args], cwd=ROOT, env=cli_env(tmp, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(predicate, timeout: float = 300, every: float = 0.02) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(every)


def assert_clean(target: Path) -> None:
    """Readable, one run in both files, nothing left behind."""
    assert query(target, "SELECT count(*) FROM linked.single_view")[0][0] > 0
    w, a = published_pair(target)
    assert w is not None and w == a
    assert leftovers(target) == [] and not journal_path(target).exists()


def truth_records(drop: Path) -> set[tuple[str, str]]:
    lines = (drop / "truth.csv").read_text(encoding="utf-8").splitlines()[1:]
    return {tuple(line.split(",")[:2]) for line in lines if line}


def run_id_of(stdout: str) -> str:
    return re.search(r"\(run ([0-9a-f]{8})\)", stdout).group(1)


def dagster_home(tmp: Path) -> Path:
    home = tmp / "dagster home"
    home.mkdir()
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    return home


# ---- SIGKILL at every publish step (the publish stage itself, in a process that is really killed) -----------

KILLED_PUBLISH = r"""
import datetime as dt, os, signal, sys
from pathlib import Path
from svoc.stages.publish import publish_build
from svoc.warehouse.build import start_build

target, run_id, kill_at = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def on_step(step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

start_build(target, run_id)
publish_build(target, run_id, started_at=dt.datetime.now(), drop=Path("."), drop_date=dt.date.today(),
              pseudonym_key=b"battery-key", on_step=on_step)
"""


def publish_in_process(target: Path, run_id: str, kill_at: str = "") -> int:
    proc = subprocess.run([sys.executable, "-c", KILLED_PUBLISH, str(target), run_id, kill_at], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_sigkill_at_each_publish_step_then_the_next_run_completes(published, kill_at):
    before = stamped_run(published)
    assert publish_in_process(published, "killed-run", kill_at) == -signal.SIGKILL
    # Whatever readers see now is readable.
    assert query(published, "SELECT count(*) FROM linked.single_view")[0][0] > 0
    assert publish_in_process(published, "next-run") == 0
    assert_clean(published)
    assert published_pair(published) == ("next-run", "next-run")
    # The killed run's build was either committed (and finished by the next run) or discarded.
    runs = {r[0] for r in query(published, "SELECT run_id FROM audit.runs WHERE status = 'success'")}
    assert ("killed-run" in runs) == (PUBLISH_STEPS.index(kill_at) >= COMMITTED)
    assert before in runs


# ---- whole runs through the CLI ------------------------------------------------------------------------------

def test_runs_killed_mid_build_and_in_publish_do_not_block_the_next(published, battery, tmp_path):
    """SIGKILL while staging, then SIGKILL while publishing, on one Dagster instance: the published file stays
    readable, the next run completes (no Dagster pool slot or run outlived its process), nothing is left behind,
    and every identifiable file is private under umask 022."""
    home = dagster_home(tmp_path)
    before = sha256(published)
    build_exists = lambda: list(published.parent.glob(".svoc.build-*.duckdb"))  # noqa: E731
    publishing = lambda: any(p.name.startswith(".svoc_analytics.build-") for p in published.parent.iterdir())  # noqa: E731
    for started, settle in ((build_exists, 3.0), (publishing, 0.0)):
        proc = start(["run", "--drop", str(battery["b"]), "--warehouse", str(published)], tmp_path,
                     DAGSTER_HOME=str(home))
        wait_for(lambda: started() or proc.poll() is not None)  # noqa: B023
        time.sleep(settle)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert query(published, "SELECT count(*) FROM linked.single_view")[0][0] > 0
        w, a = published_pair(published)
        assert w == a or journal_path(published).exists()  # a mismatch only ever with the journal to finish it
    assert leftovers(published)
    old = os.umask(0o022)
    try:
        out = run_cli("run", "--drop", str(battery["b"]), "--warehouse", str(published), tmp=tmp_path, timeout=240,
                      DAGSTER_HOME=str(home)).stdout
    finally:
        os.umask(old)
    assert_clean(published)
    assert sha256(published) != before and stamped_run(published).startswith(run_id_of(out))
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert dg.DagsterRunStatus.STARTED not in {r.status for r in instance.get_runs()}  # killed runs: failed
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
    finally:
        instance.dispose()
    folder = published.parent
    private = [published, folder / "svoc.prev.duckdb", analytics_path(published), folder / "svoc_report.html"]
    private += [p for p in folder.rglob("*") if "data_docs" in str(p.relative_to(folder)) and p.is_file()]
    for p in private:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    for d in [p for p in folder.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


def test_two_runs_at_once_exactly_one_publishes_its_own_data(published, battery, tmp_path):
    procs = {name: start(["run", "--drop", str(battery[name]), "--warehouse", str(published)], tmp_path / name)
             for name in ("a", "b") if (tmp_path / name).mkdir() is None}
    outs = {name: p.communicate(timeout=300) for name, p in procs.items()}
    codes = {name: p.returncode for name, p in procs.items()}
    assert sorted(codes.values()) == [0, 1], outs
    winner = next(n for n, c in codes.items() if c == 0)
    loser = next(n for n, c in codes.items() if c == 1)
    err = outs[loser][1].strip()
    assert err.count("\n") == 0 and "is writing this warehouse" in err, err
    assert stamped_run(published).startswith(run_id_of(outs[winner][0]))
    # Its warehouse holds exactly its own drop's records (the two drops were generated with different seeds).
    staged = set(query(published, "SELECT source, source_record_id FROM staging.identity_records"))
    mine, theirs = truth_records(battery[winner]), truth_records(battery[loser])
    assert staged <= mine and not staged <= theirs
    assert len(mine - staged) <= 20  # only quarantined lines are missing
    assert_clean(published)


# The CLI with its publish held back: the run cannot commit before the test's Ctrl-C is handled, however slowly a
# busy machine runs it (unheld, a 500-child run publishes ~3 s after its first quality check: the likeliest reading
# of three CI runs that exited 0, the run having rightly completed before the signal was handled).
HELD_BACK_CLI = r"""
import sys, time
import svoc.warehouse.build as build
publish = build.publish
def held_back(*args, **kwargs):
    time.sleep(60)
    return publish(*args, **kwargs)
build.publish = held_back
from svoc.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("at", ["staging__", "quality_checks"])  # while sources are extracted; once checked
def test_ctrl_c_stops_the_run_cleanly(published, battery, tmp_path, at):
    before = sha256(published)
    proc = start(["run", "--drop", str(battery["b"]), "--warehouse", str(published)], tmp_path,
                 cli=(sys.executable, "-c", HELD_BACK_CLI))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    wait_for(lambda: any(at in line for line in lines) or proc.poll() is not None, every=0.1)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group, the extract-ahead worker too
    err = proc.stderr.read()  # to its end: every process writing to it has ended
    assert proc.wait(timeout=120) == 130, (err, lines)  # the lines: which steps had ended when it was sent
    err = err.strip()
    assert err.count("\n") == 0, err
    assert "interrupted" in err and "build discarded" in err and "unchanged" in err
    assert sha256(published) == before
    assert leftovers(published) == []
    assert "Traceback" not in err


def test_an_analyst_holding_the_warehouse_read_write_gets_one_line(published, battery, tmp_path):
    con = duckdb.connect(str(published))  # read-write, as a notebook would hold it
    try:
        proc = run_cli("run", "--drop", str(battery["b"]), "--warehouse", str(published), tmp=tmp_path, check=False,
                       timeout=240)
    finally:
        con.close()
    err = proc.stderr.strip()
    assert proc.returncode == 1 and err.count("\n") == 0, err
    assert str(published) in err and "open for writing" in err and "IOException" not in err
    assert "Conflicting lock" not in err
    assert leftovers(published) == []


def test_a_failed_runs_cause_reaches_audit_runs(published, battery, tmp_path):
    bad = tmp_path / "bad drop"
    shutil.copytree(battery["b"], bad)
    pupils = bad / "education" / "pupils.csv"
    header, rest = pupils.read_text(encoding="utf-8").split("\n", 1)
    pupils.write_text(header.replace("Surname", "Family_Name", 1) + "\n" + rest, encoding="utf-8")  # required
    proc = run_cli("run", "--drop", str(bad), "--warehouse", str(published), tmp=tmp_path, check=False)
    assert proc.returncode == 1
    cause = proc.stderr.strip().split("stopped: ", 1)[-1]
    assert leftovers(published) == []
    # The next run's publish folds the failure into audit.runs with the same cause, not "Steps failed: [...]".
    assert publish_in_process(published, "next-run") == 0
    (message,) = query(published, "SELECT message FROM audit.runs WHERE status = 'failed' "
                                  "ORDER BY finished_at DESC LIMIT 1")[0]
    assert message == cause and "Steps failed" not in message
    assert_clean(published)
