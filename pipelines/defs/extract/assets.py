"""One asset per source: read tonight's files into staging.identity_records, staging.interactions and
quarantine.rows (that source's rows)."""

import dagster as dg

from childview.warehouse.stages import stage_source
from pipelines.resources import DropResource, WarehouseResource
from pipelines.sources import configured_sources
from schemas.config import SourceConfig
from schemas.errors import ChildviewError

# A database or network share may hiccup at 02:00: retry, but never retry what only a person can fix.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL)


def source_asset(config: SourceConfig) -> dg.AssetsDefinition:
    @dg.asset(key=["staging", config.name], group_name="extract", kinds={"duckdb"},
              retry_policy=TRANSIENT_RETRY,
              description=f"{config.name} identity records, interactions and quarantined lines, staged")
    def _staged(context: dg.AssetExecutionContext, drop: DropResource, warehouse: WarehouseResource):
        try:
            with warehouse.build(context.run.run_id) as con:
                counts = stage_source(con, drop.dir, config, context.run.run_id, drop.date)
        except ChildviewError as err:
            raise dg.Failure(description=str(err), allow_retries=False) from err
        return dg.MaterializeResult(metadata={k: v for k, v in counts.items() if isinstance(v, int)})

    return _staged


staged_sources = [source_asset(cfg) for cfg in configured_sources()]
