"""End-to-end: the real ``svoc run`` on the sample drop, and on damaged copies of it."""

import csv
import json
import shutil

import pytest

from tests.e2e import DEMO, columns, query, run_cli, sha256

# "must have at least" columns of ../shared/spec/warehouse.md
CONTRACT = {
    "staging.identity_records": {"source", "source_record_id", "first_name", "middle_names", "last_name", "dob", "sex",
                                 "postcode", "nhs_number", "upn", "quality_flags", "run_id"},
    "staging.interactions": {"source", "source_record_id", "event_id", "event_type", "event_date", "end_date",
                             "detail"},
    "quarantine.rows": {"run_id", "source", "file", "line_number", "reason", "raw_line"},
    "linked.record_citizen": {"source", "source_record_id", "citizen_id", "link_method", "match_probability",
                              "run_id"},
    "linked.single_view": {"citizen_id", "first_name", "last_name", "dob", "sex", "postcode", "nhs_number", "upn",
                           "known_to_education", "known_to_health", "known_to_police", "known_to_social_care",
                           "record_count", "persistent_absence", "suspensions_12m", "permanent_exclusion",
                           "sen_provision", "fsm_eligible", "ed_attendances_12m", "camhs_referral_12m",
                           "police_missing_episodes_12m", "police_domestic_abuse_12m", "police_incidents_12m",
                           "open_social_care_episode", "cp_plan_active", "lac_active"},
    "linked.interactions": {"citizen_id", "source", "source_record_id", "event_id", "event_type", "event_date",
                            "end_date", "detail"},
    "audit.runs": {"run_id", "started_at", "finished_at", "status", "drop", "model_version", "thresholds",
                   "row_counts"},
    "audit.match_evidence": {"run_id", "unique_id_l", "unique_id_r", "match_probability", "match_weight",
                             "evidence", "model_version"},
    "audit.citizen_events": {"run_id", "citizen_id", "event", "related_citizen_id", "record_key", "reason"},
    "audit.review_queue": {"unique_id_l", "unique_id_r", "match_probability", "reason", "status"},
    "audit.review_decisions": {"unique_id_l", "unique_id_r", "decision", "reviewer", "reason", "decided_at"},
}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_contract_tables_have_contract_columns(demo_run, table):
    assert CONTRACT[table] <= columns(demo_run, table)


def test_single_view_has_one_row_per_citizen(demo_run):
    (n_view, n_distinct), = query(demo_run, "SELECT count(*), count(DISTINCT citizen_id) FROM linked.single_view")
    (n_citizens,), = query(demo_run, "SELECT count(DISTINCT citizen_id) FROM linked.record_citizen")
    assert n_view == n_distinct == n_citizens > 1000


def test_run_is_recorded_with_model_version_and_stage_timings(demo_run):
    (status, model, stages, counts), = query(demo_run, "SELECT status, model_version, stage_seconds, row_counts "
                                                       "FROM audit.runs")
    assert status == "success" and model
    assert {"linked__record_citizen", "single_view", "marts"} <= set(json.loads(stages))
    assert json.loads(counts)["linked.single_view"] > 1000


def test_sex_codes_and_identifiers_are_standardised(demo_run):
    assert {r[0] for r in query(demo_run, "SELECT DISTINCT sex FROM staging.identity_records")} <= {"M", "F", None}
    bad = query(demo_run, "SELECT count(*) FROM staging.identity_records WHERE nhs_number IS NOT NULL "
                          "AND NOT regexp_full_match(nhs_number, '[0-9]{10}')")
    assert bad == [(0,)]


def test_quality_flag_rates_are_queryable_per_source(demo_run):
    rows = query(demo_run, "SELECT source, flag, records, rate FROM marts.quality_flag_rates")
    assert {r[0] for r in rows} >= {"education", "health", "police"}
    direct = query(demo_run, "SELECT count(*) FROM staging.identity_records "
                             "WHERE source = 'health' AND list_contains(quality_flags, 'nhs_number_invalid_check_digit')")
    reported = [r[2] for r in rows if r[:2] == ("health", "nhs_number_invalid_check_digit")]
    assert reported == ([direct[0][0]] if direct[0][0] else [])


