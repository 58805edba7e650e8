"""Incremental nights: the identity hash, when a night must be full, and an
incremental night through the real CLI agreeing with a full re-link of the same data."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from connectors import load_source_configs
from matching.features import build_features
from matching.incremental import (
    IDENTITY_FIELDS,
    full_night_reason,
    keep_floor,
    pairs_to_keep,
)
from schemas.tables import TABLES
from svoc.stages.incremental import identity_hash_sql
from svoc.stages.single_view import build_single_view
from svoc.synth import generate_drop
from svoc.warehouse.analytics import analytics_path, build_analytics
from svoc.warehouse.sql import ensure_tables, write_frame
from tests.e2e import query, run_cli
from tests.nights import citizens, evidence, pairs

# ------------------------------------------------------------------------------------------- the hash
_ROW = {
    "source": "health", "source_record_id": "H1", "first_name": "Amelia", "middle_names": "Rose", "last_name": "Khan",
    "preferred_surname": None, "former_surname": "Smith", "alternative_names": ["Millie Khan"],
    "dob": dt.date(2019, 3, 4), "date_of_death": None, "sex": "F", "address_line": "14 High Street",
    "postcode": "LS1 4AP", "postcode_raw": "LS1 4AP", "nhs_number": "9434765919", "upn": None, "former_upn": None,
    "identifiers": [], "ethnicity": "WBRI", "quality_flags": [], "organisation_name": "Surgery", "source_line": 7,
    "run_id": "r1", "town": "Leeds", "dob_raw": "04/03/2019", "dob_digits": None, "age": None, "age_recorded_on": None,
}


def _hash(row: dict) -> str:
    con = duckdb.connect()
    ensure_tables(con, {"staging.identity_records": TABLES["staging.identity_records"]})
    write_frame(con, "staging.identity_records", pd.DataFrame([row]))
    return con.execute(f"SELECT {identity_hash_sql()} FROM staging.identity_records").fetchall()[0][0]


@pytest.mark.parametrize("field,value", [
    ("first_name", "Amelie"), ("last_name", "Kahn"), ("dob", dt.date(2019, 4, 3)), ("postcode", "LS2 7AB"),
    ("nhs_number", None), ("alternative_names", []), ("quality_flags", ["dob_placeholder"]), ("sex", None),
    ("source_record_id", "H2"), ("middle_names", None), ("town", "Bradford"), ("dob_digits", "2019-03-41"),
])
def test_a_change_to_an_identity_field_changes_the_hash(field, value):
    assert field in IDENTITY_FIELDS
    assert _hash({**_ROW, field: value}) != _hash(_ROW)


@pytest.mark.parametrize("field,value", [("organisation_name", "Other surgery"), ("source_line", 99),
                                         ("run_id", "r2"), ("dob_raw", "2019-03-04")])
def test_fields_the_features_do_not_read_leave_the_hash_alone(field, value):
    assert field not in IDENTITY_FIELDS
    assert _hash({**_ROW, field: value}) == _hash(_ROW)


def test_null_and_empty_are_told_apart():
    assert _hash({**_ROW, "middle_names": ""}) != _hash({**_ROW, "middle_names": None})


def test_the_feature_row_depends_only_on_the_identity_fields():
    """Guard for IDENTITY_FIELDS: build_features must give the same rows from those fields alone."""
    rows = pd.DataFrame([_ROW, {**_ROW, "source_record_id": "H2", "first_name": "Bob", "sex": "M",
                                "quality_flags": ["first_name_placeholder"], "identifiers": ["PNC=12/345A"]}])
    whole = build_features(rows, dt.date(2026, 11, 1))
    only = build_features(rows[list(IDENTITY_FIELDS)], dt.date(2026, 11, 1))
    pd.testing.assert_frame_equal(whole, only)


# ---------------------------------------------------------------------------- when a night is full
_PREVIOUS = {"state_records": 10, "model_version": "m1", "feature_version": "f1",
             "thresholds": {"link": 0.97, "review": [0.6, 0.97]}, "cannot_link_identifiers": ["PNC"]}
_OK = {"full": False, "retrain": False, "engine": "duckdb", "previous": _PREVIOUS, "model_version": "m1",
       "version": "f1", "thresholds": {"link": None, "review_lower": None}, "cannot_link_identifiers": ["PNC"]}


@pytest.mark.parametrize("change,words", [
    ({}, None),
    ({"full": True}, "--full"),
    ({"retrain": True}, "retrained"),
    ({"engine": "spark"}, "engine"),
    ({"previous": None}, "no record hashes"),
    ({"previous": {**_PREVIOUS, "state_records": 0}}, "no record hashes"),
    ({"model_version": "m2"}, "model"),
    ({"model_version": None}, "model"),
    ({"version": "f2"}, "feature code"),
    ({"thresholds": {"link": 0.99, "review_lower": None}}, "link threshold"),
    ({"thresholds": {"link": 0.97, "review_lower": None}}, None),
    ({"thresholds": {"link": None, "review_lower": 0.5}}, "review threshold"),
    ({"cannot_link_identifiers": []}, "cannot-link"),
])
def test_full_night_reason(change, words):
    reason = full_night_reason(**{**_OK, **change})
    assert (reason is None) if words is None else (words in reason)


@pytest.mark.parametrize("th,floor", [({"link": 0.97, "review": [0.6, 0.97]}, 0.6),
                                      ({"link": 0.95, "review": [0.95, 0.95]}, 0.95),
                                      ({"link": 0.9, "review": [0.93, 0.99]}, 0.9)])
def test_keep_floor(th, floor):
    assert keep_floor(th) == floor


def test_pairs_below_the_floor_are_kept_only_when_used_as_evidence():
    scored = pd.DataFrame({"unique_id_l": ["a", "a", "b"], "unique_id_r": ["b", "c", "c"],
                           "match_probability": [0.99, 0.2, 0.1]})
    used = pd.DataFrame({"unique_id_l": ["b"], "unique_id_r": ["c"]})
    assert pairs_to_keep(scored, 0.6)["unique_id_r"].tolist() == ["b"]
    assert pairs_to_keep(scored, 0.6, used)["unique_id_r"].tolist() == ["b", "c"]


# ------------------------------------------------------------------------ end to end through the CLI
def _edit_csv(path: Path, edit) -> None:
    """Rewrite a drop CSV (UTF-8 with BOM, as the synthetic drops are) with ``edit(rows) -> rows``."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    rows = edit(rows)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _tonight(drop: Path) -> None:
    """Night 2 of the synthetic drop plus hand edits: a first name and a DOB changed, a new record, one removed."""
    def edit(rows: list[dict]) -> list[dict]:
        rows[3]["GivenName"] = rows[3]["GivenName"] + "a"
        rows[5]["DateOfBirth"] = rows[5]["DateOfBirth"][:-2] + ("11" if rows[5]["DateOfBirth"][-2:] != "11" else "12")
        new = dict(rows[7], PatientID="H09999999", NHSNumber="")
        return [*rows[:10], new, *rows[11:]]
    _edit_csv(drop / "health" / "patients.csv", edit)


