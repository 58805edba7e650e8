"""Matching decisions from evidence (issue 12) and honest review labels (issue 13): training guards,
placeholder DOBs, the twin guard's name test, identifiers and review reasons."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from matching import settings as S
from matching.cluster import cluster_records
from matching.constraints import ConstraintIndex
from matching.features import build_features
from matching.linker import link_records
from matching.review import reason_text
from matching.training import TrainingError, guard_parameters, train_model
from tests.test_cluster import frame, pairs, rec
from tests.test_model import synthetic_features

DOB = dt.date(2016, 3, 4)


# ------------------------------------------------------------------------------------ degenerate m/u
def _comparison(levels: list[tuple[float, float]]) -> dict:
    return {"output_column_name": "location", "comparison_levels": [
        {"is_null_level": True, "label_for_charts": "missing"},
        *[{"label_for_charts": f"level {k}", "m_probability": m, "u_probability": u}
          for k, (m, u) in enumerate(levels)]]}


def _weights(comp: dict) -> list[float]:
    return [float(np.log2(lvl["m_probability"] / lvl["u_probability"]))
            for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]


def test_nearly_empty_level_no_longer_outweighs_full_disagreement():
    # the demo's "same postcode sector": m = 5.2e-26 gave -76 bits, far below "different area" (-4)
    model = {"comparisons": [_comparison([(0.7, 0.001), (5.2e-26, 0.01), (0.25, 0.2), (0.05, 0.8)])]}
    changed = guard_parameters(model)
    weights = _weights(model["comparisons"][0])
    assert changed and all(np.isfinite(weights))
    assert weights[1] >= weights[-1] - 1e-9  # a partial agreement is never worse than disagreement
    assert min(weights) > -10
    m = [lvl["m_probability"] for lvl in model["comparisons"][0]["comparison_levels"][1:]]
    assert sum(m) == pytest.approx(1.0)


@pytest.mark.parametrize("levels", [[(0.9, 0.01), (0.1, 0.99)], [(0.6, 0.05), (0.3, 0.25), (0.1, 0.7)]])
def test_healthy_parameters_are_left_alone(levels):
    model = {"comparisons": [_comparison(levels)]}
    before = _weights(model["comparisons"][0])
    assert guard_parameters(model) == []
    assert _weights(model["comparisons"][0]) == pytest.approx(before)


# ------------------------------------------------------------------------------------ training guards
def _without(features: pd.DataFrame, *cols: str) -> pd.DataFrame:
    out = features.copy()
    for c in cols:
        out[c] = None
    return out


def test_a_drop_without_any_usable_dob_still_links_and_names_the_field(caplog):
    features = _without(synthetic_features(150), "dob", "dob_year", "dob_month", "dob_day", "dob_str")
    with caplog.at_level("WARNING"):
        result = link_records(features, seed=5, analyse_blocking=False)
    assert any("date of birth" in r.getMessage() for r in caplog.records)
    assert any("(field dob)" in w for w in result.model.training_summary["warnings"])
    assert result.stats["linked_pairs"] > 50  # names + address/identifier still link


@pytest.mark.parametrize("unique_field", ["dob", "names"])
def test_a_skipped_training_session_leaves_every_comparison_in_the_model(unique_field):
    """Splink leaves out a session's blocking comparisons while it trains and puts them back only on success."""
    features = synthetic_features(150)
    if unique_field == "dob":  # no two records share a DOB: the DOB session finds no pairs
        features["dob"] = [dt.date(1990, 1, 1) + dt.timedelta(days=3 * i) for i in range(len(features))]
        for part in ("year", "month", "day"):
            features[f"dob_{part}"] = [getattr(d, part) for d in features["dob"]]
        features["dob_str"] = [d.isoformat() for d in features["dob"]]
    else:  # no two records share first name and surname
        features["first_name_std"] = [f"name{i:04d}" for i in range(len(features))]
    model = train_model(features, seed=1, u_max_pairs=1e4)
    assert model.training_summary["em_sessions_skipped"]
    names = [c["output_column_name"] for c in model.settings["comparisons"]]
    assert {"first_name", "last_name", "dob", "location"} <= set(names)


