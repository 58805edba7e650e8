"""The web workspace (``svoc serve``): find a child, the child page, the review queue and the access log,
server-rendered with Starlette and Jinja2; accounts with roles; every view of a child access-logged."""

from svoc.web.app import create_app
from svoc.web.config import OidcSettings, WebConfig, WebSettings

__all__ = ["OidcSettings", "WebConfig", "WebSettings", "create_app"]
