"""matching.ordering: Arrow's sort gives the rows in the order pandas' stable sort gives them; pairs are found
where a merge on the two keys finds them."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.ordering import pair_positions, sort_frame, sorted_order

# record keys, citizen ids, statuses: any text DuckDB hands back (valid Unicode: no lone surrogates)
_TEXT = st.one_of(st.none(), st.just(math.nan),
                  st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
                  st.sampled_from(["a", "A", "b", "é", "e", "ß", "𝒜", "z", "", "10", "9"]))


@given(rows=st.lists(st.tuples(_TEXT, _TEXT, st.integers(0, 3)), max_size=40),
       na=st.sampled_from(["first", "last"]), keys=st.sampled_from([["x"], ["x", "y"], ["y", "x"]]))
@settings(max_examples=300, deadline=None)
def test_same_order_as_a_pandas_mergesort(rows, na, keys):
    frame = pd.DataFrame(rows, columns=["x", "y", "payload"], dtype=object)
    expected = frame.sort_values(keys, kind="mergesort", na_position=na).reset_index(drop=True)
    got = sort_frame(frame, keys, na_position=na)
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize(("values", "na", "order"), [
    (["b", "a", None, "a"], "last", [1, 3, 0, 2]),  # stable: the two "a" keep their order
    (["b", "a", None, "a"], "first", [2, 1, 3, 0]),
    (["é", "z", "e", "E"], "last", [3, 2, 1, 0]),  # code points: "E" < "e" < "z" < "é"
    (["𝒜", "\uffff", "a"], "last", [2, 1, 0]),  # a letter beyond the BMP sorts after every BMP one
])
def test_sorted_order(values, na, order):
    assert sorted_order(pd.DataFrame({"k": pd.Series(values, dtype=object)}), ["k"], na_position=na).tolist() == order


def test_other_columns_travel_with_their_rows():
    frame = pd.DataFrame({"k": ["c", "a", "b"], "n": [3, 1, 2], "p": [0.3, 0.1, 0.2]})
    got = sort_frame(frame, ["k"])
    assert got["n"].tolist() == [1, 2, 3] and got["p"].tolist() == [0.1, 0.2, 0.3]
    assert got.index.tolist() == [0, 1, 2]


_KEYS = st.sampled_from(["a:1", "a:2", "b:1", "b:10", "c:é", "d:𝒜"])


@given(scored=st.lists(st.tuples(_KEYS, _KEYS), max_size=12, unique=True),
       rows=st.lists(st.tuples(_KEYS, _KEYS), max_size=12))
@settings(max_examples=200, deadline=None)
def test_pair_positions_finds_each_pair_as_a_left_merge_does(scored, rows):
    s = pd.DataFrame(scored, columns=["unique_id_l", "unique_id_r"], dtype=object).assign(level=range(len(scored)))
    r = pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r"], dtype=object)
    merged = r.merge(s, on=["unique_id_l", "unique_id_r"], how="left")["level"]
    expected = [-1 if pd.isna(v) else int(v) for v in merged]
    assert pair_positions(s, r).tolist() == expected
