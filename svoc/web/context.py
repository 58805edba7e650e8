"""What every page handler shares: the app's state, the signed-in user, role checks, CSRF checks, rendering."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from svoc.find import Finder
from svoc.state import StateStore
from svoc.web.accounts import Accounts, Session
from svoc.web.config import WebConfig
from svoc.web.live import LiveWarehouse
from svoc.web.security import SESSION_COOKIE, RateLimiter, tokens_match

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
NAV = (("Find a child", "/find", ("practitioner", "ig_officer")),
       ("Match a list", "/match-list", ("practitioner", "ig_officer")),
       ("Review queue", "/review", ("ig_officer",)),
       ("Access log", "/access-log", ("ig_officer",)),
       ("Accounts", "/accounts", ("admin",)))


class NeedsSignIn(Exception):
    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign in")
        self.expired = expired


class Forbidden(Exception):
    def __init__(self, message: str = "Your role does not allow this page.") -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


@dataclass
class WebState:
    """Held by one app for its lifetime: nothing here is a person's data."""

    config: WebConfig
    store: StateStore
    accounts: Accounts
    live: LiveWarehouse
    finder: Finder = field(default_factory=Finder)
    searches: RateLimiter | None = None
    sign_ins: RateLimiter | None = None
    oidc: Any = None

    @property
    def idle(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.config.web.session_minutes)

    @property
    def lifetime(self) -> dt.timedelta:
        return dt.timedelta(hours=self.config.web.session_max_hours)


def web_state(request: Request) -> WebState:
    return request.app.state.web


def current_session(request: Request) -> Session | None:
    """The live session of this request's cookie (None when signed out or expired); cached on the request."""
    if "svoc_session" not in request.scope:
        st = web_state(request)
        request.scope["svoc_session"] = st.accounts.session(request.cookies.get(SESSION_COOKIE), idle=st.idle,
                                                            lifetime=st.lifetime)
    return request.scope["svoc_session"]


def require(request: Request, *roles: str) -> Session:
    """The signed-in session when its role is one of ``roles``; else sign in (or 403)."""
    session = current_session(request)
    if session is None:
        raise NeedsSignIn(expired=SESSION_COOKIE in request.cookies)
    if roles and not session.user.can(*roles):
        raise Forbidden()
    return session


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The posted form, after its CSRF token is checked against the session's."""
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    if not tokens_match(session.csrf, values.get("csrf")):
        raise CsrfFailed()
    return values


async def checked_list_form(request: Request, session: Session) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Like ``checked_form``, also returning fields that repeat (checkboxes)."""
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    if not tokens_match(session.csrf, values.get("csrf")):
        raise CsrfFailed()
    many: dict[str, list[str]] = {}
    for k, v in form.multi_items():
        if isinstance(v, str):
            many.setdefault(k, []).append(v)
    return values, many


def render(request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    session = current_session(request) if "svoc_session" in request.scope or SESSION_COOKIE in request.cookies \
        else None
    nav = [(label, href) for label, href, roles in NAV if session and session.user.role in roles]
    ctx = {"session": session, "user": session.user if session else None, "csrf": session.csrf if session else "",
           "nav": nav, "path": request.url.path, **(context or {})}
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status)
