"""Night 2: the same population one night later (births/arrivals, moves, surname changes, new records,
leavers). Records that persist keep their ids; everything is derived from the seed with its own stream."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .interactions import all_interactions
from .names import surname_pools
from .population import World, make_population
from .sources import BUILDERS, ID_FORMAT, select
from .views import street_line

ADDRESS_COLS = {"education": ("AddressLine1", "AddressLine2", "Town", "Postcode"),
                "health": ("AddressLine1", "AddressLine2", "AddressLine3", "Postcode"),
                "social_care": ("AddressLine1", "AddressLine2", "Town", "Postcode")}


def apply_night2(state: dict, rng: np.random.Generator, drop: np.datetime64) -> dict:
    world: World = state["world"]
    frames: dict[str, pd.DataFrame] = {k: v.copy() for k, v in state["frames"].items()}
    inter: dict[str, pd.DataFrame] = {k: v.copy() for k, v in state["interactions"].items()}
    nxt = dict(state["next_ids"])
    pop = world.pop.copy()
    n = int((~pop["unborn"]).sum())

    # house moves: ~1% of families; each of their records updates with some lag between sources
    fams = pop["family_id"].unique()
    movers = fams[rng.random(len(fams)) < 0.01]
    moving = pop["family_id"].isin(movers).to_numpy()
    used = np.r_[pop["home"].to_numpy(), pop["old_home"].to_numpy()]
    new_home = pd.Series(world.places.draw_homes(rng, len(movers), used), index=movers)
    pop.loc[moving, "old_home"] = pop.loc[moving, "home"]
    pop.loc[moving, "home"] = new_home.reindex(pop.loc[moving, "family_id"]).to_numpy()
    home_of = pd.Series(pop["home"].to_numpy(), index=pop["child_id"])
    for src, f in frames.items():
        upd = f["_child"].isin(pop.loc[moving, "child_id"]).to_numpy() & (rng.random(len(f)) < 0.6)
        if not upd.any():
            continue
        v = world.places.homes(home_of.reindex(f.loc[upd, "_child"]).to_numpy())
        line = street_line(v, rng)
        if src == "police":
            f.loc[upd, "Address"] = (line + ", " + v["town"]).str.upper().to_numpy()
            f.loc[upd, "Postcode"] = v["postcode"].to_numpy()
        else:
            c1, c2, c3, pc = ADDRESS_COLS[src]
            f.loc[upd, c1], f.loc[upd, c2] = line, v["locality"].to_numpy()
            f.loc[upd, c3], f.loc[upd, pc] = v["town"].to_numpy(), v["postcode"].to_numpy()

    # surname changes (~0.2% of children)
    spools = surname_pools()
    changers = pop.index[(rng.random(len(pop)) < 0.002) & ~pop["unborn"].to_numpy()]
    new_names = np.array(spools["british"], dtype=object)[rng.integers(0, 60, len(changers))]
    old_names = pop.loc[changers, "surname"].to_numpy()
    pop.loc[changers, "former_surname"] = old_names
    pop.loc[changers, "surname"] = new_names
    change = pd.Series(new_names, index=pop.loc[changers, "child_id"].to_numpy())
    former = pd.Series(old_names, index=change.index)
    for src, col, p in (("education", "Surname", 0.9), ("health", "FamilyName", 0.6),
                        ("social_care", "LastName", 0.5)):
        f = frames[src]
        upd = f["_child"].isin(change.index).to_numpy() & (rng.random(len(f)) < p)
        f.loc[upd, col] = change.reindex(f.loc[upd, "_child"]).to_numpy()
        if src == "education":
            f.loc[upd, "FormerSurname"] = former.reindex(f.loc[upd, "_child"]).to_numpy()
            f.loc[upd, "PreferredSurname"] = f.loc[upd, "Surname"]

    # leavers: ~0.3% of records disappear, with their interactions
    for src, f in frames.items():
        gone = rng.random(len(f)) < 0.003
        frames[src] = f[~gone].reset_index(drop=True)
    kept = {src: set(f[ID_FORMAT[src][0]]) for src, f in frames.items()}
    for name, f in inter.items():
        src = name.split("/")[0]
        key = {"education": "PupilID", "health": "PatientID", "police": "NominalID",
               "social_care": "PersonID"}[src]
        inter[name] = f[f[key].isin(kept[src])].reset_index(drop=True)

    # births into existing families and arrivals of new families (~0.3%)
    world2 = World(pop, world.places, drop)
    m = max(3, round(0.003 * n))
    arrivals = make_population(m, rng, pd.Timestamp(drop).date(), base=world2)
    births = arrivals.pop.copy()
    newborn = (rng.random(len(births)) < 0.4) & (births["twin_group"] == "").to_numpy()
    births.loc[newborn, "dob"] = drop - rng.integers(1, 10, int(newborn.sum())).astype("timedelta64[D]")
    births.loc[newborn, ["upn", "upn_temp", "former_upn", "pnc", "former_surname"]] = ""
    # a newborn joins an existing family: its surname, home, GP practice and schools
    sib = pop[~pop["unborn"]].sample(n=int(newborn.sum()), random_state=int(rng.integers(2**31)))
    for col in ("family_id", "surname", "home", "practice", "primary", "secondary", "fsm", "need",
                "ethnicity", "group"):
        births.loc[newborn, col] = sib[col].to_numpy()
    births.loc[newborn, "old_home"] = -1
    world2 = World(pd.concat([pop, births], ignore_index=True), world.places, drop)
    new_rows = np.arange(len(pop), len(world2.pop))

    # new police and social-care records for existing children (~0.5% in all)
    extra = {"police": rng.choice(len(pop), max(1, round(0.0025 * n)), replace=False),
             "social_care": rng.choice(len(pop), max(1, round(0.0025 * n)), replace=False)}
    new_frames = {}
    for i, src in enumerate(("education", "health", "police", "social_care")):
        r = np.random.default_rng([state["seed"], 2, 10 + i])
        idx = select(world2, r, src, only=new_rows)
        if src in extra:
            have = set(frames[src]["_pop"])
            idx = np.r_[idx, [j for j in extra[src] if j not in have and not world2.pop.at[j, "unborn"]]]
            idx = idx.astype(np.int64)
        new_frames[src], nxt[src] = BUILDERS[src](world2, r, idx, nxt[src])
    dobs = {s: world2.pop["dob"].to_numpy()[f["_pop"].to_numpy()] for s, f in new_frames.items()}
    starts = {"occ": _max_num(inter["police/occurrences"]["OccurrenceRef"]) + 1,
              "ep": _max_num(inter["social_care/episodes"]["EpisodeID"]) + 1}
    new_inter = all_interactions(new_frames, dobs, np.random.default_rng([state["seed"], 2, 99]), drop, starts)
    for src in frames:
        frames[src] = pd.concat([frames[src], new_frames[src]], ignore_index=True)
    for name in inter:
        inter[name] = pd.concat([inter[name], new_inter[name]], ignore_index=True)
    return {**state, "world": world2, "frames": frames, "interactions": inter, "next_ids": nxt}


def _max_num(values: pd.Series) -> int:
    if not len(values):
        return 0
    return int(values.astype(str).str.extract(r"(\d+)$")[0].astype(int).max())
