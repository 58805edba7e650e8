"""Great Expectations suites per source, as Dagster asset checks. Blocking ones stop matching and publishing."""

import datetime as dt

import dagster as dg

from pipelines.resources import DropResource, MatchingResource, WarehouseResource
from pipelines.scope import current_settings
from pipelines.sources import configured_sources
from quality.suites import identity_specs, interaction_specs, rules_for
from schemas.config import SourceConfig
from svoc.stages.changes import changes_only
from svoc.stages.quality import check_source_quality


def source_quality_checks(config: SourceConfig) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(["staging", config.name])
    rules = rules_for(config)
    specs = identity_specs(rules, 1, dt.date.today()) + interaction_specs(rules)

    @dg.multi_asset_check(
        name=f"{config.name}_quality_checks",
        specs=[dg.AssetCheckSpec(s.check, asset=key, blocking=s.severity == "blocking", description=s.expectation)
               for s in specs],
    )
    def _checks(context: dg.AssetCheckExecutionContext, drop: DropResource, warehouse: WarehouseResource,
                matching: MatchingResource):
        with warehouse.build(context.run.run_id) as con:
            results = check_source_quality(con, config.name, context.run.run_id, drop.date, warehouse.target,
                                           dob_from=matching.earliest_dob, rules=rules,
                                           changes_only=changes_only(drop.dir))
        for r in results:
            yield dg.AssetCheckResult(
                asset_key=key, check_name=r.check, passed=bool(r.passed), description=r.observed,
                severity=dg.AssetCheckSeverity.ERROR if r.severity == "blocking" else dg.AssetCheckSeverity.WARN,
            )

    return _checks


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(asset_checks=[source_quality_checks(c) for c in configured_sources(current_settings())])
