"""Helpers for end-to-end tests: run the real ``svoc`` CLI in a subprocess, and read warehouses."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_data" / "demo"
CLI = str(Path(sys.executable).with_name("svoc"))


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVOC_")}
    env.update({"GX_ANALYTICS_ENABLED": "False", "SVOC_PSEUDONYM_KEY_FILE": str(tmp / "pseudonym.key"),
                "DAGSTER_HOME": "", "COLUMNS": "200"})
    env.pop("DAGSTER_HOME")
    env.update(extra)
    return env


def run_cli(*args: str, tmp: Path, check: bool = True, timeout: int = 900, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([CLI, *args], cwd=ROOT, env=cli_env(tmp, **env), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"svoc {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def columns(path: Path, table: str) -> set[str]:
    schema, name = table.split(".")
    return {r[0] for r in query(path, "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? "
                                      "AND table_name = ?", [schema, name])}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
