"""Alerts on failure: Dagster's email sensor and a Teams/Slack webhook, each defined only when configured."""

from __future__ import annotations

import dagster as dg

from pipelines.alerts import AlertWebhookResource, email_body, email_subject, failure_text_for
from pipelines.scope import current_settings
from svoc.settings import Settings


@dg.run_failure_sensor(name="webhook_on_run_failure", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Posts one line to the Teams/Slack webhook in SVOC_ALERT_WEBHOOK_URL when a run "
                                   "fails (including a failed freshness check).")
def webhook_on_run_failure(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhookResource) -> None:
    alert_webhook.send(failure_text_for(context))


def email_sensor(settings: Settings) -> dg.SensorDefinition:
    return dg.make_email_on_run_failure_sensor(
        name="email_on_run_failure",
        email_from=settings.alert_email_from or "",
        email_password=settings.alert_email_password.get_secret_value() if settings.alert_email_password else "",
        email_to=[a.strip() for a in settings.alert_email_to.split(",") if a.strip()],
        email_body_fn=email_body, email_subject_fn=email_subject,
        smtp_host=settings.alert_email_smtp_host or "", smtp_type=settings.alert_email_smtp_type,
        smtp_port=settings.alert_email_smtp_port, smtp_user=settings.alert_email_smtp_user,
        default_status=dg.DefaultSensorStatus.RUNNING)


def alert_defs(settings: Settings) -> dg.Definitions:
    sensors: list[dg.SensorDefinition] = []
    resources: dict[str, dg.ConfigurableResource] = {}
    if settings.alert_webhook_url is not None:
        sensors.append(webhook_on_run_failure)
        resources["alert_webhook"] = AlertWebhookResource(
            url=dg.EnvVar(settings.env_name("alert_webhook_url")),
            kind=settings.alert_webhook_kind)
    if settings.alert_email_from and settings.alert_email_to.strip() and settings.alert_email_smtp_host:
        sensors.append(email_sensor(settings))
    return dg.Definitions(sensors=sensors, resources=resources)


@dg.definitions
def defs() -> dg.Definitions:
    return alert_defs(current_settings())
