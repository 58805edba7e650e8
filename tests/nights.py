"""Comparing two nights' warehouses (``tests/test_incremental.py``): their partitions of records into children,
and the links only one of them made between unchanged records on the threshold."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tests.e2e import query


def citizens(warehouse: Path) -> dict[str, str]:
    return dict(query(warehouse, "SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen"))


def pairs(ids: dict[str, str], keys: set[str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for k in sorted(keys):
        groups[ids[k]].append(k)
    return {p for members in groups.values() for p in itertools.combinations(members, 2)}


# How far a pair of unchanged records may move (match weight, bits) between an incremental and a full night. An
# incremental night keeps such a pair's last score; a full night scores every pair again, with name frequencies
# counted over tonight's records, which can carry a pair sitting on the link threshold across it. Measured here:
# one pair, 0.0002 bits from the threshold.
TF_DRIFT_BITS = 0.1


def evidence(w: Path) -> set[tuple]:
    return set(query(w, "SELECT unique_id_l, unique_id_r, status, link_method FROM audit.match_evidence "
                        "WHERE run_id = (SELECT any_value(run_id) FROM linked.record_citizen)"))


def drift_links(nights) -> set[tuple]:
    """Evidence rows (links) only one of the two nights holds. Each must be a pair of records unchanged since
    the first night that the night linking it scored within ``TF_DRIFT_BITS`` of its link threshold."""
    first_hash = dict(query(nights["first"], "SELECT unique_id, identity_hash FROM matching.record_features"))
    inc, full = evidence(nights["incremental"]), evidence(nights["full"])
    out = set()
    for row, night in [*((r, "full") for r in full - inc), *((r, "incremental") for r in inc - full)]:
        w = nights[night]
        assert row[2] == "linked", row
        link = json.loads(query(w, "SELECT thresholds FROM audit.run_matching WHERE run_id = "
                                   "(SELECT any_value(run_id) FROM linked.record_citizen)")[0][0])["link"]
        hashes = dict(query(w, "SELECT unique_id, identity_hash FROM matching.record_features"))
        weight = query(w, "SELECT match_weight FROM matching.scored_pairs WHERE unique_id_l = ? AND unique_id_r = ?",
                       [row[0], row[1]])
        assert all(first_hash.get(k) is not None and first_hash[k] == hashes.get(k) for k in row[:2]), row
        assert weight and abs(weight[0][0] - np.log2(link / (1 - link))) <= TF_DRIFT_BITS, (row, weight, link)
        out.add(row)
    return out


def merged(ids: dict[str, str], links: set[tuple]) -> set[tuple[str, str]]:
    """The partition ``ids`` with the ``links`` (pairs of record keys) joined in."""
    parent = {c: c for c in ids.values()}

    def find(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c
    for a, b, *_ in links:
        parent[find(ids[a])] = find(ids[b])
    return pairs({k: find(c) for k, c in ids.items()}, set(ids))
