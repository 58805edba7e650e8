"""Matching: who is the same child. Writes linked.record_citizen and the audit trail of every link."""

import dagster as dg

from childview.settings import get_settings
from childview.warehouse.match_stage import match_records
from pipelines.resources import DropResource, WarehouseResource
from pipelines.sources import configured_sources


class MatchConfig(dg.Config):
    retrain: bool = False
    link_threshold: float | None = None
    review_lower: float | None = None


@dg.asset(key=["linked", "record_citizen"], group_name="match", kinds={"duckdb", "splink"},
          deps=[dg.AssetKey(["staging", c.name]) for c in configured_sources()],
          description="Citizen id of every accepted record, with audit.match_evidence, audit.review_queue, "
                      "audit.citizen_events and the stored model (audit.models)")
def record_citizen(context: dg.AssetExecutionContext, config: MatchConfig, drop: DropResource,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    s = get_settings()
    with warehouse.build(context.run.run_id) as con:
        stats = match_records(
            con, run_id=context.run.run_id, drop_date=drop.date, retrain=config.retrain or s.retrain,
            link_threshold=config.link_threshold or s.link_threshold, review_lower=config.review_lower or s.review_lower,
            threads=warehouse.threads, memory_limit=warehouse.memory_limit)
    return dg.MaterializeResult(metadata=stats)
