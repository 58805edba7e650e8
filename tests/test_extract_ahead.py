"""Extracting sources ahead in a worker process (svoc.stages.ahead): the same staged rows as extracting in
process, each source extracted once, a failed source extracted again in process, private files removed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from connectors import extract_source, load_source_configs
from schemas.errors import UnusableInputError
from schemas.tables import to_arrow
from svoc.private_temp import OWNER_FILE
from svoc.stages.ahead import _TABLES, FOLDER_PREFIX, ExtractAhead, extract_staged

REF = dt.date(2026, 12, 1)
DOB_FROM = dt.date(1990, 1, 1)


def _in_process(drop: Path, config) -> dict:
    """The source extracted whole as pandas, then each table converted at once: the reference the chunk by chunk
    conversion (``extract_staged``, in the worker and in process) must equal."""
    extract = extract_source(drop / config.name, config, run_id="r1", reference_date=REF, dob_from=DOB_FROM,
                             drop=drop)
    out = {}
    for name, table in _TABLES:
        frame = getattr(extract, name)
        frame["run_id"] = "r1"
        out[name] = to_arrow(frame, table)
    return out


@pytest.mark.parametrize("chunk_rows", [7, 100_000])
def test_staging_chunk_by_chunk_equals_converting_the_whole_source(demo_copy, monkeypatch, chunk_rows):
    import connectors.raw as raw

    monkeypatch.setattr(raw, "CHUNK_ROWS", chunk_rows)  # 7: every file of the demo drop in many chunks
    for config in load_source_configs(None):
        expected = _in_process(demo_copy, config)
        got = extract_staged(demo_copy / config.name, config, "r1", reference_date=REF, dob_from=DOB_FROM,
                             drop=demo_copy)
        assert got.identity.num_rows > 0 and got.interactions.num_rows > 0
        for name, _ in _TABLES:
            assert getattr(got, name).equals(expected[name]), (config.name, name)


def test_the_worker_stages_exactly_what_extracting_in_process_stages(demo_copy):
    configs = load_source_configs(None)
    ahead = ExtractAhead(demo_copy, configs, "r1", REF, DOB_FROM)
    try:
        deadline = time.time() + 120  # the worker starts (a new interpreter) while the first step extracts
        while not (ahead.folder / f"{configs[-1].name}.claim").exists() and time.time() < deadline:
            time.sleep(0.05)
        taken = {c.name: ahead.take(c.name) for c in configs}
        by_worker = [name for name, staged in taken.items() if staged is not None]
        assert configs[0].name not in by_worker  # claimed by the first step, which extracts it itself
        assert configs[-1].name in by_worker     # the worker starts from the last
        for name in by_worker:
            config = next(c for c in configs if c.name == name)
            expected, got = _in_process(demo_copy, config), taken[name]
            for part in ("identity", "interactions", "quarantine"):
                assert getattr(got, part).equals(expected[part]), (name, part)
            again = extract_staged(demo_copy / name, config, "r1", reference_date=REF, dob_from=DOB_FROM,
                                   drop=demo_copy)
            assert got.accounts == again.accounts and got.notices == again.notices
            files = list(ahead.folder.glob(f"{name}.*.arrow"))
            assert len(files) == 4 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
        assert stat.S_IMODE(ahead.folder.stat().st_mode) == 0o700
        assert ahead.take(configs[0].name) is None  # a retried step extracts its source again, never waits
    finally:
        ahead.close()
    assert not ahead.folder.exists()


def test_a_source_the_worker_cannot_read_is_extracted_again_in_process_and_stops_there(demo_copy):
    configs = load_source_configs(None)
    last = configs[-1]
    for f in (demo_copy / last.name).iterdir():
        f.write_bytes(b"")  # an empty export: unusable
    ahead = ExtractAhead(demo_copy, configs, "r1", REF, DOB_FROM)
    try:
        deadline = time.time() + 120
        while not (ahead.folder / f"{last.name}.failed").exists() and time.time() < deadline:
            time.sleep(0.1)
        assert ahead.take(last.name) is None
        with pytest.raises(UnusableInputError):
            extract_source(demo_copy / last.name, last, run_id="r1", reference_date=REF, drop=demo_copy)
    finally:
        ahead.close()


def test_ctrl_c_is_the_pipelines_to_handle_not_the_workers(demo_copy, capfd):
    """Ctrl-C reaches the whole process group. SIGINT sent to the worker again and again, from the moment it is
    started (new interpreter, imports) until it has extracted a source: it neither stops nor prints a traceback."""
    configs = load_source_configs(None)
    ahead = ExtractAhead(demo_copy, configs, "r1", REF, DOB_FROM)
    done = ahead.folder / f"{configs[-1].name}.done"
    sent = 0
    try:
        deadline = time.time() + 120
        while not done.exists() and ahead.process.is_alive() and time.time() < deadline:
            os.kill(ahead.process.pid, signal.SIGINT)
            sent += 1
            time.sleep(0.01)
        assert done.exists() and sent > 10
        assert ahead.take(configs[-1].name) is not None
    finally:
        ahead.close()
    err = capfd.readouterr().err
    assert "KeyboardInterrupt" not in err and "Traceback" not in err, err


_ORPHAN = """
import datetime as dt, os, sys, time
from pathlib import Path
from connectors import load_source_configs
from svoc.stages.ahead import ExtractAhead
if __name__ == "__main__":  # the worker process re-imports this file (spawn)
    ahead = ExtractAhead(Path(sys.argv[1]), load_source_configs(None), "r1", dt.date(2026, 12, 1),
                         dt.date(1990, 1, 1))
    print(ahead.folder, flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_folder_left_by_a_run_killed_with_its_worker_is_swept_by_the_next(demo_copy, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # a process that has ended
    left = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    (left / OWNER_FILE).write_text(dead)
    (left / "education.identity.arrow").write_bytes(b"x")
    ahead = ExtractAhead(demo_copy, load_source_configs(None), "r1", REF, DOB_FROM)
    try:
        assert not left.exists() and ahead.folder.is_dir()
        assert (ahead.folder / OWNER_FILE).read_text() == str(os.getpid())
    finally:
        ahead.close()


def test_a_worker_whose_pipeline_was_killed_removes_its_files(demo_copy, tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN)
    proc = subprocess.Popen([sys.executable, str(script), str(demo_copy)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    folder = Path(proc.stdout.readline().strip())
    assert folder.is_dir()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 120
    while folder.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert not folder.exists()


def test_a_run_of_some_sources_reads_only_those_ahead(demo_copy):
    import dagster as dg

    from pipelines.resources import AheadResource

    configs = load_source_configs(None)
    resource = AheadResource(workers=1)
    only = {dg.AssetKey(["staging", configs[0].name])}
    assert resource.for_run("r1", demo_copy, REF, DOB_FROM, configs, only) is None  # one source: no worker
    both = AheadResource(workers=1)
    worker = both.for_run("r1", demo_copy, REF, DOB_FROM, configs,
                          {dg.AssetKey(["staging", c.name]) for c in configs[:2]})
    try:
        assert worker is not None
        deadline = time.time() + 120  # the worker starts from the last selected source
        while not (worker.folder / f"{configs[1].name}.claim").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert worker.take(configs[0].name) is None
        assert worker.take(configs[1].name) is not None  # the worker's, waited for
        worker.process.join(timeout=120)  # nothing else selected: the worker ends, its memory with it
        assert not worker.process.is_alive() and worker.folder.is_dir()  # the files stay until the run ends
        claimed = sorted(p.name.removesuffix(".claim") for p in worker.folder.glob("*.claim"))
        assert claimed == sorted(c.name for c in configs[:2])
    finally:
        worker.close()
    assert AheadResource(workers=0).for_run("r1", demo_copy, REF, DOB_FROM, configs) is None


@pytest.mark.parametrize("selection", [None, frozenset()])
def test_a_whole_job_run_extracts_ahead(demo_copy, selection):
    """Dagster gives a whole-job run an empty asset selection: that is every source, not none (the worker sat idle
    for a day because an empty set was read as "nothing selected")."""
    from pipelines.resources import AheadResource

    configs = load_source_configs(None)
    worker = AheadResource(workers=1).for_run("r1", demo_copy, REF, DOB_FROM, configs, selection)
    try:
        assert worker is not None
        deadline = time.time() + 120  # the worker starts from the last source
        while not (worker.folder / f"{configs[-1].name}.claim").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert worker.take(configs[-1].name) is not None
    finally:
        worker.close()
