"""Matching: who is the same child. Writes linked.record_citizen and the audit trail of every link."""

from typing import Any

import dagster as dg

from pipelines.metadata import table_metadata
from pipelines.resources import DropResource, MatchingResource, WarehouseResource
from pipelines.scope import current_settings
from pipelines.sources import configured_sources
from svoc.stages.match import match_records


class MatchConfig(dg.Config):
    retrain: bool = False
    link_threshold: float | None = None
    review_lower: float | None = None
    full: bool = False  # re-link every record tonight (the weekly full night: pipelines/defs/schedules.py)


_DESCRIPTION = ("Citizen id of every accepted record, with audit.match_evidence, audit.review_queue, "
                "audit.citizen_events and the stored model (audit.models)")


def _materialise(context: dg.AssetExecutionContext, config: MatchConfig, drop: DropResource,
                 warehouse: WarehouseResource, matching: MatchingResource, spark: Any = None) -> dg.MaterializeResult:
    with warehouse.build(context.run.run_id) as con:
        warehouse.carry_state(con)  # steward decisions made since the last run (svoc.state)
        stats = match_records(
            con, run_id=context.run.run_id, drop_date=drop.date, retrain=config.retrain or matching.retrain,
            link_threshold=config.link_threshold or matching.link_threshold,
            review_lower=config.review_lower or matching.review_lower,
            threads=warehouse.threads, memory_limit=warehouse.memory_limit, dob_from=matching.earliest_dob,
            cannot_link_identifiers=matching.cannot_link_identifiers, full=config.full or matching.full,
            engine=matching.engine, spark=spark)
        metadata = table_metadata(con, "linked.record_citizen", rows=stats["records"], extra=stats)
    return dg.MaterializeResult(metadata=metadata)


def record_citizen_asset(sources: list[str], engine: str = "duckdb") -> dg.AssetsDefinition:
    """The match asset; with the Spark engine it also takes the ``pyspark`` resource (dagster-pyspark)."""
    deps = [dg.AssetKey(["staging", name]) for name in sources]
    if engine == "spark":
        @dg.asset(key=["linked", "record_citizen"], group_name="match", kinds={"spark", "splink"}, deps=deps,
                  description=_DESCRIPTION)
        def record_citizen_on_spark(context: dg.AssetExecutionContext, config: MatchConfig, drop: DropResource,
                                    warehouse: WarehouseResource, matching: MatchingResource,
                                    pyspark: dg.ResourceParam[Any]) -> dg.MaterializeResult:
            return _materialise(context, config, drop, warehouse, matching, pyspark.spark_session)

        return record_citizen_on_spark

    @dg.asset(key=["linked", "record_citizen"], group_name="match", kinds={"duckdb", "splink"}, deps=deps,
              description=_DESCRIPTION)
    def record_citizen(context: dg.AssetExecutionContext, config: MatchConfig, drop: DropResource,
                       warehouse: WarehouseResource, matching: MatchingResource) -> dg.MaterializeResult:
        return _materialise(context, config, drop, warehouse, matching)

    return record_citizen


@dg.definitions
def defs() -> dg.Definitions:
    settings = current_settings()
    return dg.Definitions(assets=[record_citizen_asset([c.name for c in configured_sources(settings)],
                                                       settings.engine)])
