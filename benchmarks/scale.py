"""Scale benchmark: ``svoc run`` end to end on generated drops of ~10k, ~100k and ~1M identity records.

Each drop is generated once with a fixed seed and cached under ``benchmarks/data/`` (gitignored). Every run
publishes into a fresh warehouse (first night: the model is trained), in a subprocess, measuring wall time
and peak RSS (``/usr/bin/time -v`` when installed, else ``getrusage(RUSAGE_CHILDREN)``; plus a /proc poll of
the whole process tree). Per-stage seconds come from the CLI's ``✓ <step> (N.Ns)`` lines; the match stage
is split (train / predict / cluster / rest) from time-stamped log lines of ``benchmarks._timed_cli``.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
SEED = 2026
RECORDS_PER_CHILD = 1.98  # measured: generate_drop yields ~1.98 identity records per child
SIZES = {"10k": 5_050, "100k": 50_500, "1M": 505_000}  # children -> ~10k / ~100k / ~1M identity records
STEP = re.compile(r"[✓✗–]\s+(\S+)\s+\(([\d.]+)s\)")
TIMED = re.compile(r"^@@t (\d+\.\d+) (\S+) (.*)$")
GNU_TIME_RSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")


def drop_for(children: int, seed: int = SEED) -> Path:
    """The cached drop for ``children`` (generated on first use)."""
    out = DATA / f"drop-{children}-s{seed}"
    if not (out / "manifest.json").exists():
        from svoc.synth import generate_drop

        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        generate_drop(children=children, seed=seed, out=tmp, xlsx_files=())
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return out


def drop_counts(drop: Path) -> tuple[int, int]:
    """(identity records, interaction records) from the drop's manifest."""
    m = json.loads((drop / "manifest.json").read_text())
    identity = int(m["truth_rows"])
    return identity, int(sum(m["records"].values())) - identity


