"""Incremental-night benchmark: a full night, then the same drop with ~1% of identity records new, changed or
removed, linked incrementally and (from a copy of the same published warehouse) by a full re-link (``--full``).

Reports the wall time of both (whole ``svoc run``, plus its stages), ``pair_agreement``: of the record pairs that
either run puts in one child, the share both do; and ``unchanged_ids_kept``: of the children whose records did not
change (and whom the full re-link leaves as they were), the share that keep their citizen id on the incremental
night. ``python -m benchmarks.incremental [--records N] [--merge]``; ``--merge`` writes ``results.json``'s
``"incremental"`` key (other keys kept).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np

from benchmarks.scale import (
    DATA,
    RECORDS_PER_CHILD,
    ROOT,
    SEED,
    SIZES,
    drop_for,
    large_run_env,
    stage_seconds,
)

IDENTITY_FILES = {  # file -> (record id column, first name column, DOB column)
    "education/pupils.csv": ("PupilID", "Forename", "DOB"),
    "health/patients.csv": ("PatientID", "GivenName", "DateOfBirth"),
    "police/nominals.csv": ("NominalID", "Forename1", "DateOfBirth"),
    "social_care/persons.csv": ("PersonID", "FirstName", "DOB"),
}


def changed_drop(drop: Path, out: Path, share: float = 0.01, seed: int = 15,
                 changes: dict[str, tuple[bytes, list[str]]] | None = None) -> dict[str, int]:
    """Copy ``drop`` to ``out`` with ``share`` of each identity file's records touched: half edited (a first name
    or DOB), three tenths added (a second record of the same person, new id, no identifiers), a fifth removed.
    Works on lines, byte for byte (files keep their encoding; broken lines are left as they are): only plain lines
    (no quotes, one field per header column) are picked. ``changes``: filled with each identity file's
    ``(BOM, [header, edited and added lines])``, for ``changes_only_drop``."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(drop, out)
    rng = np.random.default_rng(seed)
    counts = {"edited": 0, "added": 0, "removed": 0}
    for rel, (id_col, first_col, dob_col) in IDENTITY_FILES.items():
        path = out / rel
        if not path.exists():
            continue
        raw = path.read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        lines = raw[3 if bom else 0:].decode("latin-1").split("\n")
        header = lines[0].rstrip("\r").split(",")
        col = {name: header.index(name) for name in (id_col, first_col, dob_col)}
        plain = [i for i in range(1, len(lines)) if lines[i].strip() and '"' not in lines[i]
                 and lines[i].count(",") == len(header) - 1]
        picks = rng.permutation(plain)[: max(1, round(len(plain) * share))]
        edit, add, remove = np.split(picks, [round(len(picks) * 0.5), round(len(picks) * 0.8)])
        for k, i in enumerate(edit):
            end = "\r" if lines[i].endswith("\r") else ""
            fields = lines[i].rstrip("\r").split(",")
            c = col[first_col] if k % 2 and fields[col[first_col]] else col[dob_col]
            fields[c] = fields[c][:-1] + ("e" if c == col[first_col] else ("1" if fields[c][-1:] != "1" else "2"))
            lines[i] = ",".join(fields) + end
        added = []
        for k, i in enumerate(add):
            end = "\r" if lines[i].endswith("\r") else ""
            fields = lines[i].rstrip("\r").split(",")
            fields = ["" if h in ("NHSNumber", "UPN", "PNCID", "FormerUPN") else v for h, v in zip(header, fields,
                                                                                                  strict=True)]
            fields[col[id_col]] = f"{fields[col[id_col]]}N{k}"
            added.append(",".join(fields) + end)
        gone = set(remove.tolist())
        body = [line for j, line in enumerate(lines) if j not in gone]
        tail = [body.pop()] if body and not body[-1] else []  # keep the final newline last
        text = "\n".join(body + added + tail)
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("latin-1"))
        if changes is not None:
            changes[rel] = (b"\xef\xbb\xbf" if bom else b"", [lines[0]] + [lines[i] for i in edit] + added)
        counts["edited"] += len(edit)
        counts["added"] += len(add)
        counts["removed"] += len(remove)
    return counts


