"""One asset per source: read tonight's files into staging.identity_records, staging.interactions and
quarantine.rows (that source's rows)."""

import dagster as dg

from childview.warehouse.stages import stage_source
from pipelines.resources import DropResource, WarehouseResource
from pipelines.sources import configured_sources
from schemas.config import SourceConfig


def source_asset(config: SourceConfig) -> dg.AssetsDefinition:
    @dg.asset(key=["staging", config.name], group_name="extract", kinds={"duckdb"},
              description=f"{config.name} identity records, interactions and quarantined lines, staged")
    def _staged(context: dg.AssetExecutionContext, drop: DropResource, warehouse: WarehouseResource):
        with warehouse.build(context.run_id) as con:
            counts = stage_source(con, drop.dir, config, context.run_id, drop.date)
        return dg.MaterializeResult(metadata={k: v for k, v in counts.items() if isinstance(v, int)})

    return _staged


staged_sources = [source_asset(cfg) for cfg in configured_sources()]
