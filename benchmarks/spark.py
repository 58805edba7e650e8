"""Spark engine benchmark: the same night on DuckDB and on Spark (``SVOC_ENGINE=spark``, ``local[2]``).

A first night on the DuckDB engine trains and stores the model and issues the citizen ids. Its published warehouse
is copied twice and the same drop is re-linked in full (``svoc run --full``) on each engine, so both start from the
same registry and the same stored model. Reports the wall time of both runs (whole ``svoc run``, plus the match
step), ``pair_agreement``: of the record pairs either engine links (``audit.match_evidence``, status ``linked``), the
share both link; and ``id_agreement``: the share of records given the same citizen id by both.
``python -m benchmarks.spark [--records N] [--merge]``; ``--merge`` writes ``results.json``'s ``"spark"`` key (other
keys kept).
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

SPARK_ENV = {"SVOC_ENGINE": "spark", "SVOC_SPARK_MASTER": "local[2]",
             "SVOC_SPARK_CONF": json.dumps({"spark.driver.memory": "3g"})}


def svoc_run(drop: Path, warehouse: Path, *extra: str, label: str, env: dict[str, str] | None = None) -> dict:
    """One ``svoc run`` in a subprocess (``benchmarks._timed_cli``): wall seconds, stage seconds, match stats."""
    full_env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **large_run_env(label),
                **(env or {})}
    full_env.setdefault("DAGSTER_HOME", str(DATA / "dagster_home"))
    home = Path(full_env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    cmd = [sys.executable, "-m", "benchmarks._timed_cli", "run", "--drop", str(drop), "--warehouse", str(warehouse),
           *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()[-15:] if "@@t" not in line)
        raise RuntimeError(f"svoc run ({label}) failed:\n{tail}")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        run_id = con.execute("SELECT any_value(run_id) FROM linked.record_citizen").fetchall()[0][0]
        stats = json.loads(con.execute("SELECT stats FROM audit.run_matching WHERE run_id = ?",
                                       [run_id]).fetchall()[0][0])
    finally:
        con.close()
    return {"wall_s": round(wall, 1), "stages": stage_seconds(proc.stdout)[0], "match_seconds": stats.get("seconds")}


def _co_clustered(ids: dict[str, str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for k, c in ids.items():
        groups[c].append(k)
    return {p for members in groups.values() for p in itertools.combinations(sorted(members), 2)}


def _linked_pairs(warehouse: Path) -> set[tuple[str, str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        run = con.execute("SELECT any_value(run_id) FROM linked.record_citizen").fetchall()[0][0]
        rows = con.execute("SELECT unique_id_l, unique_id_r FROM audit.match_evidence WHERE run_id = ? "
                           "AND status = 'linked'", [run]).fetchall()
    finally:
        con.close()
    return {(str(a), str(b)) for a, b in rows}


def _ids(warehouse: Path) -> dict[str, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return dict(con.execute("SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen")
                    .fetchall())
    finally:
        con.close()


def compare(on_duckdb: Path, on_spark: Path) -> dict:
    """``pair_agreement``, ``id_agreement`` and what lies behind them."""
    a, b = _linked_pairs(on_duckdb), _linked_pairs(on_spark)
    ids_d, ids_s = _ids(on_duckdb), _ids(on_spark)
    same = sum(ids_s.get(k) == c for k, c in ids_d.items())
    ca, cb = _co_clustered(ids_d), _co_clustered(ids_s)
    return {"pair_agreement": round(len(a & b) / len(a | b), 6) if a | b else 1.0,
            "id_agreement": round(same / len(ids_d), 6) if ids_d else 1.0,
            "linked_pairs": [len(a), len(b)], "linked_pairs_differing": len(a ^ b),
            "records_with_different_id": len(ids_d) - same,
            "co_clustered_pair_agreement": round(len(ca & cb) / len(ca | cb), 6) if ca | cb else 1.0}


def run(records: int = 100_000, seed: int = SEED, spark_conf: dict[str, str] | None = None,
        first_from: Path | None = None) -> dict:
    """``{"spark": {...}}`` on the cached drop of ~``records`` identity records (``spark_conf``: more Spark
    configuration for the Spark run, e.g. a bigger driver at 1M; ``first_from``: a folder holding a first night's
    published warehouse of the same drop, e.g. ``benchmarks.incremental``'s, used instead of running one)."""
    near = [c for c in SIZES.values() if abs(c * RECORDS_PER_CHILD - records) <= 0.1 * records]
    children = near[0] if near else round(records / RECORDS_PER_CHILD)
    drop = drop_for(children, seed)
    work = DATA / "warehouses" / f"spark-{children}"
    shutil.rmtree(work, ignore_errors=True)
    first = work / "first" / "svoc.duckdb"
    if first_from is not None:
        shutil.copytree(first_from, first.parent)
        night1 = {"wall_s": None}
    else:
        first.parent.mkdir(parents=True)
        night1 = svoc_run(drop, first, label="spark-first")
    for name in ("duckdb", "spark"):
        shutil.copytree(first.parent, work / name)
    duck = svoc_run(drop, work / "duckdb" / "svoc.duckdb", "--full", label="spark-duckdb")
    conf = {**json.loads(SPARK_ENV["SVOC_SPARK_CONF"]), **(spark_conf or {})}
    spark = svoc_run(drop, work / "spark" / "svoc.duckdb", "--full", label="spark-spark",
                     env={**SPARK_ENV, "SVOC_SPARK_CONF": json.dumps(conf)})
    manifest = json.loads((drop / "manifest.json").read_text())
    row = {"identity_records": int(manifest["truth_rows"]),
           **compare(work / "duckdb" / "svoc.duckdb", work / "spark" / "svoc.duckdb"),
           "duckdb_s": duck["wall_s"], "spark_s": spark["wall_s"],
           "match_duckdb": duck["match_seconds"], "match_spark": spark["match_seconds"],
           "stages_duckdb": duck["stages"], "stages_spark": spark["stages"], "first_night_s": night1["wall_s"],
           "spark_master": SPARK_ENV["SVOC_SPARK_MASTER"], "spark_conf": conf}
    return {"spark": row}


ROW_KEYS = ("identity_records", "pair_agreement", "id_agreement", "duckdb_s", "spark_s")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.spark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="identity records in the drop (~)")
    parser.add_argument("--merge", action="store_true", help="write results.json's 'spark' key")
    parser.add_argument("--spark-conf", default="{}", help="more Spark configuration (JSON object)")
    parser.add_argument("--first-from", help="start from this folder's first-night warehouse of the same drop")
    args = parser.parse_args(argv)
    result = run(args.records, spark_conf=json.loads(args.spark_conf),
                 first_from=Path(args.first_from) if args.first_from else None)
    print(json.dumps(result, indent=1), flush=True)
    if args.merge:
        path = ROOT / "benchmarks" / "results.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        row = result["spark"]
        detail = {k: v for k, v in row.items() if k not in ROW_KEYS}
        earlier = data.get("spark", {}).get("detail", {})
        if "at_1M" in earlier and "at_1M" not in detail:  # a 100k run keeps the last 1M measurement beside it
            detail["at_1M"] = earlier["at_1M"]
        data["spark"] = {**{k: row[k] for k in ROW_KEYS}, "detail": detail}
        path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
