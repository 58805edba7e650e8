"""social_care preset: case management persons and episodes; dates ISO. A future DOB is the expected
date of an unborn child (flag ``dob_expected``, not impossible). Either table may be read from the
reporting database instead: set ``sql: {url_env: ..., table: ...}`` for it in sources.yaml."""

from schemas.config import FileConfig, InteractionFileConfig, SourceConfig
from schemas.source_rules import QualityRules

SOCIAL_CARE = SourceConfig(
    name="social_care",
    preset="social_care",
    reliability={"name": 2, "dob": 2, "sex": 2, "postcode": 2},
    quality=QualityRules(present={"last_name": 0.9, "first_name": 0.8, "dob": 0.9, "postcode": 0.8},
                         id_validity={"nhs_number": 0.9, "upn": 0.9}, dob_future_months=9),
    indicators=["open_social_care_episode", "cp_plan_active", "lac_active"],
    identity=FileConfig(
        file="persons",
        future_dob="expected",
        columns={
            "source_record_id": "PersonID", "nhs_number": "NHSNumber", "upn": "UPN", "first_name": "FirstName",
            "middle_names": "MiddleName", "last_name": "LastName", "alternative_names": "AlternativeNames",
            "dob": "DOB", "sex": "Gender", "town": "Town", "postcode": "Postcode", "ethnicity": "Ethnicity",
        },
        concat={"address_line": ["AddressLine1", "AddressLine2"]},
        split={"alternative_names": ";"},
        required=["source_record_id", "first_name", "last_name", "dob"],
        code_maps={"sex": {"M": "M", "F": "F", "U": "", "I": ""}},
    ),
    interactions=[
        InteractionFileConfig(
            file="episodes",
            columns={
                "event_id": "EpisodeID", "source_record_id": "PersonID", "event_type": "EpisodeType",
                "event_date": "StartDate", "end_date": "EndDate", "detail": "Reason",
            },
            required=["source_record_id", "event_id", "event_date", "event_type"],
            code_maps={"event_type": {
                "CONTACT": "sc_contact", "REFERRAL": "sc_referral", "ASSESSMENT": "sc_assessment",
                "EARLY_HELP": "early_help", "CIN_PLAN": "cin_plan", "CP_PLAN": "cp_plan", "LAC": "lac",
            }},
        ),
    ],
)
