"""Canonical record models: what every connector produces, whatever the source layout.

The pydantic models document and validate one record at a time (used by tests, the SQL
reader's small tables, and anyone building records by hand). The bulk path works on
DataFrames whose columns are exactly the model fields, in this order: see
``IDENTITY_COLUMNS``, ``INTERACTION_COLUMNS`` and ``QUARANTINE_COLUMNS``, which the
warehouse DDL in ``schemas.tables`` is generated from.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Sex = Literal["M", "F"]

CORE_SOURCES = ("education", "health", "police", "social_care")


class IdentityRecord(BaseModel):
    """One row of a source's identity file (pupil, patient, nominal, person), standardised.

    ``*_raw`` fields keep the value exactly as given; the unsuffixed field holds the
    standardised value, or ``None`` when the raw value was missing or unusable. Every reason a
    field was unusable is a code in ``quality_flags`` (for example ``nhs_number_invalid_check_digit``).
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    source_record_id: str
    first_name: str | None = None
    middle_names: str | None = None
    last_name: str | None = None
    preferred_surname: str | None = None
    former_surname: str | None = None
    alternative_names: list[str] = Field(default_factory=list)
    dob: dt.date | None = None
    dob_raw: str | None = None
    dob_digits: str | None = Field(default=None, description="an unreadable DOB's digits as typed, laid out "
                                   "YYYY-MM-DD by the source's date format ('2006-05-97' for 20060597); set "
                                   "only when dob is not")
    age: int | None = Field(default=None, description="age in whole years as the source recorded it, when given")
    age_recorded_on: dt.date | None = Field(default=None, description="the date the age was true on (the source's "
                                            "column, else the drop date); set only with an age")
    sex: Sex | None = None
    sex_raw: str | None = None
    address_line: str | None = None
    town: str | None = None
    postcode: str | None = None
    postcode_raw: str | None = None
    nhs_number: str | None = None
    nhs_number_raw: str | None = None
    upn: str | None = None
    upn_raw: str | None = None
    former_upn: str | None = None
    pnc_id: str | None = None
    pnc_id_raw: str | None = None
    identifiers: list[str] = Field(
        default_factory=list,
        description="named identifiers mapped in sources.yaml, as 'NAME=VALUE' (see identifier_entry); "
                    "missing values left out",
    )
    date_of_death: dt.date | None = None
    ethnicity: str | None = None
    sen_provision: str | None = None
    fsm_eligible: bool | None = None
    organisation_code: str | None = None
    organisation_name: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    quality_flags: list[str] = Field(default_factory=list)
    source_file: str
    source_line: int
    run_id: str | None = None
    row_digest: int | None = Field(default=None, description="a hash of the raw line's mapped values (with the "
                                   "config and code that read it): an unchanged line of a later full drop keeps "
                                   "this row (connectors.reuse)")


IDENTIFIER_SEPARATOR = "="


def identifier_entry(name: str, value: str) -> str:
    """One ``IdentityRecord.identifiers`` entry: ``NAME=VALUE``, both stripped and upper-cased
    (``identifier_entry("soc_sec_id", " 1234567 ")`` is ``"SOC_SEC_ID=1234567"``)."""
    return f"{name.strip().upper()}{IDENTIFIER_SEPARATOR}{value.strip().upper()}"


def split_identifier_entry(entry: str) -> tuple[str, str]:
    """``(NAME, VALUE)`` of an ``identifiers`` entry; the value may itself contain ``=``."""
    name, _, value = entry.partition(IDENTIFIER_SEPARATOR)
    return name, value


class Interaction(BaseModel):
    """One event in a child's life as one agency saw it, keyed to that agency's identity record."""

    model_config = ConfigDict(extra="forbid")

    source: str
    source_record_id: str
    event_id: str
    event_type: str
    event_code: str | None = None
    event_date: dt.date | None = None
    end_date: dt.date | None = None
    role: str | None = None
    detail: str | None = None
    academic_year: str | None = None
    term: str | None = None
    sessions_possible: int | None = None
    sessions_authorised_absence: int | None = None
    sessions_unauthorised_absence: int | None = None
    sessions: float | None = None
    quality_flags: list[str] = Field(default_factory=list)
    source_file: str
    source_line: int
    run_id: str | None = None
    row_digest: int | None = Field(default=None, description="a hash of the raw line's mapped values (with the "
                                   "config and code that read it): an unchanged line of a later full drop keeps "
                                   "this row (connectors.reuse)")


class QuarantinedRow(BaseModel):
    """An input line that could not become a record, with a reason a person can act on."""

    model_config = ConfigDict(extra="forbid")

    run_id: str | None = None
    source: str
    file: str
    line_number: int
    reason: str
    raw_line: str


IDENTITY_COLUMNS: tuple[str, ...] = tuple(IdentityRecord.model_fields)

# The canonical fields a source's files can feed (``columns``, ``concat``, ``constants``, ``code_maps``, ``split``
# and ``required`` in sources.yaml); a key outside them is a typo, refused when sources.yaml is read.
IDENTITY_TEXT_FIELDS: tuple[str, ...] = ("first_name", "middle_names", "last_name", "preferred_surname",
                                         "former_surname", "address_line", "town", "ethnicity", "sen_provision",
                                         "organisation_code", "organisation_name")
IDENTITY_INPUT_FIELDS: tuple[str, ...] = ("source_record_id", *IDENTITY_TEXT_FIELDS, "full_name", "alternative_names", "dob",
                                          "age", "age_recorded_on",
                                          "date_of_death", "sex", "postcode", "nhs_number", "upn", "former_upn",
                                          "pnc_id", "fsm_eligible", "start_date", "end_date")
INTERACTION_INPUT_FIELDS: tuple[str, ...] = ("source_record_id", "event_id", "event_type", "event_code",
                                             "event_date", "end_date", "role", "detail", "sessions", "academic_year",
                                             "term", "sessions_possible", "sessions_authorised_absence",
                                             "sessions_unauthorised_absence")
INTERACTION_COLUMNS: tuple[str, ...] = tuple(Interaction.model_fields)
QUARANTINE_COLUMNS: tuple[str, ...] = tuple(QuarantinedRow.model_fields)

# Shared event vocabulary: every source's interaction codes map onto these.
EVENT_TYPES: tuple[str, ...] = (
    "attendance_term",
    "suspension",
    "permanent_exclusion",
    "ed_attendance",
    "admission",
    "camhs_referral",
    "health_visitor",
    "school_nurse",
    "immunisation",
    "missing_person",
    "domestic_abuse",
    "asb",
    "crime",
    "concern_for_welfare",
    "sc_contact",
    "sc_referral",
    "sc_assessment",
    "early_help",
    "cin_plan",
    "cp_plan",
    "lac",
    "other",
)
