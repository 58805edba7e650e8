"""The web workspace without a browser: the queue's filters, sorting and groups, the timeline chart, the rate
limit, accounts and sessions (argon2, expiry), OpenID Connect configuration, reopening the warehouse after a
swap, HTTP guards (CSRF, cookies, headers, roles, rate limit) and the CLI commands."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from schemas.errors import SvocError
from svoc.state import open_store
from svoc.web import OidcSettings, WebConfig, WebSettings, create_app
from svoc.web.accounts import Accounts, User
from svoc.web.charts import timeline_svg, year_ticks
from svoc.web.live import LiveWarehouse
from svoc.web.oidc import oidc_client, user_from_claims
from svoc.web.queue import age_band, band, clusters, enrich, filter_pairs, sort_pairs
from svoc.web.security import RateLimiter, tokens_match
from tests.e2e import CLI, ROOT, cli_env

OIDC_ENV = ("SVOC_OIDC_ISSUER", "SVOC_OIDC_CLIENT_ID", "SVOC_OIDC_CLIENT_SECRET")


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


# ---------------------------------------------------------------------- accounts and sessions
@pytest.fixture()
def accounts(tmp_path) -> Accounts:
    with open_store(tmp_path / "w.duckdb") as store:
        yield Accounts(store.engine)


def test_passwords_are_stored_as_argon2_hashes(accounts, tmp_path):
    accounts.add("pat", "practitioner", "correct horse battery")
    assert accounts.verify("pat", "correct horse battery") == User("pat", "practitioner")
    assert accounts.verify("pat", "wrong horse battery") is None
    assert accounts.verify("nobody", "correct horse battery") is None
    import sqlite3

    con = sqlite3.connect(tmp_path / "w_state.sqlite")
    (stored,), = con.execute("SELECT password_hash FROM web_accounts WHERE username = 'pat'").fetchall()
    con.close()
    assert stored.startswith("$argon2id$") and "correct horse battery" not in stored
    assert oct((tmp_path / "w_state.sqlite").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(("name", "role", "password", "message"), [
    ("pat", "practitioner", "short", "at least 12"), ("pat", "superuser", "long enough password", "not one of"),
    ("../x", "admin", "long enough password", "user name")])
def test_bad_accounts_are_refused(accounts, name, role, password, message):
    with pytest.raises(SvocError, match=message):
        accounts.add(name, role, password)


def test_sessions_expire_when_idle_or_old_and_end_on_sign_out(accounts):
    accounts.add("ian", "ig_officer", "a long password 1")
    token, session = accounts.start_session(User("ian", "ig_officer"))
    idle, life = dt.timedelta(minutes=30), dt.timedelta(hours=10)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert accounts.session(token, idle=idle, lifetime=life, now=now + dt.timedelta(minutes=20)).csrf == session.csrf
    assert accounts.session(token, idle=idle, lifetime=life, now=now + dt.timedelta(minutes=45)) is not None
    assert accounts.session(token, idle=idle, lifetime=life, now=now + dt.timedelta(minutes=90)) is None  # idle
    token, _ = accounts.start_session(User("ian", "ig_officer"))
    late = now + dt.timedelta(hours=11)
    for minutes in range(0, 11 * 60, 25):  # kept busy, but past its lifetime
        accounts.session(token, idle=idle, lifetime=life, now=now + dt.timedelta(minutes=minutes))
    assert accounts.session(token, idle=idle, lifetime=life, now=late) is None
    token, _ = accounts.start_session(User("ian", "ig_officer"))
    accounts.end_session(token)
    assert accounts.session(token, idle=idle, lifetime=life) is None
    token, _ = accounts.start_session(User("ian", "ig_officer"))
    accounts.disable("ian")
    assert accounts.session(token, idle=idle, lifetime=life) is None
    assert accounts.verify("ian", "a long password 1") is None


# ---------------------------------------------------------------------- OpenID Connect
@pytest.fixture()
def no_oidc_env(monkeypatch):
    for name in OIDC_ENV:
        monkeypatch.delenv(name, raising=False)


def test_oidc_is_off_when_unset(no_oidc_env, tmp_path):
    assert not OidcSettings().enabled and oidc_client(OidcSettings()) is None
    with _client(tmp_path) as c:
        assert "/auth/oidc" not in c.get("/login").text
        assert c.get("/auth/oidc", follow_redirects=False).status_code == 404


def test_oidc_is_configured_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SVOC_OIDC_ISSUER", "https://login.council.example/realms/svoc")
    monkeypatch.setenv("SVOC_OIDC_CLIENT_ID", "svoc-workspace")
    monkeypatch.setenv("SVOC_OIDC_CLIENT_SECRET", "s3cret")
    settings_ = OidcSettings()
    client = oidc_client(settings_)
    assert client.client_id == "svoc-workspace"
    assert client._server_metadata_url == ("https://login.council.example/realms/svoc/.well-known/"
                                           "openid-configuration")
    assert "s3cret" not in repr(settings_)
    with _client(tmp_path, oidc=settings_) as c:
        assert 'href="/auth/oidc"' in c.get("/login").text


@pytest.mark.parametrize(("env", "message"), [
    ({"SVOC_OIDC_ISSUER": "https://idp.example"}, "SVOC_OIDC_CLIENT_ID, SVOC_OIDC_CLIENT_SECRET"),
    ({"SVOC_OIDC_ISSUER": "http://idp.example", "SVOC_OIDC_CLIENT_ID": "x", "SVOC_OIDC_CLIENT_SECRET": "y"}, "https"),
    ({"SVOC_OIDC_ISSUER": "https://idp.example", "SVOC_OIDC_CLIENT_ID": "x", "SVOC_OIDC_CLIENT_SECRET": "y",
      "SVOC_OIDC_DEFAULT_ROLE": "root"}, "DEFAULT_ROLE")])
def test_bad_oidc_settings_are_refused(no_oidc_env, monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SvocError, match=message):
        oidc_client(OidcSettings())


@pytest.mark.parametrize(("claims", "default", "expected"), [
    ({"preferred_username": "ann", "svoc_role": "ig_officer"}, None, ("ann", "ig_officer")),
    ({"email": "bob@council.example", "svoc_role": ["staff", "practitioner"]}, None,
     ("bob@council.example", "practitioner")),
    ({"sub": "123"}, "practitioner", ("123", "practitioner")),
    ({"sub": "123"}, None, "no svoc role"), ({"svoc_role": "admin"}, None, "did not say who")])
def test_user_from_claims(claims, default, expected):
    s = OidcSettings(issuer=None, default_role=default)
    if isinstance(expected, tuple):
        assert user_from_claims(claims, s) == expected
    else:
        with pytest.raises(SvocError, match=expected):
            user_from_claims(claims, s)


# ---------------------------------------------------------------------- the warehouse after a swap
def _tiny(path: Path, value: str) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT ? AS v", [value])
    con.close()


def test_a_swapped_warehouse_is_picked_up_without_a_restart(tmp_path):
    wh = tmp_path / "w.duckdb"
    _tiny(wh, "last night")
    live = LiveWarehouse(wh)
    with live.reader() as w:
        assert w.one("SELECT v FROM t") == "last night"
    _tiny(tmp_path / "new.duckdb", "tonight")
    os.replace(tmp_path / "new.duckdb", wh)
    with live.reader() as w:
        assert w.one("SELECT v FROM t") == "tonight"
    assert live.opened == 2
    live.close()


def test_a_reader_of_the_old_file_finishes_before_the_new_one_is_served(tmp_path):
    wh = tmp_path / "w.duckdb"
    _tiny(wh, "old")
    live = LiveWarehouse(wh)
    seen: list[str] = []
    release = threading.Event()

    def slow_reader() -> None:
        with live.reader() as w:
            seen.append(w.one("SELECT v FROM t"))
            release.wait(5)
            seen.append(w.one("SELECT v FROM t"))  # still works: its file is not closed under it

    t = threading.Thread(target=slow_reader)
    t.start()
    while not seen:
        time.sleep(0.01)
    _tiny(tmp_path / "new.duckdb", "new")
    os.replace(tmp_path / "new.duckdb", wh)
    threading.Timer(0.3, release.set).start()
    with live.reader() as w:  # waits for the slow reader, then opens the new file
        seen.append(w.one("SELECT v FROM t"))
    t.join()
    assert seen == ["old", "old", "new"]
    live.close()


# ---------------------------------------------------------------------- HTTP guards (no browser)
def _client(tmp_path: Path, **config) -> TestClient:
    """The app on a warehouse with no tables (searches fail with a 500 page; the guards come first)."""
    wh = tmp_path / "w.duckdb"
    if not wh.exists():
        _tiny(wh, "x")
    web = config.pop("web", WebSettings())
    return TestClient(create_app(WebConfig(warehouse=wh, web=web, **config)), base_url="https://testserver",
                      raise_server_exceptions=False)


def _sign_in(c: TestClient, user: str, password: str):
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    return c.post("/login", data={"csrf": token, "username": user, "password": password}, follow_redirects=False)


def _add(tmp_path: Path, user: str, role: str, password: str = "a long password 1") -> None:
    with open_store(tmp_path / "w.duckdb") as store:
        Accounts(store.engine).add(user, role, password, replace=True)


def test_cookies_are_httponly_secure_and_samesite_and_headers_lock_the_page_down(tmp_path, no_oidc_env):
    _add(tmp_path, "pat", "practitioner")
    with _client(tmp_path) as c:
        r = _sign_in(c, "pat", "a long password 1")
        assert r.status_code == 303 and r.headers["location"] == "/find"
        cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("svoc_session="))
        assert {"HttpOnly", "Secure", "SameSite=strict"} <= {p.strip() for p in cookie.split(";")}
        page = c.get("/find")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


def test_sign_in_without_the_form_token_is_refused(tmp_path, no_oidc_env):
    _add(tmp_path, "pat", "practitioner")
    with _client(tmp_path) as c:
        r = c.post("/login", data={"csrf": "made-up", "username": "pat", "password": "a long password 1"})
        assert r.status_code == 403 and "svoc_session" not in r.headers.get("set-cookie", "")


def test_roles_decide_the_pages(tmp_path, no_oidc_env):
    for user, role in (("pat", "practitioner"), ("ian", "ig_officer"), ("ada", "admin")):
        _add(tmp_path, user, role)
    expected = {"pat": {"/find": 200, "/review": 403, "/access-log": 403, "/accounts": 403},
                "ian": {"/find": 200, "/access-log": 200, "/accounts": 403},
                "ada": {"/find": 403, "/review": 403, "/access-log": 403, "/accounts": 200}}
    for user, pages in expected.items():
        with _client(tmp_path) as c:
            _sign_in(c, user, "a long password 1")
            assert {p: c.get(p).status_code for p in pages} == pages
    with _client(tmp_path) as c:  # signed out: every page sends you to sign in
        assert c.get("/find", follow_redirects=False).headers["location"] == "/login"


def test_searches_are_rate_limited_per_user(tmp_path, no_oidc_env):
    _add(tmp_path, "pat", "practitioner")
    _add(tmp_path, "ian", "ig_officer")
    web = WebSettings(searches_per_minute=2)
    with _client(tmp_path, web=web) as c, _client(tmp_path, web=web) as other:
        _sign_in(c, "pat", "a long password 1")
        _sign_in(other, "ian", "a long password 1")
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/find").text).group(1)
        form = {"csrf": csrf, "first_name": "Amy", "dob": "2012-03-04", "purpose": "test"}
        answers = [c.post("/find", data=form) for _ in range(3)]
        assert [a.status_code for a in answers] == [500, 500, 429]  # no tables to search in this warehouse
        assert "Something went wrong" in answers[0].text and "Traceback" not in answers[0].text
        assert "wait" in answers[2].text and answers[2].headers["retry-after"]
    # a new app (a restart) starts counting afresh; another user is never limited by pat's searches
    with _client(tmp_path, web=web) as c:
        _sign_in(c, "ian", "a long password 1")
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/find").text).group(1)
        assert c.post("/find", data={**form, "csrf": csrf}).status_code != 429


# ---------------------------------------------------------------------- the CLI
def _svoc(*args: str, tmp: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], cwd=ROOT, env=cli_env(tmp), input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_account_add_and_demo_account(tmp_path):
    wh = tmp_path / "w.duckdb"
    _tiny(wh, "x")
    p = _svoc("account", "add", "pat", "--role", "practitioner", "--warehouse", str(wh), "--password-stdin",
              tmp=tmp_path, stdin="a long password 1\n")
    assert p.returncode == 0, p.stderr
    p = _svoc("account", "add", "pat", "--role", "practitioner", "--warehouse", str(wh), "--password-stdin",
              tmp=tmp_path, stdin="a long password 1\n")
    assert p.returncode == 1 and p.stderr.strip().startswith("error:") and "already exists" in p.stderr
    p = _svoc("demo-account", "--warehouse", str(wh), tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    assert f"svoc serve --warehouse {wh} --port 8000 --insecure-cookies" in p.stdout
    password = re.search(r"sign in as demo-ig with password (\S+)", p.stdout).group(1)
    with open_store(wh) as store:
        accounts = Accounts(store.engine)
        assert accounts.verify("pat", "a long password 1") == User("pat", "practitioner")
        assert accounts.verify("demo-ig", password) == User("demo-ig", "ig_officer")
    again = _svoc("demo-account", "--warehouse", str(wh), tmp=tmp_path)
    assert password not in again.stdout  # a new password each time


def test_serve_refuses_plain_http_cookies_off_localhost(tmp_path):
    wh = tmp_path / "w.duckdb"
    _tiny(wh, "x")
    p = _svoc("serve", "--warehouse", str(wh), "--host", "0.0.0.0", "--insecure-cookies", tmp=tmp_path)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "localhost" in p.stderr


def _queue_warehouse(path: Path, pairs: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA audit")
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.identity_records (source VARCHAR, source_record_id VARCHAR, dob DATE)")
    con.execute("CREATE TABLE audit.review_queue (pair_id VARCHAR, unique_id_l VARCHAR, unique_id_r VARCHAR, "
                "match_probability DOUBLE, reason VARCHAR, status VARCHAR, queued_run_id VARCHAR)")
    for i in range(pairs):
        con.execute("INSERT INTO audit.review_queue VALUES (?, ?, ?, 0.6, 'weak', 'open', 'r')",
                    [f"p{i}", f"health:{i}", f"police:{i}"])
    con.close()


def test_a_long_queue_is_shown_a_page_at_a_time(tmp_path, no_oidc_env):
    from svoc.web.pages import QUEUE_PAGE

    _queue_warehouse(tmp_path / "w.duckdb", QUEUE_PAGE + 5)
    _add(tmp_path, "ian", "ig_officer")
    with _client(tmp_path) as c:
        _sign_in(c, "ian", "a long password 1")
        page = c.get("/review").text
        assert f"{QUEUE_PAGE + 5} of {QUEUE_PAGE + 5} open pairs match the filters; the first {QUEUE_PAGE}" in page
        assert page.count('action="/review/pair/') == QUEUE_PAGE


def test_the_app_serves_the_new_warehouse_after_a_swap_without_a_restart(tmp_path, no_oidc_env):
    _queue_warehouse(tmp_path / "w.duckdb", 1)
    _add(tmp_path, "ian", "ig_officer")
    with _client(tmp_path) as c:
        _sign_in(c, "ian", "a long password 1")
        assert "1 of 1 open pairs match" in c.get("/review").text
        _queue_warehouse(tmp_path / "next.duckdb", 3)
        os.replace(tmp_path / "next.duckdb", tmp_path / "w.duckdb")  # the nightly swap
        assert "3 of 3 open pairs match" in c.get("/review").text


def test_svoc_serve_serves_the_workspace(tmp_path):
    import urllib.request

    from tests.web_helpers import free_port

    wh = tmp_path / "w.duckdb"
    _tiny(wh, "x")
    port = free_port()
    proc = subprocess.Popen([CLI, "serve", "--warehouse", str(wh), "--port", str(port), "--insecure-cookies"],
                            cwd=ROOT, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    page = r.read().decode()
                    cookie = r.headers["set-cookie"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "svoc serve did not start"
                time.sleep(0.3)
        assert "Sign in" in page and "HttpOnly" in cookie and "Secure" not in cookie  # --insecure-cookies
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "GET /login" in out and "Traceback" not in out


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
