"""Dagster instance state a dead run leaves behind: its run record says STARTED and it may hold pool slots.

Mutual exclusion between runs on one warehouse is the warehouse's ``flock`` (``svoc.warehouse.build``), which
the kernel releases when its holder dies; the job no longer claims a Dagster pool slot for it. Instances used
by older versions may still hold a slot claimed by a run that was killed, and its run record never ends, so
at start-up every run of this instance that is no longer alive is marked failed and its slots are freed.

A run is alive while its process is: runs started by ``svoc run`` carry their host and pid as tags
(``svoc/host``, ``svoc/pid``). A run without them (launched by the daemon, or by an older version) is judged
by age: in progress with no event for ``STALE_AFTER`` (a night takes minutes), it is dead.
Slots in the pools older versions used for the publish step (``LEGACY_POOLS``) are always stale: this job
claims none, and only the holder of the warehouse lock (the caller) could be publishing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time

import dagster as dg

from svoc.private_temp import pid_alive

log = logging.getLogger(__name__)

PID_TAG, HOST_TAG = "svoc/pid", "svoc/host"
STALE_AFTER = dt.timedelta(hours=12)
LEGACY_POOLS = ("svoc_warehouse", "childview_warehouse")
IN_PROGRESS = {dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING}


def process_tags() -> dict[str, str]:
    """Tags naming this process, so a later run can tell whether this one is still alive."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def run_is_dead(run: dg.DagsterRun, last_event_at: float | None = None, now: float | None = None) -> bool:
    """True when ``run`` has ended; was started on this host by a process that no longer exists; or, without
    pid tags, has logged nothing for ``STALE_AFTER`` (``last_event_at``/``now`` are epoch seconds)."""
    if run.status not in IN_PROGRESS:
        return True
    pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
    if pid and pid.isdigit() and host == socket.gethostname():
        return int(pid) != os.getpid() and not pid_alive(int(pid))
    if pid or last_event_at is None:
        return False  # another host's process, or nothing to judge by
    return (now if now is not None else time.time()) - last_event_at > STALE_AFTER.total_seconds()


def _last_event_at(instance: dg.DagsterInstance, run_id: str) -> float | None:
    """When the run last logged an event or changed status (epoch seconds)."""
    logs = instance.all_logs(run_id)
    record = instance.get_run_record_by_id(run_id)
    times = [logs[-1].timestamp] if logs else []
    if record is not None and record.update_timestamp is not None:
        stamp = record.update_timestamp  # Dagster stores UTC; SQLite hands it back naive
        times.append((stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp())
    return max(times) if times else None


def release_dead_runs(instance: dg.DagsterInstance, job_name: str, now: float | None = None) -> dict[str, list[str]]:
    """Mark this job's dead in-progress runs failed and free every pool slot held by a run that is not alive."""
    failed: list[str] = []
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=list(IN_PROGRESS)))
    for run in runs:
        if run_is_dead(run, _last_event_at(instance, run.run_id), now):
            instance.report_run_failed(run, "the run's process died (killed or rebooted); marked failed by a "
                                            "later run")
            failed.append(run.run_id)
    freed: list[str] = []
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {"failed": failed, "freed": freed}
    legacy: set[str] = set()
    for pool in set(LEGACY_POOLS) & storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        legacy |= info.active_run_ids | {step.run_id for step in info.pending_steps}
    for run_id in sorted(storage.get_concurrency_run_ids() | legacy):
        holder = instance.get_run_by_id(run_id)
        if holder is None or run_id in legacy or run_is_dead(holder):
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    if failed or freed:
        log.warning("released %d dead runs and the pool slots of %d runs", len(failed), len(freed))
    return {"failed": failed, "freed": freed}
