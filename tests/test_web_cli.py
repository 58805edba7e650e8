"""The web workspace's CLI commands: svoc account add, svoc demo-account and svoc serve."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from svoc.state import open_store
from svoc.web.accounts import Accounts, User
from tests.e2e import CLI, ROOT, cli_env
from tests.web_helpers import tiny_warehouse as _tiny


# ---------------------------------------------------------------------- the CLI
def _svoc(*args: str, tmp: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], cwd=ROOT, env=cli_env(tmp), input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_account_add_and_demo_account(tmp_path):
    wh = tmp_path / "w.duckdb"
    _tiny(wh, "x")
    p = _svoc("account", "add", "pat", "--role", "practitioner", "--warehouse", str(wh), "--password-stdin",
              tmp=tmp_path, stdin="a long password 1\n")
    assert p.returncode == 0, p.stderr
    p = _svoc("account", "add", "pat", "--role", "practitioner", "--warehouse", str(wh), "--password-stdin",
              tmp=tmp_path, stdin="a long password 1\n")
    assert p.returncode == 1 and p.stderr.strip().startswith("error:") and "already exists" in p.stderr
    p = _svoc("demo-account", "--warehouse", str(wh), tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    assert f"svoc serve --warehouse {wh} --port 8000 --insecure-cookies" in p.stdout
    password = re.search(r"sign in as demo-ig with password (\S+)", p.stdout).group(1)
    with open_store(wh) as store:
        accounts = Accounts(store.engine)
        assert accounts.verify("pat", "a long password 1") == User("pat", "practitioner")
        assert accounts.verify("demo-ig", password) == User("demo-ig", "ig_officer")
    again = _svoc("demo-account", "--warehouse", str(wh), tmp=tmp_path)
    assert password not in again.stdout  # a new password each time


def test_serve_refuses_plain_http_cookies_off_localhost(tmp_path):
    wh = tmp_path / "w.duckdb"
    _tiny(wh, "x")
    p = _svoc("serve", "--warehouse", str(wh), "--host", "0.0.0.0", "--insecure-cookies", tmp=tmp_path)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "localhost" in p.stderr


def test_svoc_serve_serves_the_workspace(tmp_path):
    import urllib.request

    from tests.web_helpers import free_port

    wh = tmp_path / "w.duckdb"
    _tiny(wh, "x")
    port = free_port()
    proc = subprocess.Popen([CLI, "serve", "--warehouse", str(wh), "--port", str(port), "--insecure-cookies"],
                            cwd=ROOT, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    page = r.read().decode()
                    cookie = r.headers["set-cookie"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "svoc serve did not start"
                time.sleep(0.3)
        assert "Sign in" in page and "HttpOnly" in cookie and "Secure" not in cookie  # --insecure-cookies
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "GET /login" in out and "Traceback" not in out
