"""Citizen id registry: inheritance, merges, splits, idempotence, never reusing ids."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest

from matching.registry import _pair_counts, assign_citizen_ids, citizen_ids, new_citizen_id


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
    batched = list(itertools.islice(citizen_ids(batch=7), 2000))  # across many batches
    assert len(set(batched)) == 2000 and not set(batched) & ids
    assert all(re.fullmatch(r"CV-[A-Z2-7]{12}", i) for i in batched)
    reg, _, _ = assign_citizen_ids(assignments({"a": ["e:1"]}), None, None, "r1")
    assert re.fullmatch(r"CV-[A-Z2-7]{12}", reg["citizen_id"].iloc[0])


@pytest.mark.slow
def test_night_two_keeps_ids_and_logs_every_change(tmp_path):
    """Generated drop, night 1 then night 2 (same seed): children clustered correctly on both nights keep
    their id (>= 99.9%), and every record that changed id, every retired id and every split is in events."""
    import datetime as dt

    from connectors import PRESETS, extract_source
    from matching.features import build_features
    from matching.linker import link_records
    from svoc.drops import drop_date
    from svoc.synth import generate_drop

    def features(night: int) -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
        drop = tmp_path / f"n{night}"
        generate_drop(2000, 21, drop, night=night)
        ref = drop_date(drop)
        identity = pd.concat([extract_source(drop / n, c, run_id="t", reference_date=ref).identity
                              for n, c in PRESETS.items() if (drop / n).exists()], ignore_index=True)
        truth = pd.read_csv(drop / "truth.csv", dtype=str, keep_default_na=False)
        return build_features(identity, ref), truth, ref

    def correct(result, truth: pd.DataFrame) -> pd.Series:
        rc = result.registry.rename(columns={"record_key": "unique_id"})
        t = truth.assign(unique_id=truth["source"] + ":" + truth["source_record_id"]).merge(rc, on="unique_id")
        per_child = t.groupby("child_id")["citizen_id"].agg(["nunique", "first"])
        per_cit = t.groupby("citizen_id")["child_id"].nunique()
        ok = (per_child["nunique"] == 1) & (per_child["first"].map(per_cit) == 1)
        return per_child.loc[ok, "first"]

    f1, t1, _ = features(1)
    r1 = link_records(f1, run_id="n1", threads=2, analyse_blocking=False)
    f2, t2, _ = features(2)
    r2 = link_records(f2, previous_registry=r1.registry[["record_key", "citizen_id"]], known_ids=r1.known_ids,
                      stored_model=r1.model, run_id="n2", threads=2, analyse_blocking=False)
    c1, c2 = correct(r1, t1), correct(r2, t2)
    both = c1.index.intersection(c2.index)
    assert len(both) > 1800
    assert (c1[both] == c2[both]).mean() >= 0.999

    ev = r2.events
    old = r1.registry.set_index("record_key")["citizen_id"]
    new = r2.registry.set_index("record_key")["citizen_id"]
    common = old.index.intersection(new.index)
    changed = set(common[(old[common] != new[common]).to_numpy()])
    assert changed <= set(ev.loc[ev["event"] == "record_moved", "record_key"])
    gone = set(old) - set(new)
    assert gone <= set(ev.loc[ev["event"] == "retired", "citizen_id"])
    # an old id whose records now sit under several ids: the new ids say where they split from
    spread = pd.DataFrame({"old": old[common], "new": new[common]}).drop_duplicates()
    for old_id, group in spread.groupby("old"):
        for new_id in set(group["new"]) - {old_id}:
            if new_id not in set(old):
                assert ((ev["citizen_id"] == new_id) & (ev["event"] == "split")
                        & (ev["related_citizen_id"] == old_id)).any()
    known = r2.known_ids.set_index("citizen_id")["status"]
    assert (known[list(gone)] == "retired").all() and set(new) <= set(known.index)


@pytest.mark.parametrize("rows", [
    [],
    [("c1", "CV-A"), ("c1", "CV-A"), ("c2", "CV-A"), ("c2", "CV-B")],
    [("c1", None), ("c1", "CV-A"), (None, "CV-A"), ("c3", "CV-C"), ("c3", "CV-C"), ("c3", "CV-C")],
])
def test_pair_counts_equal_a_group_by(rows):
    frame = pd.DataFrame(rows, columns=["cluster_key", "old_id"], dtype=object)
    expected = frame.groupby(["cluster_key", "old_id"]).size().rename("n").reset_index()
    got = _pair_counts(frame, "cluster_key", "old_id").sort_values(["cluster_key", "old_id"]).reset_index(drop=True)
    assert got.astype({"n": "int64"}).to_dict("records") == expected.astype({"n": "int64"}).to_dict("records")
