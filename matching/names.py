"""Name standardisation for matching: normal forms, surname parts, placeholders, nickname groups, phonetics.

Pure functions on one value, cached, plus ``*_series`` helpers that call them once per distinct value.

Decisions:

* ``normalise_name`` is for *matching only*, never for display: NFKC, casefold, accents folded (``Zoë`` →
  ``zoe``, ``Łukasz`` → ``lukasz``, ``ß`` → ``ss``, ``æ`` → ``ae``), apostrophes dropped (``O'Brien`` →
  ``obrien``), other punctuation and digits become spaces, hyphens are kept (``smith-jones``) with no
  spaces around them, leading titles (mr, mrs, miss, ms, master, dr, ...) and trailing jr/snr dropped.
* ``surname_parts`` splits a surname on hyphens and spaces into its parts plus the joined form
  (``Smith-Jones`` → ``[smith, jones, smithjones]``) so a child recorded under either half, or without the
  hyphen, still shares a part. Particles (van, de, al, mc, ...) are not parts on their own but stay in the
  joined form (``van der Berg`` → ``[berg, vanderberg]``).
* Placeholder first names (``Baby``, ``Baby of Smith``, ``Unborn``, ``Twin 1``, ``Male``, ``NK`` ...) are
  treated as missing by ``normalise_first_name``; ``is_placeholder_first_name`` says whether one was given.
* Nickname / variant groups come from ``matching/data/nicknames.csv`` (``group,name``: UK forms and
  transliterations) merged with the maintained ``nicknames`` corpus on PyPI (``corpus_relations``). Groups are not
  merged transitively: ``charlie`` is in ``charles`` and ``charlotte`` but those two are not the same
  group. A multi-word first name not in the file takes the groups of its first word.
* ``phonetic`` is jellyfish Metaphone of the name with spaces and hyphens removed.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jellyfish
import pandas as pd

from schemas.identifiers import is_missing, map_distinct
from schemas.rules import fold_placeholder_text, is_placeholder_folded
from schemas.rules import is_placeholder_first_name as placeholder_rule

NICKNAMES_CSV = Path(__file__).parent / "data" / "nicknames.csv"

# Letters that NFKD does not decompose into base letter + combining mark (lower case: applied after casefold).
_FOLD = str.maketrans(
    {
        "ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i",
        "ħ": "h", "ŀ": "l", "ŧ": "t", "ĸ": "k", "ŋ": "n", "ſ": "s", "ƒ": "f", "ɨ": "i",
    }
)
_APOSTROPHES = str.maketrans({c: "" for c in "'’‘`´ʼʻ′"})
_HYPHENS = str.maketrans({c: "-" for c in "‐‑‒–—―﹣－−"})
_NON_NAME = re.compile(r"[^\w\s-]|[\d_]")
_SPACES = re.compile(r"\s+")
_HYPHEN_RUN = re.compile(r"\s*-[\s-]*")

TITLES = frozenset({"mr", "mrs", "miss", "ms", "mx", "master", "mstr", "dr", "prof", "sir", "dame", "lady", "lord",
                    "rev", "revd", "fr"})
SUFFIXES = frozenset({"jr", "jnr", "junr", "snr", "sr", "senr", "ii", "iii", "iv"})
PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "al", "el",
                       "bin", "ibn", "bint", "mc", "mac", "st", "ter", "ten", "dos", "das"})



def fold_text(text: str) -> str:
    """NFKC, casefold and fold accents (including letters NFKD cannot split: ł, ø, đ, ß, æ, œ)."""
    if text.isascii():  # NFKC, NFKD and the fold table change nothing in ASCII; casefold is lower()
        return text.lower()
    s = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


@lru_cache(maxsize=500_000)
def _normalise(text: str) -> str | None:
    s = fold_text(unicodedata.normalize("NFKC", text).translate(_HYPHENS).translate(_APOSTROPHES))
    s = _NON_NAME.sub(" ", s)
    s = _HYPHEN_RUN.sub("-", _SPACES.sub(" ", s)).strip(" -")
    tokens = s.split(" ") if s else []
    while tokens and tokens[0] in TITLES:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1] in SUFFIXES:
        tokens.pop()
    out = " ".join(tokens).strip(" -")
    return out or None


def normalise_name(s: object) -> str | None:
    """Matching form of a name (see module docstring); ``None`` when missing or empty after cleaning."""
    if is_missing(s):
        return None
    out = _normalise(str(s))
    return None if out is None or is_missing(out) else out  # "NÀ" folds to "na", a missing-value marker


def _is_placeholder_norm(norm: str) -> bool:
    return is_placeholder_folded(fold_placeholder_text(norm))


def is_placeholder_first_name(s: object) -> bool:
    """True when a first name was given but is a placeholder (the rule is ``schemas.rules``)."""
    return isinstance(s, str) and placeholder_rule(s)


def normalise_first_name(s: object) -> str | None:
    """``normalise_name`` with placeholder first names treated as missing."""
    norm = normalise_name(s)
    if norm is None or _is_placeholder_norm(norm):
        return None
    return norm


@lru_cache(maxsize=200_000)
def _surname_parts(norm: str) -> tuple[str, ...]:
    tokens = [t for t in re.split(r"[\s-]+", norm) if t]
    if len(tokens) <= 1:
        return tuple(tokens)
    parts = [t for t in tokens if t not in PARTICLES] or tokens
    joined = "".join(tokens)
    return tuple(dict.fromkeys([*parts, joined]))


def surname_parts(s: object) -> list[str]:
    """Parts of a surname plus the joined form: ``Smith-Jones`` → ``[smith, jones, smithjones]``; ``[]`` if missing."""
    norm = normalise_name(s)
    return list(_surname_parts(norm)) if norm else []


# ------------------------------------------------------------------------------------------- nicknames
def corpus_relations() -> list[tuple[str, str]]:
    """``(full name, nickname)`` pairs from the maintained ``nicknames`` corpus (PyPI, Apache-2.0), leaving out
    a nickname that is a name in its own right there: one with a nickname of its own that the full name does not
    share (Aaron/Ron yes; Alexandra/Sandra no, Sandra also gives Cassandra: two names a family may give two
    children; Luke/Lucas no, each only names the other). A diminutive whose own nicknames are all the full
    name's too stays (Deborah/Debby: Deb)."""
    from nicknames import name_triplets

    nicks: dict[str, set[str]] = {}
    pairs = [(t.name1, t.name2) for t in name_triplets() if t.relationship == "has_nickname"]
    for full, nick in pairs:
        nicks.setdefault(full, set()).add(nick)
    def diminutive(full: str, nick: str) -> bool:
        if nick not in nicks:
            return True
        own = nicks[nick] - {full}  # empty: the two only name each other (Luke/Lucas): two forms, two names
        return bool(own) and own <= nicks[full]

    return [(full, nick) for full, nick in pairs if diminutive(full, nick)]


