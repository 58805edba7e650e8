"""The svoc code location: everything under ``pipelines/defs/`` is discovered automatically."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.scope import settings_scope
from svoc.settings import Settings, get_settings


def build_defs(settings: Settings) -> dg.Definitions:
    """The code location for these settings (sources, warehouse, drop, thresholds)."""
    with settings_scope(settings):
        return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(get_settings())
