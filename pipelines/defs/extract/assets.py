"""One asset per source: read tonight's files into staging.identity_records, staging.interactions and
quarantine.rows (that source's rows)."""

import functools

import dagster as dg

from pipelines.metadata import contract_schema, table_metadata
from pipelines.resources import AheadResource, DropResource, MatchingResource, WarehouseResource
from pipelines.scope import current_settings
from pipelines.sources import configured_sources
from schemas.config import SourceConfig
from schemas.errors import SvocError
from svoc.stages.extract import stage_source
from svoc.stages.reuse import reusable_by_source

# A database or network share may hiccup at 02:00: retry, but never retry what only a person can fix.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL)


def source_asset(config: SourceConfig, configs: list[SourceConfig]) -> dg.AssetsDefinition:
    @dg.asset(key=["staging", config.name], group_name="extract", kinds={"duckdb"},
              retry_policy=TRANSIENT_RETRY,
              metadata={"dagster/column_schema": contract_schema("staging.identity_records"),
                        "dagster/table_name": "staging.identity_records"},
              description=f"{config.name} identity records, interactions and quarantined lines, staged")
    def _staged(context: dg.AssetExecutionContext, drop: DropResource, warehouse: WarehouseResource,
                matching: MatchingResource, ahead: AheadResource):
        try:
            run_id = context.run.run_id
            with warehouse.build(run_id) as con:
                worker = ahead.for_run(run_id, drop.dir, drop.date, matching.earliest_dob, configs,
                                       context.run.asset_selection,
                                       reuse=functools.partial(reusable_by_source, con, reference_date=drop.date))
                counts = stage_source(con, drop.dir, config, run_id, drop.date, dob_from=matching.earliest_dob,
                                      ahead=worker)
                metadata = table_metadata(con, "staging.identity_records", rows=counts["identity_records"],
                                          extra={k: v for k, v in counts.items() if isinstance(v, int)})
        except SvocError as err:
            raise dg.Failure(description=str(err), allow_retries=False) from err
        return dg.MaterializeResult(metadata=metadata)

    return _staged


@dg.definitions
def defs() -> dg.Definitions:
    configs = list(configured_sources(current_settings()))
    return dg.Definitions(assets=[source_asset(cfg, configs) for cfg in configs])
