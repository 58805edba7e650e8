"""When the job runs: nightly at 02:00 UK time, on the configured drop. Six nights a week the night is incremental
(only new and changed records are re-linked, when the last run allows it); on Sunday it is a full re-link."""

import datetime as dt

import dagster as dg

from pipelines.defs.jobs import svoc_run_job

FULL_NIGHT_WEEKDAY = 6  # Sunday (datetime.weekday): the weekly full re-link
FULL_NIGHT_RUN_CONFIG = {"ops": {"linked__record_citizen": {"config": {"full": True}}}}


def night_run_request(when: dt.datetime) -> dg.RunRequest:
    """The run for the night starting at ``when``: on the weekly full night, run config forcing a full re-link
    (the match asset's ``full`` config; a resource override would reset the matching resource's other settings)
    and the tag ``svoc/mode=full``; else ``svoc/mode=incremental``."""
    if when.weekday() == FULL_NIGHT_WEEKDAY:
        return dg.RunRequest(run_config=FULL_NIGHT_RUN_CONFIG, tags={"svoc/mode": "full"})
    return dg.RunRequest(tags={"svoc/mode": "incremental"})


@dg.schedule(name="nightly_run_schedule", job=svoc_run_job, cron_schedule="0 2 * * *",
             execution_timezone="Europe/London", default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Run the whole pipeline on the configured drop (SVOC_DROP) every night at 02:00: "
                         "incremental Monday to Saturday, a full re-link on Sunday.")
def nightly_run_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return night_run_request(context.scheduled_execution_time)
