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


# ---------------------------------------------------------------------------------------------------------
# Steward decisions through the matching facade (a small generated drop, one trained model)


@pytest.fixture(scope="module")
def linked_drop(tmp_path_factory):
    """(features, model, first run) for a 400-child generated drop."""
    from connectors import PRESETS, extract_source
    from matching.features import build_features
    from matching.linker import link_records
    from matching.training import train_model
    from svoc.drops import drop_date
    from svoc.synth import generate_drop

    drop = tmp_path_factory.mktemp("steward") / "drop"
    generate_drop(400, 11, drop)
    ref = drop_date(drop)
    identity = pd.concat([extract_source(drop / n, c, run_id="t", reference_date=ref).identity
                          for n, c in PRESETS.items() if (drop / n).exists()], ignore_index=True)
    feats = build_features(identity, ref)
    model = train_model(feats, seed=1, threads=1)
    first = link_records(feats, stored_model=model, run_id="r1", threads=1, analyse_blocking=False)
    return feats, model, first


def _rerun(linked_drop, decisions: pd.DataFrame, run_id: str = "r2", first=None):
    from matching.linker import link_records

    feats, model, first0 = linked_drop
    first = first or first0
    return link_records(feats, stored_model=model, run_id=run_id, threads=1, analyse_blocking=False,
                        previous_registry=first.registry[["record_key", "citizen_id"]], known_ids=first.known_ids,
                        decisions=decisions, previous_queue=first.review_queue)


def _citizen(result, uid: str) -> str:
    return result.registry.set_index("record_key").loc[uid, "citizen_id"]


def test_different_decision_splits_a_linked_pair_on_the_next_run(linked_drop):
    _, _, first = linked_drop
    ev = first.match_evidence
    link = ev[(ev["status"] == "linked") & (ev["link_method"] == "probabilistic")].iloc[0]
    a, b = link["unique_id_l"], link["unique_id_r"]
    assert _citizen(first, a) == _citizen(first, b)
    decisions = append_decision(None, good_decision(unique_id_l=a, unique_id_r=b, decision="different"))
    second = _rerun(linked_drop, decisions)
    assert _citizen(second, a) != _citizen(second, b)
    moved = {a, b} - {k for k in (a, b) if _citizen(second, k) == _citizen(first, k)}
    assert moved  # one of them changed id, and the change is in the events
    events = second.events
    assert set(moved) <= set(events.loc[events["event"] == "record_moved", "record_key"]) or (
        events["event"] == "split").any()
    assert pair_id(a, b) not in set(second.review_queue["pair_id"])
    # and the split holds on every later run
    third = _rerun(linked_drop, decisions, "r3", first=second)
    assert _citizen(third, a) != _citizen(third, b)


def test_same_decision_links_a_queued_pair_with_method_steward_and_never_requeues(linked_drop):
    _, _, first = linked_drop
    # a pair the model scored but left apart (queued or not: the queue now holds only genuinely unsure pairs)
    scored = first.scored_pairs
    apart = scored[[_citizen(first, x) != _citizen(first, y)
                    for x, y in zip(scored["unique_id_l"], scored["unique_id_r"], strict=True)]]
    assert not apart.empty, "the drop should leave some scored pairs apart"
    row = apart.sort_values("match_probability", ascending=False).iloc[0]
    a, b = row["unique_id_l"], row["unique_id_r"]
    decisions = append_decision(None, good_decision(unique_id_l=a, unique_id_r=b, decision="same"))
    second = _rerun(linked_drop, decisions)
    assert _citizen(second, a) == _citizen(second, b)
    ev = second.match_evidence
    pair = ev[(ev["unique_id_l"] == min(a, b)) & (ev["unique_id_r"] == max(a, b)) & (ev["status"] == "linked")]
    assert list(pair["link_method"]) == ["steward"]
    assert pair_id(a, b) not in set(second.review_queue["pair_id"])
    third = _rerun(linked_drop, decisions, "r3", first=second)
    assert pair_id(a, b) not in set(third.review_queue["pair_id"])
    assert _citizen(third, a) == _citizen(third, b)


def test_every_multi_record_citizen_is_explained_by_linked_evidence(linked_drop):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, _, first = linked_drop
    rc = first.record_citizen.assign(uid=lambda d: d["source"] + ":" + d["source_record_id"])
    ev = first.match_evidence[first.match_evidence["status"] == "linked"]
    index = pd.Index(rc["uid"])
    li, ri = index.get_indexer(ev["unique_id_l"]), index.get_indexer(ev["unique_id_r"])
    assert (li >= 0).all() and (ri >= 0).all()
    cit = rc["citizen_id"].to_numpy()
    assert (cit[li] == cit[ri]).all()  # no evidence row links two citizens
    graph = coo_matrix(([1] * len(li), (li, ri)), shape=(len(rc), len(rc)))
    _, comp = connected_components(graph, directed=False)
    # the linked evidence connects exactly each citizen's records: one component per citizen
    assert pd.Series(comp).groupby(cit).nunique().max() == 1
    assert pd.Series(cit).groupby(comp).nunique().max() == 1
    assert ev["evidence"].notna().all()