def _stats(warehouse: Path) -> dict:
    run = query(warehouse, "SELECT any_value(run_id) FROM linked.record_citizen")[0][0]
    return json.loads(query(warehouse, "SELECT stats FROM audit.run_matching WHERE run_id = ?", [run])[0][0])


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Night 1 published by a full run, a steward decision splitting one child, then night 2 both incrementally
    and with ``--full`` from copies of the same published warehouse."""
    tmp = tmp_path_factory.mktemp("incremental")
    generate_drop(250, 11, tmp / "night1")
    generate_drop(250, 11, tmp / "night2", night=2)
    _tonight(tmp / "night2")
    first = tmp / "first" / "svoc.duckdb"
    run_cli("run", "--drop", str(tmp / "night1"), "--warehouse", str(first), tmp=tmp)
    split = query(first, "SELECT unique_id_l, unique_id_r FROM audit.match_evidence WHERE status = 'linked' "
                         "AND link_method = 'probabilistic' AND unique_id_l LIKE 'education:%' "
                         "AND unique_id_r LIKE 'health:%' ORDER BY 1 LIMIT 1")[0]
    run_cli("review", "decide", ",".join(split), "different", "--reviewer", "steward", "--reason", "two children",
            "--purpose", "test of incremental nights", "--warehouse", str(first), tmp=tmp)
    out = {"tmp": tmp, "first": first, "split": split}
    for name, extra in (("incremental", ()), ("full", ("--full",))):
        shutil.copytree(first.parent, tmp / name)
        out[name] = tmp / name / "svoc.duckdb"
        proc = run_cli("run", "--drop", str(tmp / "night2"), "--warehouse", str(out[name]), *extra, tmp=tmp)
        out[f"{name}_stdout"] = proc.stdout
    return out


@pytest.mark.slow
def test_the_night_after_a_full_run_is_incremental_and_full_forces_full(nights):
    inc, full = _stats(nights["incremental"]), _stats(nights["full"])
    assert inc["mode"] == "incremental"
    assert 0 < inc["changed_records"] < 0.1 * inc["records"]
    assert inc["removed_records"] > 0
    assert inc["touched_records"] < inc["records"]
    assert full["mode"] == "full" and "--full" in full["full_reason"]
    assert _stats(nights["first"])["mode"] == "full"


@pytest.mark.slow
def test_an_incremental_night_equals_a_full_one_for_every_unchanged_child(nights):
    """Exactly: the model's stored term frequencies make a pair's score independent of tonight's other records."""
    before, inc, full = (citizens(nights[k]) for k in ("first", "incremental", "full"))
    assert set(inc) == set(full)
    assert pairs(inc, set(inc)) == pairs(full, set(full))  # the same partition of tonight's records
    kept = [k for k in inc if k in before]
    assert all(inc[k] == full[k] for k in kept if full[k] == before[k])
    touched = set(query(nights["incremental"], "SELECT citizen_id FROM audit.citizen_events WHERE run_id = "
                                               "(SELECT any_value(run_id) FROM linked.record_citizen)"))
    unchanged = [k for k in kept if (inc[k],) not in touched]
    assert unchanged and all(inc[k] == before[k] for k in unchanged)
    counts = {t: [query(nights[k], f"SELECT count(*) FROM {t}")[0][0] for k in ("incremental", "full")]
              for t in ("audit.review_queue", "linked.single_view")}
    assert all(a == b for a, b in counts.values()), counts


