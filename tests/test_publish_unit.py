"""Publishing as one unit, the writer lock, leftovers and private files: library-level, on real DuckDB files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import SvocError
from svoc.warehouse import build as b
from svoc.warehouse.analytics import analytics_path

ODD_FOLDER = "St John's Zoë — Łódź"


@pytest.fixture()
def target(tmp_path) -> Path:
    return tmp_path / ODD_FOLDER / "svoc.duckdb"


def build_and_publish(target: Path, run_id: str, *, analytics: bool = True, **kw) -> None:
    """A minimal night: a build seeded from the published file, one marker row, both files stamped, swapped."""
    path = b.start_build(target, run_id)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE IF NOT EXISTS main.marker (run_id VARCHAR)")
    con.execute("INSERT INTO main.marker VALUES (?)", [run_id])
    con.close()
    b.stamp(path, run_id)
    if analytics:
        a = b.analytics_build_path(target, run_id)
        duckdb.connect(str(a)).close()
        b.stamp(a, run_id)
    b.publish(target, run_id, analytics=analytics, **kw)


def markers(target: Path) -> list[str]:
    con = duckdb.connect(str(target), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT run_id FROM main.marker ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_both_files_carry_the_run_id_and_a_path_with_an_apostrophe_works(target):
    build_and_publish(target, "run-a")
    build_and_publish(target, "run-b")
    assert b.published_pair(target) == ("run-b", "run-b")
    assert markers(target) == ["run-a", "run-b"]  # seeded from the published file, then its own row
    assert markers(b.prev_path(target)) == ["run-a"]
    assert b.leftovers(target) == []
    assert not b.journal_path(target).exists()


def test_files_and_folders_are_private_under_umask_022(target):
    old = os.umask(0o022)
    try:
        build_and_publish(target, "run-a")
        build_and_publish(target, "run-b")
    finally:
        os.umask(old)
    for p in (target, b.prev_path(target), analytics_path(target), b.lock_path(target)):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("kill_at", ["journal written", "prev linked", "prev swapped", "warehouse swapped",
                                     "analytics swapped"])
def test_an_interrupted_publish_is_finished_by_the_next_run(target, kill_at):
    """Stopping the publish after its journal (the commit point) is repaired by the next run: same run in both."""
    build_and_publish(target, "run-a")

    class Killed(BaseException):
        pass

    def stop(step: str) -> None:
        if step == kill_at:
            raise Killed

    with pytest.raises(Killed):
        build_and_publish(target, "run-b", on_step=stop)
    b.release_lock(target)  # what the kernel does when the process dies
    b.acquire_lock(target, "run-c")
    report = b.recover(target, "run-c")
    assert report["rolled_forward"] == "run-b"
    assert b.published_pair(target) == ("run-b", "run-b")
    assert markers(target) == ["run-a", "run-b"]
    assert b.leftovers(target) == [] and not b.journal_path(target).exists()
    b.release_lock(target, "run-c")


def test_a_second_run_is_refused_and_never_removes_the_first_runs_build(target):
    b.start_build(target, "run-a")
    with pytest.raises(b.WarehouseBusy, match="already writing"):
        b.acquire_lock(target, "run-b")
    b.discard_build(target, "run-b")
    assert b.build_path(target, "run-a").exists()
    b.discard_build(target, "run-a")
    assert not b.build_path(target, "run-a").exists()
    b.acquire_lock(target, "run-c")  # the lock went with run-a's discard
    b.release_lock(target, "run-c")


def test_leftovers_of_dead_runs_are_removed_only_by_the_lock_holder(target):
    build_and_publish(target, "run-a")
    dead = [target.parent / n for n in (".svoc.build-dead1.duckdb", ".svoc.build-dead1.duckdb.wal",
                                         ".svoc_analytics.build-dead1.duckdb", ".svoc.prev-dead2.duckdb",
                                         ".svoc.build-dead3.duckdb.tmp")]
    unrelated = target.parent / ".other.build-x.duckdb"
    for p in [*dead, unrelated]:
        p.write_bytes(b"x")
    assert sorted(b.leftovers(target)) == sorted(dead)
    with pytest.raises(SvocError, match="without holding the writer lock"):
        b.remove_leftovers(target, "run-b")
    b.start_build(target, "run-b")
    assert all(not p.exists() for p in dead) and unrelated.exists()
    assert b.build_path(target, "run-b").exists()
    b.discard_build(target, "run-b")


def test_a_cancelled_run_cannot_publish(target):
    build_and_publish(target, "run-a")
    b.start_build(target, "run-b")
    assert b.cancel(target, "run-b")
    with pytest.raises(b.RunCancelled, match="interrupted"):
        b.publish(target, "run-b", analytics=False)
    b.discard_build(target, "run-b")
    assert b.published_pair(target) == ("run-a", "run-a") and b.leftovers(target) == []


def test_an_interrupted_runs_abandoned_worker_cannot_create_its_build_again(target):
    """Ctrl-C discards the build while the run's worker thread is still inside a step: that step's next
    write must not re-create the build (CI once found one left behind)."""
    build_and_publish(target, "run-a")
    b.open_build(target, "run-b").close()
    assert b.cancel(target, "run-b")
    assert b.build_path(target, "run-b") in b.discard_build(target, "run-b")
    for attempt in (b.open_build, b.start_build, b.acquire_lock):
        with pytest.raises(b.RunCancelled, match="interrupted"):
            attempt(target, "run-b")
    assert b.leftovers(target) == [] and not b.holds_lock(target, "run-b")
    build_and_publish(target, "run-c")  # the next run is not blocked
    assert b.published_pair(target) == ("run-c", "run-c")


@pytest.mark.parametrize("call", ["check_not_held(Path(sys.argv[1]))", "start_build(Path(sys.argv[1]), 'run-b')"])
def test_an_analyst_holding_a_read_write_connection_gets_one_line(target, call):
    build_and_publish(target, "run-a")
    con = duckdb.connect(str(target))  # read-write, as a notebook would
    try:
        import subprocess
        import sys
        code = ("import sys; from pathlib import Path; from svoc.warehouse.build import check_not_held, start_build\n"
                f"try:\n    {call}\nexcept Exception as e:\n    print(e)")
        out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                             timeout=120, cwd=Path(__file__).parents[1]).stdout.strip()
    finally:
        con.close()
    assert out.count("\n") == 0 and str(target) in out
    assert "open for writing" in out and "read-only" in out and "IO Error" not in out


def test_a_published_file_with_a_write_ahead_log_seeds_the_build_with_its_changes(target):
    """The build is a byte copy of the published file, unless a WAL holds changes the file does not yet have."""
    build_and_publish(target, "run-a")
    con = duckdb.connect(str(target))
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    con.execute("INSERT INTO main.marker VALUES ('from the log')")
    con.close()
    assert target.with_name(target.name + ".wal").exists()
    path = b.start_build(target, "run-b")
    try:
        assert markers(path) == ["from the log", "run-a"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        b.release_lock(target, "run-b")


def test_a_byte_copied_build_is_private_and_holds_the_published_rows(target):
    build_and_publish(target, "run-a")
    os.chmod(target, 0o644)  # even when someone loosened the published file
    path = b.start_build(target, "run-b")
    try:
        assert markers(path) == ["run-a"] and stat.S_IMODE(path.stat().st_mode) == 0o600
        con = duckdb.connect(str(path), read_only=True)
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()}
        con.close()
        assert {"staging", "audit"} <= schemas  # and ensure_tables ran on the copy
    finally:
        b.release_lock(target, "run-b")


def test_a_published_file_mostly_free_space_is_compacted_into_the_build(target):
    build_and_publish(target, "run-a")
    con = duckdb.connect(str(target))
    con.execute("CREATE TABLE main.scratch AS SELECT range AS x, md5(range::VARCHAR) AS y FROM range(400000)")
    con.execute("CHECKPOINT")
    con.execute("CREATE TABLE main.later AS SELECT range AS x FROM range(1000)")  # blocks after the scratch ones
    con.execute("CHECKPOINT")
    con.execute("DROP TABLE main.scratch")
    con.execute("CHECKPOINT")
    total, free = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchall()[0]
    con.close()
    assert free / total > b.MAX_FREE_SHARE
    path = b.start_build(target, "run-b")
    try:
        assert markers(path) == ["run-a"]
        assert path.stat().st_size < target.stat().st_size / 2  # not a byte copy: the free blocks are gone
    finally:
        b.release_lock(target, "run-b")


def test_the_lock_file_names_its_holder(target):
    b.acquire_lock(target, "1234abcd-run")
    try:
        assert json.loads(b.lock_path(target).read_text())["run_id"] == "1234abcd-run"
        assert b.lock_holder(target) == f"run 1234abcd, pid {os.getpid()}"
    finally:
        b.release_lock(target)
    assert b.lock_holder(target) == ""


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\?\0"), min_size=1,
               max_size=30).filter(lambda s: s not in (".", "..")))
def test_attach_takes_any_path_as_a_parameter(tmp_path_factory, name):
    """Quotes, semicolons, spaces and non-ASCII letters in a folder name are just characters (DuckDB itself
    treats a backslash as a separator and cuts a path at "?", so those two are left out)."""
    folder = tmp_path_factory.mktemp("attach") / name
    folder.mkdir()
    path = folder / "x.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT ? AS name", [name])
    con.close()
    con = duckdb.connect()
    try:
        b.attach(con, path, "it's", read_only=True)
        assert con.execute('SELECT name FROM "it\'s".t').fetchone()[0] == name
    finally:
        con.close()


def test_stamped_run_of_a_missing_or_unstamped_file_is_none(tmp_path):
    assert b.stamped_run(tmp_path / "none.duckdb") is None
    duckdb.connect(str(tmp_path / "plain.duckdb")).close()
    assert b.stamped_run(tmp_path / "plain.duckdb") is None


def test_a_mismatched_pair_left_by_an_older_version_is_detected(target):
    build_and_publish(target, "run-a")
    stale = analytics_path(target)
    stale.unlink()
    duckdb.connect(str(stale)).close()
    b.stamp(stale, "run-old")
    b.acquire_lock(target, "run-b")
    try:
        assert b.recover(target, "run-b")["mismatch"] is True
    finally:
        b.release_lock(target, "run-b")
    build_and_publish(target, "run-b")
    assert b.published_pair(target) == ("run-b", "run-b")
