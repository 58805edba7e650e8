"""health preset: child health record demographics (patients) and encounters; dates ISO.

Encounters have no id column: their ``event_id`` is ``<PatientID>/<16-hex hash of the row's values>``,
stable across drops; an exact repeat of an encounter row is quarantined as a duplicate.
"""

from schemas.config import FileConfig, InteractionFileConfig, SourceConfig
from schemas.source_rules import QualityRules

HEALTH = SourceConfig(
    name="health",
    preset="health",
    # The NHS-verified DOB and sex rank highest.
    reliability={"name": 3, "dob": 4, "sex": 4, "postcode": 3},
    quality=QualityRules(present={"last_name": 0.95, "first_name": 0.95, "dob": 0.98, "postcode": 0.9},
                         id_validity={"nhs_number": 0.95}),
    indicators=["ed_attendances_12m", "camhs_referral_12m"],
    identity=FileConfig(
        file="patients",
        columns={
            "source_record_id": "PatientID", "nhs_number": "NHSNumber", "first_name": "GivenName",
            "middle_names": "OtherGivenNames", "last_name": "FamilyName", "dob": "DateOfBirth",
            "sex": "Gender", "postcode": "Postcode", "organisation_code": "GPPracticeCode",
            "date_of_death": "DateOfDeath",
        },
        concat={"address_line": ["AddressLine1", "AddressLine2", "AddressLine3"]},
        required=["source_record_id", "first_name", "last_name", "dob"],
        code_maps={"sex": {"1": "M", "2": "F", "9": "", "0": ""}},
    ),
    interactions=[
        InteractionFileConfig(
            file="encounters",
            columns={
                "source_record_id": "PatientID", "event_date": "EncounterDate", "event_type": "EncounterType",
                "detail": "Detail",
            },
            required=["source_record_id", "event_date", "event_type"],
            code_maps={"event_type": {
                "ED_ATTENDANCE": "ed_attendance", "ADMISSION": "admission", "CAMHS_REFERRAL": "camhs_referral",
                "HEALTH_VISITOR": "health_visitor", "SCHOOL_NURSE": "school_nurse",
                "IMMUNISATION": "immunisation",
            }},
        ),
    ],
)
