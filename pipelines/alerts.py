"""Telling people a run failed or the warehouse went stale: one line of text, sent by email and/or a webhook.

The text names the job, the run and the first line of the failure (svoc's failure messages name a source or a
file and say what to do; they never carry a child's data). The webhook posts JSON to a Microsoft Teams
workflow (an Adaptive Card) or a Slack incoming webhook (``{"text": ...}``). Both are configured from the
environment (``SVOC_ALERT_*``); the webhook URL, which holds its token, is read at run time and never shown.
"""

from __future__ import annotations

import html
import json
import urllib.request
from typing import Any, Literal

import dagster as dg

WebhookKind = Literal["teams", "slack"]


def failure_text(job_name: str, run_id: str, message: str | None, *, drop: str | None = None) -> str:
    """One line: which job and run failed, on which drop, and why (the message's first line, at most 300 chars)."""
    lines = (message or "").strip().splitlines()
    why = lines[0][:300] if lines else "the run failed"
    where = f" on drop {drop}" if drop else ""
    return f"svoc: run {run_id[:8]} of {job_name}{where} failed: {why}"


def webhook_payload(kind: WebhookKind, text: str) -> dict[str, Any]:
    """The JSON body a Teams workflow webhook (Adaptive Card) or a Slack incoming webhook expects."""
    if kind == "slack":
        return {"text": text}
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": [{"type": "TextBlock", "text": text, "wrap": True}]}
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}


def post_webhook(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> int:
    """POST ``payload`` as JSON; returns the HTTP status (raises on a network error or an HTTP error status)."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - an operator-configured URL
        return int(resp.status)


class AlertWebhookResource(dg.ConfigurableResource):
    """Where failed-run alerts are posted. ``url`` comes from ``SVOC_ALERT_WEBHOOK_URL`` at run time."""

    url: str
    kind: WebhookKind = "teams"

    def send(self, text: str) -> int:
        return post_webhook(self.url, webhook_payload(self.kind, text))


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """What each failed asset check of the run observed (a blocking check's failure says only that it failed)."""
    out = []
    for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        data = rec.dagster_event.event_specific_data if rec.dagster_event else None
        if isinstance(data, dg.AssetCheckEvaluation) and not data.passed:
            out.append(data.description or f"check {data.check_name} failed")
    return out


def failure_text_for(context: dg.RunFailureSensorContext) -> str:
    run = context.dagster_run
    checks = failed_checks(context.instance, run.run_id)
    message = checks[0] if checks else context.failure_event.message
    return failure_text(run.job_name, run.run_id, message, drop=run.tags.get("svoc/drop"))


def email_body(context: dg.RunFailureSensorContext) -> str:
    return f"<p>{html.escape(failure_text_for(context))}</p>"


def email_subject(context: dg.RunFailureSensorContext) -> str:
    return f"svoc: run of {context.dagster_run.job_name} failed"
