"""Declarative expectation suites: each source's ``quality:`` thresholds, turned into GX expectation specs.

Pure Python (no Great Expectations import): ``identity_specs`` and ``interaction_specs`` return
``CheckSpec`` rows naming a GX expectation type and its kwargs; ``quality.runner`` hands them to GX.
Severity is fixed by the check: an empty extract, missing or duplicate record ids, a required column
missing or entirely null, and a row count more than halved against the previous run are BLOCKING;
everything else WARNS.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from schemas.config import SourceConfig
from schemas.records import EVENT_TYPES
from schemas.rules import DOB_FROM_DEFAULT
from schemas.source_rules import QualityRules

Severity = Literal["blocking", "warning"]

# Identifier fields whose validity rate is checked: field -> (check name, label in messages).
ID_FIELDS: dict[str, tuple[str, str]] = {
    "nhs_number": ("nhs_numbers_mostly_valid", "NHS number"),
    "upn": ("upns_mostly_valid", "UPN"),
    "pnc_id": ("pnc_ids_mostly_valid", "PNC id"),
}

LABELS = {
    "dob": "DOB",
    "dob_or_age": "DOB or age",
    "last_name": "last name",
    "first_name": "first name",
    "postcode": "postcode",
    "sex": "sex code",
    "source_record_id": "record id",
    "event_date": "event date",
    "event_type": "event type",
}


# What the "DOB" presence checks count: a DOB, or the age a source records instead (an age is birth evidence too)
BIRTH_EVIDENCE = "dob_or_age"


def checked_column(column: str) -> str:
    """The batch column a presence check on ``column`` reads (``dob``: ``BIRTH_EVIDENCE``)."""
    return BIRTH_EVIDENCE if column == "dob" else column


def label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


# A source's thresholds are the ``quality:`` section of its config (``schemas.source_rules.QualityRules``), set
# in its preset and overridable in sources.yaml; a source without one gets these generic rules.
SourceRules = QualityRules
GENERIC_RULES = QualityRules()


def rules_for(source: SourceConfig | str) -> QualityRules:
    """The thresholds of a configured source. A bare source name carries no config: the generic rules."""
    return source.quality if isinstance(source, SourceConfig) else GENERIC_RULES


def suite_name(source: str, frame: Literal["identity", "interactions"]) -> str:
    return f"svoc_{source}_{frame}"


@dataclass(frozen=True)
class CheckSpec:
    """One check: a predicate name, its severity, the GX expectation that decides it, and how to word it."""

    check: str
    severity: Severity
    gx_type: str
    kwargs: dict
    expectation: str  # what is expected, in words
    kind: str  # how quality.runner words the observed value
    column: str | None = None
    params: dict = field(default_factory=dict)


def dob_bounds(reference_date: dt.date, future_months: int,
               dob_from: dt.date = DOB_FROM_DEFAULT) -> tuple[dt.datetime, dt.datetime]:
    upper = pd.Timestamp(reference_date) + pd.DateOffset(months=future_months)
    return dt.datetime.combine(dob_from, dt.time()), upper.to_pydatetime()


def valid_flag_column(id_field: str) -> str:
    """Derived batch column: True/False for a non-blank raw identifier, NULL when the raw value is blank."""
    return f"{id_field}_raw_is_valid"


def _collapse(floor: int, expectation: str, params: dict) -> CheckSpec:
    """The blocking check that the identity records did not fall below ``floor`` (half the previous run's)."""
    return CheckSpec("row_count_not_collapsed", "blocking", "expect_table_row_count_to_be_between",
                     {"min_value": floor}, expectation, "collapse", params=params)


def identity_specs(
    rules: SourceRules, previous_row_count: int | None, reference_date: dt.date, changes_only: bool = False
) -> list[CheckSpec]:
    """``changes_only``: the batch is what a changes-only drop delivered, which may hold no identity record (only
    interactions) and removes none, so the row-count checks expect nothing of it."""
    specs = [
        CheckSpec(
            "identity_records_not_empty",
            "blocking",
            "expect_table_row_count_to_be_between",
            {"min_value": 0 if changes_only else 1},
            "any number of changed or new identity records (a changes-only drop)" if changes_only
            else "at least 1 identity record",
            "not_empty",
        ),
    ]
    if changes_only:
        specs.append(_collapse(0, "a changes-only drop removes no record", {"previous": None, "changes_only": True}))
    elif previous_row_count:
        floor = math.ceil(previous_row_count / 2)
        specs.append(_collapse(floor, f"at least {floor:,} rows (half of the previous run's {previous_row_count:,})",
                               {"previous": previous_row_count}))
    else:
        specs.append(_collapse(0, "no previous run to compare with", {"previous": None}))
    specs += [
        CheckSpec(
            "required_columns_present",
            "blocking",
            "expect_table_columns_to_match_set",
            {"column_set": list(rules.required), "exact_match": False},
            "columns present: " + ", ".join(rules.required),
            "columns",
            params={"required": list(rules.required)},
        ),
        CheckSpec(
            "identity_records_have_keys",
            "blocking",
            "expect_column_values_to_not_be_null",
            {"column": "source_record_id"},
            "every record has a source_record_id",
            "keys_present",
            column="source_record_id",
        ),
        CheckSpec(
            "identity_records_have_unique_keys",
            "blocking",
            "expect_column_values_to_be_unique",
            {"column": "source_record_id"},
            "every source_record_id is unique",
            "unique",
            column="source_record_id",
        ),
    ]
    for col in rules.required:
        if col == "source_record_id":
            continue
        specs.append(
            CheckSpec(
                f"{col}_not_all_null",
                "blocking",
                "expect_column_proportion_of_non_null_values_to_be_between",
                {"column": checked_column(col), "min_value": 0, "strict_min": True},
                f"at least one row has a {label(checked_column(col))}",
                "not_all_null",
                column=checked_column(col),
            )
        )
    for col, share in rules.present.items():
        specs.append(
            CheckSpec(
                f"{col}_mostly_present",
                "warning",
                "expect_column_values_to_not_be_null",
                {"column": checked_column(col), "mostly": share},
                f"at least {share:.0%} of rows have a {label(checked_column(col))}",
                "mostly_present",
                column=checked_column(col),
                params={"threshold": share},
            )
        )
    low, high = dob_bounds(reference_date, rules.dob_future_months, rules.dob_from)
    specs += [
        CheckSpec(
            "dob_within_range",
            "warning",
            "expect_column_values_to_be_between",
            {"column": "dob", "min_value": low, "max_value": high, "mostly": rules.dob_in_range_mostly},
            f"at least {rules.dob_in_range_mostly:.0%} of DOBs within {low.date()}..{high.date()}",
            "range",
            column="dob",
            params={"low": low.date(), "high": high.date()},
        ),
        CheckSpec(
            "sex_codes_valid",
            "warning",
            "expect_column_values_to_be_in_set",
            {"column": "sex", "value_set": ["M", "F"], "mostly": rules.sex_valid_mostly},
            "sex is M, F or blank",
            "in_set",
            column="sex",
        ),
    ]
    for id_field, share in rules.id_validity.items():
        check, what = ID_FIELDS[id_field]
        specs.append(
            CheckSpec(
                check,
                "warning",
                "expect_column_values_to_be_in_set",
                {"column": valid_flag_column(id_field), "value_set": [True], "mostly": share},
                f"at least {share:.0%} of non-blank {what}s are valid",
                "validity",
                column=valid_flag_column(id_field),
                params={"threshold": share, "label": what},
            )
        )
    return specs


def interaction_specs(rules: SourceRules) -> list[CheckSpec]:
    return [
        CheckSpec(
            "interaction_event_types_valid",
            "warning",
            "expect_column_values_to_be_in_set",
            {
                "column": "event_type",
                "value_set": list(EVENT_TYPES),
                "mostly": rules.event_types_valid_mostly,
            },
            "event_type is one of the shared event types",
            "in_set",
            column="event_type",
        ),
        CheckSpec(
            "interaction_event_ids_unique",
            "warning",
            "expect_compound_columns_to_be_unique",
            {"column_list": ["source_record_id", "event_id"]},
            "each (source_record_id, event_id) appears once",
            "compound_unique",
        ),
        CheckSpec(
            "interactions_link_to_identity_records",
            "warning",
            "expect_column_values_to_be_in_set",
            {
                "column": "has_identity_record",
                "value_set": [True],
                "mostly": rules.interactions_linked_mostly,
            },
            f"at least {rules.interactions_linked_mostly:.0%} of interactions belong to an identity record",
            "linked",
            column="has_identity_record",
        ),
        CheckSpec(
            "event_dates_mostly_present",
            "warning",
            "expect_column_values_to_not_be_null",
            {"column": "event_date", "mostly": rules.event_dates_present},
            f"at least {rules.event_dates_present:.0%} of interactions have an event date",
            "mostly_present",
            column="event_date",
            params={"threshold": rules.event_dates_present},
        ),
    ]
