"""Per-source rules that are not about reading files: quality thresholds, survivorship ranks, the
``known_to_<source>`` flag and the indicators a source feeds. They are fields of ``SourceConfig``
(``schemas.config``), set in each preset and overridable in ``sources.yaml``; the defaults here are what a
source without a preset gets.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.indicators import INDICATORS
from schemas.rules import DOB_FROM_DEFAULT

# Identifier fields whose validity rate a quality suite can check.
VALIDATED_IDENTIFIERS = ("nhs_number", "upn", "pnc_id")

# Fields survivorship ranks sources for (``name`` covers first and last name).
SURVIVORSHIP_FIELDS = ("name", "dob", "sex", "postcode")
# The rank of a source with no rank for a field: below every ranked source.
DEFAULT_RELIABILITY = 0
# Ranks only break ties between equally supported values; survivorship scores assume they stay below 100.
MAX_RELIABILITY = 99

KNOWN_TO_PATTERN = re.compile(r"known_to_[a-z][a-z0-9_]{0,50}")


class QualityRules(BaseModel):
    """Quality thresholds of one source (the ``quality:`` section). The defaults are the generic rules.

    ``present``: column -> minimum non-null share (warns below it). ``id_validity``: identifier -> minimum
    share of non-blank raw values that are valid. ``dob_future_months``: how far past the drop date a DOB may
    lie (expected births). Check names and severities do not depend on these values.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    present: dict[str, float] = Field(default_factory=lambda: {"last_name": 0.9, "first_name": 0.8, "dob": 0.9})
    id_validity: dict[str, float] = Field(default_factory=lambda: {"nhs_number": 0.9, "upn": 0.9})
    required: tuple[str, ...] = ("source_record_id", "last_name", "dob")
    dob_future_months: int = Field(default=0, ge=0)
    # The plausible-DOB floor: the deployment's ``matching: dob_from`` (set by the quality stage), not per source.
    dob_from: dt.date = DOB_FROM_DEFAULT
    dob_in_range_mostly: float = Field(default=0.99, ge=0, le=1)
    sex_valid_mostly: float = Field(default=1.0, ge=0, le=1)
    event_types_valid_mostly: float = Field(default=1.0, ge=0, le=1)
    interactions_linked_mostly: float = Field(default=0.99, ge=0, le=1)
    event_dates_present: float = Field(default=0.95, ge=0, le=1)

    @field_validator("present", "id_validity")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in value.items() if not 0 <= v <= 1)
        if bad:
            raise ValueError(f"shares must be between 0 and 1 (see {bad})")
        return value

    @field_validator("id_validity")
    @classmethod
    def _known_identifiers(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(value) - set(VALIDATED_IDENTIFIERS))
        if bad:
            raise ValueError(f"id_validity can check {list(VALIDATED_IDENTIFIERS)}, not {bad}")
        return value


def check_reliability(value: dict[str, int]) -> dict[str, int]:
    bad = sorted(set(value) - set(SURVIVORSHIP_FIELDS))
    if bad:
        raise ValueError(f"reliability ranks fields {list(SURVIVORSHIP_FIELDS)}, not {bad}")
    out_of_range = sorted(f for f, rank in value.items() if not 0 <= rank <= MAX_RELIABILITY)
    if out_of_range:
        raise ValueError(f"reliability ranks are whole numbers from 0 to {MAX_RELIABILITY} (see {out_of_range})")
    return value


def check_known_to(value: bool | str) -> bool | str:
    if isinstance(value, str) and not KNOWN_TO_PATTERN.fullmatch(value):
        raise ValueError(f"known_to must be true, false or a column name like known_to_youth_justice, not {value!r}")
    return value


def check_indicators(value: list[str]) -> list[str]:
    bad = [n for n in value if n not in INDICATORS]
    if bad:
        raise ValueError(f"unknown indicators {bad}; choose from {list(INDICATORS)}")
    return list(dict.fromkeys(value))
