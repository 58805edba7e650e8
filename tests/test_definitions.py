"""The Dagster code location loads, with the assets, checks, job, schedule and sensors an operator expects."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("education", "health", "police", "social_care")


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def test_assets_per_source_and_publish(definitions):
    keys = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert {f"staging/{s}" for s in SOURCES} <= keys
    assert "published_warehouse" in keys


def test_job_runs_everything_in_one_process(definitions):
    job = definitions.resolve_job_def("svoc_run_job")
    assert job.executor_def.name == "in_process"


@pytest.mark.parametrize("source", SOURCES)
def test_blocking_quality_checks_per_source(definitions, source):
    graph = definitions.resolve_asset_graph()
    checks = {k.name: graph.get_check_spec(k) for k in graph.asset_check_keys
              if k.asset_key == dg.AssetKey(["staging", source])}
    assert checks["identity_records_have_unique_keys"].blocking
    assert checks["identity_records_not_empty"].blocking
    assert checks["row_count_not_collapsed"].blocking
    assert not checks["sex_codes_valid"].blocking


def test_schedule_and_sensors(definitions):
    schedule = definitions.resolve_schedule_def("nightly_run_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/London"
    assert definitions.resolve_sensor_def("drop_arrival_sensor").job_name == "svoc_run_job"
    assert definitions.resolve_sensor_def("run_failure_recording_sensor")


@pytest.mark.slow
def test_dg_check_defs_passes():
    dg_bin = Path(sys.executable).with_name("dg")
    proc = subprocess.run([str(dg_bin), "check", "defs"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_staging_assets_declare_their_contract_columns_for_the_catalog(definitions):
    from schemas.tables import TABLES

    spec = definitions.resolve_asset_graph().get(dg.AssetKey(["staging", "health"]))
    schema = spec.metadata["dagster/column_schema"]
    schema = getattr(schema, "schema", schema)
    assert [c.name for c in schema.columns] == [c for c, _ in TABLES["staging.identity_records"]]
    assert spec.metadata["dagster/table_name"] in ("staging.identity_records",
                                                   dg.TextMetadataValue("staging.identity_records"))


def test_freshness_check_and_jobs_are_defined(definitions):
    graph = definitions.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey(["published_warehouse"]), "published_within_freshness_window")
    assert graph.get_check_spec(key).blocking
    assert definitions.resolve_schedule_def("hourly_freshness_schedule").job_name == "warehouse_freshness_job"
