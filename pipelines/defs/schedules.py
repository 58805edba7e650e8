"""When the job runs: nightly at 02:00 UK time, on the configured drop."""

import dagster as dg

from pipelines.defs.jobs import childview_run_job

nightly_run_schedule = dg.ScheduleDefinition(
    name="nightly_run_schedule",
    job=childview_run_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Run the whole pipeline on the configured drop (CHILDVIEW_DROP) every night at 02:00.",
)
