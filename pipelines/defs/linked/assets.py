"""The single view, the multi-agency timeline and the dashboard marts."""

from collections.abc import Sequence

import dagster as dg

from pipelines.metadata import table_metadata
from pipelines.resources import DropResource, WarehouseResource
from pipelines.scope import current_settings
from pipelines.sources import configured_sources
from schemas.config import SourceConfig
from svoc.stages.changes import changes_only
from svoc.stages.marts import MARTS, build_marts
from svoc.stages.single_view import build_single_view

RECORD_CITIZEN = dg.AssetKey(["linked", "record_citizen"])
MART_KEYS = [dg.AssetKey(name.split(".")) for name in MARTS] + [dg.AssetKey(["marts", "linkage_quality"])]


def single_view_asset(configs: Sequence[SourceConfig]) -> dg.AssetsDefinition:
    """Built per code location: the flags and indicators depend on the configured sources."""

    @dg.multi_asset(
        name="single_view",
        specs=[
            dg.AssetSpec(["linked", "single_view"], deps=[RECORD_CITIZEN], group_name="linked", kinds={"duckdb"},
                         description="One row per child: surviving identity, agencies, indicators as of the drop "
                                     "date"),
            dg.AssetSpec(["linked", "interactions"], deps=[RECORD_CITIZEN], group_name="linked", kinds={"duckdb"},
                         description="Every interaction with its citizen id: one timeline per child"),
        ],
    )
    def single_view(context: dg.AssetExecutionContext, drop: DropResource, warehouse: WarehouseResource):
        with warehouse.build(context.run.run_id) as con:
            # a changes-only drop's staged rows carry this run's id: only the children they reach are rebuilt
            counts = build_single_view(con, drop.date, configs,
                                       run_id=context.run.run_id if changes_only(drop.dir) else None)
            view = table_metadata(con, "linked.single_view", rows=counts["citizens"],
                                  extra={"children_rebuilt": counts["rebuilt"]})
            timeline = table_metadata(con, "linked.interactions", rows=counts["interactions"])
        yield dg.MaterializeResult(asset_key=["linked", "single_view"], metadata=view)
        yield dg.MaterializeResult(asset_key=["linked", "interactions"], metadata=timeline)

    return single_view


def marts_asset() -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="marts",
        specs=[dg.AssetSpec(k, deps=[dg.AssetKey(["linked", "single_view"]), dg.AssetKey(["linked", "interactions"])],
                            group_name="marts", kinds={"duckdb"}) for k in MART_KEYS],
    )
    def marts(context: dg.AssetExecutionContext, drop: DropResource, warehouse: WarehouseResource):
        with warehouse.build(context.run.run_id) as con:
            counts = build_marts(con, context.run.run_id, drop.date)
            metadata = {key: table_metadata(con, ".".join(key.path), rows=counts[".".join(key.path)])
                        for key in MART_KEYS}
        for key in MART_KEYS:
            yield dg.MaterializeResult(asset_key=key, metadata=metadata[key])

    return marts


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[single_view_asset(configured_sources(current_settings())), marts_asset()])
