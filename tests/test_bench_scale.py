"""benchmarks.scale's pure helpers: step -> stage, stage seconds, and peak memory per stage."""

from __future__ import annotations

import pytest

from benchmarks.scale import stage_peaks, stage_seconds, step_group

OUT = [(10.0, "  ✓ staging__education (5.0s)\n"), (20.0, "  ✓ education_quality_checks (8.0s)\n"),
       (50.0, "  ✓ linked__record_citizen (29.0s)\n"), (51.0, "  ✓ single_view (0.5s)\n"),
       (55.0, "  ✓ published_warehouse (3.0s)\n")]


@pytest.mark.parametrize(("step", "group"), [
    ("staging__health", "extract"), ("police_quality_checks", "quality"), ("linked__record_citizen", "match"),
    ("single_view", "single_view"), ("marts", "marts"), ("published_warehouse", "publish"),
    ("published_warehouse_published_within_freshness_window", "published_warehouse_published_within_freshness_window"),
])
def test_step_group(step: str, group: str) -> None:
    assert step_group(step) == group


def test_stage_seconds_sums_steps_by_stage() -> None:
    groups, steps = stage_seconds("".join(line for _, line in OUT))
    assert groups == {"extract": 5.0, "quality": 8.0, "match": 29.0, "single_view": 0.5, "marts": 0.0, "publish": 3.0}
    assert steps["staging__education"] == 5.0


def test_stage_peaks_attribute_samples_to_the_step_running() -> None:
    mb = 1024
    samples = [(4.0, 100 * mb), (6.0, 2000 * mb), (13.0, 1500 * mb), (30.0, 4000 * mb), (45.0, 3500 * mb),
               (50.8, 2500 * mb), (53.0, 3000 * mb), (56.0, 900 * mb)]
    assert stage_peaks(OUT, samples) == {"start": 100.0, "extract": 2000.0, "quality": 1500.0, "match": 4000.0,
                                         "single_view": 2500.0, "publish": 3000.0, "after": 900.0}
