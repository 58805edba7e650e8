"""linked.single_view survivorship and every indicator, against children computed by hand."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from connectors.presets import PRESETS
from svoc.stages.marts import build_marts
from svoc.stages.single_view import build_single_view
from svoc.warehouse.sql import ensure_tables, write_frame

D = dt.date(2026, 11, 1)  # drop date; academic year 2026/27
CONFIGS = list(PRESETS.values())


def ident(source, rid, **kw):
    base = {"source": source, "source_record_id": rid, "source_file": f"{source}/x.csv", "source_line": 2,
            "quality_flags": [], "alternative_names": []}
    return {**base, **kw}


def ix(source, rid, eid, etype, date, **kw):
    return {"source": source, "source_record_id": rid, "event_id": eid, "event_type": etype, "event_date": date,
            "source_file": f"{source}/y.csv", "source_line": 2, "quality_flags": [], **kw}


@pytest.fixture()
def con():
    c = duckdb.connect()
    ensure_tables(c)
    identity = [
        # Child A: known to all four agencies.
        ident("education", "P1", first_name="Olivia", last_name="Smith", dob=dt.date(2013, 4, 2), sex="F",
              postcode="LS1 1AA", upn="A123", start_date=dt.date(2024, 9, 1), sen_provision="K", fsm_eligible=True),
        ident("health", "H1", first_name="Olivia", last_name="Smith", dob=dt.date(2013, 4, 2), sex="F",
              postcode="LS1 1AA", nhs_number="9434765919"),
        ident("police", "N1", first_name="OLIVIA", last_name="SMYTH", dob=dt.date(2013, 2, 4), sex="F",
              postcode="LS2 2BB"),
        ident("social_care", "S1", first_name="Olivia", last_name="Smith", dob=dt.date(2099, 1, 1), sex="F",
              quality_flags=["dob_in_future"], nhs_number="9434765919"),
        # Child B: education only, good attendance.
        ident("education", "P2", first_name="Jack", last_name="Brown", dob=dt.date(2015, 5, 5), sex="M",
              postcode="LS3 3CC", fsm_eligible=False, sen_provision="N"),
    ]
    interactions = [
        # A: 2026/27 autumn: 100 possible, 8 + 4 missed = 12% → persistent absence
        ix("education", "P1", "P1/2026/27/Autumn", "attendance_term", dt.date(2026, 9, 1), academic_year="2026/27",
           term="Autumn", sessions_possible=100, sessions_authorised_absence=8, sessions_unauthorised_absence=4),
        # last year's term must not count
        ix("education", "P1", "P1/2025/26/Summer", "attendance_term", dt.date(2026, 4, 15), academic_year="2025/26",
           term="Summer", sessions_possible=100, sessions_authorised_absence=50, sessions_unauthorised_absence=0),
        ix("education", "P1", "E1", "suspension", dt.date(2026, 3, 1)),
        ix("education", "P1", "E2", "suspension", dt.date(2025, 10, 31)),  # older than 12 months
        ix("health", "H1", "H1/1", "ed_attendance", dt.date(2026, 10, 1)),
        ix("health", "H1", "H1/2", "ed_attendance", dt.date(2026, 6, 1)),
        ix("health", "H1", "H1/3", "camhs_referral", dt.date(2026, 7, 1)),
        ix("police", "N1", "O1", "missing_person", dt.date(2026, 8, 1)),
        ix("police", "N1", "O2", "missing_person", dt.date(2026, 9, 1)),
        ix("police", "N1", "O3", "domestic_abuse", dt.date(2026, 1, 1)),
        ix("police", "N1", "O4", "asb", dt.date(2024, 1, 1)),  # too old
        ix("social_care", "S1", "EP1", "cp_plan", dt.date(2026, 5, 1)),  # open
        ix("social_care", "S1", "EP2", "lac", dt.date(2025, 1, 1), end_date=dt.date(2025, 6, 1)),  # closed
        # B: 2026/27: 100 possible, 3 missed
        ix("education", "P2", "P2/2026/27/Autumn", "attendance_term", dt.date(2026, 9, 1), academic_year="2026/27",
           term="Autumn", sessions_possible=100, sessions_authorised_absence=3, sessions_unauthorised_absence=0),
    ]
    write_frame(c, "staging.identity_records", pd.DataFrame(identity))
    write_frame(c, "staging.interactions", pd.DataFrame(interactions))
    rc = pd.DataFrame({"source": ["education", "health", "police", "social_care", "education"],
                       "source_record_id": ["P1", "H1", "N1", "S1", "P2"],
                       "citizen_id": ["CV-A", "CV-A", "CV-A", "CV-A", "CV-B"]})
    c.register("rc", rc)
    c.execute("INSERT INTO linked.record_citizen SELECT source, source_record_id, citizen_id, 'x', 1.0, 'r' FROM rc")
    build_single_view(c, D, CONFIGS)
    return c


def row(con, cid):
    cur = con.execute("SELECT * FROM linked.single_view WHERE citizen_id = ?", [cid])
    cols = [d[0] for d in cur.description]
    return dict(zip(cols, cur.fetchone(), strict=True))


def test_one_row_per_citizen(con):
    assert con.execute("SELECT count(*), count(DISTINCT citizen_id) FROM linked.single_view").fetchone() == (2, 2)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("first_name", "Olivia"),  # mixed case beats the police capitals
        ("last_name", "Smith"),  # three sources agree over one
        ("dob", dt.date(2013, 4, 2)),  # the flagged future DOB does not vote; 2 sources beat police's swap
        ("sex", "F"),
        ("postcode", "LS1 1AA"),
        ("nhs_number", "9434765919"),
        ("upn", "A123"),
        ("known_to_education", True),
        ("known_to_health", True),
        ("known_to_police", True),
        ("known_to_social_care", True),
        ("record_count", 4),
        ("persistent_absence", True),
        ("suspensions_12m", 1),
        ("permanent_exclusion", False),
        ("sen_provision", "K"),
        ("fsm_eligible", True),
        ("ed_attendances_12m", 2),
        ("camhs_referral_12m", True),
        ("police_missing_episodes_12m", 2),
        ("police_domestic_abuse_12m", 1),
        ("police_incidents_12m", 3),
        ("open_social_care_episode", True),
        ("cp_plan_active", True),
        ("lac_active", False),
        ("conflicting_nhs_numbers", False),
    ],
)
def test_child_known_to_four_agencies(con, column, expected):
    assert row(con, "CV-A")[column] == expected


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("persistent_absence", False),
        ("attendance_rate", 0.97),
        ("suspensions_12m", 0),
        ("fsm_eligible", False),
        # Not known to these agencies: NULL, not zero.
        ("ed_attendances_12m", None),
        ("camhs_referral_12m", None),
        ("police_missing_episodes_12m", None),
        ("police_incidents_12m", None),
        ("open_social_care_episode", None),
        ("cp_plan_active", None),
        ("lac_active", None),
        ("known_to_police", False),
    ],
)
def test_child_known_to_education_only(con, column, expected):
    assert row(con, "CV-B")[column] == expected


def test_timeline_is_chronological_and_complete(con):
    rows = con.execute("SELECT citizen_id, event_date FROM linked.interactions WHERE citizen_id = 'CV-A'").fetchall()
    assert len(rows) == 13
    dates = [d for _, d in rows]
    assert dates == sorted(dates)


def test_marts(con):
    counts = build_marts(con, "run-1", D)
    overlap = dict(con.execute("SELECT agencies, children FROM marts.agency_overlap").fetchall())
    assert overlap == {"education+health+police+social_care": 1, "education": 1}
    assert con.execute("SELECT citizen_id FROM marts.children_known_to_three_plus").fetchall() == [("CV-A",)]
    lq = dict(con.execute("SELECT source, singletons FROM marts.linkage_quality").fetchall())
    assert lq["education"] == 1 and lq["health"] == 0
    assert counts["marts.attendance_vs_involvement"] == 2


def _tables(con) -> dict[str, list]:
    return {t: sorted(con.execute(f"SELECT * FROM linked.{t}").fetchall(), key=repr)
            for t in ("single_view", "interactions")}


def _deliver(con, table: str, row: dict) -> None:
    """Stage ``row`` as a changes-only drop does: it replaces the staged row with its key, under run 'r2'."""
    key = "event_id" if table == "interactions" else "source_record_id"
    write_frame(con, f"staging.{table}", pd.DataFrame([{**row, "run_id": "r2"}]),
                replace_where=f"source = ? AND {key} = ?", params=[row["source"], row[key]])


def _edit_name(con):
    _deliver(con, "identity_records", ident("education", "P2", first_name="Jack", last_name="Browne",
                                            dob=dt.date(2015, 5, 5), sex="M", postcode="LS3 3CC"))


def _new_event(con):
    _deliver(con, "interactions", ix("education", "P2", "E9", "suspension", dt.date(2026, 10, 1)))


def _event_to_another_record(con):  # child C's A&E attendance re-delivered under child A's health record
    _deliver(con, "interactions", ix("health", "H1", "H7/1", "ed_attendance", dt.date(2026, 2, 3)))


def _record_moved(con):  # matching moved P2 into child A and retired B (events only: no staged row changed)
    con.execute("UPDATE linked.record_citizen SET citizen_id = 'CV-A' WHERE source_record_id = 'P2'")
    write_frame(con, "audit.citizen_events", pd.DataFrame([
        {"run_id": "r2", "citizen_id": "CV-A", "event": "record_moved", "related_citizen_id": "CV-B",
         "record_key": "education:P2", "reason": "cluster_changed"},
        {"run_id": "r2", "citizen_id": "CV-B", "event": "retired", "related_citizen_id": "CV-A",
         "record_key": None, "reason": "merged"}]))


def _third_child(con) -> None:
    """Child C (health only, untouched by every change below), then the full build a night leaves."""
    write_frame(con, "staging.identity_records", pd.DataFrame([
        ident("health", "H7", first_name="Amir", last_name="Khan", dob=dt.date(2019, 1, 9), sex="M")]))
    write_frame(con, "staging.interactions", pd.DataFrame([ix("health", "H7", "H7/1", "ed_attendance",
                                                             dt.date(2026, 2, 3))]))
    con.execute("INSERT INTO linked.record_citizen VALUES ('health', 'H7', 'CV-C', 'x', 1.0, 'r')")
    build_single_view(con, D, CONFIGS)


@pytest.mark.parametrize(("change", "rebuilt", "children"), [
    (_edit_name, 1, 3), (_new_event, 1, 3), (_event_to_another_record, 2, 3), (_record_moved, 2, 2)])
def test_a_changes_only_run_rebuilds_only_the_children_it_reaches_as_a_full_build_would(con, change, rebuilt,
                                                                                         children):
    _third_child(con)
    change(con)
    counts = build_single_view(con, D, CONFIGS, run_id="r2")
    assert (counts["rebuilt"], counts["citizens"]) == (rebuilt, children)
    after = _tables(con)
    assert build_single_view(con, D, CONFIGS)["rebuilt"] == children  # the full build, for comparison
    assert after == _tables(con)


def test_a_new_latest_academic_year_rebuilds_every_child(con):
    """Attendance indicators read the latest academic year over every child: when tonight's term moves it, the
    children tonight's changes do not reach change too."""
    con.execute("DELETE FROM staging.interactions WHERE academic_year = '2026/27'")
    _third_child(con)
    assert row(con, "CV-A")["attendance_rate"] is not None  # from 2025/26, the latest year so far
    _deliver(con, "interactions", ix("education", "P2", "P2/2026/27/Autumn", "attendance_term",
                                     dt.date(2026, 9, 1), academic_year="2026/27", term="Autumn",
                                     sessions_possible=100, sessions_authorised_absence=3,
                                     sessions_unauthorised_absence=0))
    counts = build_single_view(con, D, CONFIGS, run_id="r2")
    assert counts["rebuilt"] == counts["citizens"] == 3
    assert row(con, "CV-A")["attendance_rate"] is None
    after = _tables(con)
    build_single_view(con, D, CONFIGS)
    assert after == _tables(con)


