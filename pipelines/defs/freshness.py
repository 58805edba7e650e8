"""Freshness: the published warehouse must hold a successful run from the last ``SVOC_FRESHNESS_HOURS`` (26 h).

The check reads the published file itself (``audit.runs``), not Dagster's record of materialisations, so it
says what analysts actually see. It runs after each nightly publish and hourly on its own job; it is blocking,
so a stale warehouse fails that run and the failure alerts (``pipelines/defs/alerts.py``) fire.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.resources import WarehouseResource
from pipelines.scope import current_settings
from svoc.warehouse.sql import file_value

PUBLISHED = dg.AssetKey(["published_warehouse"])
CHECK_NAME = "published_within_freshness_window"


def last_published(target: Path) -> dt.datetime | None:
    """When the published warehouse's latest successful run finished (``None``: no warehouse, or no such run)."""
    return file_value(target, "SELECT max(finished_at) FROM audit.runs WHERE status = 'success'",
                      unreadable=duckdb.CatalogException)


def freshness(last: dt.datetime | None, now: dt.datetime, max_age: dt.timedelta) -> tuple[bool, str]:
    """Whether a warehouse last published at ``last`` is fresh at ``now``, and one line saying so."""
    limit = f"{max_age.total_seconds() / 3600:g} h"
    if last is None:
        return False, f"no successful run has been published yet (limit {limit}); run `svoc run` or the job"
    age = now - last
    hours = f"{age.total_seconds() / 3600:.1f} h"
    if age > max_age:
        return False, (f"the published warehouse is {hours} old (limit {limit}; last published {last:%Y-%m-%d %H:%M})"
                       ": check the nightly run and the drop")
    return True, f"published {hours} ago (limit {limit})"


def freshness_check(max_hours: float) -> dg.AssetChecksDefinition:
    max_age = dt.timedelta(hours=max_hours)

    @dg.asset_check(asset=PUBLISHED, name=CHECK_NAME, blocking=True,
                    description=f"The published warehouse holds a successful run from the last {max_hours:g} hours")
    def _fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        last, now = last_published(warehouse.target), dt.datetime.now()
        passed, text = freshness(last, now, max_age)
        age = (now - last).total_seconds() / 3600 if last else None
        return dg.AssetCheckResult(passed=passed, description=text, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={"age_hours": round(age, 2) if age is not None else -1.0,
                                             "limit_hours": max_hours})

    return _fresh


@dg.definitions
def defs() -> dg.Definitions:
    check = freshness_check(current_settings().freshness_hours)
    job = dg.define_asset_job("warehouse_freshness_job", selection=dg.AssetSelection.checks(check),
                              description="Checks only that the published warehouse is fresh; publishes nothing.")
    schedule = dg.ScheduleDefinition(name="hourly_freshness_schedule", job=job, cron_schedule="15 * * * *",
                                      execution_timezone="Europe/London",
                                      default_status=dg.DefaultScheduleStatus.STOPPED,
                                      description="Hourly: fail (and alert) when the published warehouse is stale.")
    return dg.Definitions(asset_checks=[check], jobs=[job], schedules=[schedule])
