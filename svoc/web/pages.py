"""The workspace's pages: find a child, the child page, the review queue (pairs and clusters), the access log
and accounts. Every page that shows a person's records asks for a purpose first and writes the access log
before it reads them; identifying details travel only in POST bodies, never in URLs."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from schemas.errors import SvocError
from svoc.find import FindSession, Query
from svoc.find.query import FIELD_LABELS
from svoc.report.charts import waterfall
from svoc.report.data import Warehouse
from svoc.review.pairs import decide_group, pair_view, record, record_decision, resolve_pair
from svoc.web.accounts import Session
from svoc.web.child import child_page
from svoc.web.config import ROLES
from svoc.web.context import (
    RateLimited,
    WebState,
    checked_form,
    checked_list_form,
    render,
    require,
    web_state,
)
from svoc.web.queue import AGE_BANDS, BANDS, SORTS, clusters, filter_pairs, load_queue, sort_pairs

SEARCH_FIELDS = ("first_name", "last_name", "dob", "sex", "postcode", "nhs_number", "upn", "source", "record_id")
READERS = ("practitioner", "ig_officer")
IG = ("ig_officer",)
QUEUE_PAGE = 200  # rows (or groups) shown at once: narrow the filters for the rest


def _purpose(values: dict[str, str]) -> str:
    purpose = (values.get("purpose") or "").strip()
    if not purpose:
        raise SvocError("say why you need this record: a purpose is required and is written to the access log")
    return purpose[:500]


async def _opened(request: Request, *roles: str) -> tuple[Session, dict[str, str], str, WebState]:
    """The preamble of a page that shows records: the signed-in user in one of ``roles``, the form (its token
    checked), the purpose it gives, and the app's state."""
    session = require(request, *roles)
    values = await checked_form(request, session)
    return session, values, _purpose(values), web_state(request)