@pytest.mark.slow
def test_evidence_of_untouched_children_is_carried_into_the_incremental_run(nights):
    assert evidence(nights["incremental"]) == evidence(nights["full"])


@pytest.mark.slow
def test_both_nights_score_with_the_term_frequencies_stored_with_the_model(nights):
    """The frequencies are counted once, on the first (training) night, and kept with its model."""
    version = _stats(nights["first"])["model_version"]
    for name in ("first", "incremental", "full"):
        assert _stats(nights[name])["model_version"] == version
        stored = dict(query(nights[name], "SELECT column_name, count(*) FROM matching.term_frequencies "
                                          "WHERE model_version = ? GROUP BY 1", [version]))
        assert set(stored) == {"first_name_std", "last_name_std"} and min(stored.values()) > 0


@pytest.mark.slow
def test_a_steward_decision_is_honoured_on_an_incremental_night(nights):
    left, right = nights["split"]
    for name in ("incremental", "full"):
        ids = citizens(nights[name])
        assert ids[left] != ids[right], name


@pytest.mark.slow
def test_the_run_summary_and_report_say_which_mode_ran(nights):
    assert "Incremental night:" in nights["incremental_stdout"]
    assert "Full re-link: a full re-link was asked for (--full" in nights["full_stdout"]
    report = (nights["incremental"].parent / "svoc_report.html").read_text(encoding="utf-8")
    assert "incremental night:" in report


def test_touched_records_count_first_names_over_the_whole_drop():
    """Regression (100k benchmark: one unchanged child split by the twin guard): whether a first name is
    established is counted over every record, not only the re-clustered ones."""
    from matching.twin_guard import ESTABLISHED_NAME_COUNT
    from svoc.stages.incremental import first_name_counts

    names = ["leo"] * ESTABLISHED_NAME_COUNT + ["leon", None]
    rows = pd.DataFrame({"unique_id": [f"s:{i}" for i in range(len(names))], "first_name_std": names})
    con = duckdb.connect()
    ensure_tables(con, {"matching.record_features": TABLES["matching.record_features"]})
    write_frame(con, "matching.record_features", rows)
    touched = rows.iloc[[0, 3, 4]].reset_index(drop=True)
    counts = first_name_counts(con, touched)
    assert counts.iloc[0] == ESTABLISHED_NAME_COUNT and counts.iloc[1] == 1 and pd.isna(counts.iloc[2])


