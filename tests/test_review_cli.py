"""The review workflow CLI: list / show / decide / explain, the access log, the purpose rule, and the full loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from matching.review import pair_id
from svoc.cli import app
from svoc.report import write_report
from svoc.state import default_state_path, open_store
from svoc.warehouse.sql import ensure_tables
from tests.e2e import DEMO, query, run_cli

runner = CliRunner()
RUN = "run-0001"


def _ev(*items: tuple[str, str, float | None]) -> str:
    return json.dumps([{"comparison": c, "level": lvl, "match_weight": w} for c, lvl, w in items])


@pytest.fixture()
def tiny(tmp_path) -> Path:
    """A warehouse with one three-record child (NHS link + probabilistic link), one singleton and one queued pair."""
    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    ensure_tables(con)
    con.execute("INSERT INTO audit.runs (run_id, started_at, finished_at, status) VALUES (?, now(), now(), 'success')",
                [RUN])
    recs = [("health", "H1", "Amy", "Smith"), ("social_care", "S1", "Amy", "Smith"), ("education", "P1", "Aimee", "Smith"),
            ("police", "N1", "Amy", "Smyth")]
    for src, rid, first, last in recs:
        con.execute("INSERT INTO staging.identity_records (source, source_record_id, first_name, last_name, dob) "
                    "VALUES (?, ?, ?, ?, DATE '2012-03-04')", [src, rid, first, last])
    con.execute("INSERT INTO linked.record_citizen VALUES ('health','H1','C1','nhs_number',1.0,?), "
                "('social_care','S1','C1','nhs_number',1.0,?), ('education','P1','C1','probabilistic',0.99,?), "
                "('police','N1','C2','singleton',NULL,?)", [RUN] * 4)
    nhs_ev = json.dumps([{"comparison": "nhs_number", "level": "exact", "match_weight": None}])
    prob_ev = _ev(("first_name", "nickname/transliteration group match", 3.9), ("dob", "date of birth exact match", 10.9),
                  ("last_name", "surname exact match", 8.5), ("sex", "sex matches", 1.0))
    for lk, rk, method, p, ev in [("health:H1", "social_care:S1", "nhs_number", 1.0, nhs_ev),
                                ("education:P1", "health:H1", "probabilistic", 0.99, prob_ev)]:
        (sl, il), (sr, ir) = lk.split(":"), rk.split(":")
        con.execute("INSERT INTO audit.match_evidence (run_id, unique_id_l, unique_id_r, source_l, source_record_id_l, "
                    "source_r, source_record_id_r, match_probability, link_method, status, evidence) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'linked', ?)", [RUN, lk, rk, sl, il, sr, ir, p, method, ev])
    con.execute("INSERT INTO audit.review_queue VALUES (?, 'health:H1', 'police:N1', 0.8, 2.0, "
                "'insufficient_identity_evidence', ?, 'open', ?)",
                [pair_id("health:H1", "police:N1"), _ev(("last_name", "surname similar", 3.1)), RUN])
    con.close()
    return wh


def _access(wh: Path) -> list[tuple]:
    """The access log, from the state store beside the warehouse (oldest first)."""
    with open_store(wh, migrate=False) as store:
        return [(e.who, e.command, e.subject, e.purpose) for e in reversed(store.access_log())]


def _decisions(wh: Path) -> list[tuple]:
    with open_store(wh, migrate=False) as store:
        df = store.decisions()
    return [tuple(r) for r in df[["pair_id", "unique_id_l", "unique_id_r", "decision", "reviewer", "reason"]]
            .itertuples(index=False)]


def test_list_shows_queue(tiny):
    res = runner.invoke(app, ["review", "list", "--warehouse", str(tiny)])
    assert res.exit_code == 0, res.output
    assert pair_id("health:H1", "police:N1") in res.output and "health – police" in res.output


@pytest.mark.parametrize("args", [
    ["review", "show", "PAIR"],
    ["review", "decide", "PAIR", "same", "--reviewer", "ann", "--reason", "x"],
    ["explain", "C1"],
    ["explain", "C1", "--purpose", "   "],
])
def test_purpose_required(tiny, args):
    args = [a.replace("PAIR", pair_id("health:H1", "police:N1")) for a in args]
    res = runner.invoke(app, [*args, "--warehouse", str(tiny)])
    assert res.exit_code != 0
    assert "--purpose is required" in res.output and "Amy" not in res.output
    assert len([ln for ln in res.output.strip().splitlines() if ln.strip()]) <= 2
    assert not _access(tiny)


def test_show_logs_and_shows_side_by_side(tiny):
    pid = pair_id("health:H1", "police:N1")
    res = runner.invoke(app, ["review", "show", pid, "--warehouse", str(tiny), "--purpose", "S47 enquiry",
                              "--user", "ann"])
    assert res.exit_code == 0, res.output
    assert "Smith" in res.output and "Smyth" in res.output and "differ" in res.output and "surname similar" in res.output
    assert _access(tiny) == [("ann", "review show", f"pair {pid}", "S47 enquiry")]


def test_decide_appends_and_logs(tiny):
    pid = pair_id("health:H1", "police:N1")
    for decision in ("different", "same"):
        res = runner.invoke(app, ["review", "decide", pid, decision, "--reviewer", "bob", "--reason", "checked",
                                  "--purpose", "queue", "--warehouse", str(tiny)])
        assert res.exit_code == 0, res.output
    rows = _decisions(tiny)
    assert rows == [(pid, "health:H1", "police:N1", "different", "bob", "checked"),
                    (pid, "health:H1", "police:N1", "same", "bob", "checked")]  # appended, never edited
    assert [r[1] for r in _access(tiny)] == ["review decide different", "review decide same"]
    bad = runner.invoke(app, ["review", "decide", pid, "maybe", "--reviewer", "bob", "--reason", "x",
                              "--purpose", "q", "--warehouse", str(tiny)])
    assert bad.exit_code != 0 and "same' or 'different" in bad.output
    assert len(_decisions(tiny)) == 2
    assert not query(tiny, "SELECT * FROM audit.review_decisions")  # the warehouse is never written
    with open_store(tiny) as store:
        seen = store.latest_decision("health:H1", "police:N1")["evidence_seen"]
    assert {"field": "last name", "left": "Smith", "right": "Smyth", "state": "differ"} in seen["fields"]
    listed = runner.invoke(app, ["review", "list", "--warehouse", str(tiny)])
    assert "queue is empty" in listed.output  # a decided pair leaves the queue at once


def test_decide_on_linked_pair_by_keys(tiny):
    res = runner.invoke(app, ["review", "decide", "health:H1,education:P1", "different", "--reviewer", "cy",
                              "--reason", "different DOB on birth certificate", "--purpose", "complaint",
                              "--warehouse", str(tiny)])
    assert res.exit_code == 0, res.output
    assert [r[1:4] for r in _decisions(tiny)] == [("education:P1", "health:H1", "different")]


def test_explain_three_record_child(tiny):
    res = runner.invoke(app, ["explain", "C1", "--warehouse", str(tiny), "--purpose", "court order", "--user", "dee"])
    assert res.exit_code == 0, res.output
    out = res.output
    for key in ("health:H1", "social_care:S1", "education:P1"):
        assert key in out
    assert "nhs_number" in out and "NHS number identical" in out
    assert "probabilistic" in out and "date of birth exact match (+10.9)" in out
    assert _access(tiny) == [("dee", "explain", "citizen C1", "court order")]


def test_explain_shows_source_name_dob_and_what_the_steward_saw(tiny):
    con = duckdb.connect(str(tiny))
    con.execute("UPDATE linked.record_citizen SET citizen_id = 'C1', link_method = 'steward' WHERE source = 'police'")
    con.execute("INSERT INTO audit.match_evidence (run_id, unique_id_l, unique_id_r, source_l, source_record_id_l, "
                "source_r, source_record_id_r, match_probability, link_method, status, evidence) VALUES "
                "(?, 'health:H1', 'police:N1', 'health', 'H1', 'police', 'N1', 0.8, 'steward', 'linked', '[]')", [RUN])
    con.close()
    res = runner.invoke(app, ["review", "decide", "health:H1,police:N1", "same", "--reviewer", "eve", "--reason",
                              "same mother and address", "--purpose", "queue", "--warehouse", str(tiny)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["explain", "C1", "--warehouse", str(tiny), "--purpose", "SAR 7"])
    assert res.exit_code == 0, res.output
    assert "Amy Smyth" in res.output and "2012-03-04" in res.output and "police" in res.output
    assert "reviewer eve decided same" in res.output and "same mother and address" in res.output
    assert "What eve saw" in res.output and "Smyth" in res.output


def test_state_store_file_is_private_and_wal(tiny):
    runner.invoke(app, ["explain", "C1", "--warehouse", str(tiny), "--purpose", "p"])
    store = default_state_path(tiny)
    assert store.name == "w_state.sqlite" and store.stat().st_mode & 0o777 == 0o600
    import sqlite3

    assert sqlite3.connect(store).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('ok', flush=True); time.sleep(60)"


def test_review_and_explain_work_while_readers_hold_the_warehouse(tiny):
    """Issue 14/5: a read-only connection here AND another process's connection stay open throughout."""
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", HOLD, str(tiny)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ok"
        mine = duckdb.connect(str(tiny), read_only=True)
        try:
            pid = pair_id("health:H1", "police:N1")
            res = runner.invoke(app, ["review", "decide", pid, "same", "--reviewer", "ann", "--reason", "checked",
                                      "--purpose", "queue", "--warehouse", str(tiny)])
            assert res.exit_code == 0, res.output
            res = runner.invoke(app, ["explain", "C1", "--warehouse", str(tiny), "--purpose", "court order"])
            assert res.exit_code == 0, res.output
            assert mine.execute("SELECT count(*) FROM linked.record_citizen").fetchone()[0] == 4  # still reading
        finally:
            mine.close()
    finally:
        other.kill()
        other.wait()
    assert [r[1] for r in _access(tiny)] == ["review decide same", "explain"]


