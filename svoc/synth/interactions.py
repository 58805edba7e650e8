"""Interaction rows keyed by identity record id: attendance, exclusions, encounters, occurrences, episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import ids

TERMS = [("Autumn", 9, 1, 140), ("Spring", 1, 5, 122), ("Summer", 4, 20, 126)]
EXCLUSION_REASONS = np.array(["PD", "PP", "PA", "VP", "VA", "BU", "RA", "DA", "DM", "TH", "MT", "OT"])
ENCOUNTER_TYPES = np.array(["ED_ATTENDANCE", "ADMISSION", "CAMHS_REFERRAL", "HEALTH_VISITOR", "SCHOOL_NURSE",
                            "IMMUNISATION"])
DETAILS = {
    "ED_ATTENDANCE": ["Minor injury, discharged", "Head injury, observed and discharged", "Fever, discharged",
                      "Fracture, referred to fracture clinic", "Breathing difficulty", "Self-harm, referred"],
    "ADMISSION": ["Respiratory infection", "Observation overnight", "Dehydration", "Surgical admission"],
    "CAMHS_REFERRAL": ["Low mood", "Anxiety", "Self-harm", "Eating concerns", "Neurodevelopmental assessment"],
    "HEALTH_VISITOR": ["New birth visit", "6-8 week review", "1 year review", "2-2.5 year review",
                       "Targeted visit"],
    "SCHOOL_NURSE": ["Reception health check", "Drop-in", "Safeguarding follow-up", "Weight and height check"],
    "IMMUNISATION": ["6-in-1 vaccine", "MMR", "Pre-school booster", "HPV", "Flu nasal spray", "Td/IPV and MenACWY"],
}
OCC_TYPES = np.array(["MISSING_PERSON", "DOMESTIC_ABUSE", "ASB", "CRIME", "CONCERN_FOR_WELFARE"])
EPISODE_CHAIN = ["CONTACT", "REFERRAL", "ASSESSMENT", "CIN_PLAN", "CP_PLAN", "LAC"]
NEED_CODES = np.array(["N1 Abuse or neglect", "N2 Child's disability", "N3 Parental illness or disability",
                       "N4 Family in acute stress", "N5 Family dysfunction", "N6 Socially unacceptable behaviour",
                       "N7 Low income", "N8 Absent parenting", "N9 Cases other than children in need"])
EPOCH = np.datetime64("1970-01-01")


def _random_dates(rng, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lo = lo.astype("datetime64[D]")
    span = np.maximum((hi.astype("datetime64[D]") - lo).astype(int), 0)
    return lo + (rng.random(len(lo)) * (span + 1)).astype(np.int64).astype("timedelta64[D]")


def attendance(pupils: pd.DataFrame, rng, drop: np.datetime64) -> pd.DataFrame:
    """Three terms for each of the three completed academic years the pupil was on this school's roll."""
    rows = []
    ent, leave = pupils["EntryDate"].to_numpy(), pupils["LeavingDate"].to_numpy()
    ey = pupils["_entry_year"].to_numpy()
    rate = rng.beta(1.1, 13.0, len(pupils))
    for year in (2023, 2024, 2025):
        for term, month, day, sessions in TERMS:
            y = year + (month < 9)
            start = np.datetime64(f"{y:04d}-{month:02d}-{day:02d}")
            end = start + 80
            on = (ent <= end) & (np.isnat(leave) | (leave >= start)) & (ey <= year) & (end <= drop)
            idx = np.flatnonzero(on)
            if not len(idx):
                continue
            possible = sessions + rng.integers(-4, 3, len(idx))
            partial = ent[idx] > start
            possible = np.where(partial, (possible * rng.uniform(0.2, 0.9, len(idx))).astype(int), possible)
            absent = rng.binomial(possible, np.clip(rate[idx] * rng.uniform(0.5, 1.5, len(idx)), 0, 0.9))
            auth = rng.binomial(absent, 0.7)
            rows.append(pd.DataFrame({"PupilID": pupils["PupilID"].to_numpy()[idx],
                                      "AcademicYear": f"{year}/{(year + 1) % 100:02d}", "Term": term,
                                      "SessionsPossible": possible, "SessionsAuthorisedAbsence": auth,
                                      "SessionsUnauthorisedAbsence": absent - auth, "_order": idx}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["PupilID", "_order"])
    return out.sort_values(["_order", "AcademicYear"], kind="stable").drop(columns="_order").reset_index(drop=True)


def exclusions(pupils: pd.DataFrame, rng, drop: np.datetime64) -> pd.DataFrame:
    sec = pupils["_secondary"].to_numpy()
    p = np.where(sec, 0.05, 0.008)
    who = np.flatnonzero((rng.random(len(pupils)) < p) & pupils["_entry_year"].lt(2023).to_numpy())
    n = rng.choice([1, 2, 3, 4], size=len(who), p=[0.55, 0.25, 0.12, 0.08])
    rep = np.repeat(who, n)
    lo = np.maximum(pupils["EntryDate"].to_numpy()[rep], drop - 720)
    hi = np.where(np.isnat(pupils["LeavingDate"].to_numpy()[rep]), drop - 1, pupils["LeavingDate"].to_numpy()[rep])
    start = _random_dates(rng, lo, np.maximum(hi, lo))
    perm = rng.random(len(rep)) < 0.02
    return pd.DataFrame({"PupilID": pupils["PupilID"].to_numpy()[rep], "StartDate": start,
                         "Category": np.where(perm, "PERM", "SUSP"),
                         "Reason": EXCLUSION_REASONS[rng.integers(0, len(EXCLUSION_REASONS), len(rep))],
                         "Sessions": np.where(perm, "", rng.integers(1, 11, len(rep)).astype(str))})


def encounters(patients: pd.DataFrame, dob: np.ndarray, rng, drop: np.datetime64) -> pd.DataFrame:
    age = (drop - dob.astype("datetime64[D]")).astype(int) / 365.25
    lam = np.where(age < 5, 5.5, 3.2) * np.where(patients["_dup"].to_numpy(), 0.3, 1.0)
    n = rng.poisson(lam)
    rep = np.repeat(np.arange(len(patients)), n)
    lo = np.maximum(dob[rep].astype("datetime64[D]"), drop - 3 * 365)
    dod = patients["DateOfDeath"].to_numpy()[rep]
    hi = np.where(np.isnat(dod), drop - 1, dod)
    date = _random_dates(rng, lo, np.maximum(hi, lo))
    a = (date - dob[rep].astype("datetime64[D]")).astype(int) / 365.25
    young = a < 5
    t = np.where(young, rng.choice(6, len(rep), p=[0.2, 0.07, 0.0, 0.4, 0.0, 0.33]),
                 rng.choice(6, len(rep), p=[0.35, 0.08, 0.12, 0.0, 0.25, 0.2]))
    types = ENCOUNTER_TYPES[t]
    det = np.empty(len(rep), dtype=object)
    pick = rng.random(len(rep))
    for ty, texts in DETAILS.items():
        m = types == ty
        det[m] = np.array(texts, dtype=object)[(pick[m] * len(texts)).astype(int)]
    return pd.DataFrame({"PatientID": patients["PatientID"].to_numpy()[rep], "EncounterDate": date,
                         "EncounterType": types, "Detail": det})


def occurrences(nominals: pd.DataFrame, dob: np.ndarray, rng, drop: np.datetime64, start: int) -> pd.DataFrame:
    n = rng.choice([1, 2, 3, 4], size=len(nominals), p=[0.5, 0.25, 0.15, 0.1])
    rep = np.repeat(np.arange(len(nominals)), n)
    lo = np.maximum(dob[rep].astype("datetime64[D]"), drop - 3 * 365)
    date = _random_dates(rng, lo, np.full(len(rep), drop - 1))
    minutes = rng.integers(0, 24 * 60, len(rep)).astype("timedelta64[m]")
    when = date.astype("datetime64[m]") + minutes
    age = (date - dob[rep].astype("datetime64[D]")).astype(int) / 365.25
    t = np.where(age < 10, rng.choice(5, len(rep), p=[0.05, 0.6, 0.0, 0.05, 0.3]),
                 rng.choice(5, len(rep), p=[0.25, 0.15, 0.2, 0.3, 0.1]))
    roles_young = np.array(["CHILD_PRESENT", "VICTIM", "SUBJECT"])
    roles_old = np.array(["SUSPECT", "VICTIM", "WITNESS", "SUBJECT"])
    role = np.where(age < 10, roles_young[rng.choice(3, len(rep), p=[0.6, 0.25, 0.15])],
                    roles_old[rng.choice(4, len(rep), p=[0.4, 0.3, 0.1, 0.2])])
    role = np.where(OCC_TYPES[t] == "MISSING_PERSON", "SUBJECT", role)
    ref, _ = ids.record_ids(rng, len(rep), "", 6, start)
    year = date.astype("datetime64[Y]").astype(int) + 1970
    ref = np.char.add(np.char.add("OCC/", year.astype(str)), np.char.add("/", ref.astype(str))).astype(object)
    return pd.DataFrame({"OccurrenceRef": ref, "NominalID": nominals["NominalID"].to_numpy()[rep],
                         "OccurrenceDate": when, "OccurrenceType": OCC_TYPES[t], "Role": role})


def episodes(persons: pd.DataFrame, dob: np.ndarray, rng, drop: np.datetime64, start: int) -> pd.DataFrame:
    k = len(persons)
    unborn = persons["_unborn"].to_numpy()
    depth = np.where(unborn, rng.integers(1, 4, k), rng.choice(np.arange(1, 7), k, p=[0.3, 0.25, 0.2, 0.13, 0.08,
                                                                                      0.04]))
    rep = np.repeat(np.arange(k), depth)
    step = np.arange(len(rep)) - np.repeat(np.cumsum(depth) - depth, depth)
    first = np.where(unborn, drop - rng.integers(10, 120, k), np.maximum(dob.astype("datetime64[D]"), drop - 1200)
                     + (rng.random(k) * 600).astype(int))
    first = np.minimum(first, drop - 30)
    base = np.repeat(first, depth)
    starts = base + (step * rng.integers(3, 60, len(rep))).astype("timedelta64[D]")
    starts = np.minimum(starts, drop - 1)
    dur = rng.integers(5, 400, len(rep))
    ends = starts + dur.astype("timedelta64[D]")
    last = step == np.repeat(depth, depth) - 1
    open_ = (last & (rng.random(len(rep)) < 0.45)) | (ends >= drop)
    ends = np.where(open_, np.datetime64("NaT"), ends).astype("datetime64[D]")
    types = np.array(EPISODE_CHAIN)[np.minimum(step, 5)]
    reason = np.where(np.repeat(unborn, depth), "Unborn - pre-birth assessment",
                      NEED_CODES[rng.choice(9, len(rep), p=[0.55, 0.04, 0.06, 0.09, 0.12, 0.03, 0.01, 0.02, 0.08])])
    ep, _ = ids.record_ids(rng, len(rep), "EP", 7, start)
    return pd.DataFrame({"EpisodeID": ep, "PersonID": persons["PersonID"].to_numpy()[rep], "EpisodeType": types,
                         "StartDate": starts, "EndDate": ends, "Reason": reason})


def all_interactions(frames: dict[str, pd.DataFrame], dobs: dict[str, np.ndarray], rng,
                     drop: np.datetime64, starts: dict[str, int]) -> dict[str, pd.DataFrame]:
    out = {
        "education/attendance": attendance(frames["education"], rng, drop),
        # an exact repeat of an interaction row is a data error we do not simulate here
        "education/exclusions": exclusions(frames["education"], rng, drop).drop_duplicates(
            ["PupilID", "StartDate"], ignore_index=True),
        "health/encounters": encounters(frames["health"], dobs["health"], rng, drop).drop_duplicates(
            ignore_index=True),
        "police/occurrences": occurrences(frames["police"], dobs["police"], rng, drop, starts["occ"]),
        "social_care/episodes": episodes(frames["social_care"], dobs["social_care"], rng, drop, starts["ep"]),
    }
    return out
