"""The link and review thresholds set from the model's own probabilities (issue 12; matching.thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from matching.thresholds import Thresholds, thresholds_from_model, wants_model_thresholds


@pytest.mark.parametrize(("probs", "target", "expected_link"), [
    ([0.9999] * 1000 + [0.95] * 10, 0.999, 0.95),     # ten 0.95 pairs: 0.6 expected false links in 1010
    ([0.9999] * 1000 + [0.95] * 30, 0.999, 0.9999),   # thirty would break the target (ties are never split)
    ([0.9999] * 1000 + [0.6] * 2, 0.999, 0.9),        # the target allows 0.6, but no single link below 0.9
    ([0.3, 0.2], 0.999, 1.0),                          # nothing meets the target: no probabilistic link
])
def test_link_threshold_meets_the_expected_precision_target(probs, target, expected_link):
    th = thresholds_from_model(np.asarray(probs), target_precision=target)
    assert th.link == pytest.approx(expected_link)
    assert th.source == "model"
    linked = np.asarray(probs)[np.asarray(probs) >= th.link]
    if linked.size:
        assert 1 - np.sum(1 - linked) / len(linked) >= target


@pytest.mark.parametrize("lowest", [0.98384408699, 0.9999995, 0.90000049])
def test_the_pairs_that_set_the_link_threshold_are_linked(lowest):
    probs = np.asarray([0.99999999] * 100_000 + [lowest] * 3)
    th = thresholds_from_model(probs)
    assert th.link == lowest and (probs >= th.link).all()  # never rounded up past them


def test_review_band_keeps_half_of_its_pairs_true_in_expectation():
    probs = np.asarray([0.9999] * 100 + [0.9, 0.8, 0.5, 0.3, 0.1, 0.05])
    th = thresholds_from_model(probs)
    band = probs[(probs >= th.review[0]) & (probs < th.link)]
    assert band.size and band.mean() >= 0.5
    assert th.review[0] >= 0.5  # and no single queued pair is less likely the same than not


@pytest.mark.parametrize(("value", "wanted"), [(None, True), ({"link": None, "review": (None, None)}, True),
                                               ({"link": 0.9}, False), (Thresholds(), False)])
def test_thresholds_come_from_the_model_unless_overridden(value, wanted):
    assert wants_model_thresholds(value) is wanted
