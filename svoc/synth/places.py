"""The synthetic council area: postcode districts, streets, homes, schools and GP practices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# district, locality, post town, relative population
DISTRICTS = [
    ("LS1", "City Centre", "Leeds", 1), ("LS2", "Woodhouse", "Leeds", 2), ("LS3", "Burley", "Leeds", 2),
    ("LS4", "Kirkstall", "Leeds", 3), ("LS5", "Hawksworth", "Leeds", 3), ("LS6", "Headingley", "Leeds", 5),
    ("LS7", "Chapel Allerton", "Leeds", 5), ("LS8", "Roundhay", "Leeds", 6), ("LS9", "Harehills", "Leeds", 7),
    ("LS10", "Hunslet", "Leeds", 6), ("LS11", "Beeston", "Leeds", 6), ("LS12", "Armley", "Leeds", 7),
    ("LS13", "Bramley", "Leeds", 6), ("LS14", "Seacroft", "Leeds", 7), ("LS15", "Cross Gates", "Leeds", 6),
    ("LS16", "Adel", "Leeds", 4), ("LS17", "Moortown", "Leeds", 5), ("LS18", "Horsforth", "Leeds", 3),
    ("LS19", "Yeadon", "Leeds", 3), ("LS20", "Guiseley", "Leeds", 2), ("LS21", "Pool", "Otley", 2),
    ("LS22", "Collingham", "Wetherby", 2), ("LS23", "Boston Spa", "Wetherby", 1),
    ("LS24", "Stutton", "Tadcaster", 1), ("LS25", "Garforth", "Leeds", 4), ("LS26", "Rothwell", "Leeds", 4),
    ("LS27", "Morley", "Leeds", 5), ("LS28", "Pudsey", "Pudsey", 4), ("LS29", "Ben Rhydding", "Ilkley", 2),
]
STEMS = ["Oak", "Elm", "Ash", "Beech", "Birch", "Cedar", "Willow", "Holly", "Rowan", "Hawthorn", "Chestnut", "Sycamore", "Poplar", "Larch", "Maple", "Church", "Mill", "Station", "Park", "Chapel", "School", "Victoria", "Albert", "Queen", "King", "Prince", "Princess", "Windsor", "York", "Lancaster", "Granville", "Stanley", "Grove", "Meadow", "Field", "Moor", "Hill", "Valley", "Brook", "River", "Bridge", "Green", "Manor", "Abbey", "Priory", "Castle", "Kirk", "Wood", "Spring", "Well", "Low", "High", "Broad", "Long", "North", "South", "East", "West", "Cross", "Beck", "Fountain", "Garden", "Orchard", "Harehills", "Cardigan", "Burley", "Headingley", "Gledhow", "Roundhay", "Potternewton", "Cowper", "Bexley", "Hovingham", "Ashley", "Dewsbury", "Bradford", "Otley", "Harrogate", "Wetherby", "Tong", "Ring", "Back", "Town", "Sunny", "Bank", "Clarendon", "Hyde", "Lovell", "Roseville", "Nowell", "Gipton", "Ivy", "Primrose", "Daisy", "Cottage", "Croft", "Haigh", "Whitelock", "Thornhill", "Woodlands", "Crossley", "Brudenell"]
SUFFIXES = ["Road", "Street", "Avenue", "Lane", "Close", "Crescent", "Grove", "Drive", "Way", "Terrace",
            "Place", "Mount", "View", "Gardens", "Court", "Walk"]
SUFFIX_W = np.array([14, 14, 9, 8, 7, 6, 6, 6, 4, 6, 3, 4, 4, 3, 3, 2], dtype=float)
SAINTS = ["Mary", "Joseph", "Peter", "Patrick", "Anne", "Augustine", "Francis", "Theresa", "John", "Paul",
          "Bartholomew", "Chad", "Matthew", "Margaret", "Benedict", "Oswald"]
HOUSES_PER_STREET = 120
INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


@dataclass
class Places:
    streets: pd.DataFrame  # name, district index, n_postcodes, postcode codes
    postcodes: np.ndarray  # (n_streets, 3) full postcodes
    primaries: pd.DataFrame  # urn, estab, name
    secondaries: pd.DataFrame
    practices: np.ndarray

    def draw_homes(self, rng: np.random.Generator, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        total = len(self.streets) * HOUSES_PER_STREET
        if exclude is None or not len(exclude):
            return rng.choice(total, size=k, replace=False)
        cand = rng.choice(total, size=k + len(exclude), replace=False)
        return cand[~np.isin(cand, exclude)][:k]

    def homes(self, slots: np.ndarray) -> pd.DataFrame:
        """Address components of home slots: house, street, locality, town, postcode, flat flag."""
        slots = np.asarray(slots, dtype=np.int64)
        street = slots // HOUSES_PER_STREET
        number = slots % HOUSES_PER_STREET + 1
        st = self.streets.iloc[street]
        dist = st["district"].to_numpy()
        npc = st["n_postcodes"].to_numpy()
        pc = self.postcodes[street, (number - 1) * npc // HOUSES_PER_STREET]
        flat = st["flats"].to_numpy()
        return pd.DataFrame({
            "number": number.astype(str),
            "street": st["name"].to_numpy(),
            "flat": flat,
            "locality": np.array([d[1] for d in DISTRICTS], dtype=object)[dist],
            "town": np.array([d[2] for d in DISTRICTS], dtype=object)[dist],
            "postcode": pc,
        })


def make_places(rng: np.random.Generator, n_children: int) -> Places:
    n_streets = max(40, n_children // 12)
    weights = np.array([d[3] for d in DISTRICTS], dtype=float)
    district = rng.choice(len(DISTRICTS), size=n_streets, p=weights / weights.sum())
    stems = np.array(STEMS, dtype=object)[rng.integers(0, len(STEMS), n_streets)]
    suffix = np.array(SUFFIXES, dtype=object)[rng.choice(len(SUFFIXES), n_streets, p=SUFFIX_W / SUFFIX_W.sum())]
    suffix = np.where(stems == suffix, "Road", suffix)
    streets = pd.DataFrame({"name": stems + " " + suffix, "district": district})
    streets["flats"] = np.isin(suffix, ["Court", "Gardens"]) | (rng.random(n_streets) < 0.05)
    streets["n_postcodes"] = rng.integers(1, 4, n_streets)
    postcodes = np.empty((n_streets, 3), dtype=object)
    for d in range(len(DISTRICTS)):
        idx = np.flatnonzero(district == d)
        codes = rng.choice(10 * 400, size=3 * len(idx), replace=3 * len(idx) > 4000)
        inward = [f"{c // 400}{INWARD_LETTERS[(c % 400) // 20]}{INWARD_LETTERS[c % 20]}" for c in codes.tolist()]
        postcodes[idx] = np.array([f"{DISTRICTS[d][0]} {x}" for x in inward], dtype=object).reshape(-1, 3)
    n_pri, n_sec = max(4, n_children // 900), max(2, n_children // 5000)
    urns = rng.choice(np.arange(107000, 150000), size=n_pri + n_sec, replace=False)
    pri_names = []
    for _i in range(n_pri):
        if rng.random() < 0.2:
            pri_names.append(f"St {SAINTS[rng.integers(len(SAINTS))]}'s Catholic Primary School")
        else:
            kind = ["Primary School", "Primary Academy", "Community Primary School", "C of E Primary School"]
            pri_names.append(f"{STEMS[rng.integers(len(STEMS))]} {kind[rng.integers(len(kind))]}")
    sec_kinds = ["Academy", "High School", "College", "School"]
    sec_names = [f"{STEMS[rng.integers(len(STEMS))]} {sec_kinds[rng.integers(4)]}" for _ in range(n_sec)]
    primaries = pd.DataFrame({"urn": urns[:n_pri].astype(str),
                              "estab": rng.choice(np.arange(2000, 3999), n_pri, replace=False),
                              "name": pri_names})
    secondaries = pd.DataFrame({"urn": urns[n_pri:].astype(str),
                                "estab": rng.choice(np.arange(4000, 4999), n_sec, replace=False),
                                "name": sec_names})
    practices = np.array([f"B86{x:03d}" for x in rng.choice(np.arange(1, 999), max(3, n_children // 2500),
                                                              replace=False)], dtype=object)
    return Places(streets, postcodes, primaries, secondaries, practices)
