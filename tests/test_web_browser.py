"""The web workspace in a real headless Chromium (Playwright driving Debian's chromium) against a copy of the
demo warehouse: sign-in, find, child page and the access log; roles; CSRF; wrong password; expired session;
an IG officer's decision honoured by the next run. Saves a screenshot of each page: under docs/img/ (the README's
pictures) when SVOC_SCREENSHOTS=1, else in a temporary folder, so a test run does not rewrite tracked files."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from svoc.state import open_store
from tests.browser import chromium
from tests.e2e import DEMO, ROOT, query, run_cli
from tests.web_helpers import PASSWORDS, add_accounts, copy_warehouse, queue_some_pairs, serving

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (.ci/system-deps.sh)")
IMG = ROOT / "docs" / "img" if os.environ.get("SVOC_SCREENSHOTS") == "1" else Path(tempfile.mkdtemp(prefix="svoc-shots-"))


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def workspace(demo_run, tmp_path_factory) -> Path:
    wh = copy_warehouse(demo_run, tmp_path_factory.mktemp("web") / "warehouse")
    queue_some_pairs(wh)
    add_accounts(wh)
    return wh


@pytest.fixture(scope="module")
def base_url(workspace):
    with serving(workspace) as url:
        yield url


@pytest.fixture(scope="module")
def a_child(workspace) -> dict:
    (cid, first, last, dob), = query(workspace, "SELECT citizen_id, first_name, last_name, dob FROM linked.single_view "
                                     "WHERE record_count >= 4 AND first_name IS NOT NULL AND dob IS NOT NULL "
                                     "ORDER BY citizen_id LIMIT 1")
    return {"citizen_id": cid, "first_name": first, "last_name": last, "dob": dob.isoformat()}


def context(browser, **kw):
    """A browser context with patient timeouts: on a loaded 2-core machine the first search compiles the model."""
    ctx = browser.new_context(**kw)
    ctx.set_default_timeout(120_000)
    ctx.set_default_navigation_timeout(120_000)
    return ctx


def sign_in(page, base_url: str, user: str, password: str | None = None) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password or PASSWORDS[user][1])
    page.click("main button[type=submit]")


def shot(page, name: str) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / f"web-{name}.png"), full_page=True)


def test_practitioner_finds_and_opens_a_child_and_it_is_logged(browser, base_url, workspace, a_child):
    ctx = context(browser, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{base_url}/login")
    shot(page, "sign-in")
    sign_in(page, base_url, "pat")
    assert page.url.endswith("/find")
    for field in ("first_name", "last_name", "dob"):
        page.fill(f"input[name={field}]", a_child[field])
    page.fill("input[name=purpose]", "MASH referral 2024-118")
    page.click("form.search button[type=submit]")
    assert a_child["citizen_id"] in page.inner_text("section.results")
    shot(page, "find")
    page.click(f"form[action='/child/{a_child['citizen_id']}'] button")
    assert page.inner_text("h1") == f"Child {a_child['citizen_id']}"
    for heading in ("Surviving identity", "Indicators", "Each agency's records", "Timeline",
                    "Why these records are linked"):
        assert page.locator("h2", has_text=heading).count() == 1
    assert page.locator(".chart svg circle").count() > 0  # the timeline has events
    assert page.locator(".link .chart svg").count() > 0  # and a waterfall for a scored link
    shot(page, "child")
    # Nothing left this machine, and no name, DOB or identifier went into a URL.
    assert all(u.startswith(base_url) for u in requests)
    for u in requests:
        for value in (a_child["first_name"], a_child["last_name"], a_child["dob"]):
            assert value.lower() not in u.lower()
    with open_store(workspace) as store:
        log = store.access_log(who="pat")
    assert any(e.command == "web child" and e.subject == f"citizen {a_child['citizen_id']}"
               and e.purpose == "MASH referral 2024-118" for e in log)
    assert any(e.command == "web find" and a_child["citizen_id"] in e.subject for e in log)
    # the search was logged by field names only
    assert not any(a_child["last_name"] in e.subject for e in log)
    ctx.close()


def test_practitioner_matches_a_list(browser, base_url, workspace, tmp_path):
    kids = query(workspace, "SELECT citizen_id, first_name, last_name, strftime(dob, '%d/%m/%Y') FROM linked.single_view "
                 "WHERE first_name IS NOT NULL AND dob IS NOT NULL AND record_count >= 2 ORDER BY citizen_id LIMIT 2")
    lines = ["Forename,Surname,Date of birth"] + [f"{f},{s},{d}" for _, f, s, d in kids] + ["Nobody,Atall,01/01/2001"]
    (tmp_path / "absence_week_12.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ctx = context(browser, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    sign_in(page, base_url, "pat")
    page.goto(f"{base_url}/match-list")
    page.set_input_files("input[name=list]", str(tmp_path / "absence_week_12.csv"))
    page.fill("input[name=map_first_name]", "Forename")
    page.fill("input[name=map_last_name]", "Surname")
    page.fill("input[name=map_dob]", "Date of birth")
    page.fill("input[name=purpose]", "Children missing from school, week 12")
    page.click("main form button[type=submit]")
    heading = page.inner_text("section.results h2")
    assert heading.startswith("3 rows of absence_week_12.csv: 2 matched")
    table = page.inner_text("section.results table")
    assert all(cid in table for cid, *_ in kids)
    shot(page, "match-list")
    with open_store(workspace) as store:
        log = store.access_log(who="pat")
    assert any(e.command == "match-list" and e.subject.startswith("list absence_week_12.csv: 3 rows, 2 matched")
               for e in log)
    ctx.close()


def test_practitioner_cannot_open_the_review_queue_or_access_log(browser, base_url):
    ctx = context(browser)
    page = ctx.new_page()
    sign_in(page, base_url, "pat")
    assert page.goto(f"{base_url}/review").status == 403
    assert "Not allowed" in page.inner_text("h1")
    assert page.goto(f"{base_url}/access-log").status == 403
    assert page.locator("nav a", has_text="Review queue").count() == 0
    ctx.close()


def test_wrong_password_is_refused(browser, base_url):
    ctx = context(browser)
    page = ctx.new_page()
    sign_in(page, base_url, "pat", "not-the-password")
    assert "/login" in page.url
    assert "Wrong user name or password" in page.inner_text("[role=alert]")
    assert page.goto(f"{base_url}/find").url.endswith("/login")  # still signed out
    ctx.close()


def test_a_forged_form_is_refused(browser, base_url, workspace, a_child):
    ctx = context(browser)
    page = ctx.new_page()
    sign_in(page, base_url, "pat")
    page.goto(f"{base_url}/child/{a_child['citizen_id']}")
    page.eval_on_selector("main input[name=csrf]", "el => el.value = 'forged'")
    page.fill("input[name=purpose]", "forged purpose")
    with page.expect_response(lambda r: r.request.method == "POST") as resp:
        page.click("main button[type=submit]")
    assert resp.value.url.endswith(f"/child/{a_child['citizen_id']}")
    assert resp.value.status == 403
    assert "Form expired" in page.inner_text("h1")
    with open_store(workspace) as store:
        assert not [e for e in store.access_log(who="pat") if e.purpose == "forged purpose"]
    assert page.goto(f"{base_url}/find").url.endswith("/find")  # still signed in: nothing else happened
    ctx.close()


def test_an_expired_session_signs_out(browser, workspace):
    with serving(workspace, session_minutes=0.1) as url:  # 6 s idle
        ctx = context(browser)
        page = ctx.new_page()
        sign_in(page, url, "pat")
        assert page.url.endswith("/find")
        cookie = next(c for c in ctx.cookies() if c["name"] == "svoc_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        time.sleep(7)
        page.goto(f"{url}/find")
        assert page.url.endswith("/login?expired=1")
        assert "Your session has expired" in page.inner_text("main")
        ctx.close()


def test_ig_officer_pages(browser, base_url, workspace):
    ctx = context(browser, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    sign_in(page, base_url, "ian")
    page.goto(f"{base_url}/review?sort=probability")
    assert page.locator("tbody tr").count() >= 6
    shot(page, "review-queue")
    page.goto(f"{base_url}/review?band=uncertain")
    assert all(t == "uncertain" for t in page.locator("tbody .band").all_inner_texts())
    page.goto(f"{base_url}/review?view=clusters")
    group = page.locator(".cluster", has_text="Group of 3 records")
    group.locator("input[name=purpose]").fill("Queue review")
    group.locator("button").click()
    assert page.inner_text("h1") == "Group of 3 records"
    shot(page, "review-group")
    keys = page.locator("input[name=same]").evaluate_all("els => els.map(e => e.value)")
    page.check(f"input[name=same][value='{keys[1]}']")
    page.check(f"input[name=different][value='{keys[2]}']")
    page.fill("input[name=reason]", "same NHS number and UPN on all three")
    page.click("form[action$='/decide'] button")
    assert "2 decisions" in page.inner_text(".notice")
    with open_store(workspace) as store:
        decided = store.decisions()
    group = decided[decided["reason"] == "same NHS number and UPN on all three"]
    assert sorted(group["decision"]) == ["different", "same"] and set(group["origin"]) == {"web"}
    assert all('"fields"' in e for e in group["evidence_seen"])  # what the reviewer saw, per pair
    page.goto(f"{base_url}/review")
    first = page.locator("tbody tr").first
    first.locator("input[name=purpose]").fill("Queue review")
    first.locator("button").click()
    assert page.locator("table.compare").count() == 1
    shot(page, "review-pair")
    page.goto(f"{base_url}/access-log")
    assert page.locator("tbody tr").count() >= 1
    shot(page, "access-log")
    ctx.close()


def test_admin_manages_accounts(browser, base_url, workspace):
    ctx = context(browser, viewport={"width": 1280, "height": 700})
    page = ctx.new_page()
    sign_in(page, base_url, "ada")
    assert page.url.endswith("/accounts")
    page.fill("input[name=username]", "new.practitioner")
    page.select_option("select[name=role]", "practitioner")
    page.fill("input[name=password]", "a-long-new-password")
    page.click("form.card button[type=submit]")
    assert "added new.practitioner" in page.inner_text(".notice")
    shot(page, "accounts")
    assert page.goto(f"{base_url}/find").status == 403  # admin manages accounts, not children
    ctx.close()


@pytest.mark.slow
def test_ig_officer_decision_is_honoured_by_the_next_run(browser, demo_run, tmp_path):
    wh = copy_warehouse(demo_run, tmp_path / "warehouse")
    add_accounts(wh)
    (cid, a, b), = query(wh, "SELECT rc.citizen_id, e.unique_id_l, e.unique_id_r FROM audit.match_evidence e "
                         "JOIN linked.record_citizen rc ON rc.source = e.source_l AND rc.source_record_id = "
                         "e.source_record_id_l WHERE e.status = 'linked' AND e.link_method = 'probabilistic' "
                         "AND rc.citizen_id IN (SELECT citizen_id FROM linked.record_citizen GROUP BY 1 "
                         "HAVING count(*) = 2) ORDER BY e.match_probability, e.unique_id_l LIMIT 1")
    with serving(wh) as url:
        ctx = context(browser)
        page = ctx.new_page()
        sign_in(page, url, "ian")
        page.goto(f"{url}/child/{cid}")
        page.fill("input[name=purpose]", "Subject access request 77")
        page.click("main button[type=submit]")
        page.locator(".link button", has_text="Review this link").first.click()
        page.check("input[name=decision][value=different]")
        page.fill("input[name=reason]", "different mothers named on the birth records")
        page.click("form[action$='/decide'] button")
        assert "Recorded" in page.inner_text(".notice")
        ctx.close()
    with open_store(wh) as store:
        d = store.latest_decision(a, b)
    assert d["decision"] == "different" and d["reviewer"] == "ian" and d["origin"] == "web"
    assert {f["field"] for f in d["evidence_seen"]["fields"]} >= {"first name", "dob"}
    run_cli("run", "--drop", str(DEMO), "--warehouse", str(wh), tmp=tmp_path)
    cids = dict(query(wh, "SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen "
                          "WHERE source || ':' || source_record_id IN (?, ?)", [a, b]))
    assert cids[a] != cids[b]


def test_no_page_loads_anything_from_elsewhere(base_url):
    import urllib.request

    html = urllib.request.urlopen(f"{base_url}/login").read().decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
