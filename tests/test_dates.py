"""connectors.dates: factorize once per chunk, map once per distinct value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.dates import blank_to_none, factorize, map_distinct, shared_factorize

VALUES = st.lists(st.one_of(st.none(), st.sampled_from(["", " a ", "a", "N/A", "b", "NULL", "c "])), max_size=40)


@given(VALUES)
def test_factorize_matches_pandas_inside_and_outside_a_shared_block(values: list) -> None:
    arr = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    plain = factorize(arr)
    with shared_factorize():
        first, again = factorize(arr), factorize(arr)
        mapped = map_distinct(pd.Series(arr, dtype=object), lambda v: v.strip().upper() or None)
        m_codes, m_uniques = pd.factorize(mapped.to_numpy(), use_na_sentinel=True)
        derived = factorize(mapped.to_numpy())  # codes derived from the input's codes, not re-hashed
    for got in (plain, first, again):
        assert got[0].tolist() == codes.tolist() and list(got[1]) == list(uniques)
    assert derived[0].tolist() == m_codes.tolist() and list(derived[1]) == list(m_uniques)


def test_mapped_values_cannot_be_changed_in_place_while_remembered() -> None:
    with shared_factorize():
        out = map_distinct(pd.Series(["a", "b", "a"], dtype=object), str.upper)
        with pytest.raises(ValueError):
            out.to_numpy()[0] = "Z"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [([" x ", "", "NULL", None, "n/a", "Unknown"], ["x", None, None, None, None, None]),
     (["A", "a", " A"], ["A", "a", "A"])],
)
def test_blank_to_none(raw: list, expected: list) -> None:
    assert blank_to_none(pd.Series(raw, dtype=object)).tolist() == expected
