"""The web workspace over HTTP without a browser: accounts and sessions (argon2, expiry), OpenID Connect
configuration, reopening the warehouse after a swap, and the HTTP guards (CSRF, cookies, headers, roles, rate limit)."""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from pathlib import Path

import duckdb
import pytest
from starlette.testclient import TestClient

from schemas.errors import SvocError
from svoc.state import open_store
from svoc.web import OidcSettings, WebConfig, WebSettings, create_app
from svoc.web.accounts import Accounts, User
from svoc.web.live import LiveWarehouse
from svoc.web.oidc import oidc_client, user_from_claims
from tests.web_helpers import tiny_warehouse as _tiny

OIDC_ENV = ("SVOC_OIDC_ISSUER", "SVOC_OIDC_CLIENT_ID", "SVOC_OIDC_CLIENT_SECRET")


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
