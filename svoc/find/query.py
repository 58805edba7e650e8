"""A partial identity to look for: what a practitioner or IG officer knows about a child."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields

import pandas as pd

from schemas.errors import SvocError
from schemas.identifiers import check_nhs_number, check_upn, is_missing

DOB_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y")
FIELD_LABELS = {"first_name": "first name", "last_name": "last name", "dob": "date of birth", "sex": "sex",
                "postcode": "postcode", "nhs_number": "NHS number", "upn": "UPN", "source": "source",
                "record_id": "record id"}


def parse_dob(value: object) -> dt.date | None:
    """A date of birth typed or listed in any common UK form (``2012-03-04``, ``04/03/2012``, ``4 Mar 2012``)."""
    if value is None or isinstance(value, float) and value != value:
        return None
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if is_missing(text):
        return None
    for fmt in DOB_FORMATS:
        try:
            return dt.datetime.strptime(text.split(" 00:00")[0], fmt).date()
        except ValueError:
            continue
    raise SvocError(f"date of birth {text!r} is not a date; use YYYY-MM-DD or DD/MM/YYYY")


def _text(value: object) -> str | None:
    if value is None or isinstance(value, float) and value != value:
        return None
    text = str(value).strip()
    return None if is_missing(text) else text


@dataclass(frozen=True)
class Query:
    """Any of these; the more given, the sharper the answer. Values are never logged (only field names)."""

    first_name: str | None = None
    last_name: str | None = None
    dob: dt.date | None = None
    sex: str | None = None
    postcode: str | None = None
    nhs_number: str | None = None
    upn: str | None = None
    source: str | None = None
    record_id: str | None = None

    @classmethod
    def of(cls, **values: object) -> Query:
        """Build from loose values (strings from a form or a list row): trims, drops blanks, parses the DOB,
        upper-cases sex to M/F."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SvocError(f"unknown search field(s) {sorted(unknown)}; use {sorted(known)}")
        clean = {k: _text(v) for k, v in values.items() if k != "dob"}
        sex = (clean.get("sex") or "").upper()[:1]
        clean["sex"] = sex if sex in ("M", "F") else None
        return cls(**clean, dob=parse_dob(values.get("dob")))

    def given(self) -> list[str]:
        """The fields given, in a fixed order (for the access log: names of fields, never values)."""
        return [k for k, v in asdict(self).items() if v is not None]

    @property
    def valid_nhs_number(self) -> str | None:
        return check_nhs_number(self.nhs_number).value if self.nhs_number else None

    @property
    def valid_upn(self) -> str | None:
        return check_upn(self.upn).value if self.upn else None

    def has_identifier(self) -> bool:
        return bool(self.valid_nhs_number or self.valid_upn or (self.source and self.record_id))

    def strong_enough(self) -> bool:
        """Enough to pick a child out of a city's records: an identifier, or a date of birth with a name, or
        both names with a date of birth or postcode. Anything less is "too many candidates, add a field"."""
        if self.has_identifier():
            return True
        names = int(bool(self.first_name)) + int(bool(self.last_name))
        return bool((self.dob and names >= 1) or (names == 2 and (self.dob or self.postcode)))

    def identity_row(self, qid: int) -> dict[str, object]:
        """The query as an identity record (``schemas.records`` columns) for ``matching.features``."""
        return {"source": "query", "source_record_id": str(qid), "first_name": self.first_name,
                "last_name": self.last_name, "dob": pd.Timestamp(self.dob) if self.dob else None, "sex": self.sex,
                "postcode": self.postcode, "postcode_raw": self.postcode, "nhs_number": self.nhs_number,
                "upn": self.upn, "quality_flags": [], "alternative_names": []}


def swapped_dob(dob: dt.date | None) -> dt.date | None:
    """Day and month transposed (04/03 for 03/04), when that is a different valid date."""
    if dob is None or dob.day == dob.month or dob.day > 12:
        return None
    return dob.replace(month=dob.day, day=dob.month)
