"""The comparisons of svoc's Splink model (``matching.settings``), one function per compared field.

Each comparison level carries a ``label_for_charts`` that an IG officer reads in the match evidence, so labels are
plain English; ``matching.model`` finds levels by these labels when it decides which pairs may link on their own.
"""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator

from matching.sql_forms import edits_at_most, has_any, has_any_with, one_edit


def comparisons(extra_id_columns: tuple[str, ...] = ()) -> list[ComparisonCreator | dict[str, Any]]:
    """The model's comparisons, in order; one exact/else comparison per extra identifier column."""
    return [
        _first_name(),
        _middle_names(),
        _last_name(),
        _dob(),
        _sex(),
        _location(),
        _nhs_number(),
        _upn(),
        _identifiers(),
        *[_extra_id(c) for c in extra_id_columns],
    ]


def _level(sql: str, label: str) -> cll.CustomLevel:
    return cll.CustomLevel(sql, label_for_charts=label)


def _null(sql: str, label: str) -> ComparisonLevelCreator:
    return cll.CustomLevel(sql, label_for_charts=label).configure(is_null_level=True)


FIRST_INITIAL_LABEL = "first name is the initial of the other"
_SWAPPED = "first_name_std_l = last_name_std_r AND last_name_std_l = first_name_std_r"


def _first_name() -> cl.CustomComparison:
    fl, fr = "first_name_std_l", "first_name_std_r"
    alt = (
        f"(list_contains(alt_first_names_l, {fr}) OR list_contains(alt_first_names_r, {fl})"
        f" OR {has_any('alt_first_names_l', 'alt_first_names_r')})"
    )
    middle_swap = (
        f"(list_contains(string_split(middle_names_std_r, ' '), {fl})"
        f" OR list_contains(string_split(middle_names_std_l, ' '), {fr}))"
    )
    names = f"least(length({fl}), length({fr})) >= 2"
    return cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="First name",
        comparison_levels=[
            _null(f"{fl} IS NULL OR {fr} IS NULL", "first name missing on one or both records"),
            # One system keeps only the initial: "J" against "Joshua" (or "J") agrees as far as the initial goes,
            # which fits a brother or a twin as well (``matching.model`` asks more of such a pair before it links).
            _level(f"(length({fl}) = 1 OR length({fr}) = 1) AND left({fl}, 1) = left({fr}, 1)",
                   FIRST_INITIAL_LABEL),
            cll.ExactMatchLevel("first_name_std", term_frequency_adjustments=True).configure(
                label_for_charts="first name exact match"
            ),
            _level(has_any("first_name_groups_l", "first_name_groups_r"),
                   "nickname/transliteration group match"),
            _level(_SWAPPED, "first name and surname transposed"),
            _level(f"coalesce({alt}, false)", "matches an alternative (known-as) first name"),
            _level(f"{fl} = last_name_std_r OR {fr} = last_name_std_l",
                   "first name recorded as the other record's surname"),
            # Below, names of two letters or more: two different initials ("K", "P") are one edit apart and
            # may sound alike, but they are different names.
            _level(f"{names} AND jaro_winkler_similarity({fl}, {fr}) >= 0.92", "first name very similar (JW >= 0.92)"),
            _level(f"least(length({fl}), length({fr})) >= 3 AND {edits_at_most(fl, fr, 1)}",
                   "first name one typo apart"),
            _level(f"{names} AND coalesce({middle_swap}, false)", "first name matches the other record's middle name"),
            _level(
                f"least(length({fl}), length({fr})) >= 3 AND (starts_with({fl}, {fr}) OR starts_with({fr}, {fl}))",
                "first name is a shortened form of the other",
            ),
            _level(f"{names} AND jaro_winkler_similarity({fl}, {fr}) >= 0.88", "first name similar (JW >= 0.88)"),
            _level(f"{names} AND first_name_phonetic_l = first_name_phonetic_r", "first name sounds the same (phonetic)"),
            # a longer name with two letters wrong (a scanned form's "rn" for "m", two slips of the keyboard);
            # co-twins' distinct names that are this close are the twin guard's to hold apart
            _level(f"least(length({fl}), length({fr})) >= 6 AND abs(length({fl}) - length({fr})) <= 2"
                   f" AND {edits_at_most(fl, fr, 2)}",
                   "first name two typos apart (six letters or more)"),
            cll.ElseLevel().configure(label_for_charts="first name different"),
        ],
    )


