"""Citizen id registry: inheritance, merges, splits, idempotence, never reusing ids."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest

from matching.registry import assign_citizen_ids, new_citizen_id


def assignments(clusters: dict[str, list[str]]) -> pd.DataFrame:
    rows = [{"unique_id": r, "cluster_key": min(recs), "link_method": "probabilistic", "match_probability": 0.99}
            for recs in clusters.values() for r in recs]
    return pd.DataFrame(rows)


def factory(prefix: str = "CV-T"):
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):04d}"


def ids_by_record(registry: pd.DataFrame) -> dict[str, str]:
    return dict(zip(registry["record_key"], registry["citizen_id"], strict=True))


def events_of(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    return events[events["event"] == kind]


def first_run(clusters: dict[str, list[str]]):
    return assign_citizen_ids(assignments(clusters), None, None, "run1", id_factory=factory())


def test_first_run_creates_one_id_per_cluster():
    reg, ev, known = first_run({"a": ["e:1", "h:1"], "b": ["e:2"]})
    ids = ids_by_record(reg)
    assert ids["e:1"] == ids["h:1"] != ids["e:2"]
    assert sorted(ev["event"]) == ["created", "created"]
    assert set(known["status"]) == {"active"} and set(known["created_run_id"]) == {"run1"}


def test_rerun_is_idempotent():
    clusters = {"a": ["e:1", "h:1", "p:1"], "b": ["e:2", "h:2"], "c": ["s:9"]}
    reg, _, known = first_run(clusters)
    reg2, ev2, known2 = assign_citizen_ids(assignments(clusters), reg, known, "run2", id_factory=factory("X"))
    pd.testing.assert_frame_equal(reg, reg2)
    assert ev2.empty
    pd.testing.assert_frame_equal(known, known2)


def test_new_record_inherits_and_logs_record_added():
    reg, _, known = first_run({"a": ["e:1", "h:1"]})
    reg2, ev2, _ = assign_citizen_ids(assignments({"a": ["e:1", "h:1", "p:1"]}), reg, known, "run2",
                                      id_factory=factory("X"))
    ids = ids_by_record(reg2)
    assert ids["p:1"] == ids["e:1"] == ids_by_record(reg)["e:1"]
    assert ev2[["event", "record_key"]].values.tolist() == [["record_added", "p:1"]]


@pytest.mark.parametrize("big,small", [(["e:1", "h:1", "p:1"], ["s:1"]), (["s:1", "s:2"], ["a:1"])])
def test_merge_keeps_larger_id_and_retires_other(big, small):
    reg, _, known = first_run({"big": big, "small": small})
    old = ids_by_record(reg)
    reg2, ev2, known2 = assign_citizen_ids(assignments({"all": big + small}), reg, known, "run2",
                                           id_factory=factory("X"))
    ids = ids_by_record(reg2)
    survivor, gone = old[big[0]], old[small[0]]
    assert set(ids.values()) == {survivor}
    merged = events_of(ev2, "merged")
    assert merged[["citizen_id", "related_citizen_id"]].values.tolist() == [[gone, survivor]]
    assert events_of(ev2, "retired")["citizen_id"].tolist() == [gone]
    assert events_of(ev2, "record_moved")["record_key"].tolist() == small
    status = dict(zip(known2["citizen_id"], known2["status"], strict=True))
    assert status[gone] == "retired" and status[survivor] == "active"


def test_merge_tie_keeps_older_then_smaller_id():
    reg = pd.DataFrame({"record_key": ["e:1", "h:1"], "citizen_id": ["CV-B", "CV-A"]})
    known = pd.DataFrame({"citizen_id": ["CV-A", "CV-B"], "status": "active", "created_run_id": ["run2", "run1"]})
    reg2, ev2, _ = assign_citizen_ids(assignments({"x": ["e:1", "h:1"]}), reg, known, "run3", id_factory=factory())
    assert set(reg2["citizen_id"]) == {"CV-B"}  # older wins over smaller id string
    known["created_run_id"] = "run1"
    reg3, _, _ = assign_citizen_ids(assignments({"x": ["e:1", "h:1"]}), reg, known, "run3", id_factory=factory())
    assert set(reg3["citizen_id"]) == {"CV-A"}


def test_split_keeps_larger_part_and_mints_new():
    reg, _, known = first_run({"a": ["e:1", "h:1", "p:1", "s:1"]})
    original = ids_by_record(reg)["e:1"]
    reg2, ev2, known2 = assign_citizen_ids(assignments({"x": ["e:1", "h:1", "p:1"], "y": ["s:1"]}), reg, known,
                                           "run2", id_factory=factory("X"))
    ids = ids_by_record(reg2)
    assert ids["e:1"] == original
    assert ids["s:1"] != original and ids["s:1"].startswith("X")
    split = events_of(ev2, "split")
    assert split[["citizen_id", "related_citizen_id"]].values.tolist() == [[ids["s:1"], original]]
    moved = events_of(ev2, "record_moved")
    assert moved[["record_key", "related_citizen_id"]].values.tolist() == [["s:1", original]]
    assert ids["s:1"] in set(known2["citizen_id"])


def test_disappeared_id_is_retired():
    reg, _, known = first_run({"a": ["e:1"], "b": ["e:2"]})
    gone = ids_by_record(reg)["e:2"]
    _, ev2, known2 = assign_citizen_ids(assignments({"a": ["e:1"]}), reg, known, "run2", id_factory=factory("X"))
    assert ev2[["citizen_id", "event", "reason"]].values.tolist() == [[gone, "retired", "records_removed"]]
    assert known2.set_index("citizen_id").loc[gone, "status"] == "retired"


def test_ids_are_never_reused():
    reg, _, known = first_run({"a": ["e:1"], "b": ["e:2"]})
    retired_id = ids_by_record(reg)["e:2"]
    _, _, known2 = assign_citizen_ids(assignments({"a": ["e:1"]}), reg, known, "run2", id_factory=factory("X"))
    # a factory that first offers every known id (active and retired) must be skipped past
    offered = iter([retired_id, ids_by_record(reg)["e:1"], "CV-FRESH"])
    reg3, ev3, _ = assign_citizen_ids(assignments({"a": ["e:1"], "n": ["p:7"]}), reg[reg["record_key"] == "e:1"],
                                      known2, "run3", id_factory=lambda: next(offered))
    assert ids_by_record(reg3)["p:7"] == "CV-FRESH"
    assert events_of(ev3, "created")["citizen_id"].tolist() == ["CV-FRESH"]


def test_default_ids_are_opaque_and_unique():
    ids = {new_citizen_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"CV-[A-Z2-7]{12}", i) for i in ids)
    reg, _, _ = assign_citizen_ids(assignments({"a": ["e:1"]}), None, None, "r1")
    assert re.fullmatch(r"CV-[A-Z2-7]{12}", reg["citizen_id"].iloc[0])