def test_a_degenerate_training_session_is_named_in_the_one_line_error():
    from matching.training import untrainable

    msg = str(untrainable(["date of birth (dob)", "first name and surname (degenerate)"]))
    assert msg.startswith("no matching model could be trained: no two records share a date of birth (dob); pairs "
                          "sharing a first name and surname gave degenerate estimates;")
    assert "\n" not in msg


def test_no_trainable_field_stops_with_one_line_naming_them():
    features = _without(synthetic_features(40), "dob", "dob_year", "dob_month", "dob_day", "dob_str",
                        "first_name_std", "last_name_std", "postcode", "nhs_number", "upn")
    features["upn_any"] = [[] for _ in range(len(features))]
    with pytest.raises(TrainingError) as err:
        train_model(features, seed=1, u_max_pairs=1e4)
    msg = str(err.value)
    assert "\n" not in msg and "date of birth" in msg and "first name and surname" in msg
    assert "Exception" not in msg


# ------------------------------------------------------------------------------------ placeholder DOBs
def test_placeholder_dob_compares_on_year_only():
    dob = [lvl for c in S.build_settings().create_settings_dict("duckdb")["comparisons"]
           if c["output_column_name"] == "dob" for lvl in c["comparison_levels"]]
    labels = [lvl.get("label_for_charts") for lvl in dob]
    assert any("placeholder" in (lab or "") for lab in labels)
    exact = next(lvl for lvl in dob if lvl.get("label_for_charts") == "date of birth exact match")
    assert "dob_precision_l = 'day'" in exact["sql_condition"]


@pytest.mark.parametrize(("comparison", "label"), [
    ("first_name", "first name recorded as the other record's surname"),
    ("identifiers", "an identifier value one character or one transposition apart"),
])
def test_evidence_levels_the_model_trains(comparison, label):
    comp = next(c for c in S.build_settings().create_settings_dict("duckdb")["comparisons"]
                if c["output_column_name"] == comparison)
    assert label in [lvl.get("label_for_charts") for lvl in comp["comparison_levels"]]


@pytest.mark.parametrize("comparison", ["nhs_number", "upn", "first_name", "dob", "location"])
def test_null_levels_say_one_or_both(comparison):
    comp = next(c for c in S.build_settings().create_settings_dict("duckdb")["comparisons"]
                if c["output_column_name"] == comparison)
    null = next(lvl for lvl in comp["comparison_levels"] if lvl.get("is_null_level"))
    assert "one or both records" in null["label_for_charts"]


# ------------------------------------------------------------------------------------ features
def _identity(**cols) -> pd.DataFrame:
    base = {"source": ["a", "b"], "source_record_id": ["1", "2"], "first_name": ["Ann", "Ann"],
            "last_name": ["Lee", "Lee"], "dob": [dt.date(1950, 5, 6)] * 2}
    base.update(cols)
    return pd.DataFrame(base)


def test_dob_floor_is_a_parameter():
    default = build_features(_identity(), dt.date(2026, 1, 1))
    anything = build_features(_identity(), dt.date(2026, 1, 1), dob_from=None)
    assert default["dob"].isna().all()
    assert anything["dob"].tolist() == [dt.date(1950, 5, 6)] * 2
    assert anything["dob_precision"].tolist() == ["day", "day"]


def test_a_connector_flag_for_the_default_floor_is_rejudged_with_another_floor():
    flagged = _identity(quality_flags=[["dob_before_1990"], ["dob_before_1990"]])
    assert build_features(flagged, dt.date(2026, 1, 1))["dob"].isna().all()
    assert build_features(flagged, dt.date(2026, 1, 1), dob_from=dt.date(1900, 1, 1))["dob"].notna().all()
    assert build_features(flagged, dt.date(2026, 1, 1), dob_from=dt.date(1960, 1, 1))["dob"].isna().all()


def test_non_uk_postcode_is_kept_as_an_address_token():
    f = build_features(_identity(postcode=[None, None], postcode_raw=["2600 act", "SW1A 1AA"]), dt.date(2026, 1, 1))
    assert f["postcode_token"].tolist() == ["2600ACT", "SW1A1AA"]


