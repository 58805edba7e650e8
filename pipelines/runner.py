"""Run the Dagster job in-process for the CLI: the same job the schedule and the drop sensor launch.

The job runs in a worker thread; this thread follows the run's event log and reports each stage as it
starts and ends, so the operator sees progress. A failure is turned into one readable line: the
SvocError message when a library raised one (missing file, missing column, blocked check), else what
happened and what to do (``plain_failure``: out of memory, a full disk, anything else), never a class name.

Before the job starts this thread takes the warehouse's writer lock (so a second run is refused before it
creates anything), finishes or cleans up after dead runs, and releases Dagster state they left. Ctrl-C
(SIGINT) here cancels the run: it can no longer publish, its build is discarded, and the outcome says so.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from schemas.errors import SvocError
from svoc.private_temp import private_temp_dir, sweep_dead
from svoc.settings import Settings

JOB_NAME = "svoc_run_job"
TEMP_HOME_PREFIX = "svoc-dagster-"  # a run's private Dagster home when $DAGSTER_HOME is unset
BLOCKED_CHECK = "DagsterAssetCheckFailedError"  # a blocking quality check failed: worded from its result
OUR_ERRORS = ("UnusableInputError", "LineAccountingError", "BlockedRunError", "SvocError", "Failure",
              "WarehouseBusy", "RunCancelled")


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    message: str = ""
    stages: list[tuple[str, str, float]] = field(default_factory=list)  # (step, status, seconds)
    interrupted: bool = False  # stopped by Ctrl-C: nothing published, build discarded


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
    if last is None or last.cls_name == BLOCKED_CHECK:
        return ""  # worded from the check's own result (``_blocked_check_message``)
    return plain_failure(last.cls_name, last.message)


# "_duckdb.OutOfMemoryException: " and the like at the head of a library's message
_CLASS_PREFIX = re.compile(r"^(?:[\w.]*(?:Exception|Error|Warning)\s*:\s*)+")
OUT_OF_MEMORY = ("OutOfMemoryException", "MemoryError")
DISK_FULL = "No space left on device"


def plain_failure(cls_name: str, message: str) -> str:
    """One line for a failure no svoc library worded: what happened and what to do, never a class name."""
    lines = (message or "").strip().splitlines()
    text = _CLASS_PREFIX.sub("", lines[0]).strip() if lines else ""
    if cls_name in OUT_OF_MEMORY or "Out of Memory" in text:
        return ("ran out of memory; raise SVOC_DUCKDB_MEMORY_LIMIT (or give the machine more memory) and run "
                "again" + (f" ({text})" if text else ""))
    if DISK_FULL in text:
        return f"the disk is full; free space for the warehouse and SVOC_SPILL_DIR and run again ({text})"
    return f"an unexpected error stopped the run ({text or 'no message'}); run again, and report it if it repeats"


def run_config_for(settings: Settings) -> dict:
    """Run config for an in-process run: only what is not already in the resources (the console log level)."""
    return {"loggers": {"console": {"config": {"log_level": settings.dagster_log_level}}}}


def failure_cause(instance, run_id: str) -> str:
    """The real cause of a failed run, from its first failed step (not Dagster's "Steps failed: [...]")."""
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is not None and ev.event_type_value == "STEP_FAILURE" and ev.step_failure_data:
            return _error_message(ev.step_failure_data.error)
    return ""


def run_pipeline(settings: Settings, *,
                 on_event: Callable[[str, str, float], None] | None = None,
                 on_log: Callable[[str, str], None] | None = None) -> RunOutcome:
    """Run the job on ``settings.drop`` into ``settings.warehouse`` (sources, thresholds, retrain all from settings)."""
    from svoc.warehouse.files import private_files

    with private_files():
        return _run_pipeline(settings, on_event, on_log)


def _dagster_instance(dg):  # dagster is imported late, for a fast CLI
    """The Dagster instance of ``$DAGSTER_HOME``, else a private one in a new temporary folder (removed by
    ``_close_instance``). A home that does not exist yet is created with the project's instance settings
    (``pipelines/dagster.yaml``: run queue, no telemetry, no compute-log capture).

    Never Dagster's ephemeral instance: its in-memory SQLite runs in shared-cache mode, where this module's
    progress reader and the run's own writes collide ("database table is locked: runs") and fail the run."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        sweep_private_homes()
        temp = private_temp_dir(TEMP_HOME_PREFIX)
        shutil.copyfile(Path(__file__).with_name("dagster.yaml"), temp / "dagster.yaml")
        return dg.DagsterInstance.from_config(str(temp))
    try:
        if not Path(home).exists():
            Path(home).mkdir(parents=True)
            shutil.copyfile(Path(__file__).with_name("dagster.yaml"), Path(home) / "dagster.yaml")
    except OSError as err:
        raise SvocError(f"DAGSTER_HOME {home}: cannot create it ({err.strerror}); set DAGSTER_HOME to a folder "
                        "you can write, or unset it") from None
    if not Path(home).is_dir():
        raise SvocError(f"DAGSTER_HOME {home}: not a folder; set DAGSTER_HOME to a folder, or unset it")
    return dg.DagsterInstance.get()


def sweep_private_homes(folder: Path | None = None) -> list[Path]:
    """Remove the private homes of runs whose process is gone (killed, or stopped by Ctrl-C); returns them. A home
    without a readable owner is left alone."""
    return sweep_dead(TEMP_HOME_PREFIX, folder)


def _close_instance(instance) -> None:
    """Dispose of the instance; a private temporary home (no ``$DAGSTER_HOME``) is removed with it."""
    root = Path(instance.root_directory)
    instance.dispose()
    if root.name.startswith(TEMP_HOME_PREFIX) and root.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(root, ignore_errors=True)


def _run_pipeline(settings: Settings, on_event: Callable[[str, str, float], None] | None,
                  on_log: Callable[[str, str], None] | None = None) -> RunOutcome:
    import dagster as dg

    from pipelines.definitions import build_defs
    from svoc.warehouse.build import check_not_held, discard_build, recover
    from svoc.warehouse.lock import acquire_lock

    warehouse = settings.warehouse
    run_id = str(uuid.uuid4())
    # The writer lock first: a second run is refused here, before it has created anything.
    acquire_lock(warehouse, run_id)
    try:
        check_not_held(warehouse)
        recover(warehouse, run_id)
        job = build_defs(settings).resolve_job_def(JOB_NAME)
        instance = _dagster_instance(dg)
    except BaseException:
        discard_build(warehouse, run_id)
        raise
    outcome = None
    try:
        outcome = _execute(dg, job, instance, settings, run_id, on_event, on_log)
        return outcome
    finally:
        if outcome is None or not outcome.interrupted:  # an abandoned worker may still write to the instance
            _close_instance(instance)


def _execute(dg, job, instance, settings: Settings, run_id: str, on_event: Callable[[str, str, float], None] | None,
             on_log: Callable[[str, str], None] | None) -> RunOutcome:
    """Run the job in a worker thread and follow its event log (the writer lock is held)."""
    from pipelines.recovery import process_tags, release_dead_runs
    from svoc.warehouse.build import cancel, discard_build
    from svoc.warehouse.lock import release_lock
    from svoc.warehouse.runlog import append_failure

    drop, warehouse = settings.drop, settings.warehouse
    try:
        release_dead_runs(instance, JOB_NAME)
    except BaseException:
        discard_build(warehouse, run_id)
        raise
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = job.execute_in_process(run_config=run_config_for(settings), instance=instance,
                                                   run_id=run_id, tags=process_tags(), raise_on_error=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["exc"] = exc

    worker = threading.Thread(target=work, name="svoc-run", daemon=True)
    worker.start()
    outcome = RunOutcome(run_id=run_id, success=False)
    cursor, started = None, {}
    try:
        while True:
            alive = worker.is_alive()
            # only the events since the last look (reading the whole log each time cost a fifth of a 1M run's CPU)
            page = instance.get_records_for_run(run_id, cursor=cursor) if instance.has_run(run_id) else None
            cursor = page.cursor if page is not None else cursor
            for rec in (r.event_log_entry for r in page.records) if page is not None else ():
                ev = rec.dagster_event
                if ev is None and rec.step_key and on_log:  # a step's progress line (counts only)
                    on_log(rec.step_key, rec.user_message)
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
            if not alive:
                break
            time.sleep(0.3)
    except KeyboardInterrupt:
        if cancel(warehouse, run_id):
            outcome.interrupted = True
            outcome.message = "interrupted (Ctrl-C): build discarded, the published warehouse is unchanged"
            discard_build(warehouse, run_id)
            append_failure(warehouse, run_id=run_id, message=outcome.message, drop=str(drop))
            run = instance.get_run_by_id(run_id)
            if run is not None and run.status in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING):
                instance.report_run_canceled(run, "interrupted by the operator (Ctrl-C)")
            return outcome  # the worker thread is abandoned: it can no longer publish
        worker.join()  # too late to stop: the publish was already committed
    worker.join()
    if "exc" in box:
        exc = box["exc"]
        outcome.message = outcome.message or (str(exc) if isinstance(exc, SvocError)
                                              else plain_failure(type(exc).__name__, str(exc)))
    else:
        result = box["result"]
        outcome.success = result.success and not any(s == "failure" for _, s, _ in outcome.stages)
        if not outcome.success and not outcome.message:
            outcome.message = (_blocked_check_message(result, drop)
                               or "the run failed; see the run report and the Dagster event log")
    if not outcome.success:
        discard_build(warehouse, run_id)
        append_failure(warehouse, run_id=run_id, message=outcome.message, drop=str(drop))
    release_lock(warehouse, run_id)  # publish or discard_build released it already; then a no-op
    return outcome


def _blocked_check_message(result, drop) -> str:
    """One line for the blocking checks that failed: the source, the check, what was seen, the drop, what to do."""
    failed = [ev.event_specific_data for ev in result.all_events
              if ev.event_type_value == "ASSET_CHECK_EVALUATION" and not ev.event_specific_data.passed
              and str(ev.event_specific_data.severity).endswith("ERROR")]
    if not failed:
        return ""
    data = failed[0]
    source = data.asset_key.path[-1]
    others = [d.check_name if d.asset_key.path[-1] == source else f"{d.asset_key.path[-1]}: {d.check_name}"
              for d in failed[1:]]
    more = f" (also blocking: {', '.join(others)})" if others else ""
    observed = (data.description or "").strip().removeprefix(f"source '{source}' check '{data.check_name}': ")
    observed = observed or "failed"
    return (f"source '{source}' blocked by check '{data.check_name}': {observed}{more}, in drop {drop}; "
            f"check the drop's {source} files are complete and correct, then run again "
            "(the published warehouse was left unchanged)")
