"""Term frequencies kept with the model (``matching.term_frequencies``): counted once, stored, and used every night."""

from __future__ import annotations

import dataclasses

import duckdb
import pandas as pd
import pytest

from matching.artifact import ModelArtifact, load_latest_model, save_model
from matching.model import predict_pairs
from matching.term_frequencies import term_frequencies, tf_columns, with_term_frequencies
from matching.training import train_model
from tests.test_model import synthetic_features


@pytest.mark.parametrize("values,expected", [
    (["ava", "ava", "leo", None], {"ava": 2 / 3, "leo": 1 / 3}),   # a missing value is not counted
    (["mia"], {"mia": 1.0}),
    ([None, None], {}),
])
def test_frequencies_are_splinks_count_over_records_with_a_value(values: list, expected: dict) -> None:
    frame = term_frequencies(pd.DataFrame({"first_name_std": values}), ["first_name_std", "absent"])
    assert list(frame) == ["first_name_std"]
    got = dict(zip(frame["first_name_std"]["first_name_std"], frame["first_name_std"]["tf_first_name_std"],
                   strict=True))
    assert got == pytest.approx(expected)


def test_the_models_frequency_columns_come_from_its_settings() -> None:
    settings = {"comparisons": [
        {"comparison_levels": [{"sql_condition": "x"}, {"tf_adjustment_column": "first_name_std"}]},
        {"comparison_levels": [{"tf_adjustment_column": "last_name_std"}, {"tf_adjustment_column": "last_name_std"}]},
    ]}
    assert tf_columns(settings) == ["first_name_std", "last_name_std"]


@pytest.fixture(scope="module")
def trained() -> tuple[pd.DataFrame, ModelArtifact]:
    features = synthetic_features()
    model = train_model(features, seed=11, u_max_pairs=2e5, threads=1)
    return features, with_term_frequencies(model, features)


def test_stored_frequencies_come_back_with_the_model(trained) -> None:
    _, model = trained
    con = duckdb.connect()
    save_model(con, model, "run-1")
    save_model(con, model, "run-2")  # once per model version
    loaded = load_latest_model(con)
    assert loaded is not None and set(loaded.term_frequencies) == {"first_name_std", "last_name_std"}
    for col, frame in model.term_frequencies.items():
        want = frame.sort_values(col).reset_index(drop=True)
        got = loaded.term_frequencies[col].sort_values(col).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_the_frequencies_counted_on_the_drop_are_splinks_own(trained) -> None:
    features, model = trained
    counted_by_splink = predict_pairs(features, dataclasses.replace(model, term_frequencies={}), 0.01, threads=1)
    stored = predict_pairs(features, model, 0.01, threads=1)
    pd.testing.assert_series_equal(stored["match_probability"], counted_by_splink["match_probability"])


def test_a_pairs_score_does_not_move_when_other_records_arrive(trained) -> None:
    """Tonight's drop holds more records sharing the names; with the stored frequencies every pair of last
    night's records scores exactly as before (counted afresh, the name weights would move)."""
    features, model = trained
    before = predict_pairs(features, model, 0.01, threads=1)
    extra = features.head(60).assign(unique_id=lambda f: "new:" + f["unique_id"].str.split(":").str[1],
                                     source="new")
    tonight = pd.concat([features, extra], ignore_index=True)
    keys = ["unique_id_l", "unique_id_r"]
    old = set(features["unique_id"])

    def old_pairs(scored: pd.DataFrame) -> pd.DataFrame:
        return scored[scored["unique_id_l"].isin(old) & scored["unique_id_r"].isin(old)].set_index(keys)

    stored = old_pairs(predict_pairs(tonight, model, 0.01, threads=1))
    fresh = old_pairs(predict_pairs(tonight, dataclasses.replace(model, term_frequencies={}), 0.01, threads=1))
    assert stored["match_probability"].equals(before.set_index(keys)["match_probability"])
    assert not fresh["match_probability"].equals(before.set_index(keys)["match_probability"])
