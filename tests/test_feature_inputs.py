"""``matching.features.FEATURE_INPUT_COLUMNS`` names every staged column features read: the match stage loads
only those, so features built from them must equal features built from the whole staged frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connectors import extract_source, load_source_configs
from matching.features import FEATURE_INPUT_COLUMNS, build_features
from schemas.records import IDENTITY_COLUMNS
from svoc.drops import drop_date

DEMO = Path(__file__).resolve().parents[1] / "sample_data" / "demo"


@pytest.fixture(scope="module")
def demo_identity() -> pd.DataFrame:
    frames = [extract_source(DEMO / cfg.name, cfg, run_id="t", reference_date=drop_date(DEMO)).identity
              for cfg in load_source_configs(None) if (DEMO / cfg.name).is_dir()]
    return pd.concat(frames, ignore_index=True)


def test_input_columns_are_staged_columns() -> None:
    assert set(FEATURE_INPUT_COLUMNS) <= set(IDENTITY_COLUMNS)


def test_features_from_input_columns_equal_features_from_all_columns(demo_identity: pd.DataFrame) -> None:
    assert len(demo_identity) > 100
    whole = build_features(demo_identity, drop_date(DEMO))
    narrow = build_features(demo_identity[list(FEATURE_INPUT_COLUMNS)].copy(), drop_date(DEMO))
    pd.testing.assert_frame_equal(whole, narrow)


@pytest.mark.parametrize("column", [c for c in IDENTITY_COLUMNS if c not in FEATURE_INPUT_COLUMNS])
def test_other_columns_do_not_change_features(demo_identity: pd.DataFrame, column: str) -> None:
    """Blanking a column outside FEATURE_INPUT_COLUMNS changes no feature (so it need not be loaded)."""
    blanked = demo_identity.assign(**{column: None})
    pd.testing.assert_frame_equal(build_features(blanked, drop_date(DEMO)),
                                  build_features(demo_identity, drop_date(DEMO)))
