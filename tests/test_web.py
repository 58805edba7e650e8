"""The web workspace's pure helpers, without a browser or HTTP: the queue's filters, sorting and groups, the
timeline chart, the rate limit, the form-token check and the list upload's name and column mapping. HTTP, accounts
and sessions are in test_web_http.py; the CLI commands in test_web_cli.py."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import SvocError
from svoc.web.charts import timeline_svg, year_ticks
from svoc.web.queue import age_band, band, clusters, enrich, filter_pairs, sort_pairs
from svoc.web.security import RateLimiter, tokens_match


# ---------------------------------------------------------------------- the queue
def _pair(pid: str, left: str, right: str, p: float | None, reason: str = "weak") -> dict:
    return {"pair_id": pid, "unique_id_l": left, "unique_id_r": right, "match_probability": p, "reason": reason,
            "queued_run_id": "run1"}


QUEUE = enrich([_pair("a", "education:1", "health:1", 0.9), _pair("b", "health:1", "police:7", 0.55, "dob"),
                _pair("c", "police:2", "social_care:3", 0.2), _pair("d", "education:5", "health:9", None, "dob")],
               {"education:1": dt.date(2015, 6, 1), "health:1": dt.date(2015, 6, 1), "police:2": dt.date(2008, 1, 1),
                "social_care:3": dt.date(2009, 1, 1)}, {"run1": dt.datetime(2026, 11, 1, 2)}, dt.date(2026, 11, 11))


@pytest.mark.parametrize(("p", "expected"), [(0.95, "likely"), (0.8, "likely"), (0.79, "uncertain"), (0.5, "uncertain"),
                                             (0.49, "unlikely"), (None, "unlikely")])
def test_band(p, expected):
    assert band(p) == expected


@pytest.mark.parametrize(("age", "expected"), [(0, "under 5"), (4, "under 5"), (5, "5-10"), (10, "5-10"),
                                               (11, "11-15"), (16, "16+"), (None, "unknown")])
def test_age_band(age, expected):
    assert age_band(age) == expected


def test_enrich_gives_source_pair_age_and_waiting():
    a = next(r for r in QUEUE if r["pair_id"] == "a")
    assert (a["source_pair"], a["age"], a["age_band"], a["waiting_days"]) == ("education – health", 11, "11-15", 10)
    c = next(r for r in QUEUE if r["pair_id"] == "c")
    assert c["age"] == 17  # the younger record's age
    assert next(r for r in QUEUE if r["pair_id"] == "d")["age_band"] == "unknown"


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, {"a", "b", "c", "d"}), ({"reason": "dob"}, {"b", "d"}), ({"band_": "uncertain"}, {"b"}),
    ({"pair": "education – health"}, {"a", "d"}), ({"age": "16+"}, {"c"}), ({"reason": "dob", "band_": "likely"}, set()),
])
def test_filter_pairs(filters, expected):
    assert {r["pair_id"] for r in filter_pairs(QUEUE, **filters)} == expected


@pytest.mark.parametrize(("key", "expected"), [("probability", ["a", "b", "c", "d"]), ("age", ["a", "b", "c", "d"]),
                                               ("sources", ["a", "d", "b", "c"]), ("nonsense", ["a", "b", "c", "d"])])
def test_sort_pairs(key, expected):
    assert [r["pair_id"] for r in sort_pairs(QUEUE, key)] == expected


def test_clusters_join_records_through_shared_pairs():
    groups = clusters(QUEUE)
    assert [g["keys"] for g in groups][0] == ["education:1", "health:1", "police:7"]
    assert sorted(len(g["keys"]) for g in groups) == [2, 2, 3]
    assert len({g["id"] for g in groups}) == 3


# ---------------------------------------------------------------------- the timeline
def test_timeline_has_a_mark_per_event_and_a_lane_per_source():
    events = [{"source": "health", "event_type": "ed_attendance", "event_date": dt.date(2020, 5, 1)},
              {"source": "police", "event_type": "missing", "event_date": dt.date(2022, 1, 3)},
              {"source": "social_care", "event_type": "cp_plan", "event_date": dt.date(2021, 2, 1),
               "end_date": dt.date(2021, 9, 1)}]
    svg = ET.fromstring(timeline_svg(events))
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f"{ns}circle")) == 3 + 3  # events + legend
    assert len(svg.findall(f"{ns}rect")) == 1  # the plan's span
    assert "2021-02-01 to 2021-09-01 · social_care · cp_plan" in [t.text for t in svg.iter(f"{ns}title")]
    assert timeline_svg([]) == ""


@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=20), st.dates(dt.date(1990, 1, 1),
                                                                                          dt.date(2030, 1, 1))),
                min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_timeline_is_well_formed_whatever_the_text(events):
    svg = timeline_svg([{"source": s, "event_type": t, "event_date": d} for s, t, d in events])
    ET.fromstring(svg)  # parses: every source and event text is escaped


def test_year_ticks_are_thinned_for_long_spans():
    assert len(year_ticks(dt.date(1900, 1, 1), dt.date(2030, 1, 1))) <= 13
    assert year_ticks(dt.date(2020, 3, 1), dt.date(2022, 2, 1)) == [dt.date(2021, 1, 1), dt.date(2022, 1, 1)]


# ---------------------------------------------------------------------- guards
def test_rate_limiter_counts_per_user_in_a_sliding_window():
    now = [0.0]
    limiter = RateLimiter(2, window=60, clock=lambda: now[0])
    assert limiter.allow("pat") and limiter.allow("pat")
    assert not limiter.allow("pat")
    assert limiter.allow("ian")  # another user has their own allowance
    now[0] = 61.0
    assert limiter.allow("pat")


@pytest.mark.parametrize(("expected", "given_", "ok"), [("abc", "abc", True), ("abc", "abd", False),
                                                       ("abc", "", False), ("", "", False), (None, "x", False)])
def test_tokens_match(expected, given_, ok):
    assert tokens_match(expected, given_) is ok


@pytest.mark.parametrize(("filename", "expected"), [
    ("absence week 12.csv", "absence_week_12.csv"), ("../../etc/x.xlsx", "x.xlsx"),
    ("C:\\\\lists\\\\referrals.CSV", "C_lists_referrals.CSV"), ("list.txt", None), ("", None), (None, None)])
def test_safe_list_name(filename, expected):
    from svoc.web.lists import safe_list_name

    if expected is None:
        with pytest.raises(SvocError, match=".csv or .xlsx"):
            safe_list_name(filename)
    else:
        assert safe_list_name(filename) == expected


def test_list_mapping_from_the_form():
    from svoc.web.lists import mapping_from

    assert mapping_from({"map_first_name": " Forename ", "map_dob": "DOB", "map_upn": ""}) == {
        "first_name": "Forename", "dob": "DOB"}
    with pytest.raises(SvocError, match="map at least one"):
        mapping_from({"map_first_name": " "})
