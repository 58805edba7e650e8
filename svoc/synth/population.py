"""The true population: families, children (incl. twins and unborn), names, DOBs, identifiers, homes.

One row per person in ``pop``; everything a source record is derived from. Dates are numpy
``datetime64[D]``. Deterministic given the generator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import ids
from .corrupt import name_forms
from .names import first_name_pools, similar_names, surname_pools
from .places import Places, make_places

START = np.datetime64("2006-01-01")

# code, weight, first-name groups, surname groups
ETHNICITIES = [
    ("WBRI", 0.595, ("british",), ("british",)),
    ("WIRI", 0.012, ("irish", "british"), ("irish",)),
    ("WROM", 0.005, ("british", "irish"), ("british", "irish")),
    ("WOTH", 0.070, ("east_eu",), ("east_eu",)),
    ("MWBC", 0.018, ("british", "caribbean"), ("british", "caribbean")),
    ("MWBA", 0.010, ("british", "african"), ("british", "african")),
    ("MWAS", 0.014, ("british", "sa_muslim", "indian"), ("british", "sa_muslim", "indian")),
    ("MOTH", 0.018, ("british", "arab", "chinese"), ("british", "arab", "east_eu")),
    ("AIND", 0.030, ("indian",), ("indian",)),
    ("APKN", 0.055, ("sa_muslim",), ("sa_muslim",)),
    ("ABAN", 0.015, ("sa_muslim",), ("sa_muslim",)),
    ("AOTH", 0.012, ("sa_muslim", "indian"), ("sa_muslim", "indian")),
    ("BCRB", 0.010, ("caribbean", "british"), ("caribbean",)),
    ("BAFR", 0.045, ("african",), ("african",)),
    ("BOTH", 0.006, ("african", "caribbean"), ("african", "caribbean")),
    ("CHNE", 0.008, ("chinese",), ("chinese",)),
    ("OOTH", 0.022, ("arab",), ("arab",)),
    ("REFU", 0.025, ("british", "east_eu"), ("british", "east_eu")),
    ("NOBT", 0.030, ("british", "african", "sa_muslim"), ("british", "african", "sa_muslim")),
]
FAMILY_SIZE_P = np.array([0.38, 0.34, 0.17, 0.08, 0.03])


@dataclass
class World:
    pop: pd.DataFrame
    places: Places
    drop_date: np.datetime64


def zipf_choice(rng: np.random.Generator, n_items: int, size: int, s: float = 0.7, offset: float = 3.0):
    w = (np.arange(n_items) + offset) ** -s
    return rng.choice(n_items, size=size, p=w / w.sum())


def _era(year: np.ndarray, rng) -> np.ndarray:
    y = year + rng.integers(-2, 3, len(year))
    return np.where(y <= 2012, "early", np.where(y <= 2019, "mid", "late"))


def _draw_names(rng, groups: np.ndarray, sexes: np.ndarray, eras: np.ndarray, pools) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    keys = pd.DataFrame({"g": groups, "s": sexes, "e": eras})
    for group_sex_era, idx in keys.groupby(["g", "s", "e"], sort=True).indices.items():
        names = pools[group_sex_era]  # the (group, sex, era) tuple
        out[idx] = np.array(names, dtype=object)[zipf_choice(rng, len(names), len(idx))]
    return out


def _family_dobs(rng, sizes: np.ndarray, end: np.datetime64, start: np.datetime64 = START) -> np.ndarray:
    n = int(sizes.sum())
    fam = np.repeat(np.arange(len(sizes)), sizes)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    gaps = (330 + rng.gamma(2.0, 420.0, n)).astype(np.int64)
    gaps[first] = 0
    span_total = (end - start).astype(int)
    cum = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first], sizes)
    span = cum[np.r_[first[1:] - 1, n - 1]]
    scale = np.minimum(1.0, (span_total - 1) / np.maximum(span, 1))
    cum = (cum * scale[fam]).astype(np.int64)
    anchor = (rng.random(len(sizes)) * (span_total - span * scale)).astype(np.int64)
    return start + (anchor[fam] + cum).astype("timedelta64[D]")


def make_population(n: int, rng: np.random.Generator, drop_date: dt.date, base: World | None = None,
                    earliest: np.datetime64 = START) -> World:
    """``base``: an existing population this one joins (same area; ids, identifiers and homes all new)."""
    drop = np.datetime64(drop_date)
    end = drop - np.timedelta64(1, "D")
    places = base.places if base is not None else make_places(rng, n)
    old = base.pop if base is not None else None
    c_off = 0 if old is None else int(old["child_id"].str[1:].astype(int).max())
    f_off = 0 if old is None else int(old["family_id"].str[1:].astype(int).max())
    t_off = 0 if old is None else int(old["twin_group"].str[1:].replace("", "0").astype(int).max())
    pools, spools = first_name_pools(), surname_pools()

    # multiple births: ~3% of children are in a twin/triplet set
    n_sets = round(0.0148 * n) if base is not None else max(2, round(0.0148 * n))
    triplet = rng.random(n_sets) < 0.03
    extras = n_sets + int(triplet.sum())
    n_base = n - extras
    sizes = rng.choice(np.arange(1, 6), size=n_base, p=FAMILY_SIZE_P)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n_base) + 1]
    sizes[-1] -= sizes.sum() - n_base
    n_fam = len(sizes)
    dob = _family_dobs(rng, sizes, end, earliest)
    fam = np.repeat(np.arange(n_fam), sizes)

    anchors = rng.choice(n_base, size=n_sets, replace=False)
    copies = np.r_[anchors, anchors[triplet]]
    twin_of = np.r_[np.full(n_base, -1), np.r_[np.arange(n_sets), np.flatnonzero(triplet)]]
    twin_of[anchors] = np.arange(n_sets)
    fam = np.r_[fam, fam[copies]]
    dob = np.r_[dob, dob[copies]]
    order = np.lexsort((np.arange(n), dob, fam))
    fam, dob, twin_of = fam[order], dob[order], twin_of[order]

    # family attributes
    eth_w = np.array([e[1] for e in ETHNICITIES])
    fam_eth = rng.choice(len(ETHNICITIES), size=n_fam, p=eth_w / eth_w.sum())
    fam_sgroup = np.array([ETHNICITIES[e][3][rng.integers(len(ETHNICITIES[e][3]))] for e in fam_eth])
    fam_surname = _draw_surnames(rng, fam_sgroup, spools)
    hyph = rng.random(n_fam) < 0.03
    second = _draw_surnames(rng, fam_sgroup[hyph], spools)
    fam_surname[hyph] = [a if a == b else f"{a}-{b}" for a, b in zip(fam_surname[hyph], second, strict=False)]

    pop = pd.DataFrame({"family_idx": fam, "dob": dob, "twin_idx": twin_of})
    pop["child_id"] = [f"C{i:07d}" for i in range(c_off + 1, c_off + n + 1)]
    pop["family_id"] = [f"F{i:06d}" for i in fam + 1 + f_off]
    pop["twin_group"] = np.where(twin_of >= 0, [f"T{i + 1 + t_off:05d}" for i in twin_of], "")
    pop["ethnicity"] = np.array([e[0] for e in ETHNICITIES])[fam_eth[fam]]
    pop["sex"] = np.where(rng.random(n) < 0.51, "M", "F")
    groups = np.array([ETHNICITIES[e][2][rng.integers(len(ETHNICITIES[e][2]))] for e in fam_eth[fam]])
    year = dob.astype("datetime64[Y]").astype(int) + 1970
    eras = _era(year, rng)
    pop["group"] = groups
    pop["first"] = _draw_names(rng, groups, pop["sex"].to_numpy(), eras, pools)
    mid = _draw_names(rng, groups, pop["sex"].to_numpy(), _era(year, rng), pools)
    mid2 = _draw_names(rng, groups, pop["sex"].to_numpy(), _era(year, rng), pools)
    u = rng.random(n)
    pop["middle"] = np.where(u < 0.55, mid, np.where(u < 0.66, mid + " " + mid2, ""))
    pop.loc[pop["middle"] == pop["first"], "middle"] = ""
    pop["surname"] = fam_surname[fam]
    pop["fam_surname"] = fam_surname[fam]
    _sibling_names(pop, rng, pools)

    # half-siblings from an earlier relationship, and children whose surname changed (step-family)
    eldest = np.r_[True, fam[1:] != fam[:-1]] & (np.bincount(fam)[fam] > 1) & (twin_of < 0)
    half = eldest & (rng.random(n) < 0.12)
    pop.loc[half, "surname"] = _draw_surnames(rng, fam_sgroup[fam[half]], spools)
    fam_changed = rng.random(n_fam) < 0.04
    fam_former = np.full(n_fam, "", dtype=object)
    fam_former[fam_changed] = _draw_surnames(rng, fam_sgroup[fam_changed], spools)
    pop["former_surname"] = np.where(half, "", fam_former[fam])
    pop.loc[pop["former_surname"] == pop["surname"], "former_surname"] = ""

    # identifiers: NHS for all; UPN (and a temporary one) for those who could be in school
    pop["nhs"] = ids.nhs_numbers(rng, n, None if old is None else old["nhs"].to_numpy())
    _add_upns(pop, rng, places, old)
    pop["pnc"] = ""
    teen = dob < drop - np.timedelta64(int(365.25 * 10), "D")
    pop.loc[teen, "pnc"] = ids.pnc_ids(rng, int(teen.sum()), None if old is None else set(old["pnc"]))

    # homes: current (and the previous one for families that moved recently)
    used = None if old is None else np.r_[old["home"].to_numpy(), old["old_home"].to_numpy()]
    slots = places.draw_homes(rng, 2 * n_fam, used)
    pop["home"] = slots[:n_fam][fam]
    moved = rng.random(n_fam) < 0.08
    pop["old_home"] = np.where(moved, slots[n_fam:], -1)[fam]
    pop["practice"] = rng.integers(0, len(places.practices), n_fam)[fam]
    pop["primary"] = rng.integers(0, len(places.primaries), n_fam)[fam]
    pop["secondary"] = rng.integers(0, len(places.secondaries), n_fam)[fam]
    pop["fsm"] = (rng.random(n_fam) < 0.22)[fam]
    pop["need"] = rng.random(n_fam)[fam]  # family-level propensity for social care / police contact
    pop["unborn"] = False
    if base is None:
        pop = _add_unborn(pop, rng, drop, n)
    dobd = pop["dob"].to_numpy().astype("datetime64[D]")
    dead = (rng.random(len(pop)) < 0.0004) & ~pop["unborn"].to_numpy()
    dod = np.full(len(pop), np.datetime64("NaT"), dtype="datetime64[D]")
    dod[dead] = dobd[dead] + (rng.random(int(dead.sum())) * (drop - dobd[dead]).astype(int)).astype(
        "timedelta64[D]")
    pop["dod"] = dod
    return World(pop.drop(columns=["family_idx", "twin_idx", "fam_surname"]), places, drop)


def _draw_surnames(rng, groups: np.ndarray, spools) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    for g in sorted(set(groups.tolist())):
        idx = np.flatnonzero(groups == g)
        names = spools[g]
        out[idx] = np.array(names, dtype=object)[zipf_choice(rng, len(names), len(idx), s=0.6)]
    return out


def _sibling_names(pop: pd.DataFrame, rng, pools) -> None:
    """No two siblings share a first name; some siblings and co-twins get similar names."""
    similar = similar_names()
    by_sex = {s: {n for (g, sx, e), names in pools.items() if sx == s for n in names} for s in ("M", "F")}
    fam = pop["family_idx"].to_numpy()
    multi = np.bincount(fam)[fam] > 1
    dup = pop.duplicated(["family_idx", "first"], keep="first").to_numpy()
    pick = multi & ~np.r_[True, fam[1:] != fam[:-1]] & (rng.random(len(pop)) < 0.18)
    pick |= (pop["twin_group"].to_numpy() != "") & (rng.random(len(pop)) < 0.3)
    twin = pop["twin_group"].to_numpy() != ""
    rows = np.flatnonzero(dup | pick | twin)
    first = pop["first"].to_numpy().copy()
    starts = np.r_[0, np.flatnonzero(fam[1:] != fam[:-1]) + 1]
    fam_start = np.repeat(starts, np.diff(np.r_[starts, len(fam)]))
    sexes, groups = pop["sex"].to_numpy(), pop["group"].to_numpy()
    for i in rows.tolist():
        sibs = set(first[fam_start[i]:i].tolist()) | set(first[i + 1:i + 6][fam[i + 1:i + 6] == fam[i]].tolist())
        pool = pools[(groups[i], sexes[i], "mid")]
        cands = [s for o in sorted(sibs) for s in similar.get(o, []) if s in by_sex[sexes[i]] and s not in sibs]
        if not cands and sibs:
            initials = {o[0] for o in sibs}
            cands = [p for p in pool if p[0] in initials and p not in sibs]
        if twin[i]:  # co-twins never share a recorded form of their names (variants, nicknames)
            taken = set().union(*(name_forms(o) for o in sibs)) if sibs else set()
            if not pick[i] and not dup[i] and not (name_forms(first[i]) & taken):
                continue
            cands = [c for c in cands if not (name_forms(c) & taken)]
            if not cands or (dup[i] and not pick[i]) or not pick[i]:
                cands = [p for p in pool if not (name_forms(p) & taken)]
        elif not cands or (dup[i] and not pick[i]):
            cands = [p for p in pool if p not in sibs]
        first[i] = cands[int(rng.integers(len(cands)))]
    pop["first"] = first


def _add_upns(pop: pd.DataFrame, rng, places: Places, old: pd.DataFrame | None = None) -> None:
    n = len(pop)
    dob = pop["dob"].to_numpy()
    year = dob.astype("datetime64[Y]").astype(int) + 1970
    month = dob.astype("datetime64[M]").astype(int) % 12 + 1
    entry = year + np.where(month >= 9, 5, 4)
    estab = places.primaries["estab"].to_numpy()[rng.integers(0, len(places.primaries), n)]
    la = np.full(n, ids.LA_NUMBER)
    taken = set() if old is None else {u[1:] for c in ("upn", "upn_temp", "former_upn") for u in old[c] if u}
    perm = ids.unique_upn_bodies(rng, la, estab, entry, temporary=False, exclude=taken)
    temp = ids.unique_upn_bodies(rng, la, estab, entry, temporary=True, exclude=taken)
    eligible = entry <= 2026
    pop["upn"] = np.where(eligible, ids.make_upns(perm), "")
    pop["upn_temp"] = np.where(eligible, ids.make_upns(temp), "")
    former = eligible & (rng.random(n) < 0.04)
    k = int(former.sum())
    fb = ids.unique_upn_bodies(rng, ids.OTHER_LAS[rng.integers(0, len(ids.OTHER_LAS), k)],
                               rng.integers(2000, 3999, k), entry[former], temporary=False, exclude=taken)
    pop["former_upn"] = ""
    pop.loc[former, "former_upn"] = ids.make_upns(fb)


def _add_unborn(pop: pd.DataFrame, rng, drop: np.datetime64, n: int) -> pd.DataFrame:
    """Unborn children known to social care: expected DOB after the drop date, in an existing family."""
    k = max(1, round(n * 0.003))
    mothers = pop.drop_duplicates("family_idx").sample(n=k, random_state=int(rng.integers(2**31)))
    unb = mothers.copy()
    unb["child_id"] = [f"C{i:07d}" for i in range(n + 1, n + k + 1)]
    unb["twin_group"] = ""
    unb["dob"] = drop + rng.integers(14, 180, k).astype("timedelta64[D]")
    unb["surname"] = unb["fam_surname"]
    unb["first"] = np.array(["", "Baby", "Unborn"], dtype=object)[rng.integers(0, 3, k)]
    unb["middle"] = ""
    unb["sex"] = ""
    unb["former_surname"] = ""
    unb["nhs"] = 0
    unb["upn"] = unb["upn_temp"] = unb["former_upn"] = unb["pnc"] = ""
    unb["unborn"] = True
    return pd.concat([pop, unb], ignore_index=True)