def test_identifiers_become_keys_and_names():
    f = build_features(_identity(identifiers=[["SOC_SEC_ID=123", "EMAIL=A@B.C"], None]), dt.date(2026, 1, 1))
    assert f["identifier_keys"].tolist() == [["EMAIL=A@B.C", "SOC_SEC_ID=123"], []]
    assert f["identifier_names"].tolist() == [["EMAIL", "SOC_SEC_ID"], []]


# ------------------------------------------------------------------------------------ twin guard
def _with(records: list[dict], **cols) -> pd.DataFrame:
    f = frame(*records)
    for k, v in cols.items():
        f[k] = v
    return f


def test_a_typo_in_a_short_first_name_is_not_a_twin():
    # AMY x4 and one AMT: "clearly different" by Jaro-Winkler, but one letter apart and rare beside AMY
    f = frame(rec("a:1", "AMY"), rec("b:1", "AMT"), *[rec(f"c:{k}", "AMY", postcode=f"ZZ{k} 1AA") for k in range(4)])
    assert ConstraintIndex(f).pair_conflict(0, 1) is None


@pytest.mark.parametrize("override", ["middle", "transposed", "identifier"])
def test_evidence_beyond_the_first_name_overrides_the_twin_guard(override):
    a, b = rec("a:1", "AMELIA"), rec("b:1", "ISLA")
    cols = {"middle_names_std": [None, None], "identifier_keys": [[], []]}
    if override == "middle":
        cols["middle_names_std"] = ["ISLA", None]  # middle name used as the first name
    elif override == "transposed":
        a["last_name_std"], b["first_name_std"], b["last_name_std"] = "SMITH", "SMITH", "AMELIA"
        b["first_name_groups"] = ["SMITH"]
    else:
        cols["identifier_keys"] = [["PERSON_ID=7"], ["PERSON_ID=7"]]
    f = _with([a, b], **cols)
    assert ConstraintIndex(f).pair_conflict(0, 1) is None
    plain = _with([rec("a:1", "AMELIA"), rec("b:1", "ISLA")], middle_names_std=[None, None])
    assert ConstraintIndex(plain).pair_conflict(0, 1) == "twin_guard"


@pytest.mark.parametrize(("first", "middles", "conflict"), [
    (("SOFIA", "SOFIIA"), ("AMELIA", "AMELIA"), None),  # one name two spellings, the same middle name
    (("SOFIA", "SOFIIA"), ("AMELIA", "ROSE"), "twin_guard"),
    (("SOFIA", "SOFIIA"), ("A", "A"), "twin_guard"),  # initials say too little
    (("AVA", "ISLA"), ("ROSE", "ROSE"), "twin_guard"),  # co-twins may share a middle name
])
def test_a_shared_middle_name_makes_two_spellings_one_child_but_not_two_names(first, middles, conflict):
    many = [rec(f"c:{k}", name, postcode=f"ZZ{k} 1AA") for k in range(4) for name in first]  # both established
    f = _with([rec("a:1", first[0]), rec("b:1", first[1]), *many],
              middle_names_std=[*middles, *[None] * len(many)])
    assert ConstraintIndex(f).pair_conflict(0, 1) == conflict


def test_an_identifier_one_digit_apart_is_one_person_not_twins():
    f = _with([rec("a:1", "MADELINE"), rec("b:1", "EMILY")], identifier_keys=[["SSN=8520720"], ["SSN=8529720"]])
    assert ConstraintIndex(f).pair_conflict(0, 1) is None
    far = _with([rec("a:1", "MADELINE"), rec("b:1", "EMILY")], identifier_keys=[["SSN=8520720"], ["SSN=1234567"]])
    assert ConstraintIndex(far).pair_conflict(0, 1) == "twin_guard"


def test_a_one_off_spelling_is_a_typo_not_a_twin():
    # JACB (a typo of Jacob, once in the data) beside JAKE: clearly different letters, but not a second name
    f = frame(rec("a:1", "JACB"), rec("b:1", "JAKE"))
    assert ConstraintIndex(f).pair_conflict(0, 1) is None
    assert ConstraintIndex(frame(rec("a:1", "JACOB"), rec("b:1", "AMELIA"))).pair_conflict(0, 1) == "twin_guard"


def test_placeholder_dobs_do_not_trigger_the_twin_guard():
    f = _with([rec("a:1", "AMELIA"), rec("b:1", "ISLA")], dob_precision=["year", "year"])
    assert ConstraintIndex(f).pair_conflict(0, 1) is None