def changes_only_drop(drop: Path, changes: dict[str, tuple[bytes, list[str]]], out: Path) -> None:
    """An intraday-style drop (``"changes_only": true``) holding only ``changes`` (edited and added identity
    records; removals cannot be said in such a drop): every other file of those sources holds its header only."""
    from openpyxl import Workbook, load_workbook

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    changes = {rel: v for rel, v in changes.items() if len(v[1]) > 1}  # a source with no change stays out
    for rel in changes:
        src_dir, dst_dir = (drop / rel).parent, (out / rel).parent
        dst_dir.mkdir(exist_ok=True)
        for f in src_dir.iterdir():
            if f.suffix == ".csv" and str(f.relative_to(drop)) not in changes:
                with f.open("rb") as fh:
                    (dst_dir / f.name).write_bytes(fh.readline())
            elif f.suffix == ".xlsx":
                book, empty = load_workbook(f, read_only=True), Workbook()
                empty.remove(empty.active)
                for sheet in book.worksheets:
                    header = next(sheet.iter_rows(max_row=1, values_only=True), ())
                    empty.create_sheet(sheet.title).append(list(header))
                book.close()
                empty.save(dst_dir / f.name)
    for rel, (bom, lines) in changes.items():
        (out / rel).write_bytes(bom + "\n".join([*lines, ""]).encode("latin-1"))
    manifest = json.loads((drop / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({"drop_date": manifest["drop_date"], "changes_only": True}))


def _svoc_run(drop: Path, warehouse: Path, *extra: str, label: str) -> dict:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **large_run_env(label)}
    env.setdefault("DAGSTER_HOME", str(DATA / "dagster_home"))
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    if not (Path(env["DAGSTER_HOME"]) / "dagster.yaml").exists():
        shutil.copy(ROOT / "pipelines" / "dagster.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    cmd = [sys.executable, "-m", "benchmarks._timed_cli", "run", "--drop", str(drop), "--warehouse", str(warehouse),
           *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()[-15:] if "@@t" not in line)
        raise RuntimeError(f"svoc run {' '.join(extra)} failed:\n{tail}")
    stages, _ = stage_seconds(proc.stdout)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        run = con.execute("SELECT run_id FROM audit.publication").fetchall()[0][0]  # the run that built the file
        stats = json.loads(con.execute("SELECT stats FROM audit.run_matching WHERE run_id = ?", [run]).fetchall()[0][0])
        # staged rows an earlier run standardised (a full drop's unchanged lines, or records a changes-only drop
        # does not hold): 0 on a night that re-standardised everything (a first night, or new connector code)
        kept = con.execute("SELECT (SELECT count(*) FROM staging.identity_records WHERE run_id <> $r) + "
                           "(SELECT count(*) FROM staging.interactions WHERE run_id <> $r)", {"r": run}).fetchall()[0][0]
    finally:
        con.close()
    return {"wall_s": round(wall, 1), "stages": stages, "mode": stats.get("mode"),
            "match_seconds": stats.get("seconds"), "stats": stats, "staged_rows_kept": int(kept)}


