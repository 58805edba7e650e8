"""`make dev` (`dg dev`) serves the Dagster UI: assets, checks, schedules and sensors listed over GraphQL, no
code-location warnings, and materialising one asset from the UI fails with one line instead of showing it fresh."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
  assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name blocking } } } }
  schedules { name cronSchedule executionTimezone } sensors { name } jobs { name } } } } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status
  eventConnection { events { __typename ... on MessageEvent { message }
    ... on ExecutionStepFailureEvent { error { message } failureMetadata { description } }
    ... on MaterializationEvent { assetKey { path } } } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                 data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        return json.loads(urllib.request.urlopen(req, timeout=30).read())
    except urllib.error.HTTPError as err:  # a GraphQL error: show it
        raise AssertionError(err.read().decode()[:2000]) from err


@pytest.mark.slow
def test_dg_dev_lists_definitions_without_warnings_and_refuses_one_asset(tmp_path):
    port = free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    drop = tmp_path / "drop"
    shutil.copytree(ROOT / "sample_data" / "demo", drop)
    warehouse = tmp_path / "w" / "svoc.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVOC_")}
    env.update({"DAGSTER_HOME": str(home), "GX_ANALYTICS_ENABLED": "False", "SVOC_DROP": str(drop),
                "SVOC_WAREHOUSE": str(warehouse), "SVOC_PSEUDONYM_KEY_FILE": str(tmp_path / "key"),
                "VIRTUAL_ENV": str(Path(sys.executable).parents[1])})
    log = tmp_path / "dg_dev.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("dg")), "dev", "-h", "127.0.0.1", "-p", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        data, deadline = None, time.time() + 180
        while time.time() < deadline:
            try:
                data = graphql(port, QUERY)
                if data.get("data", {}).get("repositoriesOrError", {}).get("nodes"):
                    break
            except OSError:
                pass
            time.sleep(2)
        repo = data["data"]["repositoriesOrError"]["nodes"][0]
        assert repo["location"]["name"] == "svoc"
        assets = {"/".join(n["assetKey"]["path"]) for n in repo["assetNodes"]}
        assert {"staging/education", "staging/police", "linked/record_citizen", "linked/single_view",
                "marts/agency_overlap", "published_warehouse"} <= assets
        checks = {c["name"]: c["blocking"] for n in repo["assetNodes"]
                  for c in (n["assetChecksOrError"] or {}).get("checks", [])}
        assert checks["identity_records_have_unique_keys"] is True
        assert checks["published_within_freshness_window"] is True
        assert {s["name"] for s in repo["schedules"]} == {"nightly_run_schedule", "hourly_freshness_schedule"}
        assert {"drop_arrival_sensor", "run_failure_recording_sensor"} <= {s["name"] for s in repo["sensors"]}
        assert {"svoc_run_job", "warehouse_freshness_job"} <= {j["name"] for j in repo["jobs"]}

        # "Materialize" on one asset in the UI: the run fails with one line; nothing is built or published.
        params = {"selector": {"repositoryLocationName": "svoc", "repositoryName": repo["name"],
                               "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["staging", "health"]}],
                               "assetCheckSelection": []},
                  "mode": "default", "runConfigData": {}}
        launched = graphql(port, LAUNCH, {"p": params})["data"]["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id, run = launched["run"]["runId"], {}
        deadline = time.time() + 240
        while time.time() < deadline:
            run = graphql(port, RUN, {"id": run_id})["data"]["runOrError"]
            if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(2)
        assert run["status"] == "FAILURE"
        events = run["eventConnection"]["events"]
        assert not [e for e in events if e["__typename"] == "MaterializationEvent"]
        failures = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
        assert failures, [e.get("message") for e in events]
        said = " ".join(str(e.get("failureMetadata") or e.get("error")) for e in failures)
        assert "cannot be published because it leaves out" in said, said
        assert not warehouse.exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    text = log.read_text()
    assert "does not match the name" not in text  # the 46 "code location name" warnings
    assert "superseded" not in text.lower()  # `dagster dev` is superseded by `dg dev`
    assert "does not match the virtual environment" not in text
