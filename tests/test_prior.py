"""The model's prior re-estimated from the scored pairs (``matching.prior``): pure functions on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.artifact import make_artifact
from matching.prior import (
    CALIBRATION_FLOOR,
    MAX_PRIOR_SHIFT,
    calibrate_prior,
    calibration_sample,
    fixed_point_prior,
    log_odds,
    probability,
    with_prior,
)


def weights_for(bayes_bits: list[float], prior: float) -> np.ndarray:
    return np.asarray(bayes_bits, dtype=float) + log_odds(prior)


@pytest.mark.parametrize("true_pairs,comparisons,prior", [
    (50, 1_000_000, 1e-5),   # rules under-estimated the prior five-fold: it rises to about 50 / 1e6
    (50, 1_000_000, 2e-4),   # over-estimated four-fold: it falls
    (500, 49_995_000, 2e-6),
])
def test_decisive_pairs_set_the_prior_to_their_share_of_all_comparisons(true_pairs: int, comparisons: int,
                                                                        prior: float) -> None:
    # pairs the model is sure of whatever the prior (40 bits), plus non-matches it is sure are not (-40 bits)
    weights = weights_for([40.0] * true_pairs + [-40.0] * 200, prior)
    lam = fixed_point_prior(weights, prior, comparisons)
    assert lam == pytest.approx(true_pairs / comparisons, rel=1e-6)


def test_the_result_is_a_fixed_point() -> None:
    prior = 1e-4
    rng = np.random.default_rng(1)
    weights = weights_for(list(rng.normal(12.0, 6.0, 400)), prior)
    comparisons = 2e6
    lam = fixed_point_prior(weights, prior, comparisons)
    bayes = weights - log_odds(prior)
    assert probability(bayes + log_odds(lam)).sum() / comparisons == pytest.approx(lam, rel=1e-6)


@pytest.mark.parametrize("bits,expected_factor", [(60.0, MAX_PRIOR_SHIFT), (-60.0, 1 / MAX_PRIOR_SHIFT)])
def test_the_prior_moves_at_most_max_shift(bits: float, expected_factor: float) -> None:
    prior = 1e-6
    many = 10_000 if bits > 0 else 1
    lam = fixed_point_prior(weights_for([bits] * many, prior), prior, comparisons=1e6)
    assert lam == pytest.approx(prior * expected_factor)


@pytest.mark.parametrize("weights,prior,comparisons", [
    (np.array([]), 1e-4, 1e6),      # nothing scored: nothing to learn from
    (np.array([3.0]), 1e-4, 0.0),   # one record: no comparisons
    (np.array([3.0]), 0.0, 1e6),    # a degenerate prior is left alone
])
def test_nothing_to_learn_from_keeps_the_prior(weights: np.ndarray, prior: float, comparisons: float) -> None:
    assert fixed_point_prior(weights, prior, comparisons) == prior


@given(st.lists(st.floats(-50, 50), min_size=1, max_size=60), st.floats(1e-9, 0.01), st.floats(1e3, 1e12))
def test_the_prior_stays_a_probability_within_bounds(bits: list[float], prior: float, comparisons: float) -> None:
    lam = fixed_point_prior(weights_for(bits, prior), prior, comparisons)
    assert math.isfinite(lam)
    assert prior / MAX_PRIOR_SHIFT * (1 - 1e-9) <= lam <= min(prior * MAX_PRIOR_SHIFT, 0.5) * (1 + 1e-9)


def _model(prior: float):
    return make_artifact({"link_type": "dedupe_only", "probability_two_random_records_match": prior,
                          "comparisons": []}, {"prior": "estimated"})


def test_with_prior_stores_the_new_prior_and_keeps_the_rule_based_one() -> None:
    model = _model(1e-4)
    out = with_prior(model, 3e-4)
    assert out.prior == pytest.approx(3e-4)
    assert out.model_version != model.model_version
    assert out.training_summary["prior_from_rules"] == pytest.approx(1e-4)
    assert out.training_summary["prior"] == "estimated from rules, then re-estimated from the scored pairs"


@pytest.mark.parametrize("n,cap,expected", [(10, 20, 10), (20, 20, 20), (50, 20, 20)])
def test_calibration_sample_takes_every_record_up_to_the_cap(n: int, cap: int, expected: int) -> None:
    features = pd.DataFrame({"unique_id": [f"s:{i}" for i in range(n)]})
    sample = calibration_sample(features, max_records=cap, seed=3)
    assert len(sample) == expected and sample["unique_id"].is_unique
    assert sample.equals(calibration_sample(features, max_records=cap, seed=3))  # seeded: the same sample


def test_calibrate_prior_sets_the_share_of_pairs_the_scoring_finds_true() -> None:
    prior = 1e-3
    features = pd.DataFrame({"unique_id": [f"s:{i}" for i in range(100)]})  # 4,950 comparisons
    seen = {}

    def score(sample: pd.DataFrame, model, floor: float, **kwargs) -> pd.DataFrame:
        seen.update(records=len(sample), floor=floor, kwargs=kwargs)
        return pd.DataFrame({"match_weight": weights_for([40.0] * 25 + [-40.0] * 10, model.prior)})

    out = calibrate_prior(features, _model(prior), score, threads=1)

    assert out.prior == pytest.approx(25 / 4950, rel=1e-6)  # five times the rule-based prior
    assert seen == {"records": 100, "floor": CALIBRATION_FLOOR, "kwargs": {"threads": 1}}
