"""Blocking rules: which pairs become candidates, and the counts recorded with each model."""

from __future__ import annotations

import datetime as dt
import itertools

import duckdb
import pandas as pd
import pytest

from matching import settings as S
from matching.blocking import blocking_analysis
from tests.test_model import _row

DOB = dt.date(2014, 3, 2)


def _pair(left: dict, right: dict) -> pd.DataFrame:
    base = dict(first="maisie", last="brennan", dob=DOB, sex="F", postcode="LS6 2AB", house="4", street="elm road")
    a, b = {**base, **left}, {**base, **right}
    return pd.DataFrame([_row("education:A1", a["first"], a["last"], a["dob"], a["sex"], a["postcode"], a["house"],
                              a["street"]),
                         _row("health:B1", b["first"], b["last"], b["dob"], b["sex"], b["postcode"], b["house"],
                              b["street"])])


def _candidate_rules(features: pd.DataFrame) -> list[str]:
    """Names of the prediction rules under which the two records are compared (exact SQL join)."""
    con = duckdb.connect()
    con.register("f", features)
    hits = []
    for name, rule in S.PREDICTION_BLOCKING_RULES:
        if name == "identifier":  # an exploding rule: Splink unnests the lists before joining
            continue
        sql = rule if isinstance(rule, str) else rule.get_blocking_rule("duckdb").blocking_rule_sql
        n = con.execute(f"SELECT count(*) FROM f l JOIN f r ON {sql} WHERE l.unique_id < r.unique_id").fetchall()[0][0]
        if n:
            hits.append(name)
    return hits


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        # same names, DOB missing on either side, different area: only the DOB-missing name rules pair them
        ({"dob": None, "postcode": "BD3 1AA", "house": "9"}, {}, "first_phonetic+last_phonetic, left dob missing"),
        ({}, {"dob": None, "postcode": "BD3 1AA", "house": "9"}, "first_phonetic+last_phonetic, right dob missing"),
        # year typo, different area: same names and DOB month
        ({"dob": dt.date(2015, 3, 2), "postcode": "BD3 1AA", "house": "9"}, {},
         "first_phonetic+last_phonetic+dob_month"),
        # month typo: same names and DOB year
        ({"dob": dt.date(2014, 4, 2), "postcode": "BD3 1AA", "house": "9"}, {},
         "first_phonetic+last_phonetic+dob_year"),
    ],
)
def test_name_rules_split_by_dob_still_pair_the_hard_cases(left: dict, right: dict, expected: str) -> None:
    feats = _pair(left, right)
    for field in ("dob", "dob_year", "dob_month", "dob_day"):
        feats[field] = feats[field].astype(object)
    assert expected in _candidate_rules(feats)


def test_same_names_with_different_dob_year_and_month_elsewhere_are_not_compared() -> None:
    """The rule that grew with the square of the county: same names alone no longer make a candidate."""
    feats = _pair({"dob": dt.date(2016, 9, 2), "postcode": "BD3 1AA", "house": "9", "street": "oak lane"}, {})
    assert _candidate_rules(feats) == []


def test_blocking_analysis_counts_are_exact_and_cumulative() -> None:
    rows = [_row(f"education:E{i}", "amelia", "khan", DOB, "F", "LS6 2AB", str(i), "elm road") for i in range(6)]
    feats = pd.DataFrame(rows)
    out = blocking_analysis(feats, threads=1)
    assert not out["is_estimate"] and out["n_records"] == 6
    assert out["comparisons_to_score"] == 15  # every pair of 6 records shares DOB and names
    cumulative = [r["cumulative_comparisons"] for r in out["rules"]]
    assert cumulative == list(itertools.accumulate(r["marginal_comparisons"] for r in out["rules"]))
    assert [r["rule"] for r in out["rules"]] == [name for name, _ in S.PREDICTION_BLOCKING_RULES]


def test_counts_are_stored_with_the_model_and_carried_when_it_is_reused() -> None:
    from matching.artifact import load_latest_model
    from matching.linker import link_records
    from tests.test_model import synthetic_features

    feats = synthetic_features(120)
    con = duckdb.connect()
    first = link_records(feats, con=con, run_id="r1", threads=1)
    assert first.model_trained and first.blocking_analysis["from_stored_model"] is False
    counted = first.blocking_analysis["comparisons_to_score"]
    assert counted > len(feats) // 2
    assert load_latest_model(con).training_summary["blocking_analysis"]["comparisons_to_score"] == counted
    second = link_records(feats, con=con, run_id="r2", threads=1)
    assert not second.model_trained and second.blocking_analysis["from_stored_model"] is True
    assert second.blocking_analysis["comparisons_to_score"] == counted
    assert set(first.stats["seconds"]) == {"train", "predict", "cluster", "ids_and_evidence"}


@pytest.mark.parametrize("records", [40, 300])
def test_counts_taken_while_scoring_equal_a_separate_count(records: int) -> None:
    """A trained night takes the blocking counts from the pairs scoring blocks, not a second count."""
    from matching.blocking import analysis_from_counts
    from matching.model import predict_pairs
    from matching.training import train_model
    from tests.test_model import synthetic_features

    feats = synthetic_features(records)
    counts: dict[int, int] = {}
    predict_pairs(feats, train_model(feats, threads=1), 0.01, threads=1, rule_counts=counts)
    assert analysis_from_counts(len(feats), counts) == blocking_analysis(feats, threads=1)
