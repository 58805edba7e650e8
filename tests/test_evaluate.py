"""Evaluation metrics on hand-made examples with known answers."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from matching.evaluate import age_band, evaluate, format_report

REF = dt.date(2024, 6, 1)


def truth() -> pd.DataFrame:
    rows = [
        ("education", "e1", "A", "F1", "T1", dt.date(2015, 1, 1)),
        ("health", "h1", "A", "F1", "T1", dt.date(2015, 1, 1)),
        ("police", "p1", "A", "F1", "T1", dt.date(2015, 1, 1)),
        ("education", "e2", "B", "F1", "T1", dt.date(2015, 1, 1)),
        ("health", "h2", "B", "F1", "T1", dt.date(2015, 1, 1)),
        ("education", "e3", "C", "F2", None, dt.date(2008, 1, 1)),
        ("social_care", "s1", "D", "F3", None, dt.date(2024, 12, 1)),
    ]
    return pd.DataFrame(rows, columns=["source", "source_record_id", "child_id", "family_id", "twin_group",
                                       "dob_true"])


def predicted() -> pd.DataFrame:
    # police p1 (child A) was put with twin B's records
    rows = [("education", "e1", "X"), ("health", "h1", "X"), ("police", "p1", "Y"), ("education", "e2", "Y"),
            ("health", "h2", "Y"), ("education", "e3", "Z"), ("social_care", "s1", "W")]
    return pd.DataFrame(rows, columns=["source", "source_record_id", "citizen_id"])


def test_pairwise_metrics_known_values():
    m = evaluate(predicted(), truth(), REF)
    assert (m["predicted_pairs"], m["true_pairs"], m["true_positive_pairs"]) == (4, 4, 2)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)
    assert m["exact_cluster_rate"] == pytest.approx(0.5)  # C and D exact; A split; B's citizen holds A's record
    assert (m["twin_pairs"], m["twin_pairs_merged"]) == (1, 1)


def test_perfect_prediction():
    t = truth()
    perfect = t[["source", "source_record_id"]].assign(citizen_id=t["child_id"] + "-cid")
    m = evaluate(perfect, t, REF)
    assert (m["precision"], m["recall"], m["f1"], m["exact_cluster_rate"]) == (1.0, 1.0, 1.0, 1.0)
    assert m["twin_pairs_merged"] == 0
    assert m["by_source_pair"][["false_positive_pairs", "false_negative_pairs"]].to_numpy().sum() == 0


def test_errors_by_source_pair():
    m = evaluate(predicted(), truth(), REF)
    t = m["by_source_pair"].set_index(["source_a", "source_b"])
    assert t.loc[("education", "police"), ["false_positive_pairs", "false_negative_pairs"]].tolist() == [1, 1]
    assert t.loc[("health", "police"), ["false_positive_pairs", "false_negative_pairs"]].tolist() == [1, 1]
    assert t.loc[("education", "health"), ["true_pairs", "true_positive_pairs", "false_positive_pairs"]].tolist() \
        == [2, 2, 0]
    assert t["false_positive_pairs"].sum() == m["false_positive_pairs"]
    assert t["false_negative_pairs"].sum() == m["false_negative_pairs"]


def test_errors_by_age_band():
    m = evaluate(predicted(), truth(), REF)
    t = m["by_age_band"].set_index("age_band")
    assert t.loc["5-10", ["false_positive_pairs", "false_negative_pairs", "children"]].tolist() == [2, 2, 2]
    assert t.loc["16+", "records"] == 1 and t.loc["unborn", "records"] == 1


def test_missing_prediction_counts_as_singleton():
    m = evaluate(predicted().iloc[1:], truth(), REF)
    assert m["records_without_prediction"] == 1
    assert m["true_positive_pairs"] == 1  # A's e1-h1 pair is lost


@pytest.mark.parametrize("dob,band", [
    (dt.date(2024, 6, 2), "unborn"), (dt.date(2024, 6, 1), "0-4"), (dt.date(2019, 6, 2), "0-4"),
    (dt.date(2019, 6, 1), "5-10"), (dt.date(2013, 6, 2), "5-10"), (dt.date(2013, 6, 1), "11-15"),
    (dt.date(2008, 6, 1), "16+"), (None, "unknown"),
])
def test_age_band_boundaries(dob, band):
    assert age_band(pd.Series([dob]), REF).iloc[0] == band


def test_format_report_has_headline_numbers():
    text = format_report(evaluate(predicted(), truth(), REF))
    assert "precision 0.5000" in text and "twin pairs merged 1 of 1" in text
    assert "education" in text and "5-10" in text
