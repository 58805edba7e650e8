"""Which settings the code location is being built from.

The asset graph depends on settings (one asset and one check set per configured source), so the
definitions are built from a ``Settings`` object: ``pipelines.definitions.build_defs(settings)`` sets it
for the duration of the build only, and the ``defs/`` modules read it with ``current_settings()``. Outside a
build (``dagster dev``, ``dg check defs``) the settings come from the environment. Nothing is cached
between builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from svoc.settings import Settings, get_settings

_BUILDING: ContextVar[Settings | None] = ContextVar("svoc_building_settings", default=None)


@contextmanager
def settings_scope(settings: Settings) -> Iterator[Settings]:
    token = _BUILDING.set(settings)
    try:
        yield settings
    finally:
        _BUILDING.reset(token)


def current_settings() -> Settings:
    return _BUILDING.get() or get_settings()