def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over ``root`` and its descendants (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                parents[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        rss[int(d)] = int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(rss.get(p, 0) for p in tree)


def stage_seconds(stdout: str) -> tuple[dict[str, float], dict[str, float]]:
    """(grouped stages, raw per-step seconds) from the CLI's step lines."""
    steps = {m.group(1): float(m.group(2)) for m in STEP.finditer(stdout)}
    groups = {"extract": 0.0, "quality": 0.0, "match": 0.0, "single_view": 0.0, "marts": 0.0, "publish": 0.0}
    for step, secs in steps.items():
        group = step_group(step)
        groups[group] = groups.get(group, 0.0) + secs
    return {k: round(v, 1) for k, v in groups.items()}, steps


def step_group(step: str) -> str:
    """The stage a Dagster step counts for (its own name when it is none of them)."""
    if step.startswith("staging__"):
        return "extract"
    if step.endswith("_quality_checks"):
        return "quality"
    return {"linked__record_citizen": "match", "single_view": "single_view", "marts": "marts",
            "published_warehouse": "publish"}.get(step, step)


def match_split(stderr: str, match_secs: float) -> dict[str, float]:
    """Split the match stage from time-stamped log lines (features+train, predict, cluster, rest)."""
    marks: dict[str, float] = {}
    for line in stderr.splitlines():
        m = TIMED.match(line)
        if not m:
            continue
        ts, name, msg = float(m.group(1)), m.group(2), m.group(3)
        if name == "matching.linker" and msg.startswith("model "):
            marks["model"] = ts
        elif name == "matching.model" and msg.startswith("scored "):
            marks["scored"] = ts
        elif name == "matching.cluster" and msg.startswith("cluster_records"):
            marks["clustered"] = ts
        elif name == "svoc.stages.match" and msg.startswith("matched "):
            marks["end"] = ts
    if not {"model", "scored", "clustered", "end"} <= marks.keys():
        return {}
    start = marks["end"] - match_secs
    return {"match_features_train": round(marks["model"] - start, 1),
            "match_predict": round(marks["scored"] - marks["model"], 1),
            "match_cluster": round(marks["clustered"] - marks["scored"], 1),
            "match_rest": round(marks["end"] - marks["clustered"], 1)}


def peak_context(stderr: str, peak_time: float) -> str:
    """The last time-stamped log line (logger and first words) before the polled RSS peak."""
    last = "start"
    for line in stderr.splitlines():
        m = TIMED.match(line)
        if m and float(m.group(1)) <= peak_time:
            last = f"{m.group(2)}: {' '.join(m.group(3).split()[:3])}"
    return last


def stage_peaks(out_lines: list[tuple[float, str]], samples: list[tuple[float, int]]) -> dict[str, float]:
    """Peak polled RSS (MB) per stage group (``stage_seconds``' groups). A step's window is the ``secs``
    before its ``✓ step (secs)`` line arrived; samples between steps count for the step that follows."""
    ends: list[tuple[float, float, str]] = []
    for at, line in out_lines:
        m = STEP.search(line)
        if m:
            ends.append((at - float(m.group(2)), at, step_group(m.group(1))))
    peaks: dict[str, int] = {}
    for ts, rss in samples:
        group = next((g for _, end, g in ends if ts <= end), "after")
        if ends and ts < ends[0][0]:
            group = "start"
        peaks[group] = max(peaks.get(group, 0), rss)
    return {k: round(v / 1024, 1) for k, v in peaks.items()}


def comparisons(warehouse: Path) -> dict:
    """Candidate comparisons and matching stats of the last run, from the published warehouse."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        row = con.execute("SELECT blocking_analysis, stats FROM audit.run_matching "
                          "ORDER BY rowid DESC LIMIT 1").fetchone()
    finally:
        con.close()
    if not row:
        return {}
    analysis, stats = json.loads(row[0] or "{}"), json.loads(row[1] or "{}")
    return {"comparisons": analysis.get("comparisons_to_score"), "comparisons_estimated": analysis.get("is_estimate"),
            "scored_pairs": stats.get("scored_pairs"), "citizens": stats.get("citizens"),
            "model_trained": stats.get("model_trained")}


def run_pipeline(drop: Path, warehouse: Path, env: dict | None = None, timeout: float | None = None) -> dict:
    """``svoc run`` on ``drop`` into a fresh ``warehouse``; wall time, peak RSS, stages."""
    for p in (warehouse, warehouse.with_name(warehouse.stem + "_analytics.duckdb")):
        p.unlink(missing_ok=True)
    for p in warehouse.parent.glob(warehouse.name + "*"):
        if p.is_file():
            p.unlink()
    run_env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
    run_env.setdefault("DAGSTER_HOME", str(DATA / "dagster_home"))
    Path(run_env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    dagster_yaml = ROOT / "pipelines" / "dagster.yaml"
    if dagster_yaml.exists() and not (Path(run_env["DAGSTER_HOME"]) / "dagster.yaml").exists():
        shutil.copy(dagster_yaml, Path(run_env["DAGSTER_HOME"]) / "dagster.yaml")
    cmd = [sys.executable, "-m", "benchmarks._timed_cli", "run", "--drop", str(drop), "--warehouse", str(warehouse)]
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time:
        cmd = [gnu_time, "-v", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_tree = [0]
    done = threading.Event()

    peak_at = [0.0]
    samples: list[tuple[float, int]] = []

    def poll() -> None:
        while not done.is_set():
            rss = _tree_rss_kb(proc.pid)
            samples.append((time.time(), rss))
            if rss > peak_tree[0]:
                peak_tree[0], peak_at[0] = rss, time.time()
            done.wait(0.5)

    out_lines: list[tuple[float, str]] = []
    err_parts: list[str] = []

    def read_out() -> None:  # each line with the time it arrived (a step's line comes when the step ends)
        assert proc.stdout is not None, "stdout is a pipe"
        for line in proc.stdout:
            out_lines.append((time.time(), line))

    def read_err() -> None:
        assert proc.stderr is not None, "stderr is a pipe"
        err_parts.append(proc.stderr.read())

    threads = [threading.Thread(target=f, daemon=True) for f in (poll, read_out, read_err)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        done.set()
        for t in threads:
            t.join()
    out, err = "".join(line for _, line in out_lines), "".join(err_parts)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    m = GNU_TIME_RSS.search(err)
    rss_kb = int(m.group(1)) if m else (after if after > before else 0)
    groups, steps = stage_seconds(out)
    result = {"wall_s": round(wall, 1), "peak_rss_mb": round(max(rss_kb, peak_tree[0]) / 1024, 1),
              "peak_rss_mb_single_process": round(rss_kb / 1024, 1),
              "peak_rss_mb_tree_polled": round(peak_tree[0] / 1024, 1),
              "returncode": proc.returncode, "stages": groups, "steps": steps}
    result["stages"].update(match_split(err, steps.get("linked__record_citizen", 0.0)))
    result["peak_rss_after_log"] = peak_context(err, peak_at[0])
    result["peak_rss_mb_by_stage"] = stage_peaks(out_lines, samples)
    if proc.returncode == 0:
        result.update(comparisons(warehouse))
    else:
        result["error_tail"] = "\n".join(line for line in (out + err).splitlines()[-15:] if "@@t" not in line)
    return result


def large_run_env(label: str = "run") -> dict:
    """DuckDB settings for a run: 2 threads, a memory cap, and a spill directory of its own."""
    spill = DATA / "spill" / label
    spill.mkdir(parents=True, exist_ok=True)
    return {"SVOC_DUCKDB_THREADS": "2",
            "SVOC_DUCKDB_MEMORY_LIMIT": os.environ.get("SVOC_DUCKDB_MEMORY_LIMIT", "2GB"),
            "SVOC_SPILL_DIR": str(spill)}


# the keys of a ``results.json`` scale row (the rest of a measured row is detail)
ROW_KEYS = ("identity_records", "interactions", "wall_s", "peak_rss_mb", "comparisons", "stages",
            "splink_dedupe_s", "splink_peak_rss_mb")


def splink_dedupe(warehouse: Path, drop: Path) -> dict:
    """Plain Splink 5's dedupe (``benchmarks.peers.run_splink``: EM training, prediction, clustering) of the
    identity records the run staged in ``warehouse``, from the same feature frame. In-process: call it
    through ``splink_reference`` so its memory is measured on its own."""
    import duckdb

    from benchmarks.peers import run_splink
    from matching.features import build_features
    from svoc.drops import drop_date

    t0 = time.perf_counter()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        identity = con.execute("SELECT * FROM staging.identity_records ORDER BY source, source_record_id").df()
    finally:
        con.close()
    feats = build_features(identity, drop_date(drop))
    del identity
    prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    clusters, comparisons, predict_s = run_splink(feats)
    return {"splink_dedupe_s": round(time.perf_counter() - t0, 1), "splink_predict_s": round(predict_s, 1),
            "splink_features_s": round(prep, 1), "splink_comparisons": comparisons,
            "splink_clusters": int(clusters["cluster_id"].nunique())}


def splink_reference(warehouse: Path, drop: Path, timeout: float | None = None) -> dict:
    """``splink_dedupe`` in a subprocess (same thread count as the run): its figures plus peak RSS."""
    code = ("import json, sys; from pathlib import Path; from benchmarks.scale import splink_dedupe; "
            "print('@@splink ' + json.dumps(splink_dedupe(Path(sys.argv[1]), Path(sys.argv[2]))))")
    cmd = [sys.executable, "-c", code, str(warehouse), str(drop)]
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time:
        cmd = [gnu_time, "-v", *cmd]
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"splink_error": f"timed out after {timeout} s"}
    line = next((x for x in proc.stdout.splitlines() if x.startswith("@@splink ")), None)
    if line is None:
        return {"splink_error": "\n".join(proc.stderr.splitlines()[-5:])}
    out = json.loads(line.removeprefix("@@splink "))
    m = GNU_TIME_RSS.search(proc.stderr)
    if m:
        out["splink_peak_rss_mb"] = round(int(m.group(1)) / 1024, 1)
    return out


def scale_point(label: str, children: int | None = None, seed: int = SEED, timeout: float | None = None,
                splink: bool = True) -> dict:
    """One row of ``results.json["scale"]``; with ``splink``, plain Splink's dedupe of the same records too
    (``splink_dedupe_s``, run after the night, never at the same time)."""
    children = children or SIZES[label]
    t0 = time.perf_counter()
    drop = drop_for(children, seed)
    gen_s = time.perf_counter() - t0
    identity, interactions = drop_counts(drop)
    warehouse = DATA / "warehouses" / f"scale-{label}.duckdb"
    run = run_pipeline(drop, warehouse, large_run_env(label), timeout)
    reference = splink_reference(warehouse, drop, timeout) if splink and run["returncode"] == 0 else {}
    return {"identity_records": identity, "interactions": interactions, "wall_s": run["wall_s"],
            "peak_rss_mb": run["peak_rss_mb"], "comparisons": run.get("comparisons"),
            "stages": run["stages"], **reference, "label": label, "children": children, "seed": seed,
            "generate_s_or_cached": round(gen_s, 1),
            **{k: v for k, v in run.items() if k not in ("wall_s", "peak_rss_mb", "comparisons", "stages")}}


def run(labels: tuple[str, ...] = ("10k", "100k", "1M"), splink: bool = True) -> dict:
    """``{"scale": [rows]}`` for ``labels`` (smallest first, so the full night is the largest row)."""
    (DATA / "warehouses").mkdir(parents=True, exist_ok=True)
    return {"scale": [scale_point(label, splink=splink) for label in labels]}


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale",
                                     description="svoc run end to end on generated drops (and plain Splink's "
                                                 "dedupe of the same records); prints one JSON row per size")
    parser.add_argument("labels", nargs="*", default=["10k"], choices=sorted(SIZES), help="drop sizes")
    parser.add_argument("--no-splink", action="store_true", help="skip plain Splink's reference dedupe")
    parser.add_argument("--merge", action="store_true",
                        help="put the rows into results.json's 'scale' key (replacing rows of the same sizes)")
    args = parser.parse_args(argv)
    result = run(tuple(args.labels), splink=not args.no_splink)
    for row in result["scale"]:
        print(json.dumps({k: v for k, v in row.items() if k != "steps"}, indent=1), flush=True)
    if args.merge:
        path = ROOT / "benchmarks" / "results.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        new = [{k: row.get(k) for k in ROW_KEYS} for row in result["scale"]]
        sizes = {r["identity_records"] for r in new}
        kept = [r for r in data.get("scale", []) if r.get("identity_records") not in sizes]
        data["scale"] = sorted(kept + new, key=lambda r: r["identity_records"])
        path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
