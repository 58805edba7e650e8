"""Identity records per source, in the reference layouts (dates still as datetime64; writers format them).

Each builder returns a frame with the spec columns, in spec order, plus internal columns prefixed ``_``
(``_child`` the true person, ``_dup`` a within-source duplicate, and what the interaction builders need).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import corrupt, ids
from .population import World
from .views import PROFILES, duplicate, person_view, street_line

COLUMNS = {
    "education": ["PupilID", "UPN", "FormerUPN", "Surname", "Forename", "MiddleNames", "PreferredSurname",
                  "FormerSurname", "DOB", "Sex", "AddressLine1", "AddressLine2", "Town", "Postcode",
                  "SchoolURN", "SchoolName", "EntryDate", "LeavingDate", "SENProvision", "FSMEligible"],
    "health": ["PatientID", "NHSNumber", "GivenName", "OtherGivenNames", "FamilyName", "DateOfBirth", "Gender",
               "AddressLine1", "AddressLine2", "AddressLine3", "Postcode", "GPPracticeCode", "DateOfDeath"],
    "police": ["NominalID", "PNCID", "Surname", "Forename1", "Forename2", "DateOfBirth", "Gender", "Address",
               "Postcode"],
    "social_care": ["PersonID", "NHSNumber", "UPN", "FirstName", "MiddleName", "LastName", "AlternativeNames",
                    "DOB", "Gender", "AddressLine1", "AddressLine2", "Town", "Postcode", "Ethnicity"],
}
ID_FORMAT = {"education": ("PupilID", "P", 7, 12_000), "health": ("PatientID", "H", 8, 3_100_000),
             "police": ("NominalID", "N", 7, 480_000), "social_care": ("PersonID", "", 7, 1_000_000)}
NAT = np.datetime64("NaT")


def _d(year, month, day) -> np.ndarray:
    y = np.asarray(year, dtype=np.int64)
    return ((y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)).astype(
        "datetime64[D]") + (day - 1)


def entry_year(dob: np.ndarray) -> np.ndarray:
    """Calendar year the child starts Reception (the September after turning 4)."""
    dob = dob.astype("datetime64[D]")
    year = dob.astype("datetime64[Y]").astype(int) + 1970
    month = dob.astype("datetime64[M]").astype(int) % 12 + 1
    return year + np.where(month >= 9, 5, 4)


def finish(source: str, frame: pd.DataFrame, rng: np.random.Generator, start: int) -> tuple[pd.DataFrame, int]:
    col, prefix, width, _ = ID_FORMAT[source]
    frame[col], nxt = ids.record_ids(rng, len(frame), prefix, width, start)
    internal = [c for c in frame.columns if c.startswith("_")]
    return frame[COLUMNS[source] + internal], nxt


def select(world: World, rng, source: str, only: np.ndarray | None = None) -> np.ndarray:
    """Population indices covered by ``source`` (optionally restricted to the rows in ``only``)."""
    pop = world.pop
    dob = pop["dob"].to_numpy().astype("datetime64[D]")
    unborn = pop["unborn"].to_numpy()
    alive = pop["dod"].isna().to_numpy()
    age = (world.drop_date - dob).astype(int) / 365.25
    need = pop["need"].to_numpy()
    u = rng.random(len(pop))
    if source == "education":
        ncy = 2026 - entry_year(dob)
        p = np.select([(ncy >= 0) & (ncy <= 11), (ncy >= 12) & (ncy <= 13), ncy == -1, ncy >= 14],
                      [0.95, 0.55, 0.35, 0.25], 0.0)
        keep = (u < p) & ~unborn & alive
    elif source == "health":
        keep = (u < 0.98) & ~unborn
    elif source == "police":
        p = np.select([age < 5, age < 10, age < 14, age < 18], [0.015, 0.03, 0.09, 0.2], 0.16)
        keep = (u < p * (0.4 + 1.2 * need)) & ~unborn & alive
    else:
        fam_in = need > 0.9
        keep = (fam_in & (u < 0.88)) | (u < 0.035) | unborn
    if only is not None:
        keep &= np.isin(np.arange(len(pop)), only)
    return np.flatnonzero(keep)


def education(world: World, rng, idx: np.ndarray, start: int) -> tuple[pd.DataFrame, int]:
    idx, dup = duplicate(idx, rng, 0.03)
    v = person_view(world, idx, rng, PROFILES["education"])
    k, places = len(v), world.places
    dob = v["dob_true"].to_numpy()
    entry = entry_year(dob)
    ncy = 2026 - entry
    secondary = (ncy >= 7) & ~dup
    pri, sec = places.primaries, places.secondaries
    school_pri = np.where(dup & (rng.random(k) < 0.5), rng.integers(0, len(pri), k), v["primary"].to_numpy())
    urn = np.where(secondary, sec["urn"].to_numpy()[v["secondary"].to_numpy()], pri["urn"].to_numpy()[school_pri])
    name = np.where(secondary, sec["name"].to_numpy()[v["secondary"].to_numpy()],
                    pri["name"].to_numpy()[school_pri])
    nursery = (ncy == -1) | (rng.random(k) < 0.3)
    entry_date = np.where(secondary, _d(entry + 7, 9, 3), _d(entry - nursery.astype(int), 9, 4))
    days_since = np.maximum((world.drop_date - entry_date).astype(int), 1)
    late = (rng.random(k) < 0.08) | np.isin(idx, idx[dup]) & ~dup
    entry_date = np.where(late, entry_date + (rng.random(k) * days_since).astype("timedelta64[D]"), entry_date)
    leaving = np.full(k, NAT, dtype="datetime64[D]")
    left = ncy >= 14
    leaving[left] = _d(entry[left] + np.where(rng.random(int(left.sum())) < 0.5, 12, 14), 7, 20)
    leaving[dup] = _d(np.minimum(entry[dup] + 7, 2026), 7, 19)
    # a previous enrolment ends before the current one starts
    main_entry = pd.Series(entry_date[~dup], index=idx[~dup])
    prev_end = main_entry.reindex(idx[dup]).to_numpy().astype("datetime64[D]") - rng.integers(1, 40, int(dup.sum()))
    leaving[dup] = np.where(np.isnat(prev_end), leaving[dup], np.minimum(leaving[dup], prev_end))
    entry_date[dup] = np.minimum(entry_date[dup], leaving[dup] - 200)

    u = rng.random(k)
    temp_p = np.where(dup, 0.10, 0.02)
    upn = np.where(u < 1 - temp_p - 0.02, v["upn"], np.where(u < 0.98, v["upn_temp"], ""))
    former_upn = np.where((v["former_upn"] != "") & (rng.random(k) < 0.7), v["former_upn"], "")
    from_temp = (upn == v["upn"]) & (rng.random(k) < 0.02) & (former_upn == "")
    former_upn = np.where(from_temp, v["upn_temp"], former_upn)
    has_former = v["former_surname"].to_numpy() != ""
    u = rng.random(k)
    preferred = np.where(has_former & (u < 0.4), v["former_surname"], np.where(u < 0.8, v["surname"], ""))
    line1 = street_line(v, rng, 0.15)
    if k and not any("\n" in x for x in line1):  # every drop has at least one quoted embedded newline
        i = int(rng.integers(k))
        line1[i] = f"Flat {1 + i % 6}\n{v['number'].iat[i]} {v['street'].iat[i]}"
    sen = np.array(["N", "K", "E"])[rng.choice(3, k, p=[0.83, 0.13, 0.04])]
    f = pd.DataFrame({
        "UPN": upn, "FormerUPN": former_upn, "Surname": v["surname"], "Forename": v["first"],
        "MiddleNames": v["middle"], "PreferredSurname": preferred,
        "FormerSurname": np.where(has_former & (rng.random(k) < 0.8), v["former_surname"], ""),
        "DOB": v["dob"], "Sex": v["sex"], "AddressLine1": line1,
        "AddressLine2": np.where(rng.random(k) < 0.8, v["locality"], ""), "Town": v["town"],
        "Postcode": v["postcode"], "SchoolURN": urn, "SchoolName": name, "EntryDate": entry_date,
        "LeavingDate": leaving, "SENProvision": sen, "FSMEligible": np.where(v["fsm"], "true", "false"),
        "_child": v["_child"], "_pop": idx, "_dup": dup, "_secondary": secondary, "_entry_year": entry,
    })
    return finish("education", f, rng, start)


def health(world: World, rng, idx: np.ndarray, start: int) -> tuple[pd.DataFrame, int]:
    idx, dup = duplicate(idx, rng, 0.025)
    v = person_view(world, idx, rng, PROFILES["health"])
    k = len(v)
    nhs = v["nhs"].to_numpy().astype(np.int64)
    u = rng.random(k)
    blank = (u < 0.035) | (dup & (rng.random(k) < 0.4))
    mistyped = (u >= 0.035) & (u < 0.04) & ~blank
    text = ids.format_nhs(nhs, np.where(rng.random(k) < 0.01, rng.integers(1, 3, k), 0))
    text[mistyped] = ids.format_nhs(ids.nhs_mistype(rng, nhs[mistyped]))
    text[blank] = ""
    sex = v["sex"].to_numpy()
    gender = np.select([sex == "M", sex == "F"], ["1", "2"], "0")
    gender[rng.random(k) < 0.001] = "9"
    practice = np.where(dup, rng.integers(0, len(world.places.practices), k), v["practice"].to_numpy())
    f = pd.DataFrame({
        "NHSNumber": text, "GivenName": v["first"], "OtherGivenNames": v["middle"], "FamilyName": v["surname"],
        "DateOfBirth": v["dob"], "Gender": gender, "AddressLine1": street_line(v, rng, 0.02),
        "AddressLine2": np.where(rng.random(k) < 0.7, v["locality"], ""), "AddressLine3": v["town"],
        "Postcode": np.where(rng.random(k) < 0.01, "", v["postcode"]),
        "GPPracticeCode": world.places.practices[practice], "DateOfDeath": v["dod"].to_numpy(),
        "_child": v["_child"], "_pop": idx, "_dup": dup,
    })
    return finish("health", f, rng, start)


def police(world: World, rng, idx: np.ndarray, start: int) -> tuple[pd.DataFrame, int]:
    idx, dup = duplicate(idx, rng, 0.05)
    v = person_view(world, idx, rng, PROFILES["police"])
    k = len(v)
    age = (world.drop_date - v["dob_true"].to_numpy().astype("datetime64[D]")).astype(int) / 365.25
    pnc = np.where((v["pnc"] != "") & (age >= 14) & (rng.random(k) < 0.3), v["pnc"], "")
    upper = rng.random(k) < 0.6
    fore2 = v["middle"].str.split(" ").str[0].fillna("")
    line = street_line(v, rng)
    with_loc = rng.random(k) < 0.6
    address = np.where(with_loc, line + ", " + v["locality"] + ", " + v["town"], line + ", " + v["town"])
    u = rng.random(k)
    postcode = np.where(u < 0.08, "", np.where(u < 0.13, v["postcode"].str.split(" ").str[0], v["postcode"]))
    sex = v["sex"].to_numpy()
    cols = {"Surname": v["surname"].to_numpy(), "Forename1": v["first"].to_numpy(), "Forename2": fore2.to_numpy(),
            "Address": address}
    for c, arr in cols.items():
        arr = arr.astype(object)
        arr[upper] = [s.upper() for s in arr[upper]]
        cols[c] = [corrupt.to_cp1252_safe(s) for s in arr]
    f = pd.DataFrame({
        "PNCID": pnc, **cols, "DateOfBirth": v["dob"],
        "Gender": np.select([sex == "M", sex == "F"], ["Male", "Female"], "Unknown"), "Postcode": postcode,
        "_child": v["_child"], "_pop": idx, "_dup": dup, "_age": age,
    })
    return finish("police", f, rng, start)


def social_care(world: World, rng, idx: np.ndarray, start: int) -> tuple[pd.DataFrame, int]:
    idx, dup = duplicate(idx, rng, 0.03)
    v = person_view(world, idx, rng, PROFILES["social_care"])
    k = len(v)
    unborn = v["unborn"].to_numpy()
    nhs = np.where((rng.random(k) < 0.7) & ~unborn, ids.format_nhs(v["nhs"].to_numpy().astype(np.int64)), "")
    upn = np.where((rng.random(k) < 0.35) & (v["upn"] != ""), v["upn"], "")
    alt = []
    r = rng.random((k, 3))
    cols = zip(v["first"], v["legal_first"], v["surname"], v["legal_surname"], v["former_surname"], strict=True)
    for i, (first, legal, surname, legal_surname, former) in enumerate(cols):
        names = []
        if first != legal and legal and r[i, 0] < 0.6:
            names.append(legal)
        nick = corrupt.NICK.get(legal)
        if nick and r[i, 1] < 0.25:
            names.append(nick[0])
        if former and r[i, 2] < 0.5:  # the other surname the child is or was known by
            other = legal_surname if surname == former else former
            names.append(f"{first or legal} {other}")
        alt.append(";".join(dict.fromkeys(n for n in names if n not in (first, f"{first} {surname}"))))
    sex = v["sex"].to_numpy()
    gender = np.select([sex == "M", sex == "F"], ["M", "F"], "U")
    gender[rng.random(k) < 0.001] = "I"
    u = rng.random(k)
    eth = np.where(u < 0.88, v["ethnicity"], np.where(u < 0.93, "", np.where(u < 0.97, "NOBT", "REFU")))
    f = pd.DataFrame({
        "NHSNumber": nhs, "UPN": upn, "FirstName": v["first"], "MiddleName": v["middle"],
        "LastName": v["surname"], "AlternativeNames": alt, "DOB": v["dob"], "Gender": gender,
        "AddressLine1": street_line(v, rng, 0.1), "AddressLine2": np.where(rng.random(k) < 0.7, v["locality"], ""),
        "Town": v["town"], "Postcode": v["postcode"], "Ethnicity": eth,
        "_child": v["_child"], "_pop": idx, "_dup": dup, "_unborn": unborn,
    })
    return finish("social_care", f, rng, start)


BUILDERS = {"education": education, "health": health, "police": police, "social_care": social_care}
