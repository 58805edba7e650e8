"""The link and review thresholds: given by the operator, or set from the model's own match probabilities.

``thresholds_from_model`` reads the targets below against the probabilities of the pairs that may link
(docs/matching.md, "Thresholds").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Targets the link and review thresholds are set from (docs/matching.md): links are made down to the lowest
# probability at which the model's own expected precision of all links is still TARGET_PRECISION; below that,
# pairs are queued down to the probability at which the expected share of true pairs in the queue is still
# TARGET_REVIEW_TRUE_SHARE. No single link is made below MIN_LINK_PROBABILITY: each link on its own must be at
# least nine to one (a pair the model gives 1 chance in 2 to 10 of being two children goes to a person instead,
# even when the links as a whole would still meet the precision target).
TARGET_PRECISION = 0.999
TARGET_REVIEW_TRUE_SHARE = 0.5
MIN_LINK_PROBABILITY = 0.9
# Nor is a pair queued that the model thinks more likely two children than one: the review band's share target
# is met by the pairs as a whole, and each must also be at least even odds on its own (measured: without this
# floor the band reached down to p = 0.01 and held 13-36% true pairs).
MIN_REVIEW_PROBABILITY = 0.5


@dataclass(frozen=True)
class Thresholds:
    """``link``: probabilistic edges at or above it may merge clusters. ``review``: pairs with
    ``review[0] <= p <= review[1]`` left apart go to people. ``floor``: pairs below it are not kept.
    ``source``: ``model`` when set from the model's probabilities (``from_model``), ``override`` when given."""

    link: float = 0.95
    review: tuple[float, float] = (0.5, 0.95)
    floor: float = 0.01
    source: str = "override"

    @classmethod
    def coerce(cls, value: Thresholds | dict[str, Any] | None) -> Thresholds:
        if value is None:
            return cls()
        if isinstance(value, Thresholds):
            return value
        given = value.get("link")
        link = float(given if given is not None else cls.link)
        review = tuple(value.get("review", (value.get("review_low", 0.5), link)))
        low = 0.5 if review[0] is None else float(review[0])
        high = link if review[1] is None else float(review[1])
        return cls(link=link, review=(low, high), floor=float(value.get("floor", 0.01)))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["review"] = list(self.review)
        return d


def wants_model_thresholds(value: Thresholds | dict[str, Any] | None) -> bool:
    """True when no link threshold was given: it is then set from the model (``thresholds_from_model``)."""
    if isinstance(value, Thresholds):
        return False
    return value is None or value.get("link") is None


def thresholds_from_model(probabilities: np.ndarray, *, target_precision: float = TARGET_PRECISION,
                          review_true_share: float = TARGET_REVIEW_TRUE_SHARE, review_low: float | None = None,
                          floor: float = 0.01) -> Thresholds:
    """Link and review thresholds from the model's match probabilities of the pairs that may link.

    Sorted high to low, the expected precision of linking the top k pairs is ``1 - sum(1 - p) / k``; the link
    threshold is the lowest p that keeps it at or above ``target_precision`` (never below
    ``MIN_LINK_PROBABILITY``: each link must also be likely on its own). The review band runs down from there
    to the lowest p that keeps the expected share of true pairs in the band at or above ``review_true_share``,
    never below ``MIN_REVIEW_PROBABILITY`` (``review_low`` overrides both).
    """
    p = np.sort(np.asarray(probabilities, dtype=float))[::-1]
    p = p[p >= floor]
    link = 1.0
    if p.size:
        precision = 1.0 - np.cumsum(1.0 - p) / np.arange(1, p.size + 1)
        boundary = np.append(p[:-1] > p[1:], True)  # a threshold cannot split tied probabilities
        ok = np.flatnonzero((precision >= target_precision) & boundary)
        if ok.size:
            link = float(p[ok[-1]])
    link = max(link, MIN_LINK_PROBABILITY)
    if review_low is None:
        below = p[p < link]
        review_low = link
        if below.size:
            share = np.cumsum(below) / np.arange(1, below.size + 1)
            ok = np.flatnonzero((share >= review_true_share) & np.append(below[:-1] > below[1:], True))
            if ok.size:
                review_low = float(below[ok[-1]])
        review_low = max(review_low, MIN_REVIEW_PROBABILITY)
    # exact, not rounded: a threshold rounded up past the probability it was read from would leave out the very
    # pairs that set it (a 0.98384408 pair against a link threshold written as 0.983844 is linked; as 0.9838441, not)
    return Thresholds(link=link, review=(min(review_low, link), link), floor=floor, source="model")
