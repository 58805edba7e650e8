"""Comparing two nights' warehouses (``tests/test_incremental.py``): their partitions of records into children
and tonight's evidence."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

from tests.e2e import query


def citizens(warehouse: Path) -> dict[str, str]:
    return dict(query(warehouse, "SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen"))


def pairs(ids: dict[str, str], keys: set[str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for k in sorted(keys):
        groups[ids[k]].append(k)
    return {p for members in groups.values() for p in itertools.combinations(members, 2)}


def evidence(w: Path) -> set[tuple]:
    return set(query(w, "SELECT unique_id_l, unique_id_r, status, link_method FROM audit.match_evidence "
                        "WHERE run_id = (SELECT any_value(run_id) FROM linked.record_citizen)"))
