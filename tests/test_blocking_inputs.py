"""The blocking analysis loads only the feature columns its rules name; the counts are those of the whole frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connectors import extract_source, load_source_configs
from matching import blocking
from matching import settings as S
from matching.features import build_features
from svoc.drops import drop_date

DEMO = Path(__file__).resolve().parents[1] / "sample_data" / "demo"


@pytest.fixture(scope="module")
def demo_features() -> pd.DataFrame:
    frames = [extract_source(DEMO / cfg.name, cfg, run_id="t", reference_date=drop_date(DEMO)).identity
              for cfg in load_source_configs(None) if (DEMO / cfg.name).is_dir()]
    return build_features(pd.concat(frames, ignore_index=True), drop_date(DEMO))


def test_rule_columns_are_kept_and_the_rest_blanked(demo_features: pd.DataFrame) -> None:
    narrow = blocking.rule_columns_only(demo_features, S.prediction_rules())
    assert list(narrow.columns) == list(demo_features.columns)
    for col in ("unique_id", "nhs_number", "upn", "dob", "first_name_phonetic", "postcode_token",
                "identifier_keys", "first_name_groups"):
        assert narrow[col].equals(demo_features[col])
    for col in ("address_std", "middle_names_std", "ethnicity", "alt_first_names"):
        assert narrow[col].isna().all() and demo_features[col].notna().any()


def test_counts_equal_those_of_the_whole_frame(demo_features: pd.DataFrame, monkeypatch) -> None:
    narrow = blocking.blocking_analysis(demo_features, threads=1)
    monkeypatch.setattr(blocking, "rule_columns_only", lambda features, rules: features)
    whole = blocking.blocking_analysis(demo_features, threads=1)
    assert narrow == whole
    assert narrow["comparisons_to_score"] > 0 and all(r["marginal_comparisons"] >= 0 for r in narrow["rules"])
