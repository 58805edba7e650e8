"""Small helpers of the match stage: record keys split in two, and the collector leaving the features alone."""

from __future__ import annotations

import gc
import weakref

import pandas as pd
import pytest

from matching.linker import _split_uid
from matching.memory import HandedOver, long_lived_objects_frozen


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



class _Table:
    """Stands for a large Arrow table (a weak reference tells when it is freed)."""


def test_a_handed_over_object_is_lent_then_given_away():
    held = HandedOver(_Table())
    lent = held.peek()
    assert held.peek() is lent and held.take() is lent
    with pytest.raises(RuntimeError, match="already handed over"):
        held.peek()


def test_the_callee_that_takes_it_frees_it_once_loaded():
    """The point of ``take``: scoring (``predict_pairs``) frees the features' Arrow copy right after loading it."""
    seen = {}

    def load(table):  # as predict_pairs: read it, then drop the name
        ref = weakref.ref(table)
        del table
        seen["freed_before_return"] = ref() is None

    load(HandedOver(_Table()).take())
    assert seen["freed_before_return"]
