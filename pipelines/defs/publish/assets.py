"""Publish: check the build and atomically swap it in as the warehouse analysts read."""

import datetime as dt

import dagster as dg

from pipelines.defs.linked.assets import MART_KEYS
from pipelines.resources import DropResource, PrivacyResource, WarehouseResource
from pipelines.steps import step_scope
from svoc.stages.publish import publish_build

UPSTREAM = [*MART_KEYS, dg.AssetKey(["linked", "single_view"]), dg.AssetKey(["linked", "interactions"])]


@dg.asset(key=["published_warehouse"], group_name="publish", deps=UPSTREAM, kinds={"duckdb"},
          description="The published warehouse file, replaced atomically (previous kept as <name>.prev.duckdb)")
def published_warehouse(context: dg.AssetExecutionContext, drop: DropResource, warehouse: WarehouseResource,
                        privacy: PrivacyResource):
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = dt.datetime.fromtimestamp(record.start_time) if record and record.start_time else dt.datetime.now()
    stages = {s.step_key: round(s.end_time - s.start_time, 2)
              for s in context.instance.get_run_step_stats(context.run.run_id) if s.start_time and s.end_time}
    with step_scope():  # refuse a partial run; publish's log lines to the event log
        counts = publish_build(warehouse.target, context.run.run_id, started_at=started, drop=drop.dir,
                               drop_date=drop.date, conn_kw=warehouse.conn_kw(), stage_seconds=stages,
                               pseudonym_key=privacy.key(), small_cell_threshold=privacy.small_cell_threshold,
                               parquet=warehouse.parquet)
    return dg.MaterializeResult(metadata={k: v for k, v in counts.items() if not k.startswith("audit.")})
