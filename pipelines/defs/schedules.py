"""When the job runs: nightly at 02:00 UK time, on the configured drop."""

import dagster as dg

from pipelines.defs.jobs import svoc_run_job

nightly_run_schedule = dg.ScheduleDefinition(
    name="nightly_run_schedule",
    job=svoc_run_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Run the whole pipeline on the configured drop (SVOC_DROP) every night at 02:00.",
)
