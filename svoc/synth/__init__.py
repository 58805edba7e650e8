"""Synthetic multi-agency drop generator (all people, names, addresses and identifiers are made up).

``generate_drop(children, seed, out, night)`` writes one drop folder in the reference layouts of
``/work/shared/spec/reference-exports.md`` plus ``truth.csv`` (the true person behind every identity
record; never read by the pipeline) and ``manifest.json``. Same seed and night: byte-identical files.
Night 2 is the night-1 population one night later, derived from the same seed.

Broken lines are *extra* lines inserted into the CSV files (listed in ``manifest.json`` under
``broken_lines`` with file, kind and physical line number). They are not identity records and never appear
in ``truth.csv``; a ``duplicate_record_id`` line repeats an earlier row exactly (the later line is the broken one).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .interactions import all_interactions
from .night import apply_night2
from .population import make_population
from .sources import BUILDERS, ID_FORMAT, select
from .writers import FILES, IDENTITY_FILES, plan_broken, to_text, write_csv, write_xlsx

__all__ = ["DROP_DATES", "build_state", "generate_drop", "truth_frame"]
log = logging.getLogger(__name__)
DROP_DATES = {1: dt.date(2026, 11, 1), 2: dt.date(2026, 11, 2)}
SOURCES = ("education", "health", "police", "social_care")
SORT_KEYS = {
    "education/pupils": ["PupilID"], "health/patients": ["PatientID"], "police/nominals": ["NominalID"],
    "social_care/persons": ["PersonID"], "education/attendance": ["PupilID"],
    "education/exclusions": ["PupilID", "StartDate"], "health/encounters": ["PatientID", "EncounterDate"],
    "police/occurrences": ["OccurrenceRef"], "social_care/episodes": ["PersonID", "StartDate"],
}
TRUTH_COLUMNS = ["source", "source_record_id", "child_id", "family_id", "twin_group", "ethnicity", "dob_true"]


def build_state(children: int, seed: int, night: int = 1) -> dict:
    """The population, identity frames and interaction frames of one night (in memory)."""
    if children < 20:
        raise ValueError("children must be at least 20")
    world = make_population(children, np.random.default_rng([seed, 1, 0]), DROP_DATES[1])
    frames, nxt = {}, {}
    for i, src in enumerate(SOURCES):
        r = np.random.default_rng([seed, 1, 10 + i])
        frames[src], nxt[src] = BUILDERS[src](world, r, select(world, r, src), ID_FORMAT[src][3])
    dobs = {s: world.pop["dob"].to_numpy()[f["_pop"].to_numpy()] for s, f in frames.items()}
    inter = all_interactions(frames, dobs, np.random.default_rng([seed, 1, 99]), world.drop_date,
                             {"occ": 1000, "ep": 10_000})
    state = {"seed": seed, "world": world, "frames": frames, "interactions": inter, "next_ids": nxt}
    if night == 2:
        state = apply_night2(state, np.random.default_rng([seed, 2, 0]), np.datetime64(DROP_DATES[2]))
    elif night != 1:
        raise ValueError("night must be 1 or 2")
    return state


def truth_frame(state: dict) -> pd.DataFrame:
    pop = state["world"].pop.set_index("child_id")
    parts = []
    for src in SOURCES:
        f = state["frames"][src]
        p = pop.loc[f["_child"].to_numpy()]
        parts.append(pd.DataFrame({
            "source": src, "source_record_id": f[ID_FORMAT[src][0]].to_numpy(), "child_id": f["_child"].to_numpy(),
            "family_id": p["family_id"].to_numpy(), "twin_group": p["twin_group"].to_numpy(),
            "ethnicity": p["ethnicity"].to_numpy(),
            "dob_true": np.datetime_as_string(p["dob"].to_numpy().astype("datetime64[D]"), unit="D"),
        }))
    return pd.concat(parts, ignore_index=True)[TRUTH_COLUMNS]


def generate_drop(children: int, seed: int, out: Path, night: int = 1,
                  xlsx_files: tuple[str, ...] = ("social_care/episodes",)) -> dict:
    """Write a synthetic drop to ``out``; returns the manifest (row counts per file, broken lines...)."""
    out = Path(out)
    state = build_state(children, seed, night)
    tables = {**{f: state["frames"][f.split("/")[0]] for f in IDENTITY_FILES}, **state["interactions"]}
    # extracts come out in record-id order (ids were issued in an order unrelated to the person)
    tables = {name: t.sort_values(SORT_KEYS[name], kind="stable").reset_index(drop=True) for name, t in tables.items()}
    rng = np.random.default_rng([seed, night, 500])
    xlsx = set(xlsx_files)
    plan = plan_broken({name: len(t) for name, t in tables.items()}, rng, xlsx)
    counter = {"n": 0}

    def fresh_id(name: str, like: str) -> str:
        counter["n"] += 1
        m = re.search(r"(\d+)$", like)
        if not m:
            return f"X{counter['n']}"
        width = len(m.group(1))
        # never reused by a real record, and different on each night
        return f"{like[:m.start()]}{9 * 10 ** (width - 1) + night * 10 ** (width - 3) + counter['n']:0{width}d}"

    broken, files, records = [], {}, {}
    for name in FILES:
        text = to_text(name, tables.pop(name), rng)
        if name in xlsx:
            path = out / f"{name}.xlsx"
            write_xlsx(path, text, f"{DROP_DATES[night].isoformat()}T02:00:00Z")
        else:
            path = out / f"{name}.csv"
            mine = [b for b in plan if b["file"] == name]
            broken += write_csv(path, name, text, mine, rng, fresh_id)
        rel = path.relative_to(out).as_posix()
        records[rel] = len(text)
        files[rel] = len(text) + sum(1 for b in plan if b["file"] == name and name not in xlsx)
    truth = truth_frame(state)
    truth.to_csv(out / "truth.csv", index=False, lineterminator="\n")
    pop = state["world"].pop
    manifest = {
        "drop_date": DROP_DATES[night].isoformat(), "night": night, "seed": seed, "children": children,
        "people": int(len(pop)), "unborn": int(pop["unborn"].sum()),
        "twin_groups": int(pop.loc[pop["twin_group"] != "", "twin_group"].nunique()),
        "files": files, "records": records, "broken_lines": broken,
        "truth_rows": int(len(truth)),
        "notes": "All data is synthetic. 'files' counts data lines incl. broken lines; 'records' excludes them.",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("synthetic drop written: night=%s people=%s identity_records=%s", night, len(pop), len(truth))
    return manifest