def test_a_read_write_holder_gives_one_plain_line(tiny):
    import subprocess
    import sys

    hold_rw = HOLD.replace(", read_only=True", "")
    other = subprocess.Popen([sys.executable, "-c", hold_rw, str(tiny)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ok"
        res = runner.invoke(app, ["explain", "C1", "--warehouse", str(tiny), "--purpose", "p"])
    finally:
        other.kill()
        other.wait()
    assert res.exit_code != 0
    assert "holds the warehouse open for writing" in res.output
    assert "IOException" not in res.output and "Conflicting lock" not in res.output


def test_legacy_rows_in_the_warehouse_are_migrated_once(tiny):
    con = duckdb.connect(str(tiny))
    con.execute("INSERT INTO audit.review_decisions VALUES ('old', 'health:H1', 'police:N1', 'same', 'old-ig', "
                "'from 2025', TIMESTAMP '2025-01-02 03:04:05')")
    con.execute("INSERT INTO audit.access_log VALUES (TIMESTAMP '2025-01-02 03:00:00', 'old-ig', 'explain', "
                "'citizen C1', 'legacy')")
    con.close()
    for _ in range(2):
        assert runner.invoke(app, ["review", "list", "--warehouse", str(tiny)]).exit_code == 0
    assert _decisions(tiny) == [("old", "health:H1", "police:N1", "same", "old-ig", "from 2025")]
    assert _access(tiny) == [("old-ig", "explain", "citizen C1", "legacy")]


@pytest.mark.slow
def test_review_loop_end_to_end(demo_run, tmp_path):
    """run → decide different on a probabilistic link and same on a queued pair → run → both honoured."""
    wh = tmp_path / "warehouse" / "svoc.duckdb"
    wh.parent.mkdir()
    shutil.copyfile(demo_run, wh)
    split_l, split_r = query(wh, """
        SELECT e.unique_id_l, e.unique_id_r FROM audit.match_evidence e
        JOIN linked.record_citizen a ON a.source || ':' || a.source_record_id = e.unique_id_l
        WHERE e.status = 'linked' AND e.link_method = 'probabilistic'
          AND (SELECT count(*) FROM linked.record_citizen c WHERE c.citizen_id = a.citizen_id) = 2
        ORDER BY e.match_probability, e.unique_id_l LIMIT 1""")[0]
    queued = query(wh, """
        SELECT pair_id, unique_id_l, unique_id_r FROM audit.review_queue
        WHERE status = 'open' AND reason NOT LIKE 'held_apart%'
        ORDER BY (reason = 'insufficient_identity_evidence') DESC, match_probability DESC, pair_id LIMIT 1""")
    if not queued:  # thresholds set from the model can leave no such pair: two singletons without conflicts
        queued = [(None, *query(wh, """
            WITH s AS (SELECT i.* FROM staging.identity_records i JOIN linked.record_citizen c
                       USING (source, source_record_id) WHERE c.link_method = 'singleton')
            SELECT a.source || ':' || a.source_record_id, b.source || ':' || b.source_record_id FROM s a JOIN s b
              ON a.source < b.source AND (a.nhs_number IS NULL OR b.nhs_number IS NULL)
             AND (a.upn IS NULL OR b.upn IS NULL)
            ORDER BY 1, 2 LIMIT 1""")[0])]
    same_pid, same_l, same_r = queued[0]
    same_pid = same_pid or f"{same_l},{same_r}"
    assert {split_l, split_r}.isdisjoint({same_l, same_r})
    import subprocess
    import sys

    reader = subprocess.Popen([sys.executable, "-c", HOLD, str(wh)], stdout=subprocess.PIPE, text=True)
    try:  # an analyst reads the warehouse while IG decides
        assert reader.stdout.readline().strip() == "ok"
        run_cli("review", "decide", f"{split_l},{split_r}", "different", "--reviewer", "ann", "--reason",
                "different mothers on birth records", "--purpose", "data quality review", "--warehouse", str(wh),
                tmp=tmp_path)
        run_cli("review", "decide", same_pid, "same", "--reviewer", "bob", "--reason",
                "same child after a house move", "--purpose", "data quality review", "--warehouse", str(wh),
                tmp=tmp_path)
    finally:
        reader.kill()
        reader.wait()
    run_cli("run", "--drop", str(DEMO), "--warehouse", str(wh), tmp=tmp_path)

    cit = dict(query(wh, "SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen"))
    assert cit[split_l] != cit[split_r]
    run_id = query(wh, "SELECT run_id FROM audit.runs WHERE status = 'success' ORDER BY finished_at DESC")[0][0]
    assert query(wh, "SELECT count(*) FROM audit.citizen_events WHERE run_id = ? AND event = 'split'", [run_id])[0][0]
    assert cit[same_l] == cit[same_r]
    methods = dict(query(wh, "SELECT source || ':' || source_record_id, link_method FROM linked.record_citizen "
                             "WHERE source || ':' || source_record_id IN (?, ?)", [same_l, same_r]))
    assert "steward" in methods.values()
    assert not query(wh, "SELECT * FROM audit.review_queue WHERE pair_id = ?", [pair_id(same_l, same_r)])
    # the decisions are published with the rebuild, the access log stays in the state store only
    assert [r[0] for r in query(wh, "SELECT reviewer FROM audit.review_decisions ORDER BY decided_at")] == ["ann", "bob"]
    assert len(_access(wh)) == 2 and not query(wh, "SELECT * FROM audit.access_log")
    html = write_report(wh, run_id).read_text()
    assert "different mothers on birth records" in html and "same child after a house move" in html


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, 1), ({"reason": "insufficient"}, 1), ({"reason": "twin"}, 0), ({"source_pair": "police - health"}, 1),
    ({"source_pair": "education – health"}, 0), ({"band": "high"}, 1), ({"band": "low"}, 0), ({"sort": "age"}, 1),
])
def test_queue_page_filters_and_sorts(tiny, filters, expected):
    from svoc.review.access import reader
    from svoc.review.pairs import queue_page

    with reader(tiny) as w:
        total, rows = queue_page(w, **filters)
        assert total == expected == len(rows)
        assert queue_page(w, {pair_id("health:H1", "police:N1")}, **filters)[0] == 0  # decided: gone at once
    if rows:
        assert rows[0]["source_pair"] == "health – police" and rows[0]["queued_at"] is not None


