"""The web workspace: a Starlette app with server-rendered Jinja2 pages (no build step, nothing from a CDN).

    from svoc.web import create_app, WebConfig
    app = create_app(WebConfig(warehouse=Path("warehouse/svoc.duckdb")))   # served by uvicorn (svoc serve)

Sign-in, sign-out, error pages and the security headers live here; the pages are in ``svoc.web.pages``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.errors import SvocError
from svoc.state import open_store
from svoc.web import lists, pages
from svoc.web.accounts import Accounts, User
from svoc.web.config import WebConfig
from svoc.web.context import (
    CsrfFailed,
    Forbidden,
    NeedsSignIn,
    RateLimited,
    WebState,
    current_session,
    render,
    require,
    web_state,
)
from svoc.web.live import LiveWarehouse
from svoc.web.oidc import oidc_client, oidc_middleware, user_from_claims
from svoc.web.security import (
    LOGIN_CSRF_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    RateLimiter,
    cookie_options,
    new_token,
    tokens_match,
)

STATIC = Path(__file__).with_name("static")
HOME = {"practitioner": "/find", "ig_officer": "/find", "admin": "/accounts"}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS.items():
                    if k.lower().encode() not in present:
                        headers.append((k.lower().encode(), v.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _signed_in(request: Request, user: User) -> Response:
    st = web_state(request)
    token, _ = st.accounts.start_session(user)
    resp = RedirectResponse(HOME.get(user.role, "/find"), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, **cookie_options(st.config.web.cookie_secure))
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return resp


def _login_page(request: Request, message: str = "", status: int = 200) -> Response:
    st = web_state(request)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()
    expired = request.query_params.get("expired") == "1"
    resp = render(request, "login.html", {"login_csrf": token, "message": message, "expired": expired,
                                          "oidc": st.oidc is not None, "oidc_label": st.config.oidc.label},
                  status=status)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, **cookie_options(st.config.web.cookie_secure, 3600))
    return resp


async def login_form(request: Request) -> Response:
    session = current_session(request) if SESSION_COOKIE in request.cookies else None
    if session is not None:
        return RedirectResponse(HOME.get(session.user.role, "/find"), status_code=303)
    return _login_page(request)


async def login(request: Request) -> Response:
    st = web_state(request)
    form = await request.form()
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf") or "")):
        raise CsrfFailed()
    username, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
    if st.sign_ins is not None and not st.sign_ins.allow(username.lower()):
        return _login_page(request, "Too many sign-in attempts for this user; wait a minute and try again.", 429)
    user = await run_in_threadpool(st.accounts.verify, username, password)
    if user is None:
        return _login_page(request, "Wrong user name or password.", 401)
    return _signed_in(request, user)


async def logout(request: Request) -> Response:
    session = require(request)
    form = await request.form()
    if not tokens_match(session.csrf, str(form.get("csrf") or "")):
        raise CsrfFailed()
    web_state(request).accounts.end_session(request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


async def oidc_start(request: Request) -> Response:
    st = web_state(request)
    if st.oidc is None:
        raise HTTPException(404)
    return await st.oidc.authorize_redirect(request, str(request.url_for("oidc_callback")))


async def oidc_callback(request: Request) -> Response:
    st = web_state(request)
    if st.oidc is None:
        raise HTTPException(404)
    try:
        token = await st.oidc.authorize_access_token(request)
    except Exception:  # the provider said no, or the round trip was tampered with: one plain line
        return _login_page(request, "Sign-in through your council account failed; try again.", 401)
    try:
        name, role = user_from_claims(dict(token.get("userinfo") or {}), st.config.oidc)
    except SvocError as exc:
        return _login_page(request, str(exc), 403)
    local = st.accounts.get(name)
    if local is None and name in {a["username"] for a in st.accounts.list()}:
        return _login_page(request, "Your account is disabled.", 403)
    return _signed_in(request, User(name, role))


async def home(request: Request) -> Response:
    session = require(request)
    return RedirectResponse(HOME.get(session.user.role, "/find"), status_code=303)


# ---------------------------------------------------------------------- errors
async def on_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NeedsSignIn)
    resp = RedirectResponse("/login?expired=1" if exc.expired else "/login", status_code=303)
    if exc.expired:
        resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


async def on_forbidden(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Not allowed", "message": str(exc)}, status=403)


async def on_csrf(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Form expired", "message": (
        "This form has expired or did not come from this site, so nothing was done. Go back, reload the page "
        "and try again.")}, status=403)


async def on_rate(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    resp = render(request, "error.html", {"title": "Too many searches", "message": (
        f"You have searched too often in the last minute; wait {exc.retry_after} s and try again.")}, status=429)
    resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


async def on_svoc_error(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Cannot do that", "message": str(exc)}, status=400)


async def on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Not allowed"}
    return render(request, "error.html", {"title": titles.get(exc.status_code, "Error"),
                                          "message": exc.detail or ""}, status=exc.status_code)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # The server log gets the traceback (no request data); the user gets one plain line.
    return render(request, "error.html", {"title": "Something went wrong", "message": (
        "The workspace could not answer this request and nothing was changed. Try again; if it keeps "
        "happening, tell your administrator the time it happened.")}, status=500)


def create_app(config: WebConfig) -> Starlette:
    """The workspace for ``config.warehouse`` (read-only) and its state store (accounts, decisions, access log)."""
    oidc = oidc_client(config.oidc)  # checks the OIDC settings before anything starts

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with open_store(config.warehouse, config.state_url) as store:
            live = LiveWarehouse(config.warehouse)
            app.state.web = WebState(config=config, store=store, accounts=Accounts(store.engine), live=live,
                                     searches=RateLimiter(config.web.searches_per_minute),
                                     sign_ins=RateLimiter(10), oidc=oidc)
            try:
                yield
            finally:
                live.close()

    routes = [
        Route("/", home), Route("/login", login_form, methods=["GET"]), Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/auth/oidc", oidc_start, methods=["GET"]),
        Route("/auth/oidc/callback", oidc_callback, methods=["GET"], name="oidc_callback"),
        *pages.ROUTES, *lists.ROUTES,
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    handlers = {NeedsSignIn: on_sign_in, Forbidden: on_forbidden, CsrfFailed: on_csrf, RateLimited: on_rate,
                SvocError: on_svoc_error, HTTPException: on_http, Exception: on_unexpected}
    middleware = [Middleware(SecurityHeaders), *oidc_middleware(config.oidc, config.web.cookie_secure)]
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers,
                     lifespan=lifespan, max_body_size=lists.MAX_LIST_BYTES + 1024 * 1024)
