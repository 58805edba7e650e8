"""police preset: RMS nominal extract and occurrences; Windows-1252 by default (still detected), dates
``DD-Mon-YYYY`` and occurrence times ``DD-Mon-YYYY HH:MM``."""

from schemas.config import FileConfig, InteractionFileConfig, SourceConfig
from schemas.source_rules import QualityRules

DATES = ["%d-%b-%Y", "%d-%b-%Y %H:%M"]

POLICE = SourceConfig(
    name="police",
    preset="police",
    # Details often taken verbally: ranked lowest.
    reliability={"name": 1, "dob": 1, "sex": 1, "postcode": 1},
    quality=QualityRules(present={"last_name": 0.9, "first_name": 0.85, "dob": 0.7, "postcode": 0.5},
                         id_validity={"pnc_id": 0.9}, dob_in_range_mostly=0.98),
    indicators=["police_missing_episodes_12m", "police_domestic_abuse_12m", "police_incidents_12m"],
    identity=FileConfig(
        file="nominals",
        fallback_encoding="cp1252",
        date_formats=DATES,
        columns={
            "source_record_id": "NominalID", "pnc_id": "PNCID", "last_name": "Surname",
            "first_name": "Forename1", "middle_names": "Forename2", "dob": "DateOfBirth", "sex": "Gender",
            "address_line": "Address", "postcode": "Postcode",
        },
        required=["source_record_id", "first_name", "last_name", "dob"],
        code_maps={"sex": {"Male": "M", "Female": "F", "M": "M", "F": "F", "Unknown": "", "U": ""}},
    ),
    interactions=[
        InteractionFileConfig(
            file="occurrences",
            fallback_encoding="cp1252",
            date_formats=DATES,
            columns={
                "event_id": "OccurrenceRef", "source_record_id": "NominalID", "event_date": "OccurrenceDate",
                "event_type": "OccurrenceType", "role": "Role",
            },
            required=["source_record_id", "event_id", "event_date", "event_type"],
            code_maps={"event_type": {
                "MISSING_PERSON": "missing_person", "DOMESTIC_ABUSE": "domestic_abuse", "ASB": "asb",
                "CRIME": "crime", "CONCERN_FOR_WELFARE": "concern_for_welfare",
            }},
        ),
    ],
)
