"""A source's view of a person: the true identity with that source's recording variation applied."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import corrupt
from .population import World


@dataclass(frozen=True)
class Profile:
    nick: float  # known-as / diminutive recorded instead of the legal first name
    variant: float  # another spelling or transliteration
    typo: float  # one keyboard slip in the first name or the surname
    dob_err: float  # day/month swap, one day or one year out
    dob_missing: float
    old_addr: float  # share of moved families still at the old address in this source
    strip: float  # accents dropped
    hyphen_part: float  # one half of a hyphenated surname
    former: float  # former surname still used
    middle_drop: float
    sex_missing: float


PROFILES = {
    "education": Profile(0.02, 0.02, 0.025, 0.012, 0.0, 0.15, 0.10, 0.10, 0.05, 0.05, 0.0),
    "health": Profile(0.02, 0.03, 0.03, 0.02, 0.0, 0.45, 0.30, 0.20, 0.25, 0.25, 0.01),
    "police": Profile(0.25, 0.08, 0.06, 0.05, 0.015, 0.50, 0.40, 0.40, 0.35, 0.50, 0.03),
    "social_care": Profile(0.07, 0.04, 0.04, 0.03, 0.0, 0.35, 0.20, 0.25, 0.30, 0.30, 0.02),
}


def _apply(values: np.ndarray, rows: np.ndarray, fn, rng) -> np.ndarray:
    """Apply ``fn(value, rng)`` to the selected rows; return the mask of rows that actually changed."""
    changed = np.zeros(len(values), dtype=bool)
    for i in rows.tolist():
        v = values[i]
        if not v:
            continue
        new = fn(v, rng)
        if new != v:
            values[i] = new
            changed[i] = True
    return changed


def person_view(world: World, idx: np.ndarray, rng: np.random.Generator, prof: Profile) -> pd.DataFrame:
    p = world.pop.iloc[idx].reset_index(drop=True)
    k = len(p)
    unborn = p["unborn"].to_numpy()
    first = p["first"].to_numpy(dtype=object).copy()
    surname = p["surname"].to_numpy(dtype=object).copy()
    middle = p["middle"].to_numpy(dtype=object).copy()

    u = rng.random(k)
    f_changed = _apply(first, np.flatnonzero(u < prof.nick), corrupt.nickname, rng)
    f_changed |= _apply(first, np.flatnonzero((u >= prof.nick) & (u < prof.nick + prof.variant)),
                        corrupt.spelling_variant, rng)

    s_changed = np.zeros(k, dtype=bool)
    former = p["former_surname"].to_numpy(dtype=object)
    use_former = (former != "") & (rng.random(k) < prof.former)
    surname[use_former] = former[use_former]
    s_changed |= use_former
    hy = np.flatnonzero(pd.Series(surname).str.contains("-", regex=False).to_numpy()
                        & (rng.random(k) < prof.hyphen_part) & ~s_changed)
    side = rng.integers(0, 2, k)
    for i in hy.tolist():
        parts = surname[i].split("-")
        if len(parts) == 2 and min(len(parts[0]), len(parts[1])) >= 3:
            surname[i] = parts[side[i]]
            s_changed[i] = True

    ty = (rng.random(k) < prof.typo) & ~unborn
    on_first = rng.random(k) < 0.5
    f_changed |= _apply(first, np.flatnonzero(ty & on_first & ~f_changed), corrupt.typo, rng)
    # a surname slip only when the first name is as recorded elsewhere
    s_changed |= _apply(surname, np.flatnonzero(ty & ~on_first & ~f_changed), corrupt.typo, rng)

    # a variant that is a form of a co-twin's name would make the twins indistinguishable: keep the legal name
    tg = p["twin_group"].to_numpy()
    risky = np.flatnonzero(f_changed & (tg != ""))
    if len(risky):
        allp = world.pop
        tw = allp.loc[allp["twin_group"].isin(set(tg[risky])), ["twin_group", "child_id", "first"]]
        for i in risky.tolist():
            others = tw[(tw["twin_group"] == tg[i]) & (tw["child_id"] != p["child_id"].iat[i])]["first"]
            if any(corrupt.strip_accents(first[i]).lower() in corrupt.name_forms(o) for o in others):
                first[i] = p["first"].iat[i]
                f_changed[i] = False
    strip = rng.random(k) < prof.strip
    for arr in (first, surname, middle):
        arr[strip] = [corrupt.strip_accents(x) for x in arr[strip]]

    middle[rng.random(k) < prof.middle_drop] = ""

    dob = p["dob"].to_numpy().astype("datetime64[D]")
    err = (rng.random(k) < prof.dob_err) & ~(f_changed & s_changed) & ~unborn
    dob_true = dob.copy()
    dob[err] = corrupt.dob_slips(dob[err], rng)
    missing = (rng.random(k) < prof.dob_missing) & ~f_changed & ~s_changed & ~err & ~unborn
    dob[missing] = np.datetime64("NaT")

    moved = p["old_home"].to_numpy() >= 0
    use_old = moved & (rng.random(k) < prof.old_addr) & ~missing
    home = np.where(use_old, p["old_home"].to_numpy(), p["home"].to_numpy())
    addr = world.places.homes(home)

    sex = p["sex"].to_numpy(dtype=object).copy()
    sex[rng.random(k) < prof.sex_missing] = ""

    out = pd.DataFrame({
        "_child": p["child_id"].to_numpy(), "_pop": np.asarray(idx), "first": first, "middle": middle,
        "surname": surname, "legal_surname": p["surname"].to_numpy(), "former_surname": former,
        "legal_first": p["first"].to_numpy(), "dob": dob, "dob_true": dob_true, "sex": sex,
        "unborn": unborn, "dod": p["dod"].to_numpy(),
    })
    for col in ("nhs", "upn", "upn_temp", "former_upn", "pnc", "ethnicity", "practice", "primary",
                "secondary", "fsm", "need"):
        out[col] = p[col].to_numpy()
    for col in addr.columns:
        out[col] = addr[col].to_numpy()
    out["_used_old_home"] = use_old
    return out


def duplicate(idx: np.ndarray, rng: np.random.Generator, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Add second records for ``rate`` of the people; returns (population indices, is_duplicate)."""
    dup = idx[rng.random(len(idx)) < rate]
    return np.r_[idx, dup], np.r_[np.zeros(len(idx), bool), np.ones(len(dup), bool)]


def street_line(v: pd.DataFrame, rng: np.random.Generator, newline_rate: float = 0.0) -> np.ndarray:
    """First address line: '12 Oak Road', 'Flat 12, Oak Court' or with an embedded newline."""
    num, street, flat = v["number"].to_numpy(), v["street"].to_numpy(), v["flat"].to_numpy()
    line = np.where(flat, "Flat " + num.astype(object) + ", " + street, num.astype(object) + " " + street)
    nl = flat & (rng.random(len(v)) < newline_rate)
    line[nl] = "Flat " + num[nl].astype(object) + "\n" + street[nl]
    return line.astype(object)
