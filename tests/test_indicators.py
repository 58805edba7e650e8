"""Indicators are declared once and fed by the sources that opt in; persistent absence uses the latest year
with attendance data (issue 13: it was NULL for every child when the drop date's year had no attendance)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from connectors.presets import PRESETS
from schemas.config import FileConfig, SourceConfig
from schemas.indicators import INDICATORS, academic_year_of
from svoc.stages.marts import build_marts
from svoc.stages.single_view import build_single_view
from svoc.warehouse.sql import ensure_tables, write_frame

D = dt.date(2026, 11, 1)  # academic year 2026/27 has no attendance yet in a November drop
PRESET_CONFIGS = list(PRESETS.values())


def ident(source: str, rid: str, **kw: object) -> dict:
    return {"source": source, "source_record_id": rid, "source_file": f"{source}/x.csv", "source_line": 2,
            "quality_flags": [], "alternative_names": [], "first_name": "Ann", "last_name": "Lee",
            "dob": dt.date(2014, 1, 1), **kw}


def term(rid: str, year: str, name: str, possible: int, authorised: int, unauthorised: int) -> dict:
    return {"source": "education", "source_record_id": rid, "event_id": f"{rid}/{year}/{name}",
            "event_type": "attendance_term", "event_date": dt.date(int(year[:4]), 9, 1), "academic_year": year,
            "term": name, "sessions_possible": possible, "sessions_authorised_absence": authorised,
            "sessions_unauthorised_absence": unauthorised, "source_file": "education/a.csv", "source_line": 2,
            "quality_flags": []}


def event(source: str, rid: str, eid: str, etype: str, date: dt.date, **kw: object) -> dict:
    return {"source": source, "source_record_id": rid, "event_id": eid, "event_type": etype, "event_date": date,
            "source_file": f"{source}/y.csv", "source_line": 2, "quality_flags": [], **kw}


def warehouse(identity: list[dict], interactions: list[dict], configs: list[SourceConfig]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_tables(con)
    write_frame(con, "staging.identity_records", pd.DataFrame(identity))
    if interactions:
        write_frame(con, "staging.interactions", pd.DataFrame(interactions))
    rc = pd.DataFrame({"source": [r["source"] for r in identity],
                       "source_record_id": [r["source_record_id"] for r in identity],
                       "citizen_id": [r.get("cid", r["source_record_id"]) for r in identity]})
    con.register("rc", rc)
    con.execute("INSERT INTO linked.record_citizen SELECT source, source_record_id, citizen_id, 'x', 1.0, 'r' FROM rc")
    build_single_view(con, D, configs)
    return con


def value(con: duckdb.DuckDBPyConnection, cid: str, column: str) -> object:
    cur = con.execute("SELECT * FROM linked.single_view WHERE citizen_id = ?", [cid])
    return dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))[column]


@pytest.mark.parametrize(("terms", "absent", "rate"), [
    # Only last year's terms (the drop's year has none yet): last year counts. Was NULL before the fix.
    ([("2025/26", "Autumn", 100, 8, 4), ("2025/26", "Spring", 100, 6, 2)], True, 0.9),
    ([("2025/26", "Summer", 100, 3, 0)], False, 0.97),
    # The latest year with data wins over older years.
    ([("2024/25", "Autumn", 100, 50, 0), ("2025/26", "Autumn", 100, 2, 0)], False, 0.98),
    ([("2024/25", "Autumn", 100, 0, 0), ("2026/27", "Autumn", 50, 5, 0)], True, 0.9),
    # A year with no possible sessions is not "data".
    ([("2025/26", "Autumn", 100, 20, 0), ("2026/27", "Autumn", 0, 0, 0)], True, 0.8),
    # A later year than the drop's (bad data) is ignored.
    ([("2025/26", "Autumn", 100, 1, 0), ("2027/28", "Autumn", 100, 90, 0)], False, 0.99),
    ([], None, None),
])
def test_persistent_absence_uses_latest_year_with_data(terms, absent, rate):
    con = warehouse([ident("education", "P1")], [term("P1", *t) for t in terms], PRESET_CONFIGS)
    assert value(con, "P1", "persistent_absence") == absent
    assert value(con, "P1", "attendance_rate") == rate


def test_a_child_with_no_attendance_in_the_latest_year_has_no_current_rate():
    """The year is the drop's latest with data, not each child's: a 2023/24 leaver is not 'persistently absent'."""
    con = warehouse([ident("education", "P1"), ident("education", "P2")],
                    [term("P1", "2025/26", "Autumn", 100, 1, 0), term("P2", "2023/24", "Autumn", 100, 40, 0)],
                    PRESET_CONFIGS)
    assert value(con, "P1", "attendance_rate") == 0.99
    assert value(con, "P2", "persistent_absence") is None and value(con, "P2", "attendance_rate") is None


def test_attendance_mart_is_not_empty_when_the_drop_year_has_no_attendance():
    con = warehouse([ident("education", "P1")], [term("P1", "2025/26", "Autumn", 100, 20, 0)], PRESET_CONFIGS)
    assert build_marts(con, "run-1", D)["marts.attendance_vs_involvement"] == 1


@pytest.mark.parametrize(("day", "year"), [(dt.date(2026, 11, 1), "2026/27"), (dt.date(2026, 8, 31), "2025/26"),
                                           (dt.date(2026, 9, 1), "2026/27"), (dt.date(1999, 12, 31), "1999/00")])
def test_academic_year_of(day, year):
    assert academic_year_of(day) == year


YJ = SourceConfig(name="youth_justice", identity=FileConfig(file="people"),
                  indicators=["police_incidents_12m", "police_missing_episodes_12m"])


def test_a_fifth_source_feeds_an_indicator_and_gets_its_flag():
    con = warehouse(
        [ident("health", "H1", cid="C1"), ident("youth_justice", "Y1", cid="C1"), ident("health", "H2", cid="C2")],
        [event("youth_justice", "Y1", "O1", "missing_person", dt.date(2026, 10, 1)),
         event("youth_justice", "Y1", "O2", "other", dt.date(2026, 9, 1)),
         event("youth_justice", "Y1", "O3", "other", dt.date(2024, 9, 1))],  # older than 12 months
        [PRESETS["health"], YJ])
    assert value(con, "C1", "known_to_youth_justice") is True
    assert value(con, "C2", "known_to_youth_justice") is False
    assert value(con, "C1", "police_incidents_12m") == 2
    assert value(con, "C1", "police_missing_episodes_12m") == 1
    assert value(con, "C2", "police_incidents_12m") is None  # not known to any source feeding it
    assert value(con, "C1", "ed_attendances_12m") == 0  # health feeds it, no ED attendance


def test_known_to_flag_can_be_renamed_or_switched_off():
    renamed = YJ.model_copy(update={"known_to": "known_to_yot"})
    silent = PRESETS["health"].model_copy(update={"known_to": False})
    con = warehouse([ident("health", "H1", cid="C1"), ident("youth_justice", "Y1", cid="C1")], [],
                    [silent, renamed])
    cols = [d[0] for d in con.execute("SELECT * FROM linked.single_view").description]
    assert "known_to_yot" in cols and "known_to_youth_justice" not in cols and "known_to_health" not in cols
    assert value(con, "C1", "known_to_yot") is True


def test_an_indicator_nobody_feeds_is_null_but_present():
    con = warehouse([ident("health", "H1")], [event("health", "H1", "E1", "suspension", dt.date(2026, 10, 1))],
                    [PRESETS["health"]])
    assert value(con, "H1", "suspensions_12m") is None  # health does not feed suspensions
    cols = [d[0] for d in con.execute("SELECT * FROM linked.single_view").description]
    assert set(INDICATORS) <= set(cols)


def test_survivorship_follows_the_configured_reliability():
    a = SourceConfig(name="a", identity=FileConfig(file="x"), reliability={"dob": 1})
    b = SourceConfig(name="b", identity=FileConfig(file="x"), reliability={"dob": 5})
    people = [ident("a", "A1", cid="C", dob=dt.date(2014, 1, 1)), ident("b", "B1", cid="C", dob=dt.date(2014, 2, 1))]
    assert value(warehouse(people, [], [a, b]), "C", "dob") == dt.date(2014, 2, 1)
    b_low = b.model_copy(update={"reliability": {}})  # no rank: the documented default (0) loses to a's 1
    assert value(warehouse(people, [], [a, b_low]), "C", "dob") == dt.date(2014, 1, 1)


@pytest.mark.slow
def test_demo_persistent_absence_matches_the_hand_count(demo_run):
    """Issue 13: by hand, 5 of the 19 demo children known to police and social care (with attendance in the
    latest year) are persistently absent; marts.attendance_vs_involvement was always empty."""
    from tests.e2e import query

    assert query(demo_run, "SELECT count(persistent_absence), count(*) FILTER (WHERE persistent_absence) "
                           "FROM linked.single_view WHERE known_to_police AND known_to_social_care") == [(19, 5)]
    assert query(demo_run, "SELECT count(*) FROM marts.attendance_vs_involvement")[0][0] > 0


def test_upn_comes_from_the_source_ranked_highest_for_names():
    a = SourceConfig(name="a", identity=FileConfig(file="x"), reliability={"name": 1})
    b = SourceConfig(name="b", identity=FileConfig(file="x"), reliability={"name": 3})
    people = [ident("a", "A1", cid="C", upn="A111"), ident("b", "B1", cid="C", upn="B999")]
    assert value(warehouse(people, [], [a, b]), "C", "upn") == "B999"
    assert value(warehouse(people, [], [a.model_copy(update={"reliability": {"name": 5}}), b]), "C", "upn") == "A111"
