"""Which sources this deployment reads: the four presets, or ``CHILDVIEW_SOURCES_FILE`` (sources.yaml)."""

from __future__ import annotations

from functools import cache

from childview.settings import get_settings
from schemas.config import SourceConfig


@cache
def configured_sources() -> tuple[SourceConfig, ...]:
    from connectors import load_source_configs

    return tuple(load_source_configs(get_settings().sources_file))
