"""A failure no svoc library worded (out of memory, a full disk, a bug) still ends a run with one plain line that
says what to do, never an exception's class name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.runner import plain_failure


@pytest.mark.parametrize(("cls_name", "message", "says"), [
    ("OutOfMemoryException", "_duckdb.OutOfMemoryException: Out of Memory Error: failed to allocate data of size "
                             "8.0 MiB (949.7 MiB/953.6 MiB used)", "SVOC_DUCKDB_MEMORY_LIMIT"),
    ("MemoryError", "", "ran out of memory"),
    ("IOException", "IO Error: No space left on device", "disk is full"),
    ("ValueError", "ValueError: math domain error", "unexpected error stopped the run (math domain error)"),
    ("KeyError", "", "no message"),
])
def test_plain_failure_says_what_happened_and_what_to_do(cls_name: str, message: str, says: str) -> None:
    line = plain_failure(cls_name, message)
    assert says in line and "\n" not in line
    assert cls_name not in line


@given(st.sampled_from(["ValueError", "KeyError", "OutOfMemoryException", "BinderException"]),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_plain_failure_is_one_line_without_the_class_prefix(cls_name: str, message: str) -> None:
    line = plain_failure(cls_name, f"_duckdb.{cls_name}: {message}")
    assert "\n" not in line
    assert f"_duckdb.{cls_name}" not in line
