"""Freshness of the published warehouse, and failure alerts by webhook (a local server) and email (definition)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.alerts import AlertWebhookResource, failure_text, webhook_payload
from pipelines.definitions import build_defs
from pipelines.defs.alerts import webhook_on_run_failure
from pipelines.defs.freshness import freshness, last_published
from svoc.settings import get_settings
from svoc.warehouse.sql import ensure_tables

NOW = dt.datetime(2026, 11, 30, 9, 0)
LIMIT = dt.timedelta(hours=26)


@pytest.mark.parametrize(("last", "passed", "says"), [
    (NOW - dt.timedelta(hours=3), True, "published 3.0 h ago (limit 26 h)"),
    (NOW - dt.timedelta(hours=25, minutes=59), True, "limit 26 h"),
    (NOW - dt.timedelta(hours=27), False, "is 27.0 h old (limit 26 h; last published 2026-11-29 06:00)"),
    (None, False, "no successful run has been published yet"),
])
def test_freshness(last, passed, says):
    ok, text = freshness(last, NOW, LIMIT)
    assert ok is passed and says in text


def stale_warehouse(path: Path, finished: dt.datetime) -> Path:
    con = duckdb.connect(str(path))
    ensure_tables(con)
    con.execute("INSERT INTO audit.runs (run_id, finished_at, status) VALUES ('old', ?, 'success'), "
                "('newer-but-failed', ?, 'failed')", [finished, finished + dt.timedelta(hours=20)])
    con.close()
    return path


def test_last_published_reads_the_published_file(tmp_path):
    assert last_published(tmp_path / "absent.duckdb") is None
    w = stale_warehouse(tmp_path / "w.duckdb", NOW)
    assert last_published(w) == NOW


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append({"path": self.path, "json": json.loads(body),
                              "type": self.headers["Content-Type"]})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def webhook_server():
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook/secret-token"
    finally:
        server.shutdown()
        server.server_close()


def test_stale_warehouse_fails_the_freshness_job_and_the_webhook_says_why(tmp_path, webhook_server, monkeypatch):
    monkeypatch.setenv("SVOC_ALERT_WEBHOOK_URL", webhook_server)
    warehouse = stale_warehouse(tmp_path / "svoc.duckdb", dt.datetime.now() - dt.timedelta(hours=30))
    settings = get_settings(warehouse=warehouse, alert_webhook_kind="slack")
    defs = build_defs(settings)
    assert "webhook_on_run_failure" in {s.name for s in defs.sensors}
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("warehouse_freshness_job").execute_in_process(
            instance=instance, raise_on_error=False)
        assert not result.success
        ctx = dg.build_run_status_sensor_context(
            sensor_name="webhook_on_run_failure", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"alert_webhook": AlertWebhookResource(url=webhook_server, kind="slack")},
        ).for_run_failure()
        webhook_on_run_failure(ctx)
    [hit] = Hook.received
    assert hit["path"] == "/hook/secret-token" and hit["type"] == "application/json"
    text = hit["json"]["text"]
    assert "warehouse_freshness_job" in text and "h old (limit 26 h" in text


def test_fresh_warehouse_passes_the_freshness_job(tmp_path):
    warehouse = stale_warehouse(tmp_path / "svoc.duckdb", dt.datetime.now() - dt.timedelta(hours=2))
    defs = build_defs(get_settings(warehouse=warehouse))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("warehouse_freshness_job").execute_in_process(instance=instance)
    [ev] = result.get_asset_check_evaluations()
    assert ev.passed and ev.check_name == "published_within_freshness_window"


def test_teams_payload_is_an_adaptive_card_and_text_is_one_line():
    text = failure_text("svoc_run_job", "0123456789abcdef", "source 'health' is empty: check the export\nmore",
                        drop="2026-11-30")
    assert text == ("svoc: run 01234567 of svoc_run_job on drop 2026-11-30 failed: "
                    "source 'health' is empty: check the export")
    card = webhook_payload("teams", text)["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == text
    assert webhook_payload("slack", text) == {"text": text}


def test_alert_sensors_exist_only_when_configured(monkeypatch):
    names = {s.name for s in build_defs(get_settings()).sensors}
    assert not names & {"webhook_on_run_failure", "email_on_run_failure"}
    monkeypatch.setenv("SVOC_ALERT_EMAIL_PASSWORD", "pw")
    settings = get_settings(alert_email_from="svoc@council.example", alert_email_to="a@x.example, b@x.example",
                            alert_email_smtp_host="127.0.0.1", alert_email_smtp_port=2525)
    sensor = build_defs(settings).resolve_sensor_def("email_on_run_failure")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