def _state(warehouse: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(record -> citizen id, record -> identity hash)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        ids = dict(con.execute("SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen")
                   .fetchall())
        hashes = dict(con.execute("SELECT unique_id, identity_hash FROM matching.record_features").fetchall())
    finally:
        con.close()
    return ids, hashes


def _co_clustered(ids: dict[str, str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for k, c in ids.items():
        groups[c].append(k)
    return {p for members in groups.values() for p in itertools.combinations(sorted(members), 2)}


def compare(before: Path, incremental: Path, full: Path) -> dict:
    """``pair_agreement`` and ``unchanged_ids_kept`` (see the module docstring), with their counts. Only the
    records both nights hold count (a changes-only drop cannot remove a record)."""
    (ids0, hash0), (ids_inc, hash_inc), (ids_full, _) = _state(before), _state(incremental), _state(full)
    ids_inc = {k: v for k, v in ids_inc.items() if k in ids_full}
    ids_full = {k: v for k, v in ids_full.items() if k in ids_inc}
    a, b = _co_clustered(ids_inc), _co_clustered(ids_full)
    union = a | b
    unchanged = {k for k, h in hash0.items() if hash_inc.get(k) == h}
    children: dict[str, set[str]] = defaultdict(set)
    for k, c in ids0.items():
        children[c].add(k)
    full_members: dict[str, set[str]] = defaultdict(set)
    for k, c in ids_full.items():
        full_members[c].add(k)
    steady = [c for c, recs in children.items()
              if recs <= unchanged and full_members.get(ids_full.get(next(iter(recs)), ""), set()) == recs]
    kept = sum(all(ids_inc.get(k) == c for k in children[c]) for c in steady)
    return {"pair_agreement": round(len(a & b) / len(union), 6) if union else 1.0,
            "pairs_differing": len(a ^ b), "unchanged_children": len(steady),
            "unchanged_ids_kept": round(kept / len(steady), 6) if steady else 1.0,
            "unchanged_children_keeping_id": kept}


def run(records: int = 100_000, share: float = 0.01, seed: int = SEED, reuse_first: bool = False) -> dict:
    """``{"incremental": {...}}`` on the cached drop of ~``records`` identity records. ``reuse_first``: start from
    the first night's warehouse an earlier run of this benchmark left (its time is then not measured)."""
    near = [c for c in SIZES.values() if abs(c * RECORDS_PER_CHILD - records) <= 0.1 * records]
    children = near[0] if near else round(records / RECORDS_PER_CHILD)  # the scale benchmark's cached drops
    drop = drop_for(children, seed)
    work = DATA / "warehouses" / f"incremental-{children}"
    first = work / "first" / "svoc.duckdb"
    if reuse_first and first.exists():
        for name in ("incremental", "full", "changes_only"):
            shutil.rmtree(work / name, ignore_errors=True)
        night1 = {"wall_s": None}
    else:
        shutil.rmtree(work, ignore_errors=True)
        first.parent.mkdir(parents=True)
        night1 = _svoc_run(drop, first, label="incremental-first")
    tonight = DATA / f"{drop.name}-changed"
    lines: dict[str, tuple[bytes, list[str]]] = {}
    changes = changed_drop(drop, tonight, share, changes=lines)
    for name in ("incremental", "full", "changes_only"):
        shutil.copytree(first.parent, work / name)
    inc = _svoc_run(tonight, work / "incremental" / "svoc.duckdb", label="incremental-inc")
    full = _svoc_run(tonight, work / "full" / "svoc.duckdb", "--full", label="incremental-full")
    changes_only_drop(drop, lines, DATA / f"{drop.name}-changes-only")
    only = _svoc_run(DATA / f"{drop.name}-changes-only", work / "changes_only" / "svoc.duckdb",
                     label="incremental-changes-only")
    agreement = compare(first, work / "changes_only" / "svoc.duckdb", work / "full" / "svoc.duckdb")
    manifest = json.loads((drop / "manifest.json").read_text())
    row = {"identity_records": int(manifest["truth_rows"]), "changed_share": share,
           "full_s": full["wall_s"], "incremental_s": inc["wall_s"],
           **compare(first, work / "incremental" / "svoc.duckdb", work / "full" / "svoc.duckdb"),
           "incremental_share_of_full": round(inc["wall_s"] / full["wall_s"], 3),
           "changes": changes, "first_night_s": night1["wall_s"], "modes": [inc["mode"], full["mode"]],
           "stages_incremental": inc["stages"], "stages_full": full["stages"],
           "match_incremental": inc["match_seconds"], "match_full": full["match_seconds"],
           "touched_records": inc["stats"].get("touched_records"),
           "changed_records": inc["stats"].get("changed_records"),
           "removed_records": inc["stats"].get("removed_records"),
           "staged_rows_kept": {"incremental": inc["staged_rows_kept"], "full": full["staged_rows_kept"]},
           "changes_only": {"wall_s": only["wall_s"], "share_of_full": round(only["wall_s"] / full["wall_s"], 3),
                            "stages": only["stages"], "match": only["match_seconds"], "mode": only["mode"],
                            "changed_records": only["stats"].get("changed_records"),
                            "pair_agreement": agreement["pair_agreement"],
                            "unchanged_ids_kept": agreement["unchanged_ids_kept"],
                            "note": "the same edits and additions as an intraday changes-only drop (it cannot "
                                    "remove records); agreement over the records both nights hold"}}
    return {"incremental": row}


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.incremental", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="identity records in the drop (~)")
    parser.add_argument("--share", type=float, default=0.01, help="share of identity records new/changed/removed")
    parser.add_argument("--merge", action="store_true", help="write results.json's 'incremental' key")
    parser.add_argument("--reuse-first", action="store_true",
                        help="start from the first night an earlier run of this benchmark left")
    args = parser.parse_args(argv)
    result = run(args.records, args.share, reuse_first=args.reuse_first)
    print(json.dumps(result, indent=1), flush=True)
    if args.merge:
        path = ROOT / "benchmarks" / "results.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        keys = ("identity_records", "changed_share", "full_s", "incremental_s", "pair_agreement",
                "unchanged_ids_kept")
        data["incremental"] = {**{k: result["incremental"][k] for k in keys},
                               "detail": {k: v for k, v in result["incremental"].items() if k not in keys}}
        path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
