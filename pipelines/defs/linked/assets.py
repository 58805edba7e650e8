"""The single view, the multi-agency timeline and the dashboard marts."""

import dagster as dg

from pipelines.resources import DropResource, WarehouseResource
from svoc.stages.marts import MARTS, build_marts
from svoc.stages.single_view import build_single_view

RECORD_CITIZEN = dg.AssetKey(["linked", "record_citizen"])
MART_KEYS = [dg.AssetKey(name.split(".")) for name in MARTS] + [dg.AssetKey(["marts", "linkage_quality"])]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["linked", "single_view"], deps=[RECORD_CITIZEN], group_name="linked", kinds={"duckdb"},
                     description="One row per child: surviving identity, agencies, indicators as of the drop date"),
        dg.AssetSpec(["linked", "interactions"], deps=[RECORD_CITIZEN], group_name="linked", kinds={"duckdb"},
                     description="Every interaction with its citizen id: one timeline per child"),
    ],
)
def single_view(context: dg.AssetExecutionContext, drop: DropResource, warehouse: WarehouseResource):
    with warehouse.build(context.run.run_id) as con:
        counts = build_single_view(con, drop.date)
    yield dg.MaterializeResult(asset_key=["linked", "single_view"], metadata={"citizens": counts["citizens"]})
    yield dg.MaterializeResult(asset_key=["linked", "interactions"], metadata={"rows": counts["interactions"]})


@dg.multi_asset(
    specs=[dg.AssetSpec(k, deps=[dg.AssetKey(["linked", "single_view"]), dg.AssetKey(["linked", "interactions"])],
                        group_name="marts", kinds={"duckdb"}) for k in MART_KEYS],
)
def marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.build(context.run.run_id) as con:
        counts = build_marts(con, context.run.run_id)
    for key in MART_KEYS:
        yield dg.MaterializeResult(asset_key=key, metadata={"rows": counts[".".join(key.path)]})