@lru_cache(maxsize=4)
def load_name_groups(path: str | None = None) -> dict[str, frozenset[str]]:
    """``{normalised name: frozenset(group keys)}`` from the project's UK nickname CSV (each group key is its own
    member), merged - for the default CSV - with the ``nicknames`` corpus (``corpus_relations``)."""
    groups: dict[str, set[str]] = {}
    rows: list[tuple[str, str]] = []
    with open(path or NICKNAMES_CSV, encoding="utf-8", newline="") as fh:
        rows.extend((row["group"], row["name"]) for row in csv.DictReader(fh))
    if path is None:
        rows.extend(corpus_relations())
    for raw_group, raw_name in rows:
        group, name = normalise_name(raw_group), normalise_name(raw_name)
        if not group or not name:
            continue
        groups.setdefault(group, set()).add(group)
        groups.setdefault(name, set()).add(group)
    return {name: frozenset(g) for name, g in groups.items()}


@lru_cache(maxsize=200_000)
def _name_groups(norm: str) -> tuple[str, ...]:
    lexicon = load_name_groups()
    if norm in lexicon:
        return tuple(sorted(lexicon[norm]))
    first = re.split(r"[\s-]+", norm)[0]
    if first != norm and first in lexicon:
        return tuple(sorted(lexicon[first] | {norm}))
    return (norm,)


def name_groups(first_name: object) -> list[str]:
    """Sorted nickname/variant group keys of a first name; the name itself when in no group; ``[]`` if missing.

    Accepts raw or normalised names (normalisation is idempotent).
    """
    norm = normalise_name(first_name)
    return list(_name_groups(norm)) if norm else []


def same_name_group(a: object, b: object) -> bool:
    """True when two first names share a nickname/variant group (Alfie~Alfred, Mohammed~Muhammad)."""
    ga, gb = name_groups(a), name_groups(b)
    return bool(ga and gb and set(ga) & set(gb))


# ------------------------------------------------------------------------------------------- phonetics
@lru_cache(maxsize=200_000)
def _phonetic(norm: str) -> str | None:
    letters = re.sub(r"[\s-]+", "", norm)
    if not letters:
        return None
    try:
        code = jellyfish.metaphone(letters)
    except Exception:  # noqa: BLE001 - non-Latin input the library cannot code
        return None
    return code or None


def phonetic(s: object) -> str | None:
    """Metaphone code of a name (spaces and hyphens removed); ``None`` if missing."""
    norm = normalise_name(s)
    return _phonetic(norm) if norm else None


# ------------------------------------------------------------------------------------------ vectorised
def _series(values: pd.Series, func: Callable[[Any], object]) -> pd.Series:
    return pd.Series(map_distinct(values, func), index=values.index, dtype=object)


def normalise_name_series(values: pd.Series) -> pd.Series:
    return _series(values, normalise_name)


def normalise_first_name_series(values: pd.Series) -> pd.Series:
    return _series(values, normalise_first_name)


def phonetic_series(values: pd.Series) -> pd.Series:
    return _series(values, phonetic)
