"""A throwaway PostgreSQL server for tests: ``postgres_url`` fixture (session scope).

Finds ``initdb``/``pg_ctl`` under ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package) or on
PATH, creates a cluster in a temp dir, starts it on a free port on 127.0.0.1 with password auth, yields a
SQLAlchemy URL and stops it. initdb refuses to run as root, so as root it runs as the ``postgres`` system
user (``runuser``) in a temp dir that user owns. Skips with a reason when the binaries are absent.

Use it with ``from tests.pg import postgres_url  # noqa: F401`` and ``@pytest.mark.postgres``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

APT_PACKAGES = ("postgresql",)


def find_pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    bindir = find_pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin "
                    "or on PATH: apt-get install -y postgresql")
    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="svoc-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' system user to run initdb as")
        runuser = shutil.which("runuser")
        if runuser is None:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root and runuser is not available to drop to the postgres user")
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]
    password = secrets.token_hex(12)
    data, sock, log = base / "data", base / "sock", base / "server.log"
    pwfile = base / "pw"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)

    run("mkdir", "-p", str(sock))
    run("sh", "-c", f"umask 077 && printf %s {password} > {pwfile}")
    run(str(bindir / "initdb"), "-D", str(data), "-U", "svoc", "--auth=scram-sha-256",
        f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C")
    port = _free_port()
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60", "start")
    try:
        yield f"postgresql+psycopg2://svoc:{password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