def _evidence(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [e for e in evidence if isinstance(e.get("match_weight"), int | float) and e["match_weight"]
           and e.get("comparison") != "model_score"]
    return sorted(out, key=lambda e: -abs(float(e["match_weight"])))


# ---------------------------------------------------------------------- find a child
async def find_form(request: Request) -> Response:
    require(request, *READERS)
    return render(request, "find.html", {"fields": SEARCH_FIELDS, "labels": FIELD_LABELS, "values": {}})


async def find(request: Request) -> Response:
    session = require(request, *READERS)
    values = await checked_form(request, session)
    st = web_state(request)
    if st.searches is not None and not st.searches.allow(session.user.username):
        raise RateLimited(st.searches.retry_after(session.user.username))
    purpose = _purpose(values)
    query = Query.of(**{f: values.get(f) for f in SEARCH_FIELDS})

    def search() -> Any:
        with st.live.reader() as w:
            return FindSession(st.finder, w, st.store).find(query, who=session.user.username, purpose=purpose,
                                                           command="web find")

    result = await run_in_threadpool(search)
    for c in result.candidates:
        c.evidence = _evidence(c.evidence)
    return render(request, "find.html", {"fields": SEARCH_FIELDS, "labels": FIELD_LABELS, "values": values,
                                         "result": result, "purpose": purpose})


# ---------------------------------------------------------------------- child page
async def child_form(request: Request) -> Response:
    require(request, *READERS)
    return render(request, "purpose.html", {"action": request.url.path, "what": "this child's records",
                                            "subject": request.path_params["cid"]})


async def child(request: Request) -> Response:
    session, _, purpose, st = await _opened(request, *READERS)
    cid = request.path_params["cid"]

    def load() -> Any:
        st.store.log_access(session.user.username, "web child", f"citizen {cid}", purpose)
        with st.live.reader() as w:
            return child_page(w, st.store, cid)

    page = await run_in_threadpool(load)
    if page is None:
        raise HTTPException(404, f"citizen {cid} is not in this warehouse")
    return render(request, "child.html", {"page": page, "purpose": purpose})


# ---------------------------------------------------------------------- review queue
async def review(request: Request) -> Response:
    require(request, *IG)
    st = web_state(request)
    qp = request.query_params
    flt = {k: qp.get(k, "") for k in ("reason", "band", "pair", "age")}
    sort, view = qp.get("sort", "probability"), qp.get("view", "pairs")

    def load() -> list[dict[str, Any]]:
        with st.live.reader() as w:
            return load_queue(w, st.store.decided_pair_ids(), dt.date.today())

    rows = await run_in_threadpool(load)
    shown = sort_pairs(filter_pairs(rows, reason=flt["reason"], band_=flt["band"], pair=flt["pair"],
                                    age=flt["age"]), sort)
    options = {"reason": sorted({r["reason"] or "" for r in rows}), "band": [b for b, _ in BANDS],
               "pair": sorted({r["source_pair"] for r in rows}), "age": [a for a, _, _ in AGE_BANDS] + ["unknown"]}
    return render(request, "review.html", {"rows": shown[:QUEUE_PAGE], "matching": len(shown), "total": len(rows),
                                           "filters": flt, "sort": sort, "page_size": QUEUE_PAGE,
                                           "sorts": list(SORTS), "options": options, "view": view,
                                           "clusters": clusters(shown)[:QUEUE_PAGE],
                                           "done": qp.get("done", "")})


def _seen_digest(view: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()[:32]


async def pair(request: Request) -> Response:
    session, _, purpose, st = await _opened(request, *IG)
    pid = request.path_params["pid"]

    def load() -> dict[str, Any]:
        with st.live.reader() as w:
            p = resolve_pair(w, pid)
            st.store.log_access(session.user.username, "web review show", f"pair {p['pair_id']}", purpose)
            return pair_view(w, p)

    view = await run_in_threadpool(load)
    chart = waterfall(view["prior"], view["evidence"]) if view["evidence"] else ""
    return render(request, "pair.html", {"view": view, "purpose": purpose, "chart": chart,
                                         "seen": _seen_digest(view)})


async def pair_decide(request: Request) -> Response:
    session, values, purpose, st = await _opened(request, *IG)
    pid = request.path_params["pid"]
    decision, reason = values.get("decision", ""), (values.get("reason") or "").strip()

    def decide() -> dict[str, Any]:
        with st.live.reader() as w:
            p = resolve_pair(w, pid)
            view = pair_view(w, p)
            if _seen_digest(view) != values.get("seen"):
                raise SvocError("this pair changed since you opened it (a new warehouse was published); open it "
                                "again and decide on what you see now")
            st.store.log_access(session.user.username, f"review decide {decision}", f"pair {p['pair_id']}", purpose)
            return record_decision(st.store, w, p, decision, session.user.username, reason, purpose=purpose,
                                   evidence_seen=view, origin="web")

    row = await run_in_threadpool(decide)
    return RedirectResponse(f"/review?done={row['pair_id']}", status_code=303)


def _cluster(w: Warehouse, st: WebState, cid: str) -> dict[str, Any]:
    rows = load_queue(w, st.store.decided_pair_ids(), dt.date.today())
    found = next((c for c in clusters(rows) if c["id"] == cid), None)
    if found is None:
        raise SvocError("this group is no longer in the review queue (decided, or a new warehouse was published)")
    return found


async def cluster(request: Request) -> Response:
    session, _, purpose, st = await _opened(request, *IG)
    cid = request.path_params["cid"]

    def load() -> dict[str, Any]:
        with st.live.reader() as w:
            c = _cluster(w, st, cid)
            st.store.log_access(session.user.username, "web review cluster",
                                f"records {','.join(c['keys'])}", purpose)
            return {**c, "records": [{"key": k, **record(w, k)} for k in c["keys"]]}

    group = await run_in_threadpool(load)
    fields = [f for f in ("first_name", "middle_names", "last_name", "dob", "sex", "address_line", "postcode",
                          "nhs_number", "upn") if any(r.get(f) for r in group["records"])]
    return render(request, "cluster.html", {"group": group, "fields": fields, "purpose": purpose})


async def cluster_decide(request: Request) -> Response:
    session = require(request, *IG)
    values, many = await checked_list_form(request, session)
    purpose, cid = _purpose(values), request.path_params["cid"]
    anchor, reason = values.get("anchor", ""), (values.get("reason") or "").strip()
    same, different = many.get("same", []), many.get("different", [])
    if set(same) & set(different) or anchor in same + different:
        raise SvocError("a record cannot be both the same child and a different child; check the choices")
    if not same and not different:
        raise SvocError("choose at least one record to decide on")
    st = web_state(request)

    def decide() -> int:
        with st.live.reader() as w:
            c = _cluster(w, st, cid)
            if anchor not in c["keys"] or not set(same + different) <= set(c["keys"]):
                raise SvocError("those records are not in this group")
            out = decide_group(st.store, w, anchor, same, "same", session.user.username, reason, purpose=purpose)
            out += decide_group(st.store, w, anchor, different, "different", session.user.username, reason,
                                purpose=purpose)
            return len(out)

    n = await run_in_threadpool(decide)
    return RedirectResponse(f"/review?done={n}+decisions", status_code=303)


# ---------------------------------------------------------------------- access log and accounts
async def access_log(request: Request) -> Response:
    require(request, *IG)
    st = web_state(request)
    who, subject = request.query_params.get("who", "").strip(), request.query_params.get("subject", "").strip()
    entries = await run_in_threadpool(st.store.access_log, limit=500, who=who or None, subject=subject or None)
    return render(request, "access.html", {"entries": entries, "who": who, "subject": subject})


async def accounts(request: Request) -> Response:
    require(request, "admin")
    return render(request, "accounts.html", {"accounts": web_state(request).accounts.list(), "roles": ROLES,
                                             "message": request.query_params.get("message", "")})


async def accounts_add(request: Request) -> Response:
    session = require(request, "admin")
    values = await checked_form(request, session)
    st = web_state(request)
    user = await run_in_threadpool(st.accounts.add, values.get("username", "").strip(), values.get("role", ""),
                                   values.get("password", ""))
    return RedirectResponse(f"/accounts?message=added+{user.username}", status_code=303)


async def accounts_disable(request: Request) -> Response:
    session = require(request, "admin")
    await checked_form(request, session)
    name = request.path_params["username"]
    if name == session.user.username:
        raise SvocError("you cannot disable your own account")
    web_state(request).accounts.disable(name)
    return RedirectResponse(f"/accounts?message=disabled+{name}", status_code=303)


ROUTES = [
    Route("/find", find_form, methods=["GET"]), Route("/find", find, methods=["POST"]),
    Route("/child/{cid}", child_form, methods=["GET"]), Route("/child/{cid}", child, methods=["POST"]),
    Route("/review", review, methods=["GET"]),
    Route("/review/pair/{pid}", pair, methods=["POST"]),
    Route("/review/pair/{pid}/decide", pair_decide, methods=["POST"]),
    Route("/review/cluster/{cid}", cluster, methods=["POST"]),
    Route("/review/cluster/{cid}/decide", cluster_decide, methods=["POST"]),
    Route("/access-log", access_log, methods=["GET"]),
    Route("/accounts", accounts, methods=["GET"]), Route("/accounts", accounts_add, methods=["POST"]),
    Route("/accounts/{username}/disable", accounts_disable, methods=["POST"]),
]
