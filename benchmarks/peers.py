"""Throughput against peers: svoc vs plain Splink 5 vs recordlinkage (ECM) on one standardised feature frame.

Dataset: a generated 20,000-child drop (seed 1; truth from ``truth.csv``). Every linker starts from the same
standardised feature frame (connectors → ``matching.features.build_features``), so the comparison is of the
linking itself; accuracy through the public interface (drop folder, sources.yaml, ``svoc run``) on FEBRL4,
pseudopeople and the generated drop is ``benchmarks.external``. ``seconds`` is the linker's own time
(training + scoring + clustering),
and the shared preparation time is reported separately. ``comparisons_per_s`` divides the candidate
comparisons by ``seconds``; ``scoring_comparisons_per_s`` divides them by the scoring step alone (candidate
generation plus comparison vectors and scores: Splink's ``predict``, recordlinkage's ``index`` + ``compute``),
which is what a night with a stored model pays per comparison. Metrics come from ``matching.evaluate.evaluate``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import numpy as np
import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)
SEED = 1
SPLINK_CLUSTER_THRESHOLD = 0.95
THREADS = 2


# --------------------------------------------------------------------------------------------- data
def generated_features(children: int = 20_000, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame, object, float]:
    """(features, truth, drop date, preparation seconds) of the cached generated drop."""
    from benchmarks.accuracy_eval import drop_features
    from benchmarks.scale import drop_for

    drop = drop_for(children, seed)
    t0 = time.perf_counter()
    feats, ref = drop_features(drop)
    truth = pd.read_csv(drop / "truth.csv", dtype=str, keep_default_na=False)
    return feats, truth, ref, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ metrics
def cluster_metrics(clusters: pd.DataFrame, truth: pd.DataFrame, ref) -> dict:
    """``clusters``: unique_id, cluster_id. Scored with ``matching.evaluate.evaluate``."""
    from matching.evaluate import evaluate

    parts = clusters["unique_id"].str.split(":", n=1, expand=True)
    rc = pd.DataFrame({"source": parts[0], "source_record_id": parts[1], "citizen_id": clusters["cluster_id"].astype(str)})
    m = evaluate(rc, truth, reference_date=ref)
    return {k: m[k] for k in ("precision", "recall", "f1", "twin_pairs_merged")}


def components(ids: pd.Series, left: pd.Series, right: pd.Series) -> pd.DataFrame:
    """Connected components of matched pairs over all ``ids`` (singletons included)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    codes = pd.Index(ids.to_numpy())
    li, ri = codes.get_indexer(left), codes.get_indexer(right)
    n = len(codes)
    g = coo_matrix((np.ones(len(li)), (li, ri)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return pd.DataFrame({"unique_id": codes, "cluster_id": labels})


# ------------------------------------------------------------------------------------------ linkers
def run_svoc(feats: pd.DataFrame) -> tuple[pd.DataFrame, int, float]:
    """The pipeline's matcher: ``link_records`` on the feature frame."""
    from matching.linker import link_records

    r = link_records(feats, run_id="bench", threads=THREADS, analyse_blocking=True)
    rc = r.record_citizen
    clusters = pd.DataFrame({"unique_id": rc["source"] + ":" + rc["source_record_id"],
                             "cluster_id": rc["citizen_id"]})
    return clusters, int(r.blocking_analysis["comparisons_to_score"]), r.stats["seconds"]["predict"]


def run_splink(feats: pd.DataFrame) -> tuple[pd.DataFrame, int, float]:
    """Plain Splink 5: library comparisons, EM-trained, clustered at p >= 0.95."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    cols = ["unique_id", "first_name_std", "last_name_std", "dob", "postcode", "nhs_number", "upn"]
    df = feats.assign(dob=pd.to_datetime(feats["dob"], errors="coerce"))
    df = df[cols].copy()
    for c in cols:
        if c != "dob":
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    con.execute("SET enable_progress_bar = false")
    con.register("raw_in", df)
    con.execute("CREATE TABLE peers_in AS SELECT * EXCLUDE (dob), CAST(dob AS DATE) AS dob FROM raw_in")
    comparisons = [cl.NameComparison("first_name_std"), cl.NameComparison("last_name_std"),
                   cl.DateOfBirthComparison("dob", input_is_string=False), cl.PostcodeComparison("postcode"),
                   cl.ExactMatch("nhs_number"), cl.ExactMatch("upn")]
    rules = [block_on("nhs_number"), block_on("upn"), block_on("dob"), block_on("first_name_std", "last_name_std"),
             block_on("postcode", "last_name_std")]
    settings = SettingsCreator(link_type="dedupe_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=rules, retain_intermediate_calculation_columns=False)
    api = DuckDBAPI(con)
    sdf = api.register("peers_in")
    linker = Linker(sdf, settings, log_level=logging.WARNING)
    tr = linker.training
    with contextlib.suppress(ValueError):
        tr.estimate_probability_two_random_records_match([block_on("nhs_number")], recall=0.7)
    tr.estimate_u_using_random_sampling(max_pairs=1e6, seed=SEED)
    tr.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    tr.estimate_parameters_using_expectation_maximisation(block_on("first_name_std", "last_name_std"))
    t0 = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=0.5)
    scoring = time.perf_counter() - t0
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=SPLINK_CLUSTER_THRESHOLD).as_pandas_dataframe()
    counts = count_comparisons_from_blocking_rules(sdf, blocking_rules=rules, link_type="dedupe_only",
                                                   unique_id_column_name="unique_id", record_sample_proportion=1.0)
    n = int(counts[-1]["cumulative_comparison_count"])
    con.close()
    return clusters[["unique_id", "cluster_id"]], n, scoring


def run_recordlinkage(feats: pd.DataFrame) -> tuple[pd.DataFrame, int, float]:
    """recordlinkage: block on dob ∪ sorted neighbourhood on surname; jaro-winkler names; ECM classifier."""
    import recordlinkage as rl

    df = feats.set_index("unique_id")[["first_name_std", "last_name_std", "dob", "postcode", "nhs_number",
                                       "upn"]].copy()
    df["dob"] = df["dob"].astype(str).where(feats.set_index("unique_id")["dob"].notna(), None)
    t0 = time.perf_counter()
    idx = rl.Index()
    idx.block("dob")
    idx.sortedneighbourhood("last_name_std", window=5)
    candidates = idx.index(df)
    cmp = rl.Compare()
    cmp.string("first_name_std", "first_name_std", method="jarowinkler", threshold=0.85, label="first")
    cmp.string("last_name_std", "last_name_std", method="jarowinkler", threshold=0.85, label="last")
    cmp.exact("dob", "dob", label="dob")
    cmp.exact("postcode", "postcode", label="postcode")
    cmp.exact("nhs_number", "nhs_number", label="id")
    cmp.exact("upn", "upn", label="upn")
    vectors = cmp.compute(candidates, df)
    scoring = time.perf_counter() - t0
    matches = rl.ECMClassifier(binarize=0.5).fit_predict(vectors.astype(float))
    left = pd.Series(matches.get_level_values(0))
    right = pd.Series(matches.get_level_values(1))
    return components(feats["unique_id"], left, right), int(len(candidates)), scoring


LINKERS = {"svoc": run_svoc, "splink": run_splink, "recordlinkage": run_recordlinkage}


def compare(children: int = 20_000, seed: int = SEED, linkers: tuple[str, ...] = tuple(LINKERS)) -> list[dict]:
    """Rows of ``results.json["throughput"]`` (plus extra keys: prep_seconds, comparisons)."""
    rows = []
    feats, truth, ref, prep = generated_features(children, seed)
    for name in linkers:
        rows.append(_one(f"generated-{children // 1000}k", name, feats, prep,
                         lambda out: cluster_metrics(out, truth, ref)))
    return rows


def _one(dataset: str, name: str, feats: pd.DataFrame, prep: float, score) -> dict:
    t0 = time.perf_counter()
    try:
        out, n, scoring = LINKERS[name](feats)
    except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
        log.exception("linker %s failed on %s", name, dataset)
        return {"dataset": dataset, "linker": name, "error": f"{type(exc).__name__}: {exc}"}
    secs = time.perf_counter() - t0
    m = score(out)
    row = {"dataset": dataset, "linker": name, "precision": round(m["precision"], 5), "recall": round(m["recall"], 5),
           "f1": round(m["f1"], 5), "twin_pairs_merged": int(m["twin_pairs_merged"]), "seconds": round(secs, 1),
           "comparisons_per_s": round(n / secs) if secs else None, "comparisons": n,
           "scoring_seconds": round(scoring, 2), "scoring_comparisons_per_s": round(n / scoring) if scoring else None,
           "records_per_s": round(len(feats) / secs) if secs else None,
           "records": len(feats), "prep_seconds": round(prep, 1)}
    print(row, flush=True)
    return row


if __name__ == "__main__":
    import json
    import sys

    logging.basicConfig(level=logging.WARNING)
    names = tuple(sys.argv[1:]) or tuple(LINKERS)
    print(json.dumps(compare(linkers=names), indent=1))
