"""Whole names written into one field, split into first name, middle names and surname.

Two forms are read: the register convention ``SURNAME, Forenames`` (a comma after the surname), and a name in
reading order, ``Forenames Surname``, whose surname is its last word together with any particles before it
(``van der``, ``de la``, ``al``, ``bin``, ...). Nothing here logs personal data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Words that belong to the surname that follows them ("Ludwig van Beethoven", "Juan de la Cruz", "Omar al Farsi").
SURNAME_PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "la", "le", "st",
                               "al", "el", "bin", "binti", "ibn", "ap", "mac", "mc", "o", "ter", "ten", "dos", "das"})


def parse_name(value: str, *, comma_only: bool = False) -> tuple[str, str | None, str] | None:
    """``(first, middle or None, surname)`` of a whole name, or None when it cannot be split: one comma with a
    surname before it and given names after it; or (unless ``comma_only``) at least two words in reading order."""
    if "," in value:
        surname, _, given = value.partition(",")
        names = given.split()
        if not surname.strip() or not names or "," in given:
            return None
        return names[0], " ".join(names[1:]) or None, " ".join(surname.split())
    words = value.split()
    if comma_only or len(words) < 2:
        return None
    start = len(words) - 1
    while start > 1 and words[start - 1].lower().strip(".") in SURNAME_PARTICLES:
        start -= 1
    return words[0], " ".join(words[1:start]) or None, " ".join(words[start:])


def split_names(out: dict[str, object], full: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``out``'s ``first_name`` / ``middle_names`` / ``last_name`` arrays from whole names; returns the masks
    of rows split from a ``SURNAME, Forenames`` surname field, and of rows split from ``full`` (a ``full_name``
    column, or None when none is mapped; used where neither a first name nor a surname is given). Middle names already given are kept."""
    last = np.array(out["last_name"], dtype=object)
    first = np.array(out["first_name"], dtype=object)
    middle = np.array(out["middle_names"], dtype=object)
    no_first = pd.isna(first)
    by_comma = np.zeros(len(last), dtype=bool)
    by_whole = np.zeros(len(last), dtype=bool)
    jobs = [(i, last[i], True, by_comma) for i in np.flatnonzero(no_first & pd.notna(last)).tolist() if "," in last[i]]
    if full is not None:  # no full_name column mapped: nothing to read
        jobs += [(i, full[i], False, by_whole)
                 for i in np.flatnonzero(no_first & pd.isna(last) & pd.notna(full)).tolist()]
    for i, value, comma_only, mask in jobs:
        parsed = parse_name(value, comma_only=comma_only)
        if parsed is None:
            continue
        first[i], given_middle, last[i] = parsed
        if given_middle and pd.isna(middle[i]):
            middle[i] = given_middle
        mask[i] = True
    out["last_name"], out["first_name"], out["middle_names"] = last, first, middle
    return by_comma, by_whole
