"""Request guards: CSRF tokens, per-user search rate limits, cookie settings and the security headers."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal, TypedDict

SESSION_COOKIE = "svoc_session"
LOGIN_CSRF_COOKIE = "svoc_login_csrf"

# No page loads anything from another origin; forms post only to this one; nothing may frame the pages.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token; a missing token never matches."""
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


def new_token() -> str:
    return secrets.token_urlsafe(32)


class CookieOptions(TypedDict, total=False):
    """Keyword arguments of Starlette's ``Response.set_cookie``."""

    httponly: bool
    samesite: Literal["lax", "strict", "none"]
    secure: bool
    path: str
    max_age: int


def cookie_options(secure: bool, max_age: int | None = None) -> CookieOptions:
    """HttpOnly, SameSite=Strict, Secure unless turned off for http://localhost."""
    opts: CookieOptions = {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}
    if max_age is not None:
        opts["max_age"] = max_age
    return opts


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (a sliding window, held by one app)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False (and not counted) when the key is over its limit."""
        now = self.clock()
        with self._lock:
            q = self._events.setdefault(key, deque())
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True

    def retry_after(self, key: str) -> int:
        with self._lock:
            q = self._events.get(key)
            if not q:
                return 0
            return max(1, int(self.window - (self.clock() - q[0])) + 1)
