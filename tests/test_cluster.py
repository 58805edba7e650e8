"""Constrained clustering: twins, identifier conflicts, steward decisions, determinism."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from matching.cluster import cluster_records
from matching.constraints import (
    ConstraintIndex,
    deterministic_links,
    latest_decisions,
    records_conflict,
)
from matching.twin_guard import first_names_clearly_different

DOB = dt.date(2015, 3, 14)
TWIN_GROUPS = {"AMELIA": ["AMELIA"], "MILLIE": ["AMELIA", "MILDRED", "CAMILLA"], "ISLA": ["ISLA"]}


def rec(uid: str, first: str | None, last: str = "SMITH", dob: dt.date | None = DOB, postcode: str | None = "AB1 2CD",
        nhs: str | None = None, upn: str | None = None, former_upn: str | None = None, sex: str | None = "F",
        address: str | None = "1 HIGH STREET") -> dict:
    source, sid = uid.split(":")
    return {
        "unique_id": uid, "source": source, "source_record_id": sid, "first_name_std": first,
        "first_name_groups": TWIN_GROUPS.get(first or "", [first] if first else []),
        "last_name_std": last, "other_surnames": [], "dob": dob, "sex": sex, "postcode": postcode,
        "address_std": address, "nhs_number": nhs, "upn": upn, "former_upn": former_upn,
        "upn_any": [u for u in (upn, former_upn) if u],
    }


def frame(*records: dict) -> pd.DataFrame:
    return pd.DataFrame(list(records))


def pairs(*rows: tuple[str, str, float]) -> pd.DataFrame:
    out = []
    for left, right, p in rows:
        w = float(np.log2(p / (1 - p)))
        out.append({"unique_id_l": left, "unique_id_r": right, "match_probability": p, "match_weight": w,
                    "evidence": json.dumps([{"comparison": "first_name", "level": "exact", "match_weight": w}])})
    return pd.DataFrame(out)


def decision(left: str, right: str, what: str, at: str = "2024-01-01T10:00:00") -> dict:
    return {"unique_id_l": left, "unique_id_r": right, "decision": what, "reviewer": "r1", "reason": "checked",
            "decided_at": pd.Timestamp(at)}


def clusters(result) -> set[frozenset[str]]:
    a = result.assignments
    return {frozenset(g["unique_id"]) for _, g in a.groupby("cluster_key")}


def twins_frame() -> pd.DataFrame:
    return frame(
        rec("education:A1", "AMELIA"), rec("education:I1", "ISLA"),
        rec("health:A2", "AMELIA"), rec("health:I2", "ISLA"),
        rec("police:M1", "MILLIE", postcode="AB1 2CD"),
    )


@pytest.mark.parametrize("police_first,p_amelia,p_isla,expected_partner", [
    ("MILLIE", 0.99, 0.97, "education:A1"),
    # MILLIE vs ISLA is itself a twin-guard conflict (no shared nickname group), so even a higher score
    # against Isla cannot pull the police record into Isla's file
    ("MILLIE", 0.97, 0.99, "education:A1"),
    # no usable first name (missing, a lone initial): it fits both twins, so it joins neither and both pairs are
    # queued, whichever scores better
    (None, 0.97, 0.99, None),
    ("A", 0.99, 0.97, None),
])
def test_twins_never_merge_a_nickname_joins_its_twin_a_bare_initial_neither(police_first, p_amelia, p_isla, expected_partner):
    feats = twins_frame()
    feats.loc[feats["unique_id"] == "police:M1", "first_name_std"] = police_first
    scored = pairs(("education:A1", "health:A2", 0.999), ("education:I1", "health:I2", 0.999),
                   ("education:A1", "police:M1", p_amelia), ("education:I1", "police:M1", p_isla),
                   ("education:A1", "education:I1", 0.96))
    res = cluster_records(feats, scored, None, link_threshold=0.9, review_band=(0.5, 0.9))
    cl = clusters(res)
    assert frozenset({"education:A1", "health:A2"}) <= next(c for c in cl if "education:A1" in c)
    a_cluster = next(c for c in cl if "education:A1" in c)
    i_cluster = next(c for c in cl if "education:I1" in c)
    assert a_cluster != i_cluster
    review = res.review
    assert len(review) >= 2
    assert review["reason"].str.startswith("held_apart:").all()
    reviewed = dict(zip(zip(review["unique_id_l"], review["unique_id_r"], strict=False), review["reason"],
                        strict=False))
    assert ("education:A1", "education:I1") in reviewed
    if expected_partner is None:
        assert frozenset({"police:M1"}) in cl
        assert reviewed[("education:A1", "police:M1")] == reviewed[("education:I1", "police:M1")] \
            == "held_apart:ambiguous"
    else:
        assert "police:M1" in next(c for c in cl if expected_partner in c)
        other = "education:I1" if expected_partner == "education:A1" else "education:A1"
        assert (other, "police:M1") in reviewed


def test_twin_guard_requires_household_and_clear_names():
    feats = frame(rec("a:1", "AMELIA"), rec("b:1", "ISLA"), rec("c:1", "ISLA", postcode="ZZ9 9ZZ", address=None),
                  rec("d:1", "AMELIAH"), rec("e:1", "BABY"), rec("f:1", "ISLA", last="JONES"))
    idx = ConstraintIndex(feats)
    assert idx.pair_conflict(0, 1) == "twin_guard"
    assert idx.pair_conflict(0, 2) is None  # other household
    assert idx.pair_conflict(0, 3) is None  # a one-letter typo (not an established name)
    assert idx.pair_conflict(0, 4) is None  # placeholder name
    assert idx.pair_conflict(0, 5) is None  # other surname


@pytest.mark.parametrize("dob", [dt.date(1969, 12, 31), dt.date(1963, 9, 13), dt.date(1901, 2, 3), dt.date(1970, 1, 1),
                                 dt.date(2016, 3, 4)])
def test_the_twin_guard_holds_for_any_birth_date(dob):
    """A DOB before 1970 once gave a negative day count, read as "cannot take part": twins (and an adult couple
    given one DOB) born then merged on surname, DOB and address."""
    feats = frame(rec("a:1", "MARTHA", dob=dob), rec("b:1", "ANTONIO", dob=dob))
    assert ConstraintIndex(feats).pair_conflict(0, 1) == "twin_guard"
    res = cluster_records(feats, pairs(("a:1", "b:1", 0.9999)), None, 0.9, (0.5, 0.9))
    assert frozenset({"a:1", "b:1"}) not in clusters(res)


def test_twin_guard_respects_alternative_names_and_placeholder_flag():
    feats = frame(rec("a:1", "AMELIA"), rec("b:1", "ISLA"), rec("c:1", "ISLA"))
    feats["alt_first_names"] = [[], ["AMELIA"], []]
    feats["is_placeholder_first_name"] = [False, False, True]
    idx = ConstraintIndex(feats)
    assert idx.pair_conflict(0, 1) is None  # b:1 is also known as Amelia
    assert idx.pair_conflict(0, 2) is None  # c:1's first name was flagged a placeholder upstream


@pytest.mark.parametrize("a,ga,b,gb,expected", [
    ("AMELIA", ["AMELIA"], "ISLA", ["ISLA"], True),
    ("MILLIE", ["AMELIA"], "AMELIA", ["AMELIA"], False),
    ("JOHN", ["JOHN"], "JOHNATHAN", ["JONATHAN"], False),
    ("SARAH", ["SARAH"], "SARA", ["SARA"], False),
    (None, [], "ISLA", ["ISLA"], False),
    ("BABY", [], "ISLA", ["ISLA"], False),
])
def test_first_names_clearly_different(a, ga, b, gb, expected):
    assert first_names_clearly_different(a, ga, b, gb) is expected


def test_different_nhs_never_merge_even_at_high_probability():
    feats = frame(rec("health:1", "TOM", nhs="9434765919"), rec("police:1", "TOM"),
                  rec("education:1", "TOM", nhs="9434765870"))
    scored = pairs(("health:1", "police:1", 0.999), ("education:1", "police:1", 0.998),
                   ("education:1", "health:1", 0.999))
    res = cluster_records(feats, scored, None, 0.9, (0.5, 0.9))
    assert frozenset({"health:1", "education:1"}) not in clusters(res)
    assert not any({"health:1", "education:1"} <= c for c in clusters(res))
    assert (res.review["reason"] == "held_apart:nhs_number").sum() >= 1
    assert records_conflict(feats.iloc[[0]], feats.iloc[[2]]) == "nhs_number"


def test_nhs_and_upn_equality_link_deterministically():
    feats = frame(rec("health:1", "TOM", nhs="9434765919"), rec("education:1", "TOMMY", nhs="9434765919",
                  upn="A12345678901B"), rec("education:2", "THOMAS", upn="C12345678901D",
                  former_upn="A12345678901B"), rec("police:1", "TOM"))
    det = deterministic_links(feats)
    assert set(map(tuple, det[["unique_id_l", "unique_id_r", "link_method"]].to_numpy())) == {
        ("education:1", "health:1", "nhs_number"), ("education:1", "education:2", "upn")}
    res = cluster_records(feats, pairs(), None, 0.9, (0.5, 0.9))
    assert frozenset({"health:1", "education:1", "education:2"}) in clusters(res)
    a = res.assignments.set_index("unique_id")
    assert a.loc["health:1", "link_method"] == "nhs_number"
    assert a.loc["education:2", "link_method"] == "upn"
    assert a.loc["police:1", "link_method"] == "singleton" and np.isnan(a.loc["police:1", "match_probability"])
    assert a.loc["health:1", "match_probability"] == 1.0
    assert a.loc["health:1", "cluster_key"] == "education:1"
    ev = json.loads(res.links.set_index("link_method").loc["nhs_number", "evidence"])
    assert ev[0]["comparison"] == "nhs_number"


def test_different_upns_conflict_unless_former():
    feats = frame(rec("e:1", "TOM", upn="A1"), rec("e:2", "TOM", upn="B1", former_upn="A1"),
                  rec("e:3", "TOM", upn="C1"))
    idx = ConstraintIndex(feats)
    assert idx.pair_conflict(0, 1) is None
    assert idx.pair_conflict(0, 2) == "upn"
    assert idx.pair_conflict(1, 2) == "upn"


def test_steward_different_splits_and_same_links():
    feats = frame(rec("health:1", "TOM", last="BROWN"), rec("police:1", "TOM", last="BROWN"),
                  rec("education:1", "JAMES", last="GREEN"), rec("social_care:1", "JIM", last="GREENE"))
    scored = pairs(("health:1", "police:1", 0.99), ("education:1", "social_care:1", 0.3))
    decisions = pd.DataFrame([decision("police:1", "health:1", "different"),
                              decision("education:1", "social_care:1", "same")])
    res = cluster_records(feats, scored, decisions, 0.9, (0.2, 0.9))
    cl = clusters(res)
    assert not any({"health:1", "police:1"} <= c for c in cl)
    assert frozenset({"education:1", "social_care:1"}) in cl
    a = res.assignments.set_index("unique_id")
    assert a.loc["education:1", "link_method"] == "steward"
    assert res.review.empty  # decided pairs are never queued again


def test_deterministic_link_refused_by_steward_different():
    feats = frame(rec("health:1", "TOM", nhs="9434765919"), rec("education:1", "TOM", nhs="9434765919"))
    decisions = pd.DataFrame([decision("health:1", "education:1", "different")])
    res = cluster_records(feats, pairs(), decisions, 0.9, (0.5, 0.9))
    assert len(clusters(res)) == 2
    assert res.refused["reason"].tolist() == ["steward_decision"]


def test_latest_decision_wins():
    decisions = pd.DataFrame([decision("a:1", "b:1", "same", "2024-01-01"),
                              decision("b:1", "a:1", "different", "2024-02-01")])
    latest = latest_decisions(decisions)
    assert latest["decision"].tolist() == ["different"]
    feats = frame(rec("a:1", "TOM"), rec("b:1", "TOM"))
    res = cluster_records(feats, pairs(("a:1", "b:1", 0.99)), decisions, 0.9, (0.5, 0.9))
    assert len(clusters(res)) == 2


def test_conflicting_identifiers_from_must_links_are_queued():
    feats = frame(rec("health:1", "TOM", nhs="9434765919", upn="A1"),
                  rec("education:1", "TOM", nhs="9434765870", upn="A1"))
    res = cluster_records(feats, pairs(), None, 0.9, (0.5, 0.9))
    assert len(clusters(res)) == 1  # UPN must-link applied...
    assert res.review["reason"].tolist() == ["conflicting_identifiers:nhs_number"]  # ...but not hidden


def test_review_band_pairs_that_did_not_link():
    feats = frame(rec("a:1", "TOM", last="BROWN"), rec("b:1", "TOM", last="BROWN"), rec("c:1", "TOM", last="BROWN"))
    scored = pairs(("a:1", "b:1", 0.7), ("a:1", "c:1", 0.95), ("b:1", "c:1", 0.1))
    res = cluster_records(feats, scored, None, 0.9, (0.5, 0.9))
    assert res.review[["unique_id_l", "unique_id_r", "reason"]].values.tolist() == [["a:1", "b:1", "review_band"]]


@pytest.mark.parametrize(("nhs_b", "upn_b", "reason"), [
    (None, None, "review_band"),                    # the model is unsure and nothing decides it: a question
    ("9434765870", None, "held_apart:nhs_number"),   # two different valid NHS numbers decide it
    (None, "B2", "held_apart:upn"),
    ("9434765919", None, None),                      # the same NHS number: a deterministic link, no question
])
def test_a_review_band_pair_with_two_different_identifiers_is_held_apart_not_asked(nhs_b, upn_b, reason):
    from matching.linker import FIRM_HOLDS, cluster_scored

    feats = frame(rec("health:1", "MILLIE", nhs="9434765919", upn="A1"),
                  rec("health:2", "EMILY", nhs=nhs_b, upn=upn_b, postcode="LS13 2PZ"))
    scored = pairs(("health:1", "health:2", 0.8))
    res = cluster_records(feats, scored, None, 0.9, (0.5, 0.9))
    assert res.review["reason"].tolist() == ([reason] if reason else [])
    queued = cluster_scored(feats, scored, None, {"link": 0.9, "review": (0.5, 0.9)}).review
    assert queued["reason"].tolist() == ([reason] if reason and not reason.startswith(FIRM_HOLDS) else [])


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    firsts = ["AMELIA", "ISLA", "MILLIE", "TOM", "JACK", "OLIVIA"]
    recs = []
    for i in range(40):
        recs.append(rec(f"s{i % 4}:{i}", firsts[rng.integers(len(firsts))], last=["SMITH", "JONES"][i % 2],
                        nhs=["9434765919", "9434765870", None, None, None][rng.integers(5)]))
    feats = frame(*recs)
    rows = []
    for _ in range(120):
        i, j = rng.choice(40, 2, replace=False)
        rows.append((recs[i]["unique_id"], recs[j]["unique_id"], float(rng.choice([0.6, 0.92, 0.95, 0.99]))))
    scored = pairs(*rows)
    return feats, scored


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffle_invariance(seed):
    feats, scored = _random_case(seed)
    base = cluster_records(feats, scored, None, 0.9, (0.5, 0.9))
    rng = np.random.default_rng(seed + 100)
    f2 = feats.sample(frac=1, random_state=int(rng.integers(1e6))).reset_index(drop=True)
    s2 = scored.sample(frac=1, random_state=int(rng.integers(1e6))).reset_index(drop=True)
    swap = rng.random(len(s2)) < 0.5
    s2.loc[swap, ["unique_id_l", "unique_id_r"]] = s2.loc[swap, ["unique_id_r", "unique_id_l"]].to_numpy()
    other = cluster_records(f2, s2, None, 0.9, (0.5, 0.9))
    pd.testing.assert_frame_equal(base.assignments, other.assignments)
    pd.testing.assert_frame_equal(base.links, other.links)
    pd.testing.assert_frame_equal(base.review, other.review)


@pytest.mark.parametrize("seed", [4, 5])
def test_no_cluster_contains_a_conflict_from_probabilistic_links(seed):
    feats, scored = _random_case(seed)
    res = cluster_records(feats, scored, None, 0.9, (0.5, 0.9))
    merged = res.assignments.merge(feats[["unique_id", "nhs_number"]], on="unique_id")
    assert (merged.dropna(subset=["nhs_number"]).groupby("cluster_key")["nhs_number"].nunique() <= 1).all()
    assert set(res.links["link_method"]) <= {"probabilistic", "nhs_number"}
    # every multi-record cluster is spanned by its links
    sizes = res.assignments.groupby("cluster_key").size()
    assert len(res.links) == int((sizes - 1).sum())


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_skipping_checks_in_conflict_free_components_changes_nothing(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    recs, rows = [], []
    for g in range(20):  # 20 small groups of records: some conflict-free, some with twins or two NHS numbers
        kind = g % 3
        names = ["TOM"] * 4 if kind == 0 else ["AMELIA", "ISLA", "MILLIE", "AMELIA"]
        nhs = [None, "9434765919", "9434765870", None] if kind == 1 else [None] * 4
        ids = [f"s{k}:{g}-{k}" for k in range(4)]
        recs += [rec(ids[k], names[k], last=f"FAM{g}", nhs=nhs[k]) for k in range(4)]
        rows += [(ids[i], ids[j], float(rng.choice([0.6, 0.92, 0.97, 0.99])))
                 for i in range(4) for j in range(i + 1, 4)]
    feats, scored = frame(*recs), pairs(*rows)
    fast = cluster_records(feats, scored, None, 0.9, (0.5, 0.9))
    monkeypatch.setattr(ConstraintIndex, "components_needing_checks",
                        lambda self, comp: np.ones(int(comp.max()) + 1, dtype=bool))
    full = cluster_records(feats, scored, None, 0.9, (0.5, 0.9))
    pd.testing.assert_frame_equal(fast.assignments, full.assignments)
    pd.testing.assert_frame_equal(fast.review, full.review)
    assert fast.stats["clusters"] > 20  # the twin / NHS groups were really split


def test_one_odd_record_does_not_block_a_true_merge_but_twins_stay_apart():
    """A cluster holding one record with a clashing first name (a middle name recorded as the first) still
    joins a record whose name matches another of its records; clusters of twins (no such bridge) do not."""
    feats = frame(rec("education:F1", "FREDDIE", nhs="9434765919"), rec("social_care:F2", "JAMES", nhs="9434765919"),
                  rec("police:F3", "FREDDIE"), rec("health:I1", "ISLA"))
    scored = pairs(("education:F1", "police:F3", 0.999), ("police:F3", "social_care:F2", 0.99),
                   ("education:F1", "health:I1", 0.98))
    idx = ConstraintIndex(feats.sort_values("unique_id").reset_index(drop=True))
    assert idx.pair_conflict(2, 3) == "twin_guard"  # JAMES vs FREDDIE on their own: the guard holds
    cl = clusters(cluster_records(feats, scored, None, link_threshold=0.9, review_band=(0.5, 0.9)))
    assert frozenset({"education:F1", "social_care:F2", "police:F3"}) in cl
    assert frozenset({"health:I1"}) in cl


def test_twins_registered_in_one_source_never_merge_but_its_typo_duplicates_do():
    feats = frame(
        rec("health:L1", "LUCA", sex="M"), rec("health:L2", "LUCAS", sex="M"),
        rec("education:L1", "LUCA", sex="M"), rec("education:L2", "LUCAS", sex="M"),
        rec("health:R1", "RILEY", sex="M", dob=dt.date(2016, 1, 2)),
        rec("health:R2", "RIELY", sex="M", dob=dt.date(2016, 1, 2)),
        rec("education:R1", "RILEY", sex="M", dob=dt.date(2016, 1, 2)),
    )
    scored = pairs(("health:L1", "education:L1", 0.9999), ("health:L2", "education:L2", 0.9999),
                   ("education:L1", "health:L2", 0.999), ("health:R1", "education:R1", 0.9999),
                   ("education:R1", "health:R2", 0.999))
    res = cluster_records(feats, scored, None, link_threshold=0.9, review_band=(0.5, 0.9))
    cl = clusters(res)
    assert frozenset({"health:L1", "education:L1"}) in cl and frozenset({"health:L2", "education:L2"}) in cl
    assert frozenset({"health:R1", "health:R2", "education:R1"}) in cl  # RIELY is a one-off typo, not a name
    held = res.review.set_index(["unique_id_l", "unique_id_r"])["reason"]
    assert held[("education:L1", "health:L2")] == "held_apart:same_source_twin"