def test_two_values_of_a_cannot_link_identifier_hold_records_apart():
    f = _with([rec("a:1", "AMELIA", postcode="AB1 1AA"), rec("b:1", "AMELIA", postcode="CD1 1AA")],
              identifier_keys=[["SSN=1"], ["SSN=2"]])
    scored = pairs(("a:1", "b:1", 0.999))
    free = cluster_records(f, scored, None, 0.9, (0.5, 0.9))
    held = cluster_records(f, scored, None, 0.9, (0.5, 0.9), cannot_link_identifiers={"ssn"})
    assert free.assignments["cluster_key"].nunique() == 1
    assert held.assignments["cluster_key"].nunique() == 2
    assert held.review["reason"].tolist() == ["held_apart:identifier:ssn"]


# ------------------------------------------------------------------------------------ review reasons
@pytest.mark.parametrize(("code", "words"), [
    ("held_apart:twin_guard", "possible twins"),
    ("held_apart:nhs_number", "two different valid NHS numbers"),
    ("weak_evidence:dob_missing_no_address", "no usable date of birth"),
    ("held_apart:identifier:ssn", "two different values of ssn"),
    ("review_band;held_apart:upn", "unsure"),
])
def test_every_review_reason_is_worded_for_a_person(code, words):
    text = reason_text(code)
    assert words in text and "_" not in text


def test_queue_reasons_name_what_is_missing_not_household_likeness():
    features = synthetic_features(200)
    result = link_records(features, seed=5, analyse_blocking=False)
    reasons = set(result.review_queue["reason"].str.split(";").explode().dropna())
    assert "insufficient_identity_evidence" not in reasons
    for evidence in result.match_evidence["evidence"].dropna().head(50):
        for item in json.loads(evidence):
            assert "one record" not in str(item.get("level")) or "one or both" in str(item.get("level"))


# ------------------------------------------------------------------------------------ who may link
@pytest.fixture(scope="module")
def linked_special():
    from tests.test_model import _row

    d = dt.date(2012, 7, 9)
    extra = [
        # namesakes with no DOB in different places: names alone must not link
        _row("education:NS1", "harriet", "quennell", None, "F", "LS1 1AA", "3", "mill lane"),
        _row("health:NS2", "harriet", "quennell", d, "F", "BD5 9ZZ", "80", "canal road"),
        # the same child, no DOB on one record, same address: names + address link
        _row("education:ND1", "imogen", "fairweather", None, "F", "LS7 3AB", "12", "park view"),
        _row("health:ND2", "imogen", "fairweather", d, "F", "LS7 3AB", "12", "park view"),
        # one system's duplicate with a nickname: links within the source
        _row("health:DU1", "alfred", "pennington", d, "M", "WF1 2CD", "5", "oak road"),
        _row("health:DU2", "alfie", "pennington", d, "M", "WF1 2CD", "5", "oak road"),
    ]
    features = pd.concat([synthetic_features(250), pd.DataFrame(extra)], ignore_index=True)
    result = link_records(features, seed=5, analyse_blocking=False)
    cit = result.record_citizen.assign(uid=lambda f: f["source"] + ":" + f["source_record_id"])
    return cit.set_index("uid")["citizen_id"]


@pytest.mark.parametrize(("a", "b", "same"), [
    ("education:NS1", "health:NS2", False),
    ("education:ND1", "health:ND2", True),
    ("health:DU1", "health:DU2", True),
])
def test_who_may_link_automatically(linked_special, a, b, same):
    assert (linked_special[a] == linked_special[b]) is same


# ------------------------------------------------------------------------------------ steward labels
@pytest.mark.parametrize(("n_labels", "used"), [(10, False), (40, True)])
def test_enough_steward_decisions_become_training_labels(n_labels, used):
    from matching.training import MIN_STEWARD_LABELS

    features = synthetic_features(120)
    uids = set(features["unique_id"])
    pairs_ = [(f"education:E{i:05d}", f"health:H{i:05d}") for i in range(120)
              if f"health:H{i:05d}" in uids][:n_labels]
    decisions = pd.DataFrame({"unique_id_l": [a for a, _ in pairs_], "unique_id_r": [b for _, b in pairs_],
                              "decision": "same", "reviewer": "r", "reason": "checked",
                              "decided_at": pd.Timestamp("2026-01-01", tz="UTC")})
    model = train_model(features, seed=2, u_max_pairs=5e4, decisions=decisions)
    assert (model.training_summary["m_from_steward_labels"] >= MIN_STEWARD_LABELS) is used
    assert used is (n_labels >= MIN_STEWARD_LABELS)


