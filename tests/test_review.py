"""Review queue rows and steward decisions."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.review import (
    QUEUE_COLUMNS,
    append_decision,
    build_review_queue,
    carry_forward,
    close_decided,
    drop_decided,
    latest_decisions,
    pair_id,
    validate_decision,
)


def review_rows() -> pd.DataFrame:
    return pd.DataFrame([
        {"unique_id_l": "e:1", "unique_id_r": "p:1", "match_probability": 0.95, "match_weight": 4.2,
         "evidence": "[]", "reason": "held_apart:twin_guard"},
        {"unique_id_l": "h:2", "unique_id_r": "e:2", "match_probability": 0.7, "match_weight": 1.2,
         "evidence": "[]", "reason": "review_band"},
        {"unique_id_l": "p:1", "unique_id_r": "e:1", "match_probability": 0.95, "match_weight": 4.2,
         "evidence": "[]", "reason": "conflicting_identifiers:nhs_number"},
    ])


def good_decision(**overrides) -> dict:
    row = {"unique_id_l": "p:1", "unique_id_r": "e:1", "decision": "different", "reviewer": "ig.officer",
           "reason": "different school", "decided_at": "2024-05-01T09:00:00"}
    row.update(overrides)
    return row


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_pair_id_is_order_free_and_stable(a, b):
    assert pair_id(a, b) == pair_id(b, a)
    assert len(pair_id(a, b)) == 16


def test_pair_id_distinguishes_pairs():
    assert pair_id("e:1", "p:1") != pair_id("e:1", "p:2")
    assert pair_id("e:1x", "p") != pair_id("e:1", "xp")


def test_build_queue_one_row_per_pair_with_all_reasons():
    q = build_review_queue(review_rows(), "run7")
    assert list(q.columns) == QUEUE_COLUMNS
    assert q[["unique_id_l", "unique_id_r"]].values.tolist() == [["e:1", "p:1"], ["e:2", "h:2"]]
    assert q.loc[0, "reason"] == "conflicting_identifiers:nhs_number;held_apart:twin_guard"  # sorted
    assert set(q["status"]) == {"open"} and set(q["queued_run_id"]) == {"run7"}
    assert q.loc[0, "pair_id"] == pair_id("p:1", "e:1")


def test_decided_pairs_are_not_queued():
    decisions = pd.DataFrame([validate_decision(good_decision())])
    q = build_review_queue(review_rows(), "run7", decisions)
    assert q["pair_id"].tolist() == [pair_id("e:2", "h:2")]
    assert len(drop_decided(review_rows(), decisions)) == 1


def test_carry_forward_keeps_first_queued_run():
    old = build_review_queue(review_rows(), "run1")
    new = build_review_queue(review_rows().iloc[[0, 1]], "run2")
    new.loc[len(new)] = {**new.iloc[0].to_dict(), "pair_id": "zzz", "queued_run_id": "run2"}
    out = carry_forward(old, new)
    assert out["queued_run_id"].tolist() == ["run1", "run1", "run2"]


def test_close_decided_marks_status():
    q = build_review_queue(review_rows(), "run1")
    decisions = append_decision(None, good_decision())
    assert close_decided(q, decisions)["status"].tolist() == ["decided", "open"]


@pytest.mark.parametrize("override,message", [
    ({"decision": "maybe"}, "same' or 'different"),
    ({"reviewer": " "}, "reviewer"),
    ({"reason": None}, "reason"),
    ({"unique_id_r": None}, "both"),
    ({"unique_id_r": "p:1"}, "two different records"),
    ({"decided_at": "not a date"}, "date-time"),
])
def test_validate_decision_rejects(override, message):
    with pytest.raises(ValueError, match=message):
        validate_decision(good_decision(**override))


def test_validate_decision_normalises():
    d = validate_decision(good_decision(decision="SAME", decided_at=None))
    assert (d["unique_id_l"], d["unique_id_r"], d["decision"]) == ("e:1", "p:1", "same")
    assert d["decided_at"].tzinfo is not None
    with pytest.raises(ValueError, match="unknown record"):
        validate_decision(good_decision(), known_records={"e:1"})


def test_decisions_are_append_only_and_latest_wins():
    d1 = append_decision(None, good_decision(decision="same", decided_at="2024-01-01"))
    d2 = append_decision(d1, good_decision(decision="different", decided_at="2024-02-01"))
    assert len(d2) == 2
    pd.testing.assert_frame_equal(d2.iloc[[0]], d1)
    assert latest_decisions(d2)["decision"].tolist() == ["different"]
    d3 = append_decision(d2, good_decision(decision="same", decided_at="2024-02-01"))  # same time: later row wins
    assert latest_decisions(d3)["decision"].tolist() == ["same"]