def test_a_missing_warehouse_is_one_line_and_leaves_no_state_file(tmp_path):
    wh = tmp_path / "nope.duckdb"
    res = runner.invoke(app, ["explain", "C1", "--warehouse", str(wh), "--purpose", "p"])
    assert res.exit_code != 0 and "no such warehouse" in res.output
    assert not default_state_path(wh).exists()


@pytest.mark.parametrize("later_run", ["run-0000", "run-zzzz"])  # the later run's id sorts before / after
def test_a_pair_outside_the_queue_shows_the_latest_runs_evidence(tiny, later_run):
    from svoc.report.data import Warehouse
    from svoc.review.pairs import resolve_pair

    con = duckdb.connect(str(tiny))
    con.execute("INSERT INTO audit.runs (run_id, started_at, finished_at, status) VALUES "
                "(?, now() + INTERVAL 1 DAY, now() + INTERVAL 1 DAY, 'success')", [later_run])
    con.execute("INSERT INTO audit.match_evidence SELECT * REPLACE (? AS run_id, 0.97 AS match_probability) "
                "FROM audit.match_evidence WHERE run_id = ? AND unique_id_l = 'education:P1'", [later_run, RUN])
    try:
        shown = resolve_pair(Warehouse(con), "education:P1,health:H1")
    finally:
        con.close()
    assert shown["match_probability"] == 0.97 and shown["reason"] == "probabilistic"
