"""education preset: school census style export (pupils, attendance, exclusions); dates DD/MM/YYYY."""

from schemas.config import FileConfig, InteractionFileConfig, SourceConfig
from schemas.source_rules import QualityRules

DATES = ["%d/%m/%Y"]

EDUCATION = SourceConfig(
    name="education",
    preset="education",
    # Legal names from admission documents rank highest.
    reliability={"name": 4, "dob": 3, "sex": 3, "postcode": 3},
    quality=QualityRules(present={"last_name": 0.98, "first_name": 0.98, "dob": 0.98, "postcode": 0.9},
                         id_validity={"upn": 0.95}),
    indicators=["persistent_absence", "attendance_rate", "suspensions_12m", "permanent_exclusion", "sen_provision",
                "fsm_eligible"],
    identity=FileConfig(
        file="pupils",
        date_formats=DATES,
        columns={
            "source_record_id": "PupilID", "upn": "UPN", "former_upn": "FormerUPN", "last_name": "Surname",
            "first_name": "Forename", "middle_names": "MiddleNames", "preferred_surname": "PreferredSurname",
            "former_surname": "FormerSurname", "dob": "DOB", "sex": "Sex", "town": "Town",
            "postcode": "Postcode", "organisation_code": "SchoolURN", "organisation_name": "SchoolName",
            "start_date": "EntryDate", "end_date": "LeavingDate", "sen_provision": "SENProvision",
            "fsm_eligible": "FSMEligible",
        },
        concat={"address_line": ["AddressLine1", "AddressLine2"]},
        required=["source_record_id", "first_name", "last_name", "dob"],
        code_maps={"sex": {"M": "M", "F": "F"}},
    ),
    interactions=[
        InteractionFileConfig(
            file="attendance",
            kind="attendance",
            columns={
                "source_record_id": "PupilID", "academic_year": "AcademicYear", "term": "Term",
                "sessions_possible": "SessionsPossible",
                "sessions_authorised_absence": "SessionsAuthorisedAbsence",
                "sessions_unauthorised_absence": "SessionsUnauthorisedAbsence",
            },
            required=["source_record_id", "academic_year", "term", "sessions_possible"],
        ),
        InteractionFileConfig(
            file="exclusions",
            date_formats=DATES,
            columns={
                "source_record_id": "PupilID", "event_date": "StartDate", "event_type": "Category",
                "event_code": "Reason", "sessions": "Sessions",
            },
            required=["source_record_id", "event_date", "event_type"],
            code_maps={"event_type": {"SUSP": "suspension", "PERM": "permanent_exclusion",
                                      "FIXED": "suspension", "PERMANENT": "permanent_exclusion"}},
        ),
    ],
)
