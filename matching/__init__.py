"""Record linkage: features, Splink model, constrained clustering, citizen registry, evidence.

Public API (import the submodules for the rest)::

    from matching import link_records, LinkResult, Thresholds, train_model, predict_pairs

Names are resolved lazily so ``import matching.names`` does not pay for importing Splink.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LinkResult": "matching.linker",
    "Thresholds": "matching.linker",
    "link_records": "matching.linker",
    "ModelArtifact": "matching.artifact",
    "load_latest_model": "matching.artifact",
    "predict_pairs": "matching.model",
    "save_model": "matching.artifact",
    "train_model": "matching.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'matching' has no attribute {name!r}")