def test_steward_decisions_measure_the_link_threshold():
    from matching.training import label_accuracy

    features = synthetic_features(120)
    model = train_model(features, seed=2, u_max_pairs=5e4)
    uids = set(features["unique_id"])
    same = [(f"education:E{i:05d}", f"health:H{i:05d}") for i in range(60) if f"health:H{i:05d}" in uids]
    diff = [(f"education:E{i:05d}", f"education:E{i + 1:05d}") for i in range(60, 90)]
    rows = [(a, b, "same") for a, b in same] + [(a, b, "different") for a, b in diff]
    decisions = pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r", "decision"])
    acc = label_accuracy(features, model, decisions, 0.9)
    assert acc["labels"] == len(rows)
    assert acc["labels_precision_at_link"] > 0.95 and 0.5 < acc["labels_recall_at_link"] <= 1.0
    assert label_accuracy(features, model, decisions.head(5), 0.9) == {}


def test_a_pair_between_two_children_already_explained_is_not_queued():
    from matching.linker import cluster_scored

    f = frame(rec("a:1", "AMELIA", dob=dt.date(2015, 1, 2)), rec("b:1", "AMELIA", dob=dt.date(2015, 1, 2)),
              rec("a:2", "ISLA", dob=dt.date(2016, 5, 6)), rec("b:2", "ISLA", dob=dt.date(2016, 5, 6)),
              rec("c:9", "ISLA", dob=dt.date(2017, 8, 9)))
    scored = pairs(("a:1", "b:1", 0.999), ("a:2", "b:2", 0.999), ("a:1", "a:2", 0.7), ("b:2", "c:9", 0.7))
    result = cluster_scored(f, scored, None, {"link": 0.9, "review": (0.5, 0.9)})
    queued = set(zip(result.review["unique_id_l"], result.review["unique_id_r"], strict=True))
    assert queued == {("b:2", "c:9")}  # c:9 is on its own: a person should look
    assert result.stats["explained_pairs_not_queued"] == 1


# ------------------------------------------------------------------------------------ memory
def _partition(record_citizen: pd.DataFrame) -> set[frozenset[str]]:
    keys = record_citizen["source"] + ":" + record_citizen["source_record_id"]
    return {frozenset(g) for _, g in keys.groupby(record_citizen["citizen_id"])}


def test_a_handed_over_feature_frame_links_the_same_and_ends_with_only_the_record_keys():
    from matching.linker import AFTER_SCORING_COLUMNS

    features = synthetic_features(150)
    uids = set(features["unique_id"])  # enough steward labels to measure the link threshold with
    rows = [(f"education:E{i:05d}", f"health:H{i:05d}", "same") for i in range(60) if f"health:H{i:05d}" in uids]
    rows += [(f"education:E{i:05d}", f"education:E{i + 1:05d}", "different") for i in range(60, 90)]
    decisions = pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r", "decision"]).assign(
        reviewer="r", reason="checked", decided_at=pd.Timestamp("2026-01-01", tz="UTC"))
    expected = link_records(features.copy(), seed=5, analyse_blocking=False, decisions=decisions)
    given = features.copy()
    got = link_records(given, seed=5, analyse_blocking=False, hand_over=True, decisions=decisions)
    assert _partition(got.record_citizen) == _partition(expected.record_citizen)
    assert got.stats["linked_pairs"] == expected.stats["linked_pairs"] > 0
    assert got.stats["labels"] == expected.stats["labels"] == len(rows)  # labels read before the frame narrowed
    assert got.stats["labels_precision_at_link"] == expected.stats["labels_precision_at_link"]
    assert set(given.columns) == {"unique_id", "source", "source_record_id"}  # the record keys alone at the end
    assert {"first_name_std", "dob", "postcode"} <= AFTER_SCORING_COLUMNS  # what the clustering reads
