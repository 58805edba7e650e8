"""``make bench``'s incremental and Spark sections: the contract keys in results.json, the rest under detail."""

from __future__ import annotations

import pytest

from benchmarks.report import engines_section
from benchmarks.run import SECTION_KEYS, merged_accuracy, section, shaped

ROWS = {
    "incremental": {"identity_records": 993_157, "changed_share": 0.01, "full_s": 150.0, "incremental_s": 12.0,
                    "pair_agreement": 0.9995, "unchanged_ids_kept": 1.0, "modes": ["incremental", "full"]},
    "spark": {"identity_records": 99_336, "pair_agreement": 1.0, "id_agreement": 1.0, "duckdb_s": 80.0,
              "spark_s": 300.0, "spark_master": "local[2]"},
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_a_section_keeps_the_contract_keys_and_moves_the_rest_to_detail(name):
    out = section(name, ROWS[name])
    assert list(out)[:-1] == list(SECTION_KEYS[name]) and list(out)[-1] == "detail"
    assert set(out["detail"]) == set(ROWS[name]) - set(SECTION_KEYS[name])
    assert section(name, out) == out  # a row read back from results.json is shaped the same


def test_shaped_results_carry_measured_sections_only():
    base = {"machine": {}, "scale": [], "accuracy": [], "throughput": []}
    assert "spark" not in shaped({**base, "spark": None})
    out = shaped({**base, **ROWS})
    assert out["incremental"]["incremental_s"] == 12.0 and out["spark"]["spark_s"] == 300.0


def test_the_markdown_reports_both_engines_and_the_incremental_share():
    text = "\n".join(engines_section({k: section(k, v) for k, v in ROWS.items()}))
    assert "| 993,157 | 0.01 | 150.0 | 12.0 | 0.080 | 0.9995 | 1.0 |" in text
    assert "| 99,336 | 1.0 | 1.0 | 80.0 | 300.0 |" in text


@pytest.mark.parametrize(("dataset", "kept"), [
    ("splink-historical50k", True),  # run only when named: its last row stays until it is measured again
    ("pseudopeople-surveys", True),
    ("febrl4", False),  # measured again: the fresh row replaces it
    ("a-dataset-since-removed", False),
])
def test_merging_accuracy_keeps_rows_of_datasets_not_measured_again(dataset, kept):
    previous = [{"dataset": dataset, "linker": "svoc", "f1": 0.5}]
    fresh = [{"dataset": "febrl4", "linker": "svoc", "f1": 0.9}]
    merged = merged_accuracy(previous, fresh)
    assert (previous[0] in merged) is kept and fresh[0] in merged