def _middle_names() -> cl.CustomComparison:
    ml, mr = "middle_names_std_l", "middle_names_std_r"
    return cl.CustomComparison(
        output_column_name="middle_names",
        comparison_description="Middle names",
        comparison_levels=[
            _null(f"{ml} IS NULL OR {mr} IS NULL", "middle names missing on one or both records"),
            # Full names only: two equal initials ("J" and "J") say far less, at the initial level below.
            _level(f"{ml} = {mr} AND length({ml}) > 1", "middle names exact match"),
            # One system keeps only the initial: "N" against "Nicole" agrees as far as the initial goes.
            _level(f"(length({ml}) = 1 OR length({mr}) = 1) AND left({ml}, 1) = left({mr}, 1)",
                   "middle initial matches the other record's middle name"),
            _level(f"jaro_winkler_similarity({ml}, {mr}) >= 0.88", "middle names similar (JW >= 0.88)"),
            cll.ElseLevel().configure(label_for_charts="middle names different"),
        ],
    )


def _last_name() -> cl.CustomComparison:
    sl, sr = "last_name_std_l", "last_name_std_r"
    return cl.CustomComparison(
        output_column_name="last_name",
        comparison_description="Surname",
        comparison_levels=[
            _null(f"{sl} IS NULL OR {sr} IS NULL", "surname missing on one or both records"),
            cll.ExactMatchLevel("last_name_std", term_frequency_adjustments=True).configure(
                label_for_charts="surname exact match"
            ),
            _level(has_any("last_name_parts_l", "last_name_parts_r"),
                   "part of a double-barrelled surname matches"),
            # each record's surnames (former, preferred, alternative, and the surname itself) share one
            _level(has_any_with("other_surnames_l", sl, "other_surnames_r", sr),
                   "former/preferred/alternative surname matches"),
            _level(_SWAPPED, "first name and surname transposed"),
            _level(f"jaro_winkler_similarity({sl}, {sr}) >= 0.92", "surname very similar (JW >= 0.92)"),
            _level(f"jaro_winkler_similarity({sl}, {sr}) >= 0.88", "surname similar (JW >= 0.88)"),
            _level("last_name_phonetic_l = last_name_phonetic_r", "surname sounds the same (phonetic)"),
            cll.ElseLevel().configure(label_for_charts="surname different"),
        ],
    )


AGE_LABEL = "date of birth fits the age the other record gives (no DOB there)"
AGE_NEAR_LABEL = "date of birth a year out from the age the other record gives (no DOB there)"
TYPED_SAME_LABEL = "date of birth the same as typed, though one record's cannot be used as evidence alone"
# a record's birth date is known as a DOB or as the window an age allows (birth_earliest .. birth_latest)
_KNOWN = "(dob_{s} IS NOT NULL OR birth_earliest_{s} IS NOT NULL)"


def _age_fits(margin: str = "") -> str:
    """The DOB (or the other age's window) falls in an age's window, widened by ``margin`` (an SQL interval)."""
    lo = {s: f"(birth_earliest_{s} - {margin})" if margin else f"birth_earliest_{s}" for s in "lr"}
    hi = {s: f"(birth_latest_{s} + {margin})" if margin else f"birth_latest_{s}" for s in "lr"}
    return (f"(dob_l IS NULL AND birth_earliest_l IS NOT NULL AND (dob_r BETWEEN {lo['l']} AND {hi['l']}"
            f" OR (dob_r IS NULL AND {lo['l']} <= birth_latest_r AND birth_earliest_r <= {hi['l']})))"
            f" OR (dob_r IS NULL AND birth_earliest_r IS NOT NULL AND dob_l BETWEEN {lo['r']} AND {hi['r']})")


