"""Vectorised generators of valid, unique UK identifiers (NHS number, UPN, PNC id) and record ids."""

from __future__ import annotations

import numpy as np

UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"
UPN_LETTERS = UPN_ALPHABET[:23]
LA_NUMBER = 383  # a real LA number (python-stdnum's _la_numbers); the synthetic council
OTHER_LAS = np.array([380, 381, 382, 384, 370, 371, 372, 373, 810, 811, 812, 813, 815, 816, 201, 202, 330])
PNC_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) array of the decimal digits of non-negative ints, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values.astype(np.int64)[:, None] // powers[None, :]) % 10


def nhs_check_digit(bodies: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit of 9-digit bodies; 10 means no valid number exists for that body."""
    weights = np.arange(10, 1, -1)
    total = (_digits(bodies, 9) * weights).sum(axis=1)
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def _fresh(rng: np.random.Generator, n: int, draw, exclude: np.ndarray | None) -> np.ndarray:
    """n distinct values produced by ``draw(rng, k)``, none in ``exclude``, in draw order."""
    out = np.empty(0, dtype=np.int64)
    while len(out) < n:
        cand = draw(rng, int((n - len(out)) * 1.3) + 16)
        if exclude is not None and len(exclude):
            cand = cand[~np.isin(cand, exclude)]
        cand = cand[~np.isin(cand, out)]
        _, first = np.unique(cand, return_index=True)
        out = np.concatenate([out, cand[np.sort(first)]])
    return out[:n]


def nhs_numbers(rng: np.random.Generator, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """n distinct valid NHS numbers as int64 (10 digits), none in ``exclude``."""

    def draw(r, k):
        body = r.integers(400_000_000, 800_000_000, size=k)
        chk = nhs_check_digit(body)
        return (body * 10 + chk)[chk != 10]

    return _fresh(rng, n, draw, exclude)


def nhs_mistype(rng: np.random.Generator, numbers: np.ndarray) -> np.ndarray:
    """Change one digit of each valid NHS number: always gives an invalid check digit (11 is prime)."""
    d = _digits(numbers, 10)
    pos = rng.integers(0, 10, size=len(numbers))
    row = np.arange(len(numbers))
    old = d[row, pos]
    d[row, pos] = (old + rng.integers(1, 10, size=len(numbers))) % 10
    return (d * 10 ** np.arange(9, -1, -1, dtype=np.int64)).sum(axis=1)


def format_nhs(numbers: np.ndarray, style: np.ndarray | None = None) -> np.ndarray:
    """10-digit strings; ``style`` 1 gives '943 476 5919', 2 gives '943-476-5919'."""
    if len(numbers) == 0:
        return np.empty(0, dtype=object)
    s = np.char.zfill(numbers.astype(np.int64).astype(str), 10)
    if style is None:
        return s.astype(object)
    out = s.astype(object)
    for code, sep in ((1, " "), (2, "-")):
        m = np.flatnonzero(style == code)
        out[m] = [f"{x[:3]}{sep}{x[3:6]}{sep}{x[6:]}" for x in s[m].tolist()]
    return out


def upn_check_letters(bodies: list[str] | np.ndarray) -> np.ndarray:
    """DfE check letters for 12-character UPN bodies (same algorithm as stdnum.gb.upn)."""
    arr = np.array(bodies, dtype="U12")
    if len(arr) == 0:
        return np.empty(0, dtype=object)
    codes = arr.view(np.uint32).reshape(len(arr), 12)
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    idx = np.where(digit, codes - ord("0") + 23, 0)
    letters = ~digit
    if letters.any():
        lut = np.zeros(128, dtype=np.int64)
        for i, ch in enumerate(UPN_LETTERS):
            lut[ord(ch)] = i
        idx = np.where(letters, lut[np.minimum(codes, 127)], idx)
    total = (idx * np.arange(2, 14)).sum(axis=1) % 23
    return np.array(list(UPN_ALPHABET))[total]


def make_upns(bodies: np.ndarray) -> np.ndarray:
    """Prefix each 12-character body with its check letter."""
    bodies = np.asarray(bodies, dtype="U12")
    return np.char.add(upn_check_letters(bodies), bodies).astype(object)


def unique_upn_bodies(rng, la: np.ndarray, estab: np.ndarray, yy: np.ndarray, temporary: bool,
                      exclude: set[str] | None = None) -> np.ndarray:
    """One distinct 12-char body per row: LA(3) estab(4) year(2) serial(3), or serial(2)+letter if temporary."""
    n = len(la)
    if n == 0:
        return np.empty(0, dtype="U12")
    prefix = np.char.add(np.char.add(np.char.zfill(la.astype(str), 3), np.char.zfill(estab.astype(str), 4)),
                         np.char.zfill((yy % 100).astype(str), 2))
    out = np.empty(n, dtype="U12")
    todo = np.arange(n)
    taken: set[str] = set(exclude or ())
    while len(todo):
        if temporary:
            ser = np.char.add(np.char.zfill(rng.integers(0, 100, len(todo)).astype(str), 2),
                              np.array(list(UPN_LETTERS))[rng.integers(0, 23, len(todo))])
        else:
            ser = np.char.zfill(rng.integers(0, 1000, len(todo)).astype(str), 3)
        cand = np.char.add(prefix[todo], ser)
        keep = []
        for i, c in zip(todo, cand.tolist(), strict=False):  # per-collision bookkeeping; sets are O(1)
            if c in taken:
                continue
            taken.add(c)
            out[i] = c
            keep.append(i)
        todo = np.setdiff1d(todo, np.array(keep, dtype=np.int64))
    return out


def pnc_ids(rng: np.random.Generator, n: int, exclude: set[str] | None = None) -> np.ndarray:
    """Distinct valid PNC ids ``YY/NNNNNNNL``."""
    yy = rng.integers(18, 27, n)
    out: list[str] = []
    taken = set(exclude or ())
    i = 0
    while len(out) < n:
        serial = int(rng.integers(0, 10_000_000))
        y = int(yy[i % n])
        letter = PNC_LETTERS[int(f"{y:02d}{serial:07d}") % 23]
        val = f"{y:02d}/{serial:07d}{letter}"
        if val not in taken:
            taken.add(val)
            out.append(val)
            i += 1
    return np.array(out, dtype=object)


def record_ids(rng: np.random.Generator, n: int, prefix: str, width: int, start: int) -> tuple[np.ndarray, int]:
    """Ids issued in creation order with small random gaps (so they do not reveal the person).

    Returns the ids (in a shuffled order relative to the rows) and the next free number.
    """
    nums = start + np.cumsum(rng.integers(1, 12, size=n))
    nums = nums[rng.permutation(n)]
    ids = np.char.add(prefix, np.char.zfill(nums.astype(str), width)).astype(object)
    return ids, int(nums.max()) + 1 if n else start
