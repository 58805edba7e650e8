"""Sign-in through a council's OpenID Connect provider (Authlib), configured only from ``SVOC_OIDC_*``.

Off unless issuer, client id and client secret are all set. The user's role comes from the ID token's
``role_claim`` (or ``default_role``); a role that is not one of ours, or none, is refused. The user's local
account, when there is one, may not be disabled. Authlib keeps the state and nonce of the round trip in a
short-lived signed cookie of its own (``svoc_oidc``)."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from schemas.errors import SvocError
from svoc.web.config import ROLES, OidcSettings

OIDC_COOKIE = "svoc_oidc"
CLIENT_NAME = "council"


def oidc_client(settings: OidcSettings) -> Any | None:
    """The Authlib client for the provider, or None when OpenID Connect is not configured."""
    settings.check()
    if not settings.enabled:
        return None
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register(CLIENT_NAME, client_id=settings.client_id,
                   client_secret=settings.client_secret.get_secret_value() if settings.client_secret else None,
                   server_metadata_url=settings.metadata_url, client_kwargs={"scope": settings.scope})
    return oauth.create_client(CLIENT_NAME)


def oidc_middleware(settings: OidcSettings, cookie_secure: bool) -> list[Middleware]:
    """The signed cookie Authlib needs for the round trip (only when OpenID Connect is on)."""
    if not settings.enabled:
        return []
    return [Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), session_cookie=OIDC_COOKIE,
                       max_age=600, same_site="lax", https_only=cookie_secure)]


def user_from_claims(claims: dict[str, Any], settings: OidcSettings) -> tuple[str, str]:
    """``(user name, role)`` from the ID token's claims; one plain reason when the user may not sign in."""
    name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "").strip()
    if not name:
        raise SvocError("the identity provider did not say who you are (no user name, email or subject)")
    role = claims.get(settings.role_claim) or settings.default_role
    if isinstance(role, list):
        role = next((r for r in ("ig_officer", "practitioner", "admin") if r in role), None)
    if role not in ROLES:
        raise SvocError("your council account has no svoc role; ask your administrator for one")
    return name[:120], str(role)
