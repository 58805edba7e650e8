import dagster as dg

from pipelines.resources import resources_from
from pipelines.scope import current_settings


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=resources_from(current_settings()))
