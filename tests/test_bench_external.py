"""The external benchmark's scoring and results plumbing (``benchmarks.external``, ``benchmarks.run``,
``benchmarks.report``) on tiny frames: pairwise metrics, per-source-pair metrics, the review queue share,
and how accuracy rows reach results.json and RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import run as bench_run
from benchmarks.external import by_source_pair, labelled, pairwise, queue_stats, twin_pairs_merged
from benchmarks.report import accuracy_section

TRUTH = pd.DataFrame({"source": ["a", "a", "b", "b", "b"], "source_record_id": ["1", "2", "1", "2", "3"],
                      "entity_id": ["x", "y", "x", "y", "y"]})


def _clusters(ids: dict[str, str]) -> pd.DataFrame:
    keys = [k.split(":") for k in ids]
    return pd.DataFrame({"source": [s for s, _ in keys], "source_record_id": [r for _, r in keys],
                         "cluster": list(ids.values())})


@pytest.mark.parametrize(("clusters", "expected"), [
    # perfect: true pairs a1-b1, a2-b2, a2-b3, b2-b3
    ({"a:1": "c1", "b:1": "c1", "a:2": "c2", "b:2": "c2", "b:3": "c2"}, (1.0, 1.0, 4)),
    # b3 left out of the output: a singleton, so two true pairs are missed
    ({"a:1": "c1", "b:1": "c1", "a:2": "c2", "b:2": "c2"}, (1.0, 0.5, 4)),
    # everything in one cluster: 10 predicted pairs, 4 true
    ({"a:1": "c", "b:1": "c", "a:2": "c", "b:2": "c", "b:3": "c"}, (0.4, 1.0, 4)),
])
def test_pairwise_metrics(clusters: dict, expected: tuple) -> None:
    m = pairwise(labelled(TRUTH, _clusters(clusters)))
    assert (round(m["precision"], 6), round(m["recall"], 6), m["true_pairs"]) == expected


def test_by_source_pair_splits_within_and_across_sources() -> None:
    df = labelled(TRUTH, _clusters({"a:1": "c1", "b:1": "c1", "a:2": "c2", "b:2": "c2", "b:3": "c3"}))
    out = by_source_pair(df)
    assert set(out) == {"a-a", "a-b", "b-b"}
    assert out["a-b"]["true_pairs"] == 3 and out["a-b"]["true_positive_pairs"] == 2
    assert out["b-b"]["true_pairs"] == 1 and out["b-b"]["recall"] == 0.0
    assert out["a-a"]["true_pairs"] == 0


@pytest.mark.parametrize(("clusters", "expected"), [
    ({"a:1": "c1", "b:1": "c1", "a:2": "c2", "b:2": "c2", "b:3": "c2"}, 0),  # twins x and y kept apart
    ({"a:1": "c1", "b:1": "c2", "a:2": "c2", "b:2": "c2", "b:3": "c2"}, 1),  # b1 (x) joined y's cluster
    ({"a:1": "c", "b:1": "c", "a:2": "c", "b:2": "c", "b:3": "c"}, 1),  # one pair however many records
])
def test_twin_pairs_merged(clusters: dict, expected: int) -> None:
    truth = TRUTH.assign(twin_group=["T1", "T1", "T1", "T1", ""])
    assert twin_pairs_merged(truth, labelled(truth, _clusters(clusters))) == expected


@pytest.mark.parametrize(("pairs", "expected"), [
    ([("a:1", "b:1"), ("a:1", "b:2")], {"review_queue_pairs": 2, "review_queue_true_share": 0.5}),
    ([], {"review_queue_pairs": 0, "review_queue_true_share": None}),
])
def test_queue_stats(pairs: list, expected: dict) -> None:
    queue = pd.DataFrame(pairs, columns=["unique_id_l", "unique_id_r"])
    assert queue_stats(queue, TRUTH) == expected


ROWS = [
    {"dataset": "febrl4", "linker": "svoc", "precision": 1.0, "recall": 0.99, "f1": 0.995, "seconds": 30.0},
    {"dataset": "generated-20k", "linker": "svoc", "precision": 1.0, "recall": 0.998, "f1": 0.999, "seconds": 90.0,
     "review_queue_pairs": 200, "review_queue_true_share": 0.6, "children": 20000},
    {"dataset": "pseudopeople-under18", "linker": "splink", "precision": 0.9, "recall": 0.8, "f1": 0.85,
     "seconds": 5.0, "by_source_pair": {"census-ssa": {"precision": 0.9, "recall": 0.8, "f1": 0.85,
                                                       "true_pairs": 10}}},
    {"dataset": "febrl4", "linker": "recordlinkage", "error": "ValueError: boom", "seconds": 1.0},
]


def test_accuracy_section_lists_every_row_queue_and_source_pairs() -> None:
    text = "\n".join(accuracy_section(ROWS))
    assert "| febrl4 | svoc | 1.0000 | 0.9900 | 0.9950 | 30.0 | – |" in text
    assert "200 pairs (1.00% of 20,000 children), 60.0% of them true matches" in text
    assert "| pseudopeople-under18 | splink | census-ssa | 0.9000 |" in text
    assert "error: ValueError: boom" in text


def test_merge_accuracy_replaces_rows_and_keeps_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_run, "HERE", tmp_path)
    monkeypatch.setattr(bench_run, "RESULTS_JSON", tmp_path / "results.json")
    monkeypatch.setattr(bench_run, "RESULTS_MD", tmp_path / "RESULTS.md")
    old_peer = {"dataset": "generated-20k", "linker": "splink", "precision": 0.95, "recall": 0.98, "f1": 0.97,
                "twin_pairs_merged": 301, "seconds": 6.2, "comparisons_per_s": 2452}
    old_febrl = {**old_peer, "dataset": "febrl4"}  # measured on the hand-built feature path, which is gone
    scale = {"identity_records": 10, "interactions": 1, "wall_s": 1.0, "peak_rss_mb": 1.0, "comparisons": 1,
             "stages": {}}
    (tmp_path / "results.json").write_text(json.dumps({"machine": {"cpus": 2}, "scale": [scale],
                                                       "accuracy": [old_peer, old_febrl],
                                                       "lookup": {"p95_ms": 12}}))
    (tmp_path / "RESULTS.md").write_text("# old\n<!-- notes: kept across runs -->\nhand-written notes\n")
    bench_run.merge_accuracy(ROWS[:2], "python -m benchmarks.external --datasets febrl4")
    out = json.loads((tmp_path / "results.json").read_text())
    assert [(r["dataset"], r["linker"]) for r in out["accuracy"]] == [("febrl4", "svoc"), ("generated-20k", "svoc")]
    assert set(out["accuracy"][0]) == {"dataset", "linker", "precision", "recall", "f1", "seconds"}
    assert out["accuracy"][1]["review_queue_pairs"] == 200 and out["accuracy"][1]["children"] == 20000
    assert [(r["dataset"], r["comparisons_per_s"]) for r in out["throughput"]] == [("generated-20k", 2452)]
    assert out["scale"][0]["identity_records"] == 10
    assert out["lookup"] == {"p95_ms": 12}  # another benchmark's key is kept
    md = (tmp_path / "RESULTS.md").read_text()
    assert "Accuracy through the public interface" in md and md.endswith("hand-written notes\n")

    bench_run.merge_accuracy([{**ROWS[0], "f1": 0.5}], "again")  # same dataset and linker: replaced
    out = json.loads((tmp_path / "results.json").read_text())
    assert [(r["dataset"], r["linker"], r["f1"]) for r in out["accuracy"]] == [
        ("generated-20k", "svoc", 0.999), ("febrl4", "svoc", 0.5)]


def test_a_section_merged_into_results_json_is_not_overwritten_by_the_older_detail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``benchmarks.scale 1M --merge`` writes results.json only; a later ``benchmarks.external`` once rewrote
    the scale rows from the older detail file."""
    monkeypatch.setattr(bench_run, "HERE", tmp_path)
    monkeypatch.setattr(bench_run, "RESULTS_JSON", tmp_path / "results.json")
    monkeypatch.setattr(bench_run, "RESULTS_MD", tmp_path / "RESULTS.md")
    row = {"identity_records": 10, "interactions": 1, "wall_s": 9.0, "peak_rss_mb": 1.0, "comparisons": 1,
           "stages": {}}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "results_detail.json").write_text(json.dumps(
        {"machine": {"cpus": 2}, "scale": [row], "accuracy": [], "throughput": []}))
    (tmp_path / "results.json").write_text(json.dumps({"machine": {"cpus": 2}, "scale": [{**row, "wall_s": 5.0}],
                                                       "accuracy": []}))
    bench_run.merge_accuracy(ROWS[:1], "python -m benchmarks.external --datasets febrl4")
    assert json.loads((tmp_path / "results.json").read_text())["scale"][0]["wall_s"] == 5.0
    assert json.loads((tmp_path / "data" / "results_detail.json").read_text())["scale"][0]["wall_s"] == 5.0
