"""Which sources this deployment reads: the four presets, or the ``sources.yaml`` named in the settings."""

from __future__ import annotations

from connectors import load_source_configs
from schemas.config import SourceConfig
from svoc.settings import Settings


def configured_sources(settings: Settings) -> tuple[SourceConfig, ...]:
    """Read afresh each time the definitions are built: a changed sources.yaml is never masked by a cache."""
    return tuple(load_source_configs(settings.sources_file))
