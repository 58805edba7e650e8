"""Realistic recording variation: nicknames, spelling variants, typos, DOB slips, encodings.

Per-value functions are only called on the few selected records (a few %), or once per distinct value.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import numpy as np

from .names import nicknames, variant_groups

NICK = nicknames()
VARIANTS = variant_groups()
# reverse: a nickname can be recorded where the formal name is legal, never the other way round here
_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_NEIGHBOURS: dict[str, str] = {}
for r, row in enumerate(_ROWS):
    for c, ch in enumerate(row):
        near = [row[c - 1] if c > 0 else "", row[c + 1] if c + 1 < len(row) else ""]
        if r > 0 and c < len(_ROWS[r - 1]):
            near.append(_ROWS[r - 1][c])
        _NEIGHBOURS[ch] = "".join(near)

# characters Windows-1252 cannot encode, transliterated as a records system would
_CP1252_MAP = str.maketrans({"Ł": "L", "ł": "l", "Ș": "S", "ș": "s", "Ț": "T", "ț": "t", "Ş": "S", "ş": "s",
                             "Ţ": "T", "ţ": "t", "ő": "o", "ű": "u", "Ő": "O", "Ű": "U", "ė": "e", "ų": "u",
                             "ū": "u", "č": "c", "ě": "e", "ř": "r", "ą": "a", "ę": "e", "ś": "s", "ć": "c",
                             "ń": "n", "ź": "z", "ż": "z", "Ż": "Z", "Ś": "S", "Ź": "Z", "Č": "C", "Ř": "R"})


def typo(s: str, rng: np.random.Generator) -> str:
    """One keyboard slip: transposition, dropped letter, doubled letter or neighbouring key."""
    if len(s) < 4:
        return s
    i = int(rng.integers(1, len(s) - 1))  # keep the first letter: people rarely mistype it
    kind = int(rng.integers(4))
    if kind == 0 and s[i] != s[i + 1]:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind == 1:
        return s[:i] + s[i + 1:]
    if kind == 2:
        return s[:i] + s[i] + s[i:]
    near = _NEIGHBOURS.get(s[i].lower(), "")
    if not near:
        return s[:i] + s[i + 1:]
    ch = near[int(rng.integers(len(near)))]
    return s[:i] + (ch.upper() if s[i].isupper() else ch) + s[i + 1:]


def nickname(name: str, rng: np.random.Generator) -> str:
    opts = NICK.get(name)
    if not opts:
        return name
    w = np.array([0.6 ** k for k in range(len(opts))])
    return opts[int(rng.choice(len(opts), p=w / w.sum()))]


def spelling_variant(name: str, rng: np.random.Generator) -> str:
    opts = VARIANTS.get(name)
    if not opts:
        return name
    return opts[int(rng.integers(len(opts)))]


@cache
def name_forms(name: str) -> frozenset[str]:
    """Every form a source may record for a first name (lower case, accents stripped)."""
    forms = {name, *VARIANTS.get(name, ()), *NICK.get(name, ())}
    for f in list(forms):
        forms.update(VARIANTS.get(f, ()))
    return frozenset(strip_accents(f).lower() for f in forms if f)


@cache
def strip_accents(s: str) -> str:
    if s.isascii():
        return s
    s = s.translate(_CP1252_MAP)
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


@cache
def to_cp1252_safe(s: str) -> str:
    """Keep what Windows-1252 can encode (é, ë, ó...), transliterate the rest (Ł -> L, ș -> s)."""
    try:
        s.encode("cp1252")
        return s
    except UnicodeEncodeError:
        pass
    out = []
    for ch in s.translate(_CP1252_MAP):
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            out.append("".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)))
    return "".join(out)


def dob_slips(dob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A realistic wrong DOB for each given date: day/month swap (when both <= 12), one day out,
    or one year out."""
    dob = dob.astype("datetime64[D]")
    y = dob.astype("datetime64[Y]").astype(int) + 1970
    m = dob.astype("datetime64[M]").astype(int) % 12 + 1
    d = (dob - dob.astype("datetime64[M]")).astype(int) + 1
    kind = rng.integers(0, 3, len(dob))
    out = dob.copy()
    swap = (kind == 0) & (d <= 12) & (m <= 12) & (d != m)
    out[swap] = np.array([np.datetime64(f"{yy:04d}-{dd:02d}-{mm:02d}") for yy, mm, dd in
                          zip(y[swap], m[swap], d[swap], strict=False)], dtype="datetime64[D]")
    day = (kind == 1) | ((kind == 0) & ~swap)
    out[day] = dob[day] + np.where(rng.random(int(day.sum())) < 0.5, -1, 1).astype("timedelta64[D]")
    yr = kind == 2
    ny = y[yr] + np.where(rng.random(int(yr.sum())) < 0.5, -1, 1)
    dd = np.where((m[yr] == 2) & (d[yr] == 29), 28, d[yr])
    out[yr] = np.array([np.datetime64(f"{a:04d}-{b:02d}-{c:02d}") for a, b, c in zip(ny, m[yr], dd, strict=False)],
                       dtype="datetime64[D]")
    return out
