"""``matching.features.FEATURE_INPUT_COLUMNS`` names every staged column features read: the match stage loads
only those, so features built from them must equal features built from the whole staged frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import extract_source, load_source_configs
from matching import features
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


_ADDRESS_CHARS = "abcXYZ 0123456789,;\n'`’-./&()éÅ\r\t"


@given(st.text(alphabet=_ADDRESS_CHARS, max_size=40))
@settings(max_examples=400, deadline=None)
def test_whole_line_address_cleaning_equals_segment_by_segment(line: str) -> None:
    """The ASCII fast path of ``_clean_segments`` cleans exactly as ``_clean_segment`` on each part."""
    expected = [c for c in (features._clean_segment(s) for s in features._SEGMENT_SPLIT.split(line)) if c]
    assert features._clean_segments(line) == expected


@pytest.mark.parametrize(("line", "expected"), [
    ("Flat 2, 14 A High St", ("14a high street", "14a")),
    ("St. John's Rd;  ", ("saint johns road", None)),
    ("12 Ryde Ave,\nLeeds", ("12 ryde avenue", "12")),
    ("Café Row, 3 Élan Gdns", ("3 elan gardens", "3")),
    (" ,;", (None, None)),
])
def test_standardise_address_examples(line: str, expected: tuple[str | None, str | None]) -> None:
    assert features.standardise_address.__wrapped__(line) == expected
