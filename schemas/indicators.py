"""The indicator catalogue: what each ``linked.single_view`` indicator counts, over which window, and how.

Each indicator is declared once here. A source opts into the indicators its data feeds with the
``indicators:`` list of its config (``schemas.config.SourceConfig``; the presets carry the reference
behaviour), so a new source added in ``sources.yaml`` can feed an existing indicator without code changes.
An indicator only ever reads the interactions (or identity records) of the sources that opted into it, and
it is NULL for a child known to none of those sources: "not known", never zero.

Measures (``measure``):

* ``count``: the number of the child's interactions of ``event_types`` (all types when empty) dated in the
  ``window_months`` up to the drop date (any date up to the drop date when ``window_months`` is None).
* ``any``: whether there is at least one such interaction.
* ``open``: whether an interaction of ``event_types`` is open on the drop date (started on or before it,
  no end date or an end after it).
* ``attendance_rate`` / ``persistent_absence``: from ``attendance_term`` rows, over the *latest academic year
  with attendance data in the drop* (up to the academic year containing the drop date; a November drop has
  no attendance for the new year yet, so last year is used): ``1 - missed / possible`` (rounded to 4 places),
  and ``missed / possible >= threshold``. A child with no attendance in that year is NULL (no current data).
* ``latest_value``: the identity field ``field`` of the child's most recently started record.
* ``any_true``: whether the identity field ``field`` is true on any of the child's records.

Adding an indicator: one entry below, its column in ``docs/warehouse.md``, and the sources that feed it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Measure = Literal["count", "any", "open", "attendance_rate", "persistent_absence", "latest_value", "any_true"]
EVENT_MEASURES = frozenset({"count", "any", "open"})
ATTENDANCE_MEASURES = frozenset({"attendance_rate", "persistent_absence"})
FIELD_MEASURES = frozenset({"latest_value", "any_true"})

# Missed sessions at or above this share of possible sessions is persistent absence (DfE definition).
PERSISTENT_ABSENCE_THRESHOLD = 0.10


class Indicator(BaseModel):
    """One column of ``linked.single_view``, declared rather than written as SQL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    measure: Measure
    event_types: tuple[str, ...] = Field(default=(), description="counted event types; empty means every type")
    window_months: int | None = Field(default=None, description="months up to the drop date; None: ever")
    field: str | None = Field(default=None, description="identity field for latest_value / any_true")
    threshold: float | None = None
    description: str = ""

    @property
    def sql_type(self) -> str:
        if self.measure == "count":
            return "BIGINT"
        if self.measure == "attendance_rate":
            return "DOUBLE"
        if self.measure == "latest_value":
            return "VARCHAR"
        return "BOOLEAN"


def _ind(name: str, measure: Measure, description: str, **kw: object) -> Indicator:
    return Indicator(name=name, measure=measure, description=description, **kw)


INDICATORS: dict[str, Indicator] = {i.name: i for i in (
    _ind("persistent_absence", "persistent_absence", "missed >= 10% of possible sessions in the latest academic "
         "year with attendance data in the drop", event_types=("attendance_term",), threshold=PERSISTENT_ABSENCE_THRESHOLD),
    _ind("attendance_rate", "attendance_rate", "1 - missed / possible sessions, same year as persistent_absence",
         event_types=("attendance_term",)),
    _ind("suspensions_12m", "count", "suspensions in the 12 months up to the drop date",
         event_types=("suspension",), window_months=12),
    _ind("permanent_exclusion", "any", "ever permanently excluded", event_types=("permanent_exclusion",)),
    _ind("sen_provision", "latest_value", "SEN provision of the most recent enrolment", field="sen_provision"),
    _ind("fsm_eligible", "any_true", "eligible for free school meals on any enrolment", field="fsm_eligible"),
    _ind("ed_attendances_12m", "count", "emergency department attendances, 12 months",
         event_types=("ed_attendance",), window_months=12),
    _ind("camhs_referral_12m", "any", "a CAMHS referral in the 12 months", event_types=("camhs_referral",),
         window_months=12),
    _ind("police_missing_episodes_12m", "count", "missing-person occurrences, 12 months",
         event_types=("missing_person",), window_months=12),
    _ind("police_domestic_abuse_12m", "count", "domestic-abuse occurrences, 12 months",
         event_types=("domestic_abuse",), window_months=12),
    _ind("police_incidents_12m", "count", "every occurrence of the opted-in sources, 12 months", window_months=12),
    _ind("open_social_care_episode", "open", "any episode open on the drop date"),
    _ind("cp_plan_active", "open", "a child protection plan open on the drop date", event_types=("cp_plan",)),
    _ind("lac_active", "open", "looked after on the drop date", event_types=("lac",)),
)}


def academic_year_of(day: dt.date) -> str:
    """The English academic year containing ``day`` (September to August), written ``2026/27``."""
    year = day.year if day.month >= 9 else day.year - 1
    return f"{year}/{(year + 1) % 100:02d}"
