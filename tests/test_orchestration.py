"""Schedule and sensors, evaluated with Dagster's build contexts."""

import datetime as dt
import json

import dagster as dg
import pytest

from pipelines.defs.schedules import nightly_run_schedule
from pipelines.defs.sensors import drop_arrival_sensor
from pipelines.resources import LandingResource
from svoc.warehouse.runlog import fold_failures, runlog_path


def test_nightly_schedule_fires_at_two_london_time():
    ctx = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 23, 2, 0))
    data = nightly_run_schedule.evaluate_tick(ctx)
    assert len(data.run_requests) == 1
    assert nightly_run_schedule.cron_schedule == "0 2 * * *"
    assert nightly_run_schedule.execution_timezone == "Europe/London"


def make_drop(landing, name, complete=True):
    d = landing / name
    for src in ("education", "health", "police", "social_care"):
        (d / src).mkdir(parents=True)
    if complete:
        (d / "manifest.json").write_text(json.dumps({"drop_date": name}))
    return d


@pytest.fixture()
def landing(tmp_path):
    return tmp_path


def run_sensor(landing, cursor=None):
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"landing": LandingResource(path=str(landing))})
        result = drop_arrival_sensor.evaluate_tick(ctx)
        return result.run_requests, result.cursor


def test_sensor_launches_one_run_per_complete_dated_drop(landing):
    make_drop(landing, "2026-11-01")
    make_drop(landing, "2026-11-02")
    (landing / "not-a-drop").mkdir()
    requests, cursor = run_sensor(landing)
    assert [r.run_key for r in requests] == ["2026-11-01", "2026-11-02"]
    assert requests[0].run_config["resources"]["drop"]["config"]["path"] == str(landing / "2026-11-01")
    assert cursor == "2026-11-02"


def test_sensor_waits_for_an_incomplete_drop_and_keeps_order(landing):
    make_drop(landing, "2026-11-01")
    make_drop(landing, "2026-11-02", complete=False)
    make_drop(landing, "2026-11-03")
    requests, cursor = run_sensor(landing)
    assert [r.run_key for r in requests] == ["2026-11-01"]
    assert cursor == "2026-11-01"
    (landing / "2026-11-02" / "_SUCCESS").touch()
    requests, cursor = run_sensor(landing, cursor)
    assert [r.run_key for r in requests] == ["2026-11-02", "2026-11-03"]


def test_sensor_does_not_rerun_seen_drops(landing):
    make_drop(landing, "2026-11-01")
    requests, _ = run_sensor(landing, "2026-11-01")
    assert requests == []


def test_failed_runs_are_folded_into_audit_runs(tmp_path):
    import duckdb

    from svoc.warehouse.runlog import append_failure
    from svoc.warehouse.sql import ensure_tables

    target = tmp_path / "w.duckdb"
    append_failure(target, run_id="r-bad", message="source 'health' blocked")
    assert runlog_path(target).exists()
    con = duckdb.connect()
    ensure_tables(con)
    assert fold_failures(con, target) == 1
    assert fold_failures(con, target) == 0  # once only
    assert con.execute("SELECT status, message FROM audit.runs").fetchall() == [("failed", "source 'health' blocked")]
