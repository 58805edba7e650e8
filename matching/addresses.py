"""Address lines in their compared form (``address_std``, ``house_number``; ``matching.features``).

``standardise_address`` does one line; ``standardise_addresses`` does the distinct lines of a drop at once: the
cleaning of its ASCII lines (lower case, apostrophes dropped, punctuation to spaces, segments split and trimmed,
``14 a`` joined to ``14a``) runs on an Arrow array with ``pyarrow.compute``, and only the choice of segment and the
abbreviations stay in Python (at 1M records, 576,271 distinct lines). Both give the same answer for every line
(tests/test_addresses.py). Lines with other characters take the scalar path, which folds accents.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from matching.names import fold_text

# Street-type abbreviations expanded when they are the last word of the street (or anywhere, if unambiguous).
_STREET_SUFFIX = {
    "st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue", "ln": "lane",
    "cl": "close", "cres": "crescent", "cresc": "crescent", "dr": "drive", "drv": "drive", "ct": "court",
    "crt": "court", "gdns": "gardens", "gdn": "garden", "gr": "grove", "gro": "grove", "grv": "grove",
    "pl": "place", "sq": "square", "ter": "terrace", "terr": "terrace", "wy": "way", "pk": "park",
    "pde": "parade", "hl": "hill", "mt": "mount", "wlk": "walk", "blvd": "boulevard", "hts": "heights",
    "mdw": "meadow", "mdws": "meadows", "vw": "view", "cotts": "cottages", "est": "estate", "bldgs": "buildings",
}
_ANYWHERE = {"rd": "road", "ave": "avenue", "gdns": "gardens", "cres": "crescent", "sq": "square",
             "terr": "terrace", "apt": "apartment", "flt": "flat", "hse": "house", "ho": "house", "nth": "north",
             "sth": "south", "upr": "upper", "lwr": "lower"}
_INNER_WORD = {**_ANYWHERE, "st": "saint"}  # any word but the last: "st" is saint there
_HOUSE_STREET = re.compile(r"^(\d+[a-z]?)(?: \d+[a-z]?)?\s+([a-z].*)$")
_STREET_WORDS = frozenset(_STREET_SUFFIX) | frozenset(_STREET_SUFFIX.values()) | {"row", "green", "rise", "mews"}


@lru_cache(maxsize=500_000)
def standardise_address(line: str) -> tuple[str | None, str | None]:
    """``(address_std, house_number)`` of a free-text first address line.

    Picks the first comma-separated segment that starts with a house number (``Flat 2, 14 High St`` →
    ``14 high street``), else the first segment; lower case, accents folded, punctuation removed, street
    abbreviations expanded (``rd`` → ``road``; ``st`` → ``street`` at the end, ``saint`` elsewhere).
    """
    return _from_segments(_clean_segments(line))


def _from_segments(cleaned: list[str]) -> tuple[str | None, str | None]:
    """``standardise_address`` of a line's non-empty cleaned segments."""
    if not cleaned:
        return None, None
    for seg in cleaned:
        m = _HOUSE_STREET.match(seg)
        if m:
            chosen, house = seg, m.group(1)
            break
    else:  # no house number: the first segment ending in a street word, else the first segment
        chosen = next((seg for seg in cleaned if seg.rsplit(" ", 1)[-1] in _STREET_WORDS), cleaned[0])
        house = None
    *head, last = chosen.split(" ")
    out = [_INNER_WORD.get(tok, tok) for tok in head]
    out.append(_STREET_SUFFIX[last] if last in _STREET_SUFFIX else _INNER_WORD.get(last, last))
    return " ".join(out), house


_APOSTROPHE = re.compile(r"['’‘`]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_HOUSE_LETTER = re.compile(r"\b(\d+) ([a-z])\b")
_SEGMENT_SPLIT = re.compile(r"[,;\n]")


def _clean_segment(seg: str) -> str:
    s = _NON_ALNUM.sub(" ", _APOSTROPHE.sub("", fold_text(seg))).strip()
    return _HOUSE_LETTER.sub(r"\1\2", s)  # "14 a high st" -> "14a high st"


def _clean_segments(line: str) -> list[str]:
    """The non-empty cleaned segments of ``line`` (``_clean_segment`` of each ``_SEGMENT_SPLIT`` part)."""
    return [c for c in (_clean_segment(seg) for seg in _SEGMENT_SPLIT.split(line)) if c]


# ASCII lines (``standardise_addresses``): the same cleaning on the whole line at once, as RE2 patterns (fold_text
# is lower case there, only ' and ` of the apostrophes can occur, and no run of punctuation crosses a separator)
_APOSTROPHE_ASCII = re.compile(r"['`]")
_NON_ALNUM_KEEP_SEP = re.compile(r"[^a-z0-9,;\n]+")


def standardise_addresses(lines: Sequence[object]) -> list[tuple[str | None, str | None]]:
    """``standardise_address`` of each of ``lines`` (as text), in order."""
    texts = [str(v) for v in lines]
    arr = pa.array(texts, type=pa.large_string())
    ascii_mask = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    fast = iter(_clean_ascii_segments(arr.filter(pa.array(ascii_mask))))
    return [_from_segments(next(fast)) if is_ascii else standardise_address(line)
            for line, is_ascii in zip(texts, ascii_mask, strict=True)]


def _clean_ascii_segments(lines: pa.Array) -> list[list[str]]:
    """``_clean_segments`` of each of ``lines`` (ASCII text), on the Arrow array at once."""
    text = pc.replace_substring_regex(pc.ascii_lower(lines), _APOSTROPHE_ASCII.pattern, "")
    text = pc.replace_substring_regex(text, _NON_ALNUM_KEEP_SEP.pattern, " ")
    parts = pc.split_pattern_regex(text, _SEGMENT_SPLIT.pattern)
    flat = pc.replace_substring_regex(pc.utf8_trim(pc.list_flatten(parts), " "), _HOUSE_LETTER.pattern, r"\1\2")
    return [[seg for seg in segs if seg] for segs in type(parts).from_arrays(parts.offsets, flat).to_pylist()]
