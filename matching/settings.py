"""The one declarative Splink 5 model specification for svoc.

Every source's records are matched together (``dedupe_only`` over the union of all sources). Each
comparison level carries a ``label_for_charts`` that an IG officer reads in the match evidence, so
labels are plain English. Columns come from ``matching.features`` (see that module for how each is
derived); list columns are DuckDB ``VARCHAR[]``.

The comparisons and their levels are in ``matching.comparisons``. ``build_settings()`` returns a fresh
``SettingsCreator``; ``TRAINING_BLOCKING_RULES`` and
``DETERMINISTIC_RULES`` are used by ``matching.model`` when estimating parameters.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from splink import SettingsCreator, block_on

from matching.comparisons import comparisons

UNIQUE_ID = "unique_id"

# Columns the settings read. Feature frames must carry all of them (NULL / empty list allowed).
REQUIRED_FEATURE_COLUMNS: tuple[str, ...] = (
    "unique_id",
    "first_name_std",
    "first_name_groups",
    "first_name_phonetic",
    "alt_first_names",
    "middle_names_std",
    "last_name_std",
    "last_name_parts",
    "last_name_phonetic",
    "other_surnames",
    "dob",
    "dob_year",
    "dob_month",
    "dob_day",
    "dob_str",
    "sex",
    "postcode",
    "postcode_sector",
    "postcode_district",
    "address_std",
    "house_number",
    "nhs_number",
    "upn",
    "upn_any",
    "dob_precision",
    "postcode_token",
    "identifier_keys",
    "identifier_names",
    "town_std",
    "birth_earliest",
    "birth_latest",
)
LIST_COLUMNS: tuple[str, ...] = (
    "first_name_groups",
    "alt_first_names",
    "last_name_parts",
    "other_surnames",
    "upn_any",
    "identifier_keys",
    "identifier_names",
)


# Rules that generate candidate pairs for prediction. Chosen by measured comparison counts (see
# ``matching.blocking.blocking_analysis``); each catches matches the others miss. Name-only rules grow with
# the square of the county's size, so they are split by DOB year or month (a pair with both wrong is
# caught by the identifier, postcode or DOB rules) plus rules for a record with no usable DOB (one per side, so the join
# filters before it pairs). Measured on
# the 1M-record benchmark drop: 32.7M comparisons -> 9.9M, and 4 of 602,920 true pairs lose their last
# blocking rule (benchmarks/RESULTS.md, "Choosing blocking rules").
_NAMES_PHONETIC = "l.first_name_phonetic = r.first_name_phonetic AND l.last_name_phonetic = r.last_name_phonetic"
_NAMES_GROUP = "l.first_name_groups[1] = r.first_name_groups[1] AND l.last_name_phonetic = r.last_name_phonetic"
PREDICTION_BLOCKING_RULES: tuple[tuple[str, Any], ...] = (
    ("nhs_number", block_on("nhs_number")),
    ("upn", block_on("upn")),
    ("dob+first_phonetic", block_on("dob", "first_name_phonetic")),
    ("dob+last_phonetic", block_on("dob", "last_name_phonetic")),
    ("dob+postcode_district", block_on("dob", "postcode_district")),
    ("first_phonetic+last_phonetic+dob_year", block_on("first_name_phonetic", "last_name_phonetic", "dob_year")),
    ("first_phonetic+last_phonetic+dob_month", block_on("first_name_phonetic", "last_name_phonetic", "dob_month")),
    ("first_phonetic+last_phonetic, left dob missing", f"{_NAMES_PHONETIC} AND l.dob IS NULL"),
    ("first_phonetic+last_phonetic, right dob missing", f"{_NAMES_PHONETIC} AND r.dob IS NULL"),
    ("names_transposed", "l.first_name_std = r.last_name_std AND l.last_name_std = r.first_name_std"),
    ("dob_day_month_swapped+last_phonetic", "l.dob_year = r.dob_year AND l.dob_month = r.dob_day"
     " AND l.dob_day = r.dob_month AND l.last_name_phonetic = r.last_name_phonetic"),
    ("postcode+dob_year", block_on("postcode_token", "dob_year")),
    ("postcode+first_phonetic", block_on("postcode_token", "first_name_phonetic")),
    ("postcode+last_phonetic", block_on("postcode_token", "last_name_phonetic")),
    ("postcode+house_number", block_on("postcode_token", "house_number")),
    ("identifier", block_on("identifier_keys", arrays_to_explode=["identifier_keys"])),
    ("last_name+dob_year+dob_month+first_initial",
     block_on("last_name_std", "dob_year", "dob_month", "substr(first_name_std, 1, 1)")),
    ("first_group+last_phonetic+dob_year", block_on("first_name_groups[1]", "last_name_phonetic", "dob_year")),
    ("first_group+last_phonetic+dob_month", block_on("first_name_groups[1]", "last_name_phonetic", "dob_month")),
    ("first_group+last_phonetic, left dob missing", f"{_NAMES_GROUP} AND l.dob IS NULL"),
    ("first_group+last_phonetic, right dob missing", f"{_NAMES_GROUP} AND r.dob IS NULL"),
)

TRAINING_BLOCKING_RULES = (
    block_on("dob"),
    block_on("first_name_std", "last_name_std"),
)

# Near-certain links, used only to estimate the prior (probability two random records match).
DETERMINISTIC_RULES = (
    block_on("nhs_number"),
    block_on("upn"),
    block_on("first_name_std", "last_name_std", "dob"),
)


def prediction_rules(extra_id_columns: tuple[str, ...] = ()) -> tuple[tuple[str, Any], ...]:
    return (*PREDICTION_BLOCKING_RULES, *[(c, block_on(c)) for c in extra_id_columns])


def deterministic_rules(extra_id_columns: tuple[str, ...] = ()) -> tuple[Any, ...]:
    return (*DETERMINISTIC_RULES, *[block_on(c) for c in extra_id_columns])


def build_settings(
    extra_id_columns: tuple[str, ...] = (),
    blocking_rules: tuple[tuple[str, Any], ...] | None = None,
) -> SettingsCreator:
    """The svoc Splink model, untrained.

    ``extra_id_columns`` adds an exact/else comparison and a blocking rule per extra identifier
    (e.g. a council's own person id); svoc's core sources use none.
    """
    if blocking_rules is None:
        blocking_rules = prediction_rules(extra_id_columns)
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        comparisons=comparisons(extra_id_columns),
        blocking_rules_to_generate_predictions=[rule for _, rule in blocking_rules],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        max_iterations=25,
        em_convergence=0.0001,
    )


def comparison_structure(settings: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A settings dict's comparisons as (name, level labels): what a model compares, without its estimates or
    its SQL dialect (a model trained on Spark compares the same levels)."""
    return tuple((c["output_column_name"], tuple(str(lvl.get("label_for_charts")) for lvl in c["comparison_levels"]))
                 for c in settings["comparisons"])


@lru_cache(maxsize=1)
def _current_structure() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return comparison_structure(build_settings().get_settings("duckdb").as_dict())


def model_is_current(settings: dict[str, Any]) -> bool:
    """True when a stored model compares what this version's model does: the same comparisons with the same
    levels (a sources.yaml identifier's own comparison aside). An upgrade that adds, removes or changes a
    level makes a stored model out of date, since it would never score the new level."""
    current = _current_structure()
    names = {name for name, _ in current}
    return tuple(c for c in comparison_structure(settings) if c[0] in names) == current