def _dob() -> cl.CustomComparison:
    """Levels for exact, swapped, near and placeholder DOBs. A DOB a source writes as a placeholder (1 January,
    the 1st, ...; ``matching.dates``) is year/month evidence only: it never reaches the exact or near levels."""
    both_day = "coalesce(dob_precision_l = 'day' AND dob_precision_r = 'day', false)"
    coarse = (
        "dob_year_l = dob_year_r AND (dob_month_l = dob_month_r"
        " OR dob_precision_l = 'year' OR dob_precision_r = 'year')"
    )
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_description="Date of birth",
        comparison_levels=[
            # A DOB that cannot be a birth date is still compared as typed, one digit from the other (below).
            _null(f"(dob_l IS NULL OR dob_r IS NULL) AND NOT coalesce({edits_at_most('dob_str_l', 'dob_str_r', 1)}, false)"
                  f" AND NOT ({_KNOWN.format(s='l')} AND {_KNOWN.format(s='r')})",
                  "date of birth missing or unusable on one or both records"),
            # a record with an age instead of a DOB: the DOB (or the other age) falls in the year the age allows
            _level(_age_fits(), AGE_LABEL),
            # ages are often estimated, rounded or taken on another day: a year out is weak evidence either way, a
            # level of its own that EM weighs; further out, the DOB is "different" (a parent, a sibling)
            _level(_age_fits("INTERVAL 1 YEAR"), AGE_NEAR_LABEL),
            _level(f"dob_l = dob_r AND {both_day}", "date of birth exact match"),
            _level(
                f"{both_day} AND dob_year_l = dob_year_r AND dob_day_l = dob_month_r AND dob_month_l = dob_day_r",
                "date of birth with day and month swapped",
            ),
            _level(f"{both_day} AND abs(date_diff('day', dob_l, dob_r)) <= 1", "date of birth one day apart"),
            _level(f"NOT {both_day} AND {coarse}",
                   "date of birth agrees as far as a placeholder date gives it (year, and month where given)"),
            _level(
                "dob_day_l = dob_day_r AND dob_month_l = dob_month_r AND abs(dob_year_l - dob_year_r) = 1",
                "date of birth one year apart (same day and month)",
            ),
            # reached only when one DOB cannot be used (it contradicts its record's age, or cannot be a birth date):
            # the other record gives the very digits typed
            _level("dob_str_l = dob_str_r", TYPED_SAME_LABEL),
            # a digit mistyped, or two neighbouring digits keyed the wrong way round (2012-01-18 as 2012-10-18)
            _level(one_edit("dob_str_l", "dob_str_r"),
                   "date of birth one digit different (or two neighbouring digits swapped)"),
            _level("dob_year_l = dob_year_r AND dob_month_l = dob_month_r",
                   "date of birth same month and year"),
            cll.ElseLevel().configure(label_for_charts="date of birth different"),
        ],
    )


def _exact(column: str, description: str, missing: str, same: str, different: str) -> cl.CustomComparison:
    """One value compared for equality: missing on either record, the same, or different."""
    return cl.CustomComparison(
        output_column_name=column,
        comparison_description=description,
        comparison_levels=[
            _null(f"{column}_l IS NULL OR {column}_r IS NULL", missing),
            _level(f"{column}_l = {column}_r", same),
            cll.ElseLevel().configure(label_for_charts=different),
        ],
    )


def _sex() -> cl.CustomComparison:
    return _exact("sex", "Sex", "sex missing on one or both records", "sex matches", "sex different")


