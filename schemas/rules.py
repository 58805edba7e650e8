"""Domain rules, each stated once, for every layer to import.

* ``MISSING_TOKENS``: values that mean "not recorded" in any field (``NULL``, ``N/K``, ``Unknown`` ...).
* Placeholder first names: what a system writes before a child is named, or instead of a name
  (``Baby``, ``Baby of Smith``, ``Unborn``, ``Twin 1``, ``Male``, ``NK``). A placeholder is not a name:
  it is never evidence for or against a match, and the single view never shows it as the child's name.
* The plausible date-of-birth range: from ``DOB_FROM_DEFAULT`` (the present children's range; a deployment
  can move it) to the drop date. A DOB outside it is kept, flagged, and never used as evidence.
* Which quality flags make a DOB unusable (wrong) and which make it provisional (an unborn child's due date).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

MISSING_TOKENS = frozenset({
    "", "NULL", "N/A", "NA", "UNKNOWN", "NONE", "NIL", "-", "--", "?", "N/K", "NK", "NOT KNOWN",
    "NOT STATED", "NOT RECORDED", "#N/A", "<NA>",
})

# --- placeholder first names (compared on the folded form: lower case, no accents, letters and spaces) ---
PLACEHOLDER_NAMES = frozenset({
    "baby", "babyboy", "babygirl", "unborn", "unknown", "nk", "n k", "infant", "male", "female", "boy", "girl",
    "child", "twin", "triplet", "newborn", "not known", "notknown", "unnamed", "no name", "tbc", "tba",
    "not stated", "name unknown", "x", "xx", "xxx", "zzz", "test", "anon", "anonymous", "nfn", "fnu", "none",
    "null", "na", "n a", "b o",
})
# A value starting with one of these words is a placeholder (Baby of Smith, Twin 1, Unborn child).
PLACEHOLDER_LEADING_WORDS = frozenset({"baby", "unborn", "infant", "twin", "triplet", "newborn", "unnamed",
                                       "unknown"})
PLACEHOLDER_PREFIXES = ("b o ", "child of ", "son of ", "daughter of ")
# A value made only of these words is a placeholder (Female Twin, Baby Girl, Male Child).
PLACEHOLDER_WORDS = frozenset({"baby", "boy", "girl", "male", "female", "twin", "triplet", "child", "infant",
                               "unborn", "unknown", "newborn", "of", "one", "two", "three", "first", "second",
                               "not", "known", "nk", "unnamed",
                               # who the person is to someone, or a title, written where the name was not known
                               "son", "daughter", "mother", "father", "husband", "wife", "brother", "sister",
                               "grandson", "granddaughter", "grandchild", "nephew", "niece", "cousin", "aunt",
                               "auntie", "uncle", "step", "stepson", "stepdaughter", "stepchild", "sibling", "dad", "daddy",
                               "mum", "mummy", "mom", "mommy", "gentleman",
                               "kid", "person", "occupant", "occupier",
                               "resident", "inmate", "patient", "client", "lady", "mr", "mrs", "ms", "miss",
                               "master", "the",
                               # the same written in other languages: son, daughter and titles (Hijo, Senora)
                               "hijo", "hija", "senor", "senora", "senorita", "sr", "sra", "srta", "madame",
                               "mme", "monsieur", "herr", "frau", "sir", "dr"})
_NOT_LETTER = re.compile(r"[^a-z]+")


def fold_placeholder_text(value: str) -> str:
    """Lower case, accents removed, anything but letters a single space (``B/O Smith`` -> ``b o smith``)."""
    s = unicodedata.normalize("NFKD", value.casefold())
    s = "".join(c for c in s if not unicodedata.combining(c))
    return _NOT_LETTER.sub(" ", s).strip()


def is_placeholder_folded(folded: str) -> bool:
    """The placeholder rule on an already folded value (see ``fold_placeholder_text``)."""
    if not folded:
        return False
    if folded in PLACEHOLDER_NAMES:
        return True
    tokens = folded.split(" ")
    if tokens[0] in PLACEHOLDER_LEADING_WORDS or folded.startswith(PLACEHOLDER_PREFIXES):
        return True
    return all(t in PLACEHOLDER_WORDS for t in tokens)


def is_placeholder_first_name(value: object) -> bool:
    """True when a first name was given but is a placeholder, not a name."""
    if value is None or not isinstance(value, str):
        return False
    return is_placeholder_folded(fold_placeholder_text(value))


# --- dates of birth ---
DOB_FROM_DEFAULT = dt.date(1990, 1, 1)
DOB_TOO_EARLY_FLAG = "dob_before_1990"  # warehouse flag code (kept for compatibility); means "before dob_from"

# The DOB is wrong: kept in ``dob`` for the record, never used as evidence or shown in the single view.
UNUSABLE_DOB_FLAGS = frozenset({"dob_in_future", DOB_TOO_EARLY_FLAG, "dod_before_dob", "dob_unparseable",
                                "dob_impossible"})
# The DOB is an unborn child's expected date: shown, but not evidence that two records are one child.
PROVISIONAL_DOB_FLAGS = frozenset({"dob_expected"})
# An age recorded beside a DOB may be a year out (estimated, or taken on another day); further out, the record
# contradicts itself.
AGE_TOLERANCE_YEARS = 1
DOB_CONTRADICTS_AGE_FLAG = "dob_contradicts_age"
# The record contradicts itself and either field may be the wrong one: the DOB is shown, but matching compares
# the record by its age's window and by the digits typed, never as an exact DOB.
DOUBTFUL_DOB_FLAGS = frozenset({DOB_CONTRADICTS_AGE_FLAG})
NOT_EVIDENCE_DOB_FLAGS = UNUSABLE_DOB_FLAGS | PROVISIONAL_DOB_FLAGS | DOUBTFUL_DOB_FLAGS
