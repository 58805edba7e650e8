"""Incremental nights: which records are re-clustered (the components holding a new, changed or removed record's
child), on string keys and on row numbers with integer labels, and which records seed them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching.incremental import component_mask, seed_records, touched_records

# ------------------------------------------------------------------------------------ touched records
KEYS = ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize("seeds,pairs,groups,expected", [
    ({"a"}, [], {}, {"a"}),
    ({"a"}, [("a", "b"), ("b", "c")], {}, {"a", "b", "c"}),
    ({"a"}, [("b", "c")], {}, {"a"}),
    ({"a"}, [], {"nhs": ["N1", "N1", None, None, "N2", "N2"]}, {"a", "b"}),
    ({"e"}, [("a", "b")], {"nhs": ["N1", "N1", None, None, "N2", "N2"]}, {"e", "f"}),
    ({"c"}, [("a", "b")], {"citizen": ["C1", "C1", "C2", "C2", "C3", None]}, {"c", "d"}),
    ({"a"}, [("b", "c")], {"citizen": ["C1", "C1", None, None, None, None], "upn": [None, None, "U", "U", "", ""]},
     {"a", "b", "c", "d"}),
    (set(), [("a", "b")], {}, set()),
    ({"gone"}, [("a", "gone")], {}, set()),
])
def test_touched_records_are_the_components_holding_a_seed(seeds, pairs, groups, expected):
    frame = pd.DataFrame(pairs, columns=["unique_id_l", "unique_id_r"])
    mask = touched_records(KEYS, seeds, frame, groups)
    assert set(np.asarray(KEYS)[mask]) == expected


@pytest.mark.parametrize("edges,labels,seeds,expected", [
    ([], [], [0], [0]),
    ([(0, 1), (1, 2)], [], [0], [0, 1, 2]),
    ([], [[2**62, 2**62, -1, -1, 7, 7]], [4], [4, 5]),  # hash-sized labels; -1 is "no value", never shared
    ([], [[-1, -1, -1, -1, -1, -1]], [0], [0]),
    ([(3, 4)], [[5, -1, 5, -1, -1, -1], [-1, 9, -1, 9, -1, 9]], [0], [0, 2]),
    ([(3, 4)], [[5, -1, 5, 5, -1, -1]], [0], [0, 2, 3, 4]),
    ([(0, 1)], [], [], []),
])
def test_component_mask_works_on_row_numbers_and_integer_labels(edges, labels, seeds, expected):
    mask = component_mask(6, np.asarray(edges, dtype=np.int64).reshape(-1, 2),
                          [np.asarray(x, dtype=np.int64) for x in labels], np.asarray(seeds, dtype=np.int64))
    assert np.flatnonzero(mask).tolist() == expected


@pytest.mark.parametrize("changed,removed,decided,expected", [
    ([], [], [], set()),
    (["n1"], [], [], {"n1"}),  # a new record: nobody else yet
    (["a1"], [], [], {"a1", "a2"}),  # a changed record: its whole child
    ([], ["b1"], [], {"b2"}),  # a removed record: the rest of its child
    ([], [], [("a1", "c1")], {"a1", "c1"}),  # both records of a steward decision
])
def test_seed_records(changed, removed, decided, expected):
    previous = pd.DataFrame({"record_key": ["a1", "a2", "b1", "b2", "c1"], "citizen_id": ["A", "A", "B", "B", "C"]})
    decisions = pd.DataFrame(decided, columns=["unique_id_l", "unique_id_r"])
    assert seed_records(changed, removed, previous, decisions) == expected
