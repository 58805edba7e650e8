"""Find a child (svoc.find): lookup ranking with the stored model, weak queries, list matching, the CLI and the
access log. A tiny real warehouse (DuckDB file) holding the demo drop's trained model (tests/data/lookup_model.json)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from matching.artifact import content_hash
from schemas.errors import SvocError
from svoc.cli import app
from svoc.find import Finder, Query, match_list, parse_dob
from svoc.find.lists import parse_mapping
from svoc.find.query import swapped_dob
from svoc.state import open_store
from svoc.warehouse.sql import ensure_tables

MODEL = Path(__file__).parent / "data" / "lookup_model.json"
NHS = "9434765919"
# (source, record id, citizen, first, last, dob, sex, postcode, nhs)
RECORDS = [
    ("health", "H1", "C-WILL", "William", "Jones", "2012-03-04", "M", "LS6 1AA", NHS),
    ("education", "P1", "C-WILL", "William", "Jones", "2012-03-04", "M", "LS6 1AA", None),
    ("health", "H2", "C-HARRY", "Harry", "Jones", "2012-03-04", "M", "LS6 1AA", "9434765870"),  # his twin
    ("police", "N1", "C-AMELIA", "Amelia", "Khan", "2011-07-15", "F", "LS9 8QT", None),
    ("education", "P2", "C-OLIVIA", "Olivia", "Brown", "2013-05-20", "F", "LS11 5DE", None),
    ("social_care", "S1", "C-OLIVIA", "Olivia", "Brown", "2013-05-20", "F", None, None),
]


@pytest.fixture()
def wh(tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    ensure_tables(con)
    for src, rid, cid, first, last, dob, sex, pc, nhs in RECORDS:
        con.execute("INSERT INTO staging.identity_records (source, source_record_id, first_name, last_name, dob, "
                    "sex, postcode, nhs_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [src, rid, first, last, dob, sex, pc, nhs])
        con.execute("INSERT INTO linked.record_citizen (source, source_record_id, citizen_id, link_method, run_id) "
                    "VALUES (?, ?, ?, 'probabilistic', 'r1')", [src, rid, cid])
    # a few hundred other children, so names are as rare as in a real warehouse (term frequencies)
    fillers = pd.DataFrame({"source": "education", "source_record_id": [f"F{i}" for i in range(400)],
                            "first_name": [f"Filler{i}" for i in range(400)],
                            "last_name": [f"Other{i % 97}" for i in range(400)],
                            "dob": [dt.date(2010, 1, 1) + dt.timedelta(days=7 * i) for i in range(400)]})
    con.register("fillers", fillers)
    con.execute("INSERT INTO staging.identity_records (source, source_record_id, first_name, last_name, dob) "
                "SELECT source, source_record_id, first_name, last_name, dob FROM fillers")
    con.execute("INSERT INTO linked.record_citizen (source, source_record_id, citizen_id, link_method, run_id) "
                "SELECT source, source_record_id, 'C-' || source_record_id, 'singleton', 'r1' FROM fillers")
    settings = json.loads(MODEL.read_text())
    con.execute("INSERT INTO audit.models VALUES (?, now(), 'r1', ?, '{}')", [content_hash(settings),
                                                                              json.dumps(settings)])
    con.close()
    return path


def _find(wh: Path, finder: Finder | None = None, **q: str):
    with (finder or Finder()).session(wh) as s:
        return s.find(Query.of(**q), who="ann", purpose="MASH referral 42")


def test_exact_identifier_goes_first_even_when_names_disagree(wh):
    r = _find(wh, nhs_number="943 476 5919", first_name="Zed")
    assert r.status == "found"
    top = r.candidates[0]
    assert (top.citizen_id, top.exact, top.band) == ("C-WILL", "NHS number", "matched")
    assert top.agencies == ["education", "health"]


def test_source_record_id_is_exact(wh):
    r = _find(wh, source="police", record_id="N1")
    assert [(c.citizen_id, c.exact) for c in r.candidates][:1] == [("C-AMELIA", "source record")]


def test_nickname_ranks_the_child_above_the_twin(wh):
    r = _find(wh, first_name="Bill", last_name="Jones", dob="04/03/2012")
    assert r.status == "found"
    ids = [c.citizen_id for c in r.candidates]
    assert ids[0] == "C-WILL"
    first = {e["comparison"]: e for e in r.candidates[0].evidence}["first_name"]
    assert first["level"] == "nickname/transliteration group match" and first["match_weight"] > 0
    if "C-HARRY" in ids:
        twin = r.candidates[ids.index("C-HARRY")]
        assert twin.probability < r.candidates[0].probability


def test_transposed_date_of_birth_still_finds_the_child(wh):
    r = _find(wh, first_name="William", last_name="Jones", dob="2012-04-03")  # day and month transposed
    assert r.status == "found" and r.candidates[0].citizen_id == "C-WILL"
    dob = {e["comparison"]: e for e in r.candidates[0].evidence}["dob"]
    assert dob["level"] == "date of birth with day and month swapped"


def test_no_match(wh):
    r = _find(wh, first_name="Zebedee", last_name="Quartermain", dob="2011-01-01")
    assert (r.status, r.candidates) == ("none", [])


@pytest.mark.parametrize("q", [{"first_name": "William"}, {"last_name": "Jones"}, {"dob": "2012-03-04"},
                               {"postcode": "LS6 1AA"}, {"sex": "M", "postcode": "LS6 1AA"}])
def test_weak_queries_ask_for_another_field(wh, q):
    r = _find(wh, **q)
    assert r.status == "too_many" and "add a field" in r.message and not r.candidates


def test_more_children_than_allowed_is_too_many(wh):
    r = _find(wh, Finder(max_candidates=1), last_name="Jones", dob="2012-03-04", sex="M")
    assert r.status == "too_many" and "add a field" in r.message and not r.candidates


def test_every_search_is_logged_with_field_names_never_values(wh):
    _find(wh, first_name="Bill", last_name="Jones", dob="2012-03-04")
    with open_store(wh) as store:
        (entry,) = store.access_log()
    assert (entry.who, entry.command, entry.purpose) == ("ann", "find", "MASH referral 42")
    assert entry.subject.startswith("search [first_name,last_name,dob] -> C-WILL")
    assert "Bill" not in entry.subject and "2012" not in entry.subject


def test_a_search_without_purpose_is_refused_and_not_run(wh):
    with Finder().session(wh) as s, pytest.raises(SvocError, match="purpose"):
        s.find(Query.of(first_name="Bill"), who="ann", purpose=" ")


def test_list_matching_csv_with_its_own_headers(wh, tmp_path):
    lst = tmp_path / "absence.csv"
    lst.write_text("Pupil forename,Pupil surname,D.O.B.\nBill,Jones,04/03/2012\nNobody,Atall,01/01/2013\n"
                   "Olivia,Brown,20/05/2013\n", encoding="utf-8")
    with Finder().session(wh) as s:
        rows = match_list(s, lst, parse_mapping("first_name=Pupil forename,last_name=Pupil surname,dob=D.O.B."),
                          who="bob", purpose="absence panel")
    assert [(r.line, r.citizen_id, r.band) for r in rows] == [
        (2, "C-WILL", rows[0].band), (3, None, "none"), (4, "C-OLIVIA", "matched")]
    assert rows[0].band in ("matched", "possible")
    assert rows[2].agencies == ["education", "social_care"]
    with open_store(wh) as store:
        (entry,) = store.access_log()
    assert entry.command == "match-list" and "absence.csv: 3 rows" in entry.subject and "Olivia" not in entry.subject


def test_list_matching_xlsx_reads_every_sheet_with_the_header(wh, tmp_path):
    lst = tmp_path / "referrals.xlsx"
    with pd.ExcelWriter(lst) as xl:
        pd.DataFrame({"NHS No": ["9434765919"]}).to_excel(xl, sheet_name="week 1", index=False)
        pd.DataFrame({"NHS No": ["0000000000"]}).to_excel(xl, sheet_name="week 2", index=False)
    with Finder().session(wh) as s:
        rows = match_list(s, lst, {"nhs_number": "NHS No"}, who="bob", purpose="referrals")
    assert [(r.citizen_id, r.exact) for r in rows] == [("C-WILL", "NHS number"), (None, None)]


@pytest.mark.parametrize(("mapping", "message"), [
    ("first_name", "not field=header"), ("shoe_size=Shoe", "unknown field"), ("", "at least one field")])
def test_bad_mapping_is_one_plain_error(mapping, message):
    with pytest.raises(SvocError, match=message):
        parse_mapping(mapping)


def test_missing_column_names_the_columns(wh, tmp_path):
    lst = tmp_path / "l.csv"
    lst.write_text("Forename\nAmy\n", encoding="utf-8")
    with Finder().session(wh) as s, pytest.raises(SvocError, match="no column 'Surname'.*Forename"):
        match_list(s, lst, {"last_name": "Surname"}, who="b", purpose="p")


def test_cli_find_and_match_list(wh, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["find", "--warehouse", str(wh), "--purpose", "MASH", "--first-name", "Bill",
                              "--last-name", "Jones", "--dob", "2012-03-04"])
    assert res.exit_code == 0, res.output
    assert "C-WILL" in res.output and "nickname" in res.output
    refused = runner.invoke(app, ["find", "--warehouse", str(wh), "--first-name", "Bill"])
    assert refused.exit_code != 0 and "--purpose is required" in refused.output
    lst, out = tmp_path / "l.csv", tmp_path / "answers.csv"
    lst.write_text("NHS\n9434765919\n", encoding="utf-8")
    res = runner.invoke(app, ["match-list", str(lst), "--map", "nhs_number=NHS", "--warehouse", str(wh),
                              "--purpose", "panel", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 matched" in res.output and out.stat().st_mode & 0o777 == 0o600
    assert "C-WILL" in out.read_text() and "Jones" not in out.read_text()


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)),
       st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%d %b %Y", "%d.%m.%Y"]))
def test_parse_dob_reads_common_forms(d, fmt):
    assert parse_dob(d.strftime(fmt)) == d


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_swapped_dob_is_a_different_valid_date_or_none(d):
    s = swapped_dob(d)
    assert s is None or (s != d and (s.day, s.month) == (d.month, d.day))


def test_parse_dob_refuses_nonsense():
    with pytest.raises(SvocError, match="not a date"):
        parse_dob("next tuesday")


@pytest.mark.parametrize(("recorded", "given", "expected"), [
    (None, (None, None), (0.95, 0.5)),
    ('{"link": 0.9, "review": [0.6, 0.9]}', (None, None), (0.9, 0.6)),
    ('{"link": 0.9, "review": [0.6, 0.9]}', (0.99, 0.7), (0.99, 0.7)),
    ('{"link": 0.5, "review": [0.5, 0.5]}', (None, 0.8), (0.5, 0.5)),
])
def test_bands_follow_the_nightly_thresholds(wh, recorded, given, expected):
    from svoc.find.lookup import run_thresholds
    from svoc.review.access import reader

    if recorded:
        con = duckdb.connect(str(wh))
        con.execute("INSERT INTO audit.runs (run_id, started_at, finished_at, status, thresholds) "
                    "VALUES ('r1', now(), now(), 'success', ?)", [recorded])
        con.close()
    with reader(wh) as w:
        assert run_thresholds(w, *given) == expected
    r = _find(wh, Finder(*given), first_name="Bill", last_name="Jones", dob="2012-03-04")  # and a search runs
    assert r.candidates[0].citizen_id == "C-WILL"
