"""Helpers for the web workspace tests: a real uvicorn server in a thread, accounts, a writable warehouse copy."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import uvicorn

from svoc.state import open_store
from svoc.web import WebConfig, WebSettings, create_app
from svoc.web.accounts import Accounts

PASSWORDS = {"pat": ("practitioner", "practitioner-pass-1"), "ian": ("ig_officer", "ig-officer-pass-1"),
             "ada": ("admin", "admin-pass-0001")}


def copy_warehouse(src: Path, dst_dir: Path) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    shutil.copy2(src, dst)
    return dst


def add_accounts(warehouse: Path) -> None:
    with open_store(warehouse) as store:
        accounts = Accounts(store.engine)
        for name, (role, password) in PASSWORDS.items():
            accounts.add(name, role, password, replace=True)


def queue_some_pairs(warehouse: Path, n: int = 6) -> list[tuple[str, str]]:
    """Put the ``n`` least certain linked pairs of the last run (with their model evidence) into the review
    queue, and one group of three records: the demo drop itself leaves the queue empty."""
    con = duckdb.connect(str(warehouse))
    try:
        rows = con.execute(
            "SELECT unique_id_l, unique_id_r, match_probability, match_weight, evidence, run_id FROM audit.match_evidence "
            "WHERE status = 'linked' AND link_method = 'probabilistic' ORDER BY match_probability, unique_id_l "
            "LIMIT ?", [n]).fetchall()
        trio = con.execute(
            "SELECT list(source || ':' || source_record_id ORDER BY source, source_record_id) FROM linked.record_citizen "
            "GROUP BY citizen_id HAVING count(*) = 3 ORDER BY citizen_id LIMIT 1").fetchone()[0]
        ev = con.execute("SELECT evidence, run_id FROM audit.match_evidence LIMIT 1").fetchone()
        pairs = [(a, b, p, w, e, r, "weak_evidence:demo") for a, b, p, w, e, r in rows]
        pairs += [(trio[0], trio[1], 0.7, 1.2, ev[0], ev[1], "group:demo"),
                  (trio[1], trio[2], 0.6, 0.6, ev[0], ev[1], "group:demo")]
        for a, b, p, w, e, r, reason in pairs:
            lo, hi = sorted((a, b))
            con.execute("INSERT INTO audit.review_queue (pair_id, unique_id_l, unique_id_r, match_probability, "
                        "match_weight, reason, evidence, status, queued_run_id) VALUES "
                        "(substr(sha256(? || chr(31) || ?), 1, 16), ?, ?, ?, ?, ?, ?, 'open', ?)",
                        [lo, hi, lo, hi, p, w, reason, e, r])
        return [(a, b) for a, b, *_ in pairs]
    finally:
        con.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(warehouse: Path, **web: object) -> Iterator[str]:
    """The workspace on a free loopback port (plain http: cookies not Secure), stopped on exit."""
    settings = WebSettings(cookie_secure=False, **web)  # type: ignore[arg-type]
    app = create_app(WebConfig(warehouse=warehouse, web=settings))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the workspace did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def tiny_warehouse(path: Path, value: str) -> None:
    """A warehouse holding one table ``t`` with one value: enough to open, swap and keep accounts in."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT ? AS v", [value])
    con.close()