def _intraday_drop(night1: Path, out: Path) -> None:
    """A changes-only drop: health only, one patient's first name edited, one new patient record and one new
    encounter."""
    (out / "health").mkdir(parents=True)
    lines = (night1 / "health" / "patients.csv").read_text(encoding="utf-8-sig").split("\n")
    edited, new = lines[1].split(","), lines[2].split(",")
    edited[2] += "x"
    new[0], new[1] = "H09990001", ""
    (out / "health" / "patients.csv").write_text("\n".join([lines[0], ",".join(edited), ",".join(new)]) + "\n",
                                                 encoding="utf-8-sig")
    encounters = (night1 / "health" / "encounters.csv").read_text(encoding="utf-8-sig").split("\n")
    event = encounters[1].split(",")
    event[0], event[1] = edited[0], "2026-10-30"  # a new encounter of the edited patient
    (out / "health" / "encounters.csv").write_text("\n".join([encounters[0], ",".join(event)]) + "\n",
                                                   encoding="utf-8-sig")
    (out / "manifest.json").write_text(json.dumps({"drop_date": "2026-11-01", "changes_only": True}))


@pytest.mark.slow
def test_an_intraday_drop_of_one_source_changes_only_its_records(nights):
    tmp = nights["tmp"]
    _intraday_drop(tmp / "night1", tmp / "intraday")
    shutil.copytree(nights["first"].parent, tmp / "intraday_wh")
    warehouse = tmp / "intraday_wh" / "svoc.duckdb"
    run_cli("run", "--drop", str(tmp / "intraday"), "--warehouse", str(warehouse), tmp=tmp)
    stats = _stats(warehouse)
    assert stats["mode"] == "incremental"
    assert (stats["changed_records"], stats["removed_records"]) == (2, 0)
    sql = "SELECT source, count(*) FROM staging.identity_records GROUP BY 1 ORDER BY 1"
    before, after = dict(query(nights["first"], sql)), dict(query(warehouse, sql))
    assert after == {**before, "health": before["health"] + 1}
    interactions = "SELECT count(*) FROM staging.interactions"
    assert query(warehouse, interactions) == [(query(nights["first"], interactions)[0][0] + 1,)]
    ids_before, ids_after = citizens(nights["first"]), citizens(warehouse)
    assert "health:H09990001" in ids_after
    # the steward's split (decided after night 1) is applied tonight; every other record keeps its id
    untouched = [k for k in ids_before if not k.startswith("health:") and k not in nights["split"]]
    assert all(ids_after[k] == ids_before[k] for k in untouched)
    # the single view and timeline (rebuilt for the children the drop reached) are what a full build gives
    assert query(warehouse, "SELECT count(*) FROM staging.interactions WHERE run_id = (SELECT run_id FROM "
                            "linked.record_citizen LIMIT 1)") == [(1,)]
    shutil.copy(warehouse, tmp / "rebuilt.duckdb")
    con = duckdb.connect(str(tmp / "rebuilt.duckdb"))
    try:
        kept = {t: sorted(con.execute(f"SELECT * FROM linked.{t}").fetchall(), key=repr)
                for t in ("single_view", "interactions")}
        build_single_view(con, dt.date(2026, 11, 1), load_source_configs(None))
        assert kept == {t: sorted(con.execute(f"SELECT * FROM linked.{t}").fetchall(), key=repr)
                        for t in ("single_view", "interactions")}
        # the analytics timeline (kept from the published file for the children the drop did not reach) too
        build_analytics(con, tmp / "whole_analytics.duckdb", (tmp / "pseudonym.key").read_text().strip().encode())
    finally:
        con.close()
    timeline = "SELECT * FROM linked.interactions"
    published = analytics_path(warehouse)
    assert sorted(query(published, timeline), key=repr) == sorted(query(tmp / "whole_analytics.duckdb", timeline),
                                                                  key=repr)
    assert query(published, "SELECT comment FROM duckdb_tables() WHERE table_name = 'interactions'") == query(
        tmp / "whole_analytics.duckdb", "SELECT comment FROM duckdb_tables() WHERE table_name = 'interactions'")


