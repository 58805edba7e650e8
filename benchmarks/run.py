"""``make bench``: scale runs (10k, 100k, 1M identity records), accuracy on external and generated data through
the public interface (``benchmarks.external``: FEBRL4, pseudopeople under 18s, the generated 20k drop; svoc vs
plain Splink 5 vs recordlinkage) and the throughput comparison on one feature frame (``benchmarks.peers``).

    python -m benchmarks.run            # 10k, 100k, 1M + external accuracy + throughput peers
    python -m benchmarks.run --quick    # 10k, 100k + external accuracy + throughput peers
    python -m benchmarks.run --no-scale --no-peers             # external accuracy only
    python -m benchmarks.external                              # the same, and only that

Writes ``benchmarks/results.json`` (shape below) and ``benchmarks/RESULTS.md``. Fixed seeds throughout.
``{"machine": {...}, "scale": [{"identity_records", "interactions", "wall_s", "peak_rss_mb", "comparisons",
"stages": {...}}], "accuracy": [{"dataset", "linker", "precision", "recall", "f1", "seconds"} (+ svoc on
generated-20k: "review_queue_pairs", "review_queue_true_share", "children"; pseudopeople: "by_source_pair";
a linker that failed: "error")], "throughput": [{"dataset", "linker", "precision", "recall", "f1",
"twin_pairs_merged", "seconds", "comparisons_per_s"}]}``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from benchmarks.report import keep_notes, write_markdown  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
EXTERNAL_DATASETS = ("febrl4", "pseudopeople-under18", "generated-20k", "febrl3-dedupe")
SCALE_KEYS = ("identity_records", "interactions", "wall_s", "peak_rss_mb", "comparisons", "stages", "splink_dedupe_s",
              "splink_peak_rss_mb")
ACCURACY_KEYS = ("dataset", "linker", "precision", "recall", "f1", "seconds")
ACCURACY_EXTRA_KEYS = ("twin_pairs_merged", "review_queue_pairs", "review_queue_true_share", "children",
                       "by_source_pair", "error")
THROUGHPUT_KEYS = ("dataset", "linker", "precision", "recall", "f1", "twin_pairs_merged", "seconds",
                   "comparisons_per_s")


def machine() -> dict:
    mem_gb = None
    try:
        with open("/proc/meminfo") as fh:
            mem_gb = round(int(fh.readline().split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    import duckdb
    import pandas
    import splink

    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gb": mem_gb, "os": platform.platform(),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "pandas": pandas.__version__,
            "splink": splink.__version__, "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def accuracy_row(r: dict) -> dict:
    """One ``accuracy`` row in the contract shape: the fixed keys, then whichever extra keys it has."""
    return {**{k: r.get(k) for k in ACCURACY_KEYS}, **{k: r[k] for k in ACCURACY_EXTRA_KEYS if k in r}}


# Keys other benchmarks measure, each one object: benchmarks.lookup, benchmarks.incremental, benchmarks.spark.
SECTION_KEYS = {
    "incremental": ("identity_records", "changed_share", "full_s", "incremental_s", "pair_agreement",
                    "unchanged_ids_kept"),
    "spark": ("identity_records", "pair_agreement", "id_agreement", "duckdb_s", "spark_s"),
}


def section(name: str, row: dict) -> dict:
    """One ``incremental`` / ``spark`` object: the contract keys first, everything else under ``detail``."""
    keys = SECTION_KEYS[name]
    extra = {k: v for k, v in row.items() if k not in keys and k != "detail"}
    return {**{k: row.get(k) for k in keys}, "detail": {**row.get("detail", {}), **extra}}


def shaped(results: dict) -> dict:
    """Exactly the contract shape (extra measured keys live in ``results['detail']`` instead)."""
    return {"machine": results["machine"],
            **{k: section(k, results[k]) for k in SECTION_KEYS if results.get(k)},
            "scale": [{k: r.get(k) for k in SCALE_KEYS} for r in results["scale"]],
            "accuracy": [accuracy_row(r) for r in results["accuracy"]],
            "throughput": [{k: r.get(k) for k in THROUGHPUT_KEYS} for r in results.get("throughput", [])
                           if "error" not in r]}


def write_results(results: dict) -> None:
    """``results.json`` (contract shape), ``data/results_detail.json`` (everything) and ``RESULTS.md``."""
    out = shaped(results)
    if RESULTS_JSON.exists():  # keys other benchmarks merge in (e.g. "lookup", benchmarks.lookup) are kept
        kept = json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
        out.update({k: v for k, v in kept.items() if k not in out})
    scale_dir = HERE / "data"
    scale_dir.mkdir(exist_ok=True)
    (scale_dir / "results_detail.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    RESULTS_JSON.write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
    previous = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else None
    RESULTS_MD.write_text(write_markdown(out, results) + keep_notes(previous), encoding="utf-8")
    print(f"[bench] wrote {RESULTS_JSON} and {RESULTS_MD}", flush=True)


# Sections a benchmark run alone writes into results.json only (``--merge``): there they are newer than in the
# detail file, which only a whole ``make bench`` writes.
MERGED_SECTIONS = ("scale", "incremental", "spark", "lookup")


def previous_results() -> dict:
    """The last run's full results (``data/results_detail.json``, else ``results.json``), or an empty shell;
    ``MERGED_SECTIONS`` always come from ``results.json``."""
    for path in (HERE / "data" / "results_detail.json", RESULTS_JSON):
        if path.exists():
            results = json.loads(path.read_text(encoding="utf-8"))
            if path != RESULTS_JSON and RESULTS_JSON.exists():
                published = json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
                results.update({k: published[k] for k in MERGED_SECTIONS if k in published})
            results.setdefault("scale", [])
            if "throughput" not in results:  # before the external benchmark, "accuracy" held the peer rows
                results["throughput"] = [r for r in results.get("accuracy", []) if "comparisons_per_s" in r
                                         and r.get("dataset") != "febrl4"]  # its feature-frame path is gone
                results["accuracy"] = [r for r in results.get("accuracy", []) if "comparisons_per_s" not in r]
            results.setdefault("accuracy", [])
            results.pop("detail", None)
            return results
    return {"machine": machine(), "scale": [], "accuracy": [], "throughput": []}


def merged_accuracy(previous: list[dict], fresh: list[dict]) -> list[dict]:
    """``previous`` accuracy rows not measured again (by dataset and linker), then the ``fresh`` ones. Rows of a
    dataset ``benchmarks.external`` no longer knows are dropped; those of one it runs only when named are kept."""
    from benchmarks.external import DATASETS, OPTIONAL_DATASETS

    again = {(r["dataset"], r["linker"]) for r in fresh}
    return [r for r in previous if (r.get("dataset"), r.get("linker")) not in again
            and r.get("dataset") in (*DATASETS, *OPTIONAL_DATASETS)] + fresh


def merge_accuracy(rows: list[dict], command: str) -> None:
    """Put freshly measured ``accuracy`` rows into the published results (replacing the same dataset and
    linker; everything else kept) and rewrite results.json and RESULTS.md: ``benchmarks.external`` alone."""
    results = previous_results()
    results["accuracy"] = merged_accuracy(results["accuracy"], rows)
    results["machine"] = {**results.get("machine", {}), "accuracy_command": command,
                          "load_average_after_accuracy": [round(x, 2) for x in os.getloadavg()]}
    write_results(results)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="svoc benchmarks")
    p.add_argument("--quick", action="store_true", help="10k and 100k only")
    p.add_argument("--sizes", nargs="*", default=None, help="subset of 10k 100k 1M")
    p.add_argument("--no-peers", action="store_true", help="skip the throughput comparison (benchmarks.peers)")
    p.add_argument("--no-scale", action="store_true")
    p.add_argument("--no-external", action="store_true", help="skip the accuracy benchmark (benchmarks.external)")
    p.add_argument("--datasets", default=",".join(EXTERNAL_DATASETS),
                   help="accuracy datasets, comma-separated: " + ", ".join(EXTERNAL_DATASETS))
    p.add_argument("--no-incremental", action="store_true",
                   help="skip the incremental night against a full re-link (benchmarks.incremental)")
    p.add_argument("--no-spark", action="store_true", help="skip DuckDB against Spark (benchmarks.spark)")
    p.add_argument("--spark-records", type=int, default=100_000, help="identity records for the engine comparison")
    p.add_argument("--timeout", type=float, default=3600.0, help="per scale run, seconds")
    p.add_argument("--peers-from", type=Path, default=None,
                   help="JSON file of throughput rows measured earlier (benchmarks.peers output) to include as-is")
    p.add_argument("--scale-from", type=Path, nargs="*", default=(),
                   help="JSON files of scale rows measured earlier (benchmarks.scale output) to include as-is")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from benchmarks import scale

    sizes = a.sizes or (["10k", "100k"] if a.quick else ["10k", "100k", "1M"])
    results = {"machine": machine(), "scale": [], "accuracy": [], "throughput": []}
    # A part that is skipped keeps the numbers measured last time, so a partial run never erases them.
    previous = previous_results()
    if a.no_scale and not a.scale_from:
        results["scale"] = previous["scale"]
    if a.no_external:
        results["accuracy"] = previous["accuracy"]
    if a.no_peers and not a.peers_from:
        results["throughput"] = previous["throughput"]
    t0 = time.perf_counter()
    for f in a.scale_from:
        rows = json.loads(f.read_text())
        results["scale"].extend(rows if isinstance(rows, list) else [rows])
    done = {r.get("label") for r in results["scale"]}
    sizes = [s for s in sizes if s not in done]
    if not a.no_scale:
        (scale.DATA / "warehouses").mkdir(parents=True, exist_ok=True)
        for label in sizes:
            print(f"[bench] scale {label} …", flush=True)
            row = scale.scale_point(label, timeout=a.timeout)
            row["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            results["scale"].append(row)
            print(f"[bench]   {json.dumps({k: row.get(k) for k in SCALE_KEYS})}", flush=True)
    if not a.no_external:
        from benchmarks import external

        print("[bench] accuracy through the public interface (benchmarks.external) …", flush=True)
        fresh = external.run_all([n.strip() for n in a.datasets.split(",") if n.strip()])
        results["accuracy"] = merged_accuracy(previous["accuracy"], fresh)
    for name, skipped in (("incremental", a.no_incremental), ("spark", a.no_spark)):
        if skipped:
            results[name] = previous.get(name)
            continue
        print(f"[bench] {name} (benchmarks.{name}) …", flush=True)
        if name == "incremental":  # at the largest size measured: 1M, or 100k with --quick
            from benchmarks import incremental

            records = 1_000_000 if "1M" in (a.sizes or (["10k", "100k"] if a.quick else ["1M"])) else 100_000
            results[name] = incremental.run(records=records)["incremental"]
        else:
            from benchmarks import spark

            results[name] = spark.run(records=a.spark_records)["spark"]
    if a.peers_from:
        results["throughput"] = json.loads(a.peers_from.read_text())
    elif not a.no_peers:
        from benchmarks import peers

        print("[bench] throughput peers …", flush=True)
        results["throughput"] = peers.compare()
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["bench_seconds"] = round(time.perf_counter() - t0, 1)
    results["machine"]["command"] = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    results["scale"].sort(key=lambda r: r["identity_records"])
    write_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
