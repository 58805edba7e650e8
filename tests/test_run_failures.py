"""A failed run's record keeps the real cause; dead runs' Dagster state is released at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.sensors import run_failure_recording_sensor
from pipelines.recovery import HOST_TAG, PID_TAG, STALE_AFTER, process_tags, release_dead_runs, run_is_dead
from pipelines.resources import WarehouseResource
from pipelines.runner import failure_cause
from schemas.errors import SvocError
from svoc.warehouse.runlog import runlog_path

CAUSE = "health/patients.csv: file is empty; check the export"


@dg.op
def stage_health() -> None:
    raise SvocError(CAUSE)


@dg.job
def failing_job() -> None:
    stage_health()


@pytest.fixture()
def failed_run() -> tuple[dg.DagsterInstance, dg.DagsterRun]:
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return instance, instance.get_run_by_id(result.run_id)


def test_failure_cause_is_the_steps_own_message(failed_run):
    instance, run = failed_run
    assert failure_cause(instance, run.run_id) == CAUSE


def test_the_failure_sensor_records_the_real_cause(failed_run, tmp_path):
    instance, run = failed_run
    event = next(r.dagster_event for r in instance.all_logs(run.run_id)
                 if r.dagster_event and r.dagster_event.event_type_value == "PIPELINE_FAILURE")
    assert event.message.startswith("Execution of run") or "Steps failed" in event.message  # what it used to keep
    target = tmp_path / "wh" / "svoc.duckdb"
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_recording_sensor", dagster_event=event, dagster_instance=instance, dagster_run=run,
        resources={"warehouse": WarehouseResource(path=str(target))}).for_run_failure()
    run_failure_recording_sensor(context)
    (row,) = [json.loads(line) for line in runlog_path(target).read_text().splitlines()]
    assert row["message"] == CAUSE and row["run_id"] == run.run_id
    assert oct(runlog_path(target).stat().st_mode & 0o777) == oct(0o600)


def _started_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    run = instance.create_run_for_job(failing_job, tags=tags)
    instance.handle_run_event(run.run_id, dg.DagsterEvent(event_type_value="PIPELINE_START", job_name=run.job_name))
    return instance.get_run_by_id(run.run_id)


def test_a_dead_runs_record_and_pool_slot_are_released(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    instance = dg.DagsterInstance.from_config(str(_home(tmp_path)))
    try:
        gone = _started_run(instance, {PID_TAG: str(dead.pid), HOST_TAG: process_tags()[HOST_TAG]})
        alive = _started_run(instance, process_tags())
        daemon = _started_run(instance, {})
        storage = instance.event_log_storage
        storage.set_concurrency_slots("svoc_warehouse", 1)
        assert storage.claim_concurrency_slot("svoc_warehouse", gone.run_id, "published_warehouse").is_claimed
        assert run_is_dead(gone) and not run_is_dead(alive) and not run_is_dead(daemon)
        released = release_dead_runs(instance, failing_job.name)
        assert released == {"failed": [gone.run_id], "freed": [gone.run_id]}
        assert instance.get_run_by_id(gone.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        assert storage.get_concurrency_run_ids() == set()
        # An older version's run (no pid tag) left holding the publish pool: that pool is no longer used.
        old = _started_run(instance, {})
        assert storage.claim_concurrency_slot("svoc_warehouse", old.run_id, "published_warehouse").is_claimed
        assert release_dead_runs(instance, failing_job.name)["freed"] == [old.run_id]
        assert storage.get_concurrency_run_ids() == set()
        # Runs without pid tags (daemon-launched) are judged by age: silent for longer than a night is dead.
        assert instance.get_run_by_id(daemon.run_id).status == dg.DagsterRunStatus.STARTED
        later = time.time() + STALE_AFTER.total_seconds() + 60
        assert set(release_dead_runs(instance, failing_job.name, now=later)["failed"]) == {daemon.run_id, old.run_id}
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        instance.dispose()


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).parents[1] / "pipelines" / "dagster.yaml").read_text())
    return home
