"""`make dev` serves the Dagster UI with the assets, checks, schedule and sensors listed (asked over GraphQL)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name blocking } } } }
  schedules { name cronSchedule executionTimezone } sensors { name } jobs { name } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dagster_dev_lists_assets_checks_schedule_and_sensors(tmp_path):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "GX_ANALYTICS_ENABLED": "False"}
    (tmp_path / "dagster.yaml").write_text((ROOT / "pipelines" / "dagster.yaml").read_text())
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml",
                             "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        data, deadline = None, time.time() + 180
        while time.time() < deadline:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": QUERY}).encode(),
                                             headers={"Content-Type": "application/json"})
                data = json.loads(urllib.request.urlopen(req, timeout=10).read())
                if data.get("data", {}).get("repositoriesOrError", {}).get("nodes"):
                    break
            except OSError:
                pass
            time.sleep(2)
        repo = data["data"]["repositoriesOrError"]["nodes"][0]
        assets = {"/".join(n["assetKey"]["path"]) for n in repo["assetNodes"]}
        assert {"staging/education", "staging/police", "linked/record_citizen", "linked/single_view",
                "marts/agency_overlap", "published_warehouse"} <= assets
        checks = {c["name"]: c["blocking"] for n in repo["assetNodes"]
                  for c in (n["assetChecksOrError"] or {}).get("checks", [])}
        assert checks["identity_records_have_unique_keys"] is True
        assert {s["name"] for s in repo["schedules"]} == {"nightly_run_schedule"}
        assert {"drop_arrival_sensor", "run_failure_recording_sensor"} <= {s["name"] for s in repo["sensors"]}
        assert "svoc_run_job" in {j["name"] for j in repo["jobs"]}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