def _location() -> cl.CustomComparison:
    """Postcode, address line and town as ONE comparison: siblings share them all, and movers change them
    all, so scoring them independently would count the same household evidence twice. The town is the
    weakest level: the only place evidence where a source has no postcode or address (EM weighs it)."""
    al, ar = "address_std_l", "address_std_r"
    same_addr = (
        f"({al} = {ar} OR (house_number_l = house_number_r AND jaro_winkler_similarity({al}, {ar}) >= 0.85))"
    )
    return cl.CustomComparison(
        output_column_name="location",
        comparison_description="Postcode and address line",
        comparison_levels=[
            _null(
                f"(postcode_token_l IS NULL OR postcode_token_r IS NULL) AND ({al} IS NULL OR {ar} IS NULL)"
                " AND (postcode_district_l IS NULL OR postcode_district_r IS NULL)"
                " AND (town_std_l IS NULL OR town_std_r IS NULL)",
                "postcode, address and town missing on one or both records",
            ),
            _level(f"postcode_token_l = postcode_token_r AND coalesce({same_addr}, false)",
                   "same postcode and address"),
            _level("postcode_token_l = postcode_token_r", "same postcode (address differs or missing)"),
            _level(f"coalesce({same_addr}, false) AND coalesce(postcode_district_l = postcode_district_r, true)",
                   "same address, postcode differs or missing"),
            _level("postcode_sector_l = postcode_sector_r", "same postcode sector"),
            _level("postcode_district_l = postcode_district_r", "same postcode district"),
            _level("town_std_l = town_std_r", "same town or city (postcode and address differ or missing)"),
            cll.ElseLevel().configure(label_for_charts="different area"),
        ],
    )


def _nhs_number() -> cl.CustomComparison:
    return _exact("nhs_number", "NHS number (valid values only)", "NHS number missing on one or both records",
                  "NHS number exact match", "NHS numbers differ")


def _upn() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="upn",
        comparison_description="Unique pupil number (valid, non-temporary)",
        comparison_levels=[
            _null(
                f"(upn_l IS NULL OR upn_r IS NULL) AND NOT {has_any('upn_any_l', 'upn_any_r')}",
                "UPN missing on one or both records",
            ),
            _level("upn_l = upn_r", "UPN exact match"),
            _level(has_any("upn_any_l", "upn_any_r"), "current or former UPN matches"),
            cll.ElseLevel().configure(label_for_charts="UPNs differ"),
        ],
    )


# Two values of one named identifier one edit apart (a mistyped digit or two swapped): twins' and siblings'
# numbers differ in far more places.
IDENTIFIER_ONE_TYPO = (
    "coalesce(len(list_filter(identifier_keys_l, lambda x: len(list_filter(identifier_keys_r, lambda y: "
    f"split_part(x, '=', 1) = split_part(y, '=', 1) AND {one_edit('x', 'y')})) > 0)) > 0, false)"
)


def _identifiers() -> cl.CustomComparison:
    """Named identifiers from ``sources.yaml`` (``identifiers:``; ``NAME=VALUE`` strings): compared only where
    both records carry an identifier of the same name; one shared value is an exact match."""
    return cl.CustomComparison(
        output_column_name="identifiers",
        comparison_description="Other identifiers (council person id, email, national id, ...)",
        comparison_levels=[
            _null(f"NOT {has_any('identifier_names_l', 'identifier_names_r')}",
                  "no identifier of the same kind on both records"),
            _level(has_any("identifier_keys_l", "identifier_keys_r"), "an identifier value matches exactly"),
            _level(IDENTIFIER_ONE_TYPO, "an identifier value one character or one transposition apart"),
            cll.ElseLevel().configure(label_for_charts="identifiers of the same kind differ"),
        ],
    )


def _extra_id(column: str) -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name=column,
        comparison_description=f"Extra identifier {column}",
        comparison_levels=[
            _null(f"{column}_l IS NULL OR {column}_r IS NULL", f"{column} missing on one or both records"),
            _level(f"{column}_l = {column}_r", f"{column} exact match"),
            cll.ElseLevel().configure(label_for_charts=f"{column} differs"),
        ],
    )
