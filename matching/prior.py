"""The model's prior (the probability that two random records are one child), re-estimated from the scores.

Training first sets the prior from deterministic rules and an assumed recall (Splink's
``estimate_probability_two_random_records_match``). That assumption is wrong in both directions on real data:
where records are noisy, far fewer true pairs agree exactly than assumed and the prior comes out several times
too small (every probability too low, so true links fall below the link threshold); where they are clean it can
come out too large.

Once m and u are estimated and every blocked pair is scored, the prior is the fixed point of
``prior = sum(p_i(prior)) / comparisons``: the expected number of true pairs among all ``n(n-1)/2`` comparisons,
with the pairs blocking did not make counted as non-matches. It is the Fellegi-Sunter EM update for the prior
with m and u held fixed. Each pair's weight (``log2`` Bayes factors plus the prior's log-odds) moves by the same
amount; the engine then scores tonight's pairs under the new prior, so tonight's probabilities and those of
every later night (an incremental night scores its new pairs with the stored model) come from one computation.

``fixed_point_prior`` is a pure function on arrays; ``calibrate_prior`` measures it with the engine's scoring on
the drop (or a seeded sample of it) and returns the new artifact.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.artifact import ModelArtifact, make_artifact

log = logging.getLogger(__name__)

# Records scored to measure the prior (a seeded random sample above this), and the probability floor of that
# scoring (pairs under it add less than 0.001 each to the expected count).
CALIBRATION_RECORDS = 200_000
CALIBRATION_FLOOR = 0.001
# The re-estimated prior stays within this factor of the rule-based one either way: a model whose Bayes factors
# are inflated (correlated fields) would otherwise feed its own over-confidence back into the prior.
MAX_PRIOR_SHIFT = 10.0
_MAX_ITERATIONS = 200
_TOLERANCE = 1e-9


def log_odds(p: float) -> float:
    return math.log2(p / (1.0 - p))


def probability(weights: npt.ArrayLike) -> np.ndarray:
    """Match probability from match weights (log2 odds): an array, or a 0-d array for one weight."""
    return 1.0 / (1.0 + np.exp2(-np.asarray(weights, dtype=float)))


def fixed_point_prior(weights: np.ndarray, prior: float, comparisons: float,
                      max_shift: float = MAX_PRIOR_SHIFT) -> float:
    """The prior at which the scored pairs' probabilities sum to ``prior * comparisons``.

    ``weights``: match weights of the scored pairs under ``prior``; ``comparisons``: all pairs of records
    (scored or not). Bounded to ``[prior / max_shift, prior * max_shift]``."""
    if comparisons <= 0 or len(weights) == 0 or not 0.0 < prior < 1.0:
        return prior
    bayes = np.asarray(weights, dtype=float) - log_odds(prior)
    low, high = prior / max_shift, min(prior * max_shift, 0.5)
    lam = prior
    for _ in range(_MAX_ITERATIONS):
        new = float(np.clip(probability(bayes + log_odds(lam)).sum() / comparisons, low, high))
        if abs(new - lam) <= _TOLERANCE * lam:
            return new
        lam = new
    return lam


def with_prior(model: ModelArtifact, prior: float) -> ModelArtifact:
    """``model`` with ``prior``; its training summary keeps the rule-based one as ``prior_from_rules``."""
    rules_note = model.training_summary.get("prior", "estimated")
    summary = {**model.training_summary, "prior_from_rules": model.prior,
               "prior": f"{rules_note} from rules, then re-estimated from the scored pairs"}
    out = make_artifact({**model.settings, "probability_two_random_records_match": prior}, summary)
    return dataclasses.replace(out, created_at=model.created_at, term_frequencies=model.term_frequencies)


def calibration_sample(features: pd.DataFrame, max_records: int = CALIBRATION_RECORDS, seed: int = 42) -> pd.DataFrame:
    """All records, or a seeded random ``max_records`` of them: the pairs within a random set of records are a
    random sample of all pairs, so the share that match is the same (at 1M records, 200k score 4% of the pairs)."""
    if len(features) <= max_records:
        return features
    return features.sample(n=max_records, random_state=seed).reset_index(drop=True)


def calibrate_prior(features: pd.DataFrame, model: ModelArtifact, predict: Callable[..., pd.DataFrame], *,
                    seed: int = 42, max_records: int = CALIBRATION_RECORDS, **predict_kwargs: Any) -> ModelArtifact:
    """``model`` with the fixed-point prior, measured by ``predict`` (the engine's scoring: ``features``,
    ``model``, a probability floor) on ``calibration_sample(features)``. Tonight's pairs are then scored by
    the engine under the new prior, as every later night's are."""
    sample = calibration_sample(features, max_records=max_records, seed=seed)
    n = len(sample)
    if n < 2:
        return model
    scored = predict(sample, model, CALIBRATION_FLOOR, **predict_kwargs)
    prior = fixed_point_prior(scored["match_weight"].to_numpy(dtype=float), model.prior, n * (n - 1) / 2)
    out = with_prior(model, prior)
    log.info("model prior re-estimated from %d scored pairs of %d records: %.4g (rules gave %.4g)",
             len(scored), n, out.prior, model.prior)
    return out
