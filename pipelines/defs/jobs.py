"""The nightly job: every asset, in dependency order, in one process (one writer per build file)."""

import dagster as dg

svoc_run_job = dg.define_asset_job(
    name="svoc_run_job",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    tags={"svoc/warehouse": "default"},
    description="Extract, validate, standardise, match, build the single view and publish the warehouse.",
)
