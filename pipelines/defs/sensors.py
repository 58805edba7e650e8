"""Sensors: launch a run when a complete dated drop lands; record failed runs for audit.runs."""

from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg

from pipelines.defs.jobs import svoc_run_job
from pipelines.resources import LandingResource, WarehouseResource
from pipelines.runner import failure_cause
from svoc.drops import dated_drops, is_complete
from svoc.warehouse.runlog import append_failure


def drop_run_request(drop: Path) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=drop.name,
        run_config={"resources": {"drop": {"config": {"path": str(drop)}}}},
        tags={"svoc/drop": drop.name},
    )


@dg.sensor(name="drop_arrival_sensor", job=svoc_run_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Starts a run for each new <landing>/<YYYY-MM-DD>/ folder once its manifest or _SUCCESS exists.")
def drop_arrival_sensor(context: dg.SensorEvaluationContext, landing: LandingResource) -> Iterator[dg.RunRequest]:
    landing_dir = landing.dir
    last = context.cursor or ""
    newest = last
    for drop in dated_drops(landing_dir):
        if drop.name <= last:
            continue
        if not is_complete(drop):
            context.log.info(f"drop {drop.name} is not complete yet; waiting")
            break  # keep order: never run a later night before an earlier one is complete
        yield drop_run_request(drop)
        newest = drop.name
    if newest != last:
        context.update_cursor(newest)


def configured_warehouse(run_config: Mapping[str, object]) -> str | None:
    """The warehouse path a run was configured with (``resources.warehouse.config.path``), if any."""
    node: object = run_config
    for key in ("resources", "warehouse", "config", "path"):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, str) else None


@dg.run_failure_sensor(name="run_failure_recording_sensor", monitored_jobs=[svoc_run_job],
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records every failed run, so the next published warehouse lists it in audit.runs.")
def run_failure_recording_sensor(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    run = context.dagster_run
    configured = configured_warehouse(run.run_config)
    target = Path(configured) if configured else warehouse.target
    # The first failed step's own message, not Dagster's "Steps failed: [...]".
    message = failure_cause(context.instance, run.run_id) or context.failure_event.message or "run failed"
    append_failure(target, run_id=run.run_id, message=message.splitlines()[0][:500])
