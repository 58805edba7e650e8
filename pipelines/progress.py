"""What the CLI needs to draw a run's progress: how many steps the job has."""

from __future__ import annotations

from pipelines.steps import JOB_NAME
from svoc.settings import Settings


def step_count(settings: Settings) -> int:
    """Steps in the nightly job for these settings (one per asset op and per check op: no dynamic steps)."""
    from pipelines.definitions import build_defs

    return len(build_defs(settings).resolve_job_def(JOB_NAME).graph.nodes)
