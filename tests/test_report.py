"""The IG run report: robust on empty warehouses, self-contained, and showing the warehouse's real numbers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from svoc.report import charts, write_report
from svoc.report.data import compare_fields, prior_weight, weight
from svoc.warehouse.sql import ensure_tables
from tests.browser import chromium, decode_png, load_page
from tests.e2e import DEMO, query

EXTERNAL = re.compile(r"""(<script|<link\b|@import|url\(|src=|href=["']?(?:https?:)?//)""", re.I)


def _check_self_contained(html: str) -> None:
    assert not EXTERNAL.search(html), EXTERNAL.search(html).group(0)


@pytest.mark.parametrize(("m", "u", "expected"), [(0.5, 0.5, 0.0), (0.8, 0.1, 3.0), (0.1, 0.8, -3.0),
                                                  (None, 0.1, None), (0.5, 0.0, None)])
def test_weight(m, u, expected):
    assert weight(m, u) == expected


@pytest.mark.parametrize(("p", "expected"), [(0.5, 0.0), (0.2, -2.0), (None, 0.0), (1.0, 0.0)])
def test_prior_weight(p, expected):
    assert prior_weight(p) == pytest.approx(expected)


def test_compare_fields_states():
    rows = {r["field"]: r["state"] for r in compare_fields({"first_name": "Amy", "last_name": "Smith", "sex": "F"},
                                                           {"first_name": "amy ", "last_name": "Smyth"})}
    assert rows["first name"] == "agree" and rows["last name"] == "differ" and rows["sex"] == "missing"


def test_waterfall_shows_every_step_and_total():
    items = [{"comparison": "dob", "level": "date of birth exact match", "match_weight": 10.0},
             {"comparison": "sex", "level": "sex different", "match_weight": -2.5},
             {"comparison": "nhs_number", "level": "exact", "match_weight": None},
             {"comparison": "model_score", "level": "scored", "match_weight": 99.0}]
    svg = charts.waterfall(-4.0, items)
    assert svg.startswith("<svg") and "date of birth exact match" in svg and "sex different" in svg
    assert "+3.5" in svg  # -4 + 10 - 2.5; the model score is a total, not a step
    assert "+99" not in svg


def test_histogram_and_bars_handle_empty_input():
    assert "No scored pairs" in charts.histogram([])
    assert "No estimated weights" in charts.weight_bars([{"label": "x", "weight": None}], "t")
    svg = charts.histogram([{"status": "linked", "bin": 20, "pairs": 7}, {"status": "review", "bin": 2, "pairs": 3}])
    assert svg.count("<rect") >= 2 + 2  # two bars, two legend swatches


@pytest.mark.parametrize("tables", [False, True])
def test_report_on_empty_warehouse(tmp_path, tables):
    """First run / no tables at all: the report still renders, with 'nothing yet' messages."""
    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    if tables:
        ensure_tables(con)
    con.close()
    path = write_report(wh)
    html = path.read_text()
    assert path.name.startswith("w_report_") and (tmp_path / "w_report.html").read_text() == html
    assert "No decisions yet" in html and "No changes recorded" in html
    _check_self_contained(html)


def test_report_with_decision_and_no_truth(tmp_path):
    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    ensure_tables(con)
    con.execute("INSERT INTO audit.runs (run_id, started_at, finished_at, status, drop) VALUES "
                "('r1', now() - INTERVAL 1 HOUR, now() - INTERVAL 50 MINUTE, 'success', 'd'), "
                "('r2', now(), now(), 'success', 'd')")
    con.execute("INSERT INTO linked.record_citizen VALUES ('health', 'H1', 'C1', 'singleton', NULL, 'r2'), "
                "('police', 'N1', 'C2', 'singleton', NULL, 'r2')")
    con.execute("INSERT INTO audit.review_decisions VALUES ('p1', 'health:H1', 'police:N1', 'different', 'ann', "
                "'different mothers', now() - INTERVAL 10 MINUTE), ('p2', 'health:H1', 'police:N1', 'same', 'bo', "
                "'checked again', now() + INTERVAL 1 MINUTE)")
    con.close()
    html = write_report(wh).read_text()
    in_force, pending = html.split('id="pending-decisions"')
    assert "different mothers" in in_force and "checked again" in pending and "checked again" not in in_force
    assert "r2" in html and "different mothers" in html and "ann" in html
    assert "health – police" in html  # decision outcomes by source pair stand in for error rates


@pytest.fixture(scope="module")
def demo_report(demo_run, tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("report")
    wh = tmp / demo_run.name
    shutil.copyfile(demo_run, wh)
    return wh, write_report(wh, truth=DEMO / "truth.csv")


@pytest.mark.slow
def test_report_of_real_run_content(demo_report):
    wh, path = demo_report
    html = path.read_text()
    _check_self_contained(html)
    run_id = query(wh, "SELECT run_id FROM audit.runs WHERE status = 'success' ORDER BY finished_at DESC")[0][0]
    assert run_id[:8] in path.name and run_id in html
    n_comparisons = len(json.loads(query(wh, "SELECT settings_json FROM audit.models")[0][0])["comparisons"])
    assert html.count('class="model"') == n_comparisons
    n_queue = query(wh, "SELECT count(*) FROM audit.review_queue WHERE status = 'open'")[0][0]
    assert html.count('<details class="pair"') == min(n_queue, 200)
    assert "By ethnicity" in html and "By age band" in html


JS = """(() => {
  const num = id => document.getElementById(id).innerText.replace(/,/g, '');
  const rows = [...document.querySelectorAll('#files tr')].slice(1).map(
      tr => [...tr.querySelectorAll('td')].map(td => td.innerText.replace(/,/g, '')));
  const methods = [...document.querySelectorAll('#methods tr')].slice(1).map(
      tr => [...tr.querySelectorAll('td')].slice(0, 2).map(td => td.innerText.replace(/,/g, '')));
  return {records: num('n-records'), citizens: num('n-citizens'), quarantined: num('n-quarantined'),
          queue: num('n-queue'), files: rows, methods: methods, svgs: document.querySelectorAll('svg').length,
          text: document.body.innerText.length};
})()"""


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (.ci/system-deps.sh installs it)")
def test_report_in_headless_chromium(demo_report, tmp_path):
    wh, path = demo_report
    page = load_page(path, JS)
    (tmp_path / "report.png").write_bytes(page.screenshot)
    # offline: the only request is the file itself; no console output, no errors
    assert page.requests == [path.resolve().as_uri()]
    assert page.console == [] and page.exceptions == [] and page.log_errors == []
    # not blank: the screenshot has plenty of non-white pixels
    pixels = decode_png(page.small_screenshot)[..., :3]
    non_white = (pixels < 240).any(axis=-1).mean()
    assert 0.01 < non_white < 0.9
    # the numbers shown are the warehouse's
    v = page.values
    n_rec, n_cit = query(wh, "SELECT count(*), count(DISTINCT citizen_id) FROM linked.record_citizen")[0]
    assert (int(v["records"]), int(v["citizens"])) == (n_rec, n_cit)
    assert int(v["quarantined"]) == query(wh, "SELECT count(*) FROM quarantine.rows")[0][0]
    assert int(v["queue"]) == query(wh, "SELECT count(*) FROM audit.review_queue WHERE status = 'open'")[0][0]
    files = query(wh, "SELECT source, file, lines_in, records_out, quarantined FROM audit.file_accounts "
                      "WHERE run_id = (SELECT run_id FROM audit.runs ORDER BY finished_at DESC LIMIT 1) "
                      "ORDER BY source, file")
    # columns: source, file, lines in, rows in (= records + quarantined), records out, quarantined
    assert [(s, f, int(a), int(b), int(c)) for s, f, a, _rows_in, b, c in v["files"]] == files
    assert all(int(r) == int(b) + int(c) for _s, _f, _a, r, b, c in v["files"])
    methods = dict(query(wh, "SELECT link_method, count(*) FROM linked.record_citizen GROUP BY 1"))
    assert {m: int(n) for m, n in v["methods"]} == methods
    assert v["svgs"] >= 1 + 8  # histogram + one chart per comparison (+ waterfalls)
