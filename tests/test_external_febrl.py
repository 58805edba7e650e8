"""FEBRL4 through the public interface: a drop with two sources and a sources.yaml, the CLI's ``run`` as a
subprocess on a fresh warehouse, the result read from ``linked.record_citizen`` and scored pairwise.

Uses the first 500 entities of each FEBRL4 file (500 true cross-file pairs), so it runs in well under a minute.
The target is the peers' level (plain Splink's tutorial model scores F1 0.993 on full FEBRL4). The current
matcher does not reach it: FEBRL4's dates of birth are mostly before 1990 and its postcodes are Australian, so
neither is usable evidence, and ``soc_sec_id`` has no field until sources.yaml gains ``identifiers:``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.external import labelled, pairwise, run_pipeline, svoc_clusters
from benchmarks.external_data import read_truth, schema_support, write_febrl4_drop

ENTITIES = 500
TARGET_F1 = 0.99


@pytest.mark.slow
@pytest.mark.xfail(strict=False, raises=AssertionError,
                   reason="current matcher: F1 0.21 on this subset (0.22 on full FEBRL4): pre-1990 DOBs and "
                          "non-UK postcodes are discarded as evidence, soc_sec_id cannot be mapped yet")
def test_febrl4_subset_through_cli(tmp_path: Path) -> None:
    drop = tmp_path / "febrl4"
    sources = write_febrl4_drop(drop, schema_support(), entities=ENTITIES)
    truth = read_truth(drop)
    assert len(truth) == 2 * ENTITIES and truth["entity_id"].nunique() == ENTITIES

    record_citizen, _ = run_pipeline(drop, sources, tmp_path)

    assert len(record_citizen) == 2 * ENTITIES  # every record staged and linked (none quarantined)
    m = pairwise(labelled(truth, svoc_clusters(record_citizen)))
    print(f"FEBRL4 first {ENTITIES} entities: precision={m['precision']:.4f} recall={m['recall']:.4f} "
          f"f1={m['f1']:.4f}")
    assert m["f1"] >= TARGET_F1