def test_a_changed_definition_rebuilds_every_child(con):
    _third_child(con)
    _new_event(con)
    later = D + dt.timedelta(days=1)
    assert build_single_view(con, later, CONFIGS, run_id="r2")["rebuilt"] == 3  # as of another date
    assert build_single_view(con, later, CONFIGS[:3], run_id="r2")["rebuilt"] == 3  # another set of sources


def test_a_staged_column_added_since_the_last_build_rebuilds_every_child(con):
    _third_child(con)
    _new_event(con)
    con.execute("ALTER TABLE staging.interactions ADD COLUMN extra_detail VARCHAR")
    assert build_single_view(con, D, CONFIGS, run_id="r2")["rebuilt"] == 3
    assert "extra_detail" in [d[0] for d in con.execute("SELECT * FROM linked.interactions LIMIT 0").description]


@pytest.mark.parametrize("first_names", [("Zoë", "Zoe"), ("Zoe", "Zoë"), ("Amie", "Amy"), ("Amy", "Amie")])
def test_a_tie_in_every_survivorship_rule_goes_to_the_same_value_whichever_record_comes_first(first_names):
    """Two records of one source, one child, equal on sources, records, reliability and activity: the greater value
    wins (normalised, then as spelled), in whatever order the records were staged."""
    c = duckdb.connect()
    ensure_tables(c)
    rows = [ident("education", f"P{i}", first_name=name, last_name="Ward", dob=dt.date(2014, 3, 3), sex="F",
                  postcode="LS1 1AA") for i, name in enumerate(first_names)]
    write_frame(c, "staging.identity_records", pd.DataFrame(rows))
    c.execute("INSERT INTO linked.record_citizen VALUES ('education', 'P0', 'CV-X', 'x', 1.0, 'r'), "
              "('education', 'P1', 'CV-X', 'x', 1.0, 'r')")
    build_single_view(c, D, CONFIGS)
    assert row(c, "CV-X")["first_name"] == ("Zoë" if "Zoë" in first_names else "Amy")
