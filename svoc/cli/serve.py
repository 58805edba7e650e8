"""``svoc serve`` (the web workspace), ``svoc account add|list|disable`` and ``svoc demo-account``.

Accounts live in the state store beside the warehouse (or ``SVOC_STATE_URL``). Passwords are read from a
prompt or standard input, never from the command line; ``demo-account`` generates one and prints it once.
"""

from __future__ import annotations

import ipaddress
import secrets
import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from schemas.errors import SvocError
from svoc.cli.errors import reports_errors
from svoc.cli.review import WAREHOUSE_OPT, state_url
from svoc.state import open_store

account_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                          help="Workspace accounts (practitioner, ig_officer, admin).")
console = Console(width=160)
DEMO_USER = "demo-ig"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@reports_errors
def serve(warehouse: Path = WAREHOUSE_OPT,
          host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
          port: int = typer.Option(8000, "--port", min=1, max=65535),
          insecure_cookies: bool = typer.Option(False, "--insecure-cookies", help=(
              "Send the session cookie over plain http (only for http://localhost; behind TLS leave it off)"))
          ) -> None:
    """Serve the web workspace on the published warehouse (read-only; a nightly swap is picked up live)."""
    import uvicorn

    from svoc.web import OidcSettings, WebConfig, WebSettings, create_app

    if insecure_cookies and not _loopback(host):
        raise SvocError("--insecure-cookies is only for a workspace on localhost; serve other addresses behind TLS")
    web = WebSettings()
    if insecure_cookies:
        web = web.model_copy(update={"cookie_secure": False})
    if not warehouse.exists():
        raise SvocError(f"{warehouse}: no such warehouse; run the pipeline first (svoc demo or svoc run)")
    app = create_app(WebConfig(warehouse=warehouse, state_url=state_url(), web=web, oidc=OidcSettings()))
    console.print(f"svoc workspace on http://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
    # uvicorn's access log holds method, path and status only: paths never carry names, DOBs or identifiers.
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@account_app.command("add")
@reports_errors
def account_add(username: str = typer.Argument(..., help="User name"),
                role: str = typer.Option(..., "--role", help="practitioner | ig_officer | admin"),
                warehouse: Path = WAREHOUSE_OPT,
                password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
                council_only: bool = typer.Option(False, "--council-only", help=(
                    "No password: the user signs in through the council's identity provider only")),
                replace: bool = typer.Option(False, "--replace", help="Reset an existing account")) -> None:
    """Create a workspace account (the password is asked for, never given on the command line)."""
    from svoc.web.accounts import Accounts

    password = None if council_only else _password(password_stdin)
    with open_store(warehouse, state_url()) as store:
        user = Accounts(store.engine).add(username, role, password, replace=replace)
    console.print(f"account {user.username} ({user.role}) {'reset' if replace else 'created'}", highlight=False)


@account_app.command("list")
@reports_errors
def account_list(warehouse: Path = WAREHOUSE_OPT) -> None:
    """The accounts, their roles and whether they are disabled."""
    from svoc.web.accounts import Accounts

    with open_store(warehouse, state_url()) as store:
        rows = Accounts(store.engine).list()
    t = Table(title="Workspace accounts")
    for col in ("user", "role", "created", "sign-in", "state"):
        t.add_column(col)
    for a in rows:
        t.add_row(str(a["username"]), str(a["role"]), f"{a['created_at']:%Y-%m-%d}",
                  "password" if a["has_password"] else "council account", "disabled" if a["disabled"] else "active")
    console.print(t)


@account_app.command("disable")
@reports_errors
def account_disable(username: str = typer.Argument(...), warehouse: Path = WAREHOUSE_OPT) -> None:
    """Disable an account and end its sessions."""
    from svoc.web.accounts import Accounts

    with open_store(warehouse, state_url()) as store:
        Accounts(store.engine).disable(username)
    console.print(f"account {username} disabled", highlight=False)


@reports_errors
def demo_account(warehouse: Path = typer.Option(Path("warehouse/svoc.duckdb"), "--warehouse"),
                 port: int = typer.Option(8000, "--port")) -> None:
    """Create (or reset) the demo IG-officer account with a freshly generated password, and print the command
    that serves the workspace on the demo warehouse. The password is shown once and never stored in clear."""
    from svoc.web.accounts import Accounts

    password = secrets.token_urlsafe(12)
    with open_store(warehouse, state_url()) as store:
        Accounts(store.engine).add(DEMO_USER, "ig_officer", password, replace=True)
    program = _program()
    cmd = f"{program} serve --warehouse {shlex.quote(str(warehouse))} --port {port} --insecure-cookies"
    console.print("Web workspace: run", highlight=False)
    console.print(f"  {cmd}", highlight=False, soft_wrap=True)
    console.print(f"then open http://127.0.0.1:{port}/ and sign in as {DEMO_USER} with password {password}",
                  highlight=False, soft_wrap=True)


def _program() -> str:
    """How to call this svoc again: ``.venv/bin/svoc`` when run from the checkout's venv, else ``svoc``."""
    exe = Path(sys.argv[0]).absolute()
    if exe.name != "svoc":
        return "svoc"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)
