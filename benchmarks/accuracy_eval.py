"""Linkage accuracy on a generated drop, as JSON (issue 4 targets: precision >= 0.999, recall >= 0.995,
zero twin pairs merged on a 20,000-child drop).

    .venv/bin/python benchmarks/accuracy_eval.py --children 20000 --seed 1 [--out DIR] [--night2]

Generates the drop with ``svoc.synth.generate_drop`` (into ``--out`` or a temporary folder), reads each
source with its preset (``connectors.extract_source``), builds features and runs the matching facade
(``matching.linker.link_records``) exactly as the warehouse stage does, then scores the result against
``truth.csv`` with ``matching.evaluate``. With ``--night2`` the night-2 drop of the same seed is linked
with night 1's registry and the id retention of children clustered correctly on both nights is reported.
Only counts and rates are printed: no personal data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_LINK_THRESHOLD = 0.97


def drop_features(drop: Path) -> tuple[pd.DataFrame, dt.date]:
    """Feature frame of every source in ``drop`` (the library chain of the warehouse stage)."""
    from connectors import PRESETS, extract_source
    from matching.features import build_features
    from svoc.drops import drop_date

    ref = drop_date(drop)
    frames = [extract_source(drop / name, cfg, run_id="bench", reference_date=ref).identity
              for name, cfg in PRESETS.items() if (drop / name).exists()]
    identity = pd.concat(frames, ignore_index=True).sort_values(["source", "source_record_id"], kind="mergesort")
    return build_features(identity.reset_index(drop=True), ref), ref


def _truth(drop: Path) -> pd.DataFrame:
    return pd.read_csv(drop / "truth.csv", dtype=str, keep_default_na=False)


def _metrics(record_citizen: pd.DataFrame, truth: pd.DataFrame, ref: dt.date) -> dict:
    from matching.evaluate import evaluate

    m = evaluate(record_citizen, truth, reference_date=ref)
    keys = ("records", "true_children", "predicted_citizens", "true_pairs", "predicted_pairs", "false_positive_pairs",
            "false_negative_pairs", "precision", "recall", "f1", "exact_cluster_rate", "twin_pairs",
            "twin_pairs_merged")
    return {k: m[k] for k in keys}


def correct_children(record_citizen: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """child_id -> citizen_id for children whose records form exactly one citizen holding nothing else."""
    keys = ["source", "source_record_id"]
    df = truth[[*keys, "child_id"]].astype(str).merge(record_citizen[[*keys, "citizen_id"]].astype(str), on=keys)
    per_child = df.groupby("child_id")["citizen_id"].agg(["nunique", "first"])
    per_cit = df.groupby("citizen_id")["child_id"].nunique()
    ok = (per_child["nunique"] == 1) & (per_child["first"].map(per_cit) == 1)
    return per_child.loc[ok, "first"]


def main(children: int = 20_000, seed: int = 1, out: Path | None = None, night2: bool = False,
         link_threshold: float = DEFAULT_LINK_THRESHOLD, threads: int = 2) -> dict:
    from matching.linker import link_records
    from svoc.synth import generate_drop

    th = {"link": link_threshold, "review": (0.5, link_threshold)}
    with tempfile.TemporaryDirectory(prefix="cv-acc-") as tmp:
        base = Path(out) if out else Path(tmp)
        drop1 = base / f"drop-{children}-{seed}-n1"
        t0 = time.perf_counter()
        if not (drop1 / "truth.csv").exists():
            generate_drop(children, seed, drop1, night=1)
        feats, ref = drop_features(drop1)
        t1 = time.perf_counter()
        r1 = link_records(feats, run_id="night1", thresholds=th, threads=threads, analyse_blocking=False)
        truth1 = _truth(drop1)
        report = {"children": children, "seed": seed, "link_threshold": link_threshold,
                  "seconds_generate_extract": round(t1 - t0, 1),
                  "seconds_link": round(time.perf_counter() - t1, 1),
                  "review_queue": len(r1.review_queue), **_metrics(r1.record_citizen, truth1, ref)}
        if night2:
            drop2 = base / f"drop-{children}-{seed}-n2"
            if not (drop2 / "truth.csv").exists():
                generate_drop(children, seed, drop2, night=2)
            feats2, ref2 = drop_features(drop2)
            prev = r1.registry[["record_key", "citizen_id"]]
            r2 = link_records(feats2, previous_registry=prev, known_ids=r1.known_ids, stored_model=r1.model,
                              run_id="night2", thresholds=th, threads=threads, analyse_blocking=False)
            truth2 = _truth(drop2)
            c1, c2 = correct_children(r1.record_citizen, truth1), correct_children(r2.record_citizen, truth2)
            both = c1.index.intersection(c2.index)
            kept = int((c1[both] == c2[both]).sum())
            ev = r2.events["event"].value_counts().to_dict()
            report["night2"] = {**_metrics(r2.record_citizen, truth2, ref2),
                                "children_correct_both_nights": len(both), "kept_id": kept,
                                "id_retention": kept / len(both) if len(both) else 1.0,
                                "events": {str(k): int(v) for k, v in ev.items()}}
    return report


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--children", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="keep the generated drops here (reused if present)")
    p.add_argument("--night2", action="store_true")
    p.add_argument("--link-threshold", type=float, default=DEFAULT_LINK_THRESHOLD)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    print(json.dumps(main(a.children, a.seed, a.out, a.night2, a.link_threshold, a.threads), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
