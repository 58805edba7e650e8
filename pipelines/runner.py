"""Run the Dagster job in-process for the CLI: the same job the schedule and the drop sensor launch.

The job runs in a worker thread; this thread follows the run's event log and reports each stage as it
starts and ends, so the operator sees progress. A failure is turned into one readable line: the
SvocError message when a library raised one (missing file, missing column, blocked check), else
the exception's class and message.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from svoc.settings import Settings

JOB_NAME = "svoc_run_job"
OUR_ERRORS = ("UnusableInputError", "LineAccountingError", "BlockedRunError", "SvocError", "Failure")


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    message: str = ""
    stages: list[tuple[str, str, float]] = field(default_factory=list)  # (step, status, seconds)


def _error_message(err) -> str:
    """Walk a SerializableErrorInfo chain to the most specific, readable message."""
    chain = []
    while err is not None:
        chain.append(err)
        err = err.cause or getattr(err, "context", None)
    for e in chain:
        if e.cls_name in OUR_ERRORS:
            head, sep, rest = e.message.partition(": ")
            return rest.strip() if sep and head.split(".")[-1] == e.cls_name else e.message.strip()
    last = chain[-1] if chain else None
    return f"{last.cls_name}: {last.message.strip()}" if last else "unknown error"


def run_config_for(settings: Settings) -> dict:
    """Run config for an in-process run: only what is not already in the resources (the console log level)."""
    return {"loggers": {"console": {"config": {"log_level": settings.dagster_log_level}}}}


def run_pipeline(settings: Settings, *,
                 on_event: Callable[[str, str, float], None] | None = None) -> RunOutcome:
    """Run the job on ``settings.drop`` into ``settings.warehouse`` (sources, thresholds, retrain all from settings)."""
    import dagster as dg

    from pipelines.definitions import build_defs
    from svoc.warehouse.build import discard_build
    from svoc.warehouse.runlog import append_failure

    drop, warehouse = settings.drop, settings.warehouse
    job = build_defs(settings).resolve_job_def(JOB_NAME)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    run_id = str(uuid.uuid4())
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = job.execute_in_process(run_config=run_config_for(settings),
                                                   instance=instance, run_id=run_id, raise_on_error=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["exc"] = exc

    worker = threading.Thread(target=work, name="svoc-run", daemon=True)
    worker.start()
    outcome = RunOutcome(run_id=run_id, success=False)
    seen, started = 0, {}
    while True:
        alive = worker.is_alive()
        logs = instance.all_logs(run_id) if instance.has_run(run_id) else []
        for rec in logs[seen:]:
            ev = rec.dagster_event
            if ev is None or not ev.step_key:
                continue
            if ev.event_type_value == "STEP_START":
                started[ev.step_key] = rec.timestamp
                on_event and on_event(ev.step_key, "started", 0.0)
            elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                secs = rec.timestamp - started.get(ev.step_key, rec.timestamp)
                status = ev.event_type_value.removeprefix("STEP_").lower()
                outcome.stages.append((ev.step_key, status, secs))
                on_event and on_event(ev.step_key, status, secs)
                if ev.event_type_value == "STEP_FAILURE" and not outcome.message:
                    outcome.message = _error_message(ev.step_failure_data.error)
        seen = len(logs)
        if not alive:
            break
        time.sleep(0.3)
    worker.join()
    if "exc" in box:
        outcome.message = outcome.message or f"{type(box['exc']).__name__}: {box['exc']}"
    else:
        result = box["result"]
        outcome.success = result.success and not any(s == "failure" for _, s, _ in outcome.stages)
        if not outcome.success and not outcome.message:
            outcome.message = _blocked_check_message(result) or "the run failed; see the Dagster event log"
    if not outcome.success:
        discard_build(warehouse)
        append_failure(warehouse, run_id=run_id, message=outcome.message, drop=str(drop))
    return outcome


def _blocked_check_message(result) -> str:
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            if not data.passed and str(data.severity).endswith("ERROR"):
                desc = (data.description or "").strip()
                return desc or f"blocking check '{data.check_name}' failed on {data.asset_key.to_user_string()}"
    return ""