@pytest.mark.parametrize("day,mode", [(dt.datetime(2026, 11, 29, 2, 0), "full"),  # a Sunday
                                      (dt.datetime(2026, 11, 30, 2, 0), "incremental"),
                                      (dt.datetime(2026, 12, 5, 2, 0), "incremental")])
def test_the_nightly_schedule_runs_a_full_night_on_sunday(day, mode):
    import dagster as dg

    from pipelines.definitions import build_defs
    from pipelines.defs.schedules import night_run_request, nightly_run_schedule
    from svoc.settings import get_settings

    request = night_run_request(day)
    assert request.tags["svoc/mode"] == mode
    full = request.run_config.get("ops", {}).get("linked__record_citizen", {}).get("config", {}).get("full", False)
    assert full == (mode == "full")
    job = build_defs(get_settings()).resolve_job_def("svoc_run_job")
    dg.validate_run_config(job, request.run_config)  # the run config is one the job accepts
    tick = nightly_run_schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=day))
    assert tick.run_requests and tick.run_requests[0].tags["svoc/mode"] == mode


def test_a_night_with_nothing_to_re_cluster_writes_nothing_and_fails_nothing():
    """Regression: with no touched record (the same changes-only drop run twice) the evidence rows of zero pairs
    failed to split their record keys (KeyError in linker._split_uid)."""
    from matching.artifact import ModelArtifact
    from matching.linker import link_touched
    from matching.thresholds import Thresholds

    features = build_features(pd.DataFrame(columns=list(IDENTITY_FIELDS)), dt.date(2026, 11, 1))
    scored = pd.DataFrame(columns=["unique_id_l", "unique_id_r", "match_probability", "match_weight", "match_key", "evidence",
                                   "auto_link_eligible", "evidence_gap"])
    result = link_touched(features, scored, model=ModelArtifact("m1", "", {}), thresholds=Thresholds(),
                          decisions=None, previous_registry=None, known_ids=["CV-AAAAAAAAAAAA"],
                          previous_queue=None, run_id="r2")
    assert result.record_citizen.empty and result.match_evidence.empty and result.review_queue.empty
    assert result.known_ids["citizen_id"].tolist() == ["CV-AAAAAAAAAAAA"]


@pytest.mark.slow
def test_the_same_drop_again_changes_nothing(nights):
    tmp = nights["tmp"]
    shutil.copytree(nights["incremental"].parent, tmp / "again")
    warehouse = tmp / "again" / "svoc.duckdb"
    run_cli("run", "--drop", str(tmp / "night2"), "--warehouse", str(warehouse), tmp=tmp)
    stats = _stats(warehouse)
    assert (stats["mode"], stats["changed_records"], stats["removed_records"]) == ("incremental", 0, 0)
    assert citizens(warehouse) == citizens(nights["incremental"])
    run = "(SELECT any_value(run_id) FROM linked.record_citizen)"
    assert query(warehouse, f"SELECT count(*) FROM audit.citizen_events WHERE run_id = {run}") == [(0,)]
    evidence = "SELECT count(*) FROM audit.match_evidence WHERE run_id = " + run
    assert query(warehouse, evidence) == query(nights["incremental"], evidence)


@pytest.fixture(scope="module")
def trained():
    from matching.training import train_model
    from tests.test_model import synthetic_features

    features = synthetic_features()
    return features, train_model(features, seed=11, u_max_pairs=2e5, threads=1)


@pytest.mark.parametrize("share", [0.01, 0.2, 1.0])
def test_scoring_only_new_records_gives_their_pairs_the_full_scores(trained, share):
    """new × all with the same blocking rules, and term frequencies over all records: the same pairs and scores
    as a full scoring, restricted to pairs with a new record."""
    from matching.model import predict_pairs

    features, model = trained
    new = set(features["unique_id"].sample(frac=share, random_state=3))
    full = predict_pairs(features, model, 0.01, threads=1)
    expected = full[full["unique_id_l"].isin(new) | full["unique_id_r"].isin(new)].reset_index(drop=True)
    got = predict_pairs(features, model, 0.01, threads=1, new_ids=new)
    cols = ["unique_id_l", "unique_id_r", "match_probability", "match_weight", "match_key", "auto_link_eligible",
            "evidence_gap", "evidence"]
    assert len(expected) > 0
    pd.testing.assert_frame_equal(got[cols], expected[cols], check_exact=False, rtol=1e-9)
