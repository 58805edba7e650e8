"""Splink model: settings validity, seeded training, audit.models round trip, evidence, reuse."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from splink import DuckDBAPI, Linker

from matching import settings as S
from matching.artifact import ModelArtifact, content_hash, load_latest_model, save_model
from matching.model import (
    TRAINING_MEMORY_LIMIT,
    capped_memory_limit,
    load_features,
    matching_connection,
    memory_bytes,
    predict_pairs,
)
from matching.training import train_model

FIRST = ["oliver", "amelia", "george", "isla", "harry", "ava", "jack", "mia", "noah", "grace", "leo", "freya",
         "oscar", "lily", "arthur", "emily", "muhammad", "sophia", "theo", "poppy", "alfred", "ella", "jacob", "zara"]
NICK = {"alfie": "alfred", "olly": "oliver", "harry": "harry", "jake": "jacob"}
LAST = ["smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies", "patel", "wright", "khan",
        "walker", "evans", "thomas", "roberts", "green", "hall", "wood", "hughes", "clarke", "lewis", "ahmed"]
DISTRICTS = ["LS1", "LS2", "LS6", "LS7", "LS8", "BD3", "BD5", "WF1"]


def _row(uid: str, first: str, last: str, dob: dt.date | None, sex: str | None, postcode: str | None,
         house: str | None, street: str | None, nhs: str | None = None, upn: str | None = None) -> dict:
    group = NICK.get(first, first)
    return {
        "unique_id": uid, "source": uid.split(":")[0], "source_record_id": uid.split(":")[1],
        "first_name_std": first, "first_name_groups": [group], "first_name_phonetic": first[:3].upper(),
        "middle_names_std": None, "last_name_std": last, "last_name_parts": [last],
        "last_name_phonetic": last[:3].upper(), "other_surnames": [], "alt_first_names": [],
        "dob": dob, "dob_year": dob.year if dob else None, "dob_month": dob.month if dob else None,
        "dob_day": dob.day if dob else None, "dob_str": dob.isoformat() if dob else None, "sex": sex,
        "postcode": postcode, "postcode_sector": postcode[:-2] if postcode else None,
        "postcode_district": postcode.split(" ")[0] if postcode else None,
        "address_std": f"{house} {street}" if street else None, "house_number": house,
        "nhs_number": nhs, "upn": upn, "former_upn": None, "upn_any": [upn] if upn else [], "ethnicity": None,
        "dob_precision": "day" if dob else None, "postcode_token": postcode.replace(" ", "") if postcode else None,
        "identifier_keys": [], "identifier_names": [],
    }


def synthetic_features(n_people: int = 300, seed: int = 3) -> pd.DataFrame:
    """Each person has an education record and (mostly) a health record with light corruption."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        dob = dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 12))
        sex = rng.choice("MF")
        pc = f"{rng.choice(DISTRICTS)} {rng.randrange(1, 9)}{rng.choice('ABDEFG')}{rng.choice('HJLNPQ')}"
        house, street = str(rng.randrange(1, 120)), f"{rng.choice(LAST)} road"
        nhs = f"{9_000_000_000 + i}" if rng.random() < 0.5 else None
        edu_nhs = nhs if rng.random() < 0.6 else None
        rows.append(_row(f"education:E{i:05d}", first, last, dob, sex, pc, house, street, nhs=edu_nhs,
                         upn=f"U{i:06d}"))
        if rng.random() < 0.85:
            f2, d2, p2 = first, dob, pc
            r = rng.random()
            if r < 0.15:
                f2 = first[:-1] + "y" if len(first) > 3 else first
            elif r < 0.25:
                d2 = dob + dt.timedelta(days=1)
            elif r < 0.35:
                p2 = f"{rng.choice(DISTRICTS)} {rng.randrange(1, 9)}AB"
            rows.append(_row(f"health:H{i:05d}", f2, last, d2, sex if rng.random() < 0.97 else None, p2,
                             house, street, nhs=nhs, upn=f"U{i:06d}" if rng.random() < 0.2 else None))
    # the nickname pair used by the evidence test: Alfie (health) vs Alfred (education)
    dob = dt.date(2015, 6, 9)
    rows.append(_row("education:ALF1", "alfred", "thornbury", dob, "M", "LS6 2AB", "4", "elm road"))
    rows.append(_row("health:ALF2", "alfie", "thornbury", dob, "M", "LS6 2AB", "4", "elm road"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return synthetic_features()


@pytest.fixture(scope="module")
def artifact(features: pd.DataFrame) -> ModelArtifact:
    return train_model(features, seed=11, u_max_pairs=2e5, threads=1)


def test_settings_build_a_valid_splink_model(features: pd.DataFrame) -> None:
    con = matching_connection()
    table = load_features(con, features, ())
    linker = Linker(DuckDBAPI(con).register(table), S.build_settings(), log_level=None)
    comps = {c.output_column_name: c for c in linker._settings_obj.comparisons}
    assert set(comps) == {"first_name", "middle_names", "last_name", "dob", "sex", "location", "nhs_number", "upn",
                          "identifiers"}
    for comp in comps.values():
        labels = [lvl.label_for_charts for lvl in comp.comparison_levels]
        assert len(set(labels)) == len(labels) and all(lab and not lab.isdigit() for lab in labels)
        assert any(lvl.is_null_level for lvl in comp.comparison_levels)
    assert "nickname/transliteration group match" in [
        lvl.label_for_charts for lvl in comps["first_name"].comparison_levels
    ]


def test_extra_id_adds_comparison_and_blocking_rule() -> None:
    settings = S.build_settings(extra_id_columns=("other_id",)).create_settings_dict("duckdb")
    assert settings["comparisons"][-1]["output_column_name"] == "other_id"
    assert len(settings["blocking_rules_to_generate_predictions"]) == len(S.PREDICTION_BLOCKING_RULES) + 1


def test_training_is_deterministic_with_a_seed(features: pd.DataFrame, artifact: ModelArtifact) -> None:
    again = train_model(features, seed=11, u_max_pairs=2e5, threads=1)
    assert again.model_version == artifact.model_version
    assert again.settings == artifact.settings
    assert 0 < artifact.prior < 0.01
    m_nhs = next(c for c in artifact.settings["comparisons"] if c["output_column_name"] == "nhs_number")
    exact = next(lvl for lvl in m_nhs["comparison_levels"] if lvl["label_for_charts"] == "NHS number exact match")
    assert exact["m_probability"] > exact["u_probability"] * 100


def test_model_round_trips_through_audit_models(artifact: ModelArtifact) -> None:
    con = duckdb.connect(":memory:")
    assert load_latest_model(con) is None
    save_model(con, artifact, run_id="run-1")
    save_model(con, artifact, run_id="run-2")  # same version: stored once
    assert con.execute("SELECT count(*) FROM audit.models").fetchall()[0][0] == 1
    loaded = load_latest_model(con)
    assert loaded is not None
    assert loaded.model_version == artifact.model_version == content_hash(loaded.settings)
    assert loaded.settings_json == artifact.settings_json
    assert loaded.training_summary == json.loads(json.dumps(artifact.training_summary))


def test_tampered_stored_model_is_rejected(artifact: ModelArtifact) -> None:
    con = duckdb.connect(":memory:")
    save_model(con, artifact, run_id="run-1")
    con.execute("UPDATE audit.models SET settings_json = replace(settings_json, 'dedupe_only', 'link_only')")
    with pytest.raises(ValueError, match="content hash"):
        load_latest_model(con)


def test_evidence_names_the_nickname_level(features: pd.DataFrame, artifact: ModelArtifact) -> None:
    pairs = predict_pairs(features, artifact, threshold_probability=0.01, threads=1)
    row = pairs[(pairs.unique_id_l == "education:ALF1") & (pairs.unique_id_r == "health:ALF2")]
    assert len(row) == 1
    evidence = {e["comparison"]: e for e in json.loads(row.iloc[0]["evidence"])}
    assert evidence["first_name"]["level"] == "nickname/transliteration group match"
    assert evidence["first_name"]["match_weight"] > 0
    assert evidence["dob"]["level"] == "date of birth exact match"
    assert row.iloc[0]["level_first_name"] == "nickname/transliteration group match"  # categorical label
    assert row.iloc[0]["match_probability"] > 0.95
    total = sum(e["match_weight"] for e in evidence.values())
    prior_weight = row.iloc[0]["match_weight"] - total
    assert prior_weight == pytest.approx(math.log2(artifact.prior / (1 - artifact.prior)), abs=0.05)


def test_every_pair_carries_the_evidence_of_its_own_levels_and_weights(features: pd.DataFrame,
                                                                       artifact: ModelArtifact) -> None:
    """Evidence texts cross from DuckDB once per distinct text, by hash: each pair must still get its own."""
    pairs = predict_pairs(features, artifact, threshold_probability=0.001, threads=1)
    assert len(pairs) > 200 and pairs["evidence"].nunique() < len(pairs)  # texts are shared
    assert list(pairs.columns[:8]) == ["unique_id_l", "unique_id_r", "match_probability", "match_weight",
                                       "match_key", "auto_link_eligible", "evidence_gap", "evidence"]
    for _, row in pairs.iterrows():
        for item in json.loads(row["evidence"]):
            name = item["comparison"]
            assert item["level"] == row[f"level_{name}"]
            assert item["match_weight"] == pytest.approx(row[f"mw_{name}"], abs=6e-4)


def test_reusing_stored_model_gives_identical_predictions(features: pd.DataFrame, artifact: ModelArtifact) -> None:
    con = duckdb.connect(":memory:")
    save_model(con, artifact, run_id="run-1")
    loaded = load_latest_model(con)
    first = predict_pairs(features, artifact, threshold_probability=0.01, threads=1)
    second = predict_pairs(features, loaded, threshold_probability=0.01, threads=1)
    pd.testing.assert_frame_equal(first, second)
    assert len(first) > 200


def test_link_records_facade_reuses_stored_model(features: pd.DataFrame, artifact: ModelArtifact) -> None:
    pytest.importorskip("matching.registry")
    from matching.linker import RECORD_CITIZEN_COLUMNS, link_records

    con = duckdb.connect(":memory:")
    save_model(con, artifact, run_id="run-0")
    first = link_records(features, con=con, run_id="run-1", threads=1, analyse_blocking=False)
    assert not first.model_trained and first.model.model_version == artifact.model_version
    rc = first.record_citizen
    assert list(rc.columns) == RECORD_CITIZEN_COLUMNS and len(rc) == len(features) and rc.citizen_id.notna().all()
    same = rc.set_index("source_record_id").citizen_id
    assert same["ALF1"] == same["ALF2"]  # nickname pair linked
    ev = first.match_evidence
    assert set(ev.run_id) == {"run-1"} and set(ev.model_version) == {artifact.model_version}
    assert {"level_first_name", "mw_first_name", "evidence"} <= set(ev.columns)
    alf = ev[(ev.unique_id_l == "education:ALF1") & (ev.unique_id_r == "health:ALF2") & (ev.status == "linked")]
    assert list(alf["level_first_name"]) == ["nickname/transliteration group match"]
    assert json.loads(alf.iloc[0]["evidence"])[0]["level"] == "nickname/transliteration group match"
    again = link_records(features, con=con, previous_registry=first.registry, known_ids=first.known_ids,
                         run_id="run-2", threads=1, analyse_blocking=False)
    pd.testing.assert_frame_equal(again.record_citizen, rc)


def _drop_level(settings: dict, comparison: str, label: str) -> dict:
    out = json.loads(json.dumps(settings))
    for comp in out["comparisons"]:
        if comp["output_column_name"] == comparison:
            comp["comparison_levels"] = [lvl for lvl in comp["comparison_levels"] if lvl["label_for_charts"] != label]
    return out


def test_a_stored_model_from_before_a_level_was_added_is_retrained(features: pd.DataFrame,
                                                                    artifact: ModelArtifact) -> None:
    from matching.artifact import load_current_model, make_artifact
    from matching.linker import link_records

    assert S.model_is_current(artifact.settings)
    old = make_artifact(_drop_level(artifact.settings, "first_name", "first name two typos apart (six letters or more)"),
                        artifact.training_summary)
    assert not S.model_is_current(old.settings)
    con = duckdb.connect(":memory:")
    save_model(con, old, run_id="run-0")
    assert load_latest_model(con).model_version == old.model_version  # still on record for audit
    assert load_current_model(con) is None  # but never reused to score
    result = link_records(features, con=con, run_id="run-1", threads=1, analyse_blocking=False)
    assert result.model_trained and result.model.model_version != old.model_version
    assert S.model_is_current(result.model.settings)
    assert load_current_model(con).model_version == result.model.model_version


@pytest.mark.slow
def test_demo_drop_full_chain_accuracy() -> None:
    """Demo drop -> connectors -> features -> link_records -> evaluate against truth.csv."""
    from pathlib import Path

    drop = Path(__file__).resolve().parents[1] / "sample_data" / "demo"
    if not (drop / "truth.csv").exists():
        pytest.skip("demo drop not generated")
    from connectors import extract_source, load_source_configs
    from matching.evaluate import evaluate
    from matching.features import build_features
    from matching.linker import link_records

    ref = dt.date.fromisoformat(json.loads((drop / "manifest.json").read_text())["drop_date"])
    identity = pd.concat([extract_source(drop / c.name, c, run_id="t", reference_date=ref).identity
                          for c in load_source_configs(None)], ignore_index=True)
    result = link_records(build_features(identity, ref), run_id="t", threads=2, analyse_blocking=False)
    metrics = evaluate(result.record_citizen, pd.read_csv(drop / "truth.csv", dtype=str), ref)
    assert metrics["precision"] >= 0.999
    assert metrics["recall"] >= 0.99
    assert metrics["twin_pairs_merged"] == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("4GB", 4 * 10**9), ("1.5 GiB", int(1.5 * 2**30)), ("500mb", 500 * 10**6), ("2048KiB", 2048 * 1024),
    ("123", 123), ("lots", None), ("", None), ("4 GB please", None),
])
def test_a_duckdb_memory_setting_is_read_as_bytes(text: str, expected: int | None) -> None:
    assert memory_bytes(text) == expected


@pytest.mark.parametrize(("limit", "expected"), [
    (None, TRAINING_MEMORY_LIMIT), ("4GB", TRAINING_MEMORY_LIMIT), ("512MB", "512MB"), ("odd", "odd"),
])
def test_training_memory_is_the_smaller_of_the_setting_and_its_cap(limit: str | None, expected: str) -> None:
    assert capped_memory_limit(limit) == expected


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "B", "KB", "MiB", "gb", "TiB"]),
       st.sampled_from(["", " "]))
def test_any_whole_size_in_any_unit_reads_back(number: int, unit: str, gap: str) -> None:
    scale = {"": 1, "b": 1, "kb": 10**3, "mib": 2**20, "gb": 10**9, "tib": 2**40}[unit.lower()]
    assert memory_bytes(f"{number}{gap}{unit}") == number * scale