def physical_lines(path):
    if path.suffix == ".xlsx":
        import openpyxl

        return sum(1 for _ in openpyxl.load_workbook(path, read_only=True).active.iter_rows())
    data = path.read_bytes()
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


@pytest.mark.parametrize("rel", sorted(str(p.relative_to(DEMO)) for p in DEMO.glob("*/*.*")))
def test_every_line_of_every_file_is_accounted_for(demo_run, rel):
    path = DEMO / rel
    source, name = rel.split("/")
    rows = query(demo_run, "SELECT lines_in, records_out, quarantined FROM audit.file_accounts "
                           "WHERE source = ? AND (file = ? OR file = ?)", [source, name, rel])
    assert len(rows) == 1, rows
    lines_in, records_out, quarantined = rows[0]
    assert lines_in == physical_lines(path)
    in_quarantine = query(demo_run, "SELECT count(*) FROM quarantine.rows WHERE source = ? AND (file = ? OR file = ?)",
                          [source, name, rel])[0][0]
    assert in_quarantine == quarantined
    assert records_out + quarantined + 1 <= lines_in  # header + records + quarantined, multi-line records allowed


def test_broken_lines_of_the_sample_drop_are_quarantined(demo_run):
    manifest = json.loads((DEMO / "manifest.json").read_text())
    quarantined = {(f, n) for f, n in query(demo_run, "SELECT source || '/' || file, line_number FROM quarantine.rows")}
    quarantined |= {(f, n) for f, n in query(demo_run, "SELECT file, line_number FROM quarantine.rows")}
    for broken in manifest["broken_lines"]:
        assert (broken["file"], broken["line"]) in quarantined, broken


def test_identity_records_match_the_truth_file(demo_run):
    with open(DEMO / "truth.csv", newline="", encoding="utf-8") as fh:
        truth = {(r["source"], r["source_record_id"]) for r in csv.DictReader(fh)}
    staged = set(query(demo_run, "SELECT source, source_record_id FROM staging.identity_records"))
    assert staged == truth


def test_missing_column_stops_the_run_with_one_line_naming_it(demo_copy, tmp_path):
    pupils = demo_copy / "education" / "pupils.csv"
    with open(pupils, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    drop_at = rows[0].index("DOB")
    with open(pupils, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        csv.writer(fh).writerows([r[:drop_at] + r[drop_at + 1:] for r in rows])
    proc = run_cli("run", "--drop", str(demo_copy), "--warehouse", str(tmp_path / "w.duckdb"), tmp=tmp_path,
                   check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr
    assert "pupils.csv" in errors[0] and "DOB" in errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_missing_file_stops_the_run_naming_it(demo_copy, tmp_path):
    (demo_copy / "health" / "patients.csv").unlink()
    proc = run_cli("run", "--drop", str(demo_copy), "--warehouse", str(tmp_path / "w.duckdb"), tmp=tmp_path,
                   check=False)
    assert proc.returncode != 0
    assert "patients" in proc.stderr and "Traceback" not in proc.stderr


def test_blank_dob_column_blocks_the_run_and_leaves_the_warehouse_untouched(demo_run, demo_copy, tmp_path):
    warehouse = tmp_path / "published" / "svoc.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(demo_run, warehouse)
    before = sha256(warehouse)
    patients = demo_copy / "health" / "patients.csv"
    raw = patients.read_bytes()
    with open(patients, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    col = rows[0].index("DateOfBirth")
    for r in rows[1:]:
        if len(r) > col:
            r[col] = ""
    with open(patients, "w", newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        csv.writer(fh).writerows(rows)
    assert patients.read_bytes() != raw
    proc = run_cli("run", "--drop", str(demo_copy), "--warehouse", str(warehouse), tmp=tmp_path, check=False)
    assert proc.returncode != 0
    assert "health" in proc.stderr and "dob_not_all_null" in proc.stderr, proc.stderr
    assert sha256(warehouse) == before
    assert not list(warehouse.parent.glob(".*build*")), "the failed run's build file was left behind"
