"""Small helpers of the match stage: record keys split in two, and the collector leaving the features alone."""

from __future__ import annotations

import gc
import weakref

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.linker import _pair_rows, _split_uid
from matching.memory import long_lived_objects_frozen


@pytest.mark.parametrize(("uid", "source", "record"), [
    ("health:H1", "health", "H1"),
    ("police:N:0048", "police", "N:0048"),  # only the first colon separates: a record id may hold colons
    ("education:", "education", ""),
])
def test_a_record_key_splits_at_its_first_colon(uid, source, record):
    got_source, got_record = _split_uid(pd.Series([uid], index=[7]))
    assert (got_source.tolist(), got_record.tolist(), got_source.index.tolist()) == ([source], [record], [7])


def test_no_keys_split_into_two_empty_columns():
    source, record = _split_uid(pd.Series([], dtype=object))
    assert source.empty and record.empty


class _Held:
    pass


def test_frozen_objects_are_still_freed_when_nothing_refers_to_them():
    held = _Held()
    ref = weakref.ref(held)
    with long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
        del held
        assert ref() is None  # reference counting frees it at once, frozen or not
    assert gc.get_freeze_count() == 0


def test_the_freeze_ends_when_the_block_fails():
    with pytest.raises(RuntimeError), long_lived_objects_frozen():
        raise RuntimeError("a failed step")
    assert gc.get_freeze_count() == 0


_KEYS = st.sampled_from(["a:1", "a:2", "b:1", "b:10", "c:é", "d:𝒜"])


@given(scored=st.lists(st.tuples(_KEYS, _KEYS), max_size=12, unique=True),
       rows=st.lists(st.tuples(_KEYS, _KEYS), max_size=12))
@settings(max_examples=200, deadline=None)
def test_pair_rows_finds_each_pair_as_a_left_merge_does(scored, rows):
    s = pd.DataFrame(scored, columns=["unique_id_l", "unique_id_r"], dtype=object).assign(level=range(len(scored)))
    r = pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r"], dtype=object)
    merged = r.merge(s, on=["unique_id_l", "unique_id_r"], how="left")["level"]
    expected = [-1 if pd.isna(v) else int(v) for v in merged]
    assert _pair_rows(s, r).tolist() == expected
