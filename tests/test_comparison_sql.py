"""The cheaper SQL the comparisons use gives exactly what the plain SQL gives, NULL included: the edit-distance
helpers against ``damerau_levenshtein`` and the shared-element test against ``list_intersect``, in DuckDB."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.comparisons import _has_any, edits_at_most, one_edit

# short strings over a small alphabet (so near pairs are common), with accents, a non-BMP letter and NULL
_TEXT = st.one_of(st.none(), st.text(alphabet="abcé日𝒜-0", max_size=7))
_PAIRS = st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=60)
_LISTS = st.one_of(st.none(), st.lists(_TEXT, max_size=4))


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _differing(con: duckdb.DuckDBPyConnection, rows: list, plain: str, cheap: str, column_type: str) -> list:
    """The rows where the two expressions over (a, b) differ (``IS DISTINCT FROM``: a NULL differs from false)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE ab (i INTEGER, a {column_type}, b {column_type})")
    con.executemany("INSERT INTO ab VALUES (?, ?, ?)", [(i, a, b) for i, (a, b) in enumerate(rows)])
    return con.execute(f"SELECT a, b, {plain}, {cheap} FROM ab WHERE ({plain}) IS DISTINCT FROM ({cheap})").fetchall()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_PAIRS, k=st.sampled_from([0, 1, 2, 3]))
def test_edits_at_most_is_damerau_levenshtein_within_k(con, rows, k):
    assert _differing(con, rows, f"damerau_levenshtein(a, b) <= {k}", edits_at_most("a", "b", k), "VARCHAR") == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_PAIRS)
def test_one_edit_is_damerau_levenshtein_one(con, rows):
    assert _differing(con, rows, "damerau_levenshtein(a, b) = 1", one_edit("a", "b"), "VARCHAR") == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_LISTS, _LISTS), min_size=1, max_size=40))
def test_has_any_is_a_non_empty_intersection(con, rows):
    plain = "coalesce(len(list_intersect(a, b)) >= 1, false)"
    assert _differing(con, rows, plain, _has_any("a", "b"), "VARCHAR[]") == []


@pytest.mark.parametrize(("a", "b", "k", "within"), [
    ("2012-01-18", "2012-10-18", 1, True),   # two neighbouring digits swapped: Levenshtein says 2, DL says 1
    ("2012-01-18", "2012-01-19", 1, True),
    ("2012-01-18", "2013-01-19", 1, False),
    ("joshua", "jsohua", 1, True),
    ("joshua", "jsouha", 1, False),          # two swaps: DL 2, Levenshtein 4
    ("joshua", "jsouha", 2, True),
    ("ab", "ba", 0, False),
    (None, "ba", 1, None),
])
def test_edits_at_most_examples(con, a, b, k, within):
    assert con.execute(f"SELECT {edits_at_most('$a', '$b', k)}", {"a": a, "b": b}).fetchone()[0] is within
