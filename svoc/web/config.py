"""The web workspace's settings: from ``SVOC_WEB_*`` and ``SVOC_OIDC_*`` environment variables, read once by
``svoc serve`` and handed to ``create_app``; the app itself never reads the environment.

Secrets (the OIDC client secret) come only from the environment. OpenID Connect is off unless
``SVOC_OIDC_ISSUER``, ``SVOC_OIDC_CLIENT_ID`` and ``SVOC_OIDC_CLIENT_SECRET`` are all set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import SvocError

ROLES = ("practitioner", "ig_officer", "admin")


class OidcSettings(BaseSettings):
    """A council's identity provider (OpenID Connect discovery at ``<issuer>/.well-known/openid-configuration``)."""

    model_config = SettingsConfigDict(env_prefix="SVOC_OIDC_", extra="ignore")

    issuer: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str = "openid email profile"
    role_claim: str = Field(default="svoc_role", description="the ID-token claim that carries the user's role")
    default_role: str | None = Field(default=None, description="role for users whose token has no role claim; "
                                     "unset: such users are refused")
    label: str = "Sign in with your council account"

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id and self.client_secret)

    def check(self) -> None:
        given = [n for n in ("issuer", "client_id", "client_secret") if getattr(self, n)]
        if given and not self.enabled:
            missing = [f"SVOC_OIDC_{n.upper()}" for n in ("issuer", "client_id", "client_secret")
                       if not getattr(self, n)]
            raise SvocError(f"OpenID Connect is half configured: set {', '.join(missing)} too (or unset them all)")
        if self.enabled and not str(self.issuer).startswith("https://"):
            raise SvocError("SVOC_OIDC_ISSUER must be an https:// address")
        if self.default_role is not None and self.default_role not in ROLES:
            raise SvocError(f"SVOC_OIDC_DEFAULT_ROLE must be one of {', '.join(ROLES)}")

    @property
    def metadata_url(self) -> str:
        return f"{str(self.issuer).rstrip('/')}/.well-known/openid-configuration"


class WebSettings(BaseSettings):
    """How the workspace runs. ``cookie_secure`` may be turned off only for http://localhost."""

    model_config = SettingsConfigDict(env_prefix="SVOC_WEB_", extra="ignore")

    cookie_secure: bool = True
    session_minutes: float = Field(default=30.0, gt=0, description="idle minutes before a session expires")
    session_max_hours: float = Field(default=10.0, gt=0, description="a session ends this long after sign-in")
    searches_per_minute: int = Field(default=20, ge=1, description="searches one user may run per minute")


class WebConfig(BaseModel):
    """Everything ``create_app`` needs."""

    warehouse: Path
    state_url: str | None = None
    web: WebSettings = Field(default_factory=WebSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)

    model_config = {"arbitrary_types_allowed": True}
