"""The cheaper SQL the comparisons use gives exactly what the plain SQL gives, NULL included: the edit-distance
helpers against ``damerau_levenshtein`` and the shared-element test against ``list_intersect``, in DuckDB."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching import settings as S
from matching.comparisons import _has_any, edits_at_most, one_edit, with_cheaper_sql
from matching.features import FEATURE_COLUMNS
from matching.model import load_features, make_linker

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


# Level SQL as a model trained before the cheaper forms stores it (audit.models keeps each level's SQL), by label
_STORED_PLAIN = {
    'nickname/transliteration group match':
        'coalesce(len(list_intersect(first_name_groups_l, first_name_groups_r)) >= 1, false)',
    'matches an alternative (known-as) first name':
        'coalesce((list_contains(alt_first_names_l, first_name_std_r) OR list_contains(alt_first_names_r, fir'
        'st_name_std_l) OR coalesce(len(list_intersect(alt_first_names_l, alt_first_names_r)) >= 1, false)), '
        'false)',
    'first name one typo apart':
        'least(length(first_name_std_l), length(first_name_std_r)) >= 3 AND damerau_levenshtein(first_name_st'
        'd_l, first_name_std_r) <= 1',
    'first name two typos apart (six letters or more)':
        'least(length(first_name_std_l), length(first_name_std_r)) >= 6 AND abs(length(first_name_std_l) - le'
        'ngth(first_name_std_r)) <= 2 AND damerau_levenshtein(first_name_std_l, first_name_std_r) <= 2',
    'part of a double-barrelled surname matches':
        'coalesce(len(list_intersect(last_name_parts_l, last_name_parts_r)) >= 1, false)',
    'former/preferred/alternative surname matches':
        'coalesce(len(list_intersect(list_append(coalesce(other_surnames_l, []::VARCHAR[]), last_name_std_l),'
        ' list_append(coalesce(other_surnames_r, []::VARCHAR[]), last_name_std_r))) >= 1, false)',
    'date of birth missing or unusable on one or both records':
        '(dob_l IS NULL OR dob_r IS NULL) AND NOT coalesce(damerau_levenshtein(dob_str_l, dob_str_r) <= 1, fa'
        'lse) AND NOT ((dob_l IS NOT NULL OR birth_earliest_l IS NOT NULL) AND (dob_r IS NOT NULL OR birth_ea'
        'rliest_r IS NOT NULL))',
    'date of birth one digit different (or two neighbouring digits swapped)':
        'damerau_levenshtein(dob_str_l, dob_str_r) = 1',
    'UPN missing on one or both records':
        '(upn_l IS NULL OR upn_r IS NULL) AND NOT coalesce(len(list_intersect(upn_any_l, upn_any_r)) >= 1, fa'
        'lse)',
    'current or former UPN matches':
        'coalesce(len(list_intersect(upn_any_l, upn_any_r)) >= 1, false)',
    'no identifier of the same kind on both records':
        'NOT coalesce(len(list_intersect(identifier_names_l, identifier_names_r)) >= 1, false)',
    'an identifier value matches exactly':
        'coalesce(len(list_intersect(identifier_keys_l, identifier_keys_r)) >= 1, false)',
    'an identifier value one character or one transposition apart':
        'coalesce(len(list_filter(identifier_keys_l, lambda x: len(list_filter(identifier_keys_r, lambda y: s'
        "plit_part(x, '=', 1) = split_part(y, '=', 1) AND damerau_levenshtein(x, y) = 1)) > 0)) > 0, false)",
}


def _settings(replace: dict[str, str] | None = None) -> dict:
    out = S.build_settings().get_settings("duckdb").as_dict()
    for comp in out["comparisons"]:
        for level in comp["comparison_levels"]:
            if replace and level.get("label_for_charts") in replace:
                level["sql_condition"] = replace[level["label_for_charts"]]
    return out


def _conditions(settings: dict) -> list[str]:
    return [lvl["sql_condition"] for c in settings["comparisons"] for lvl in c["comparison_levels"]]


def test_a_stored_model_runs_the_cheaper_sql_of_a_model_trained_now():
    stored = _settings(_STORED_PLAIN)
    assert _conditions(stored) != _conditions(_settings())
    assert _conditions(with_cheaper_sql(stored)) == _conditions(_settings())
    assert _conditions(with_cheaper_sql(_settings())) == _conditions(_settings())  # the cheaper forms stay as they are
    assert _conditions(stored) == _conditions(_settings(_STORED_PLAIN))  # the stored settings are not changed


def test_the_linker_of_a_stored_model_compares_with_the_cheaper_sql():
    with duckdb.connect() as own:
        table = load_features(own, pd.DataFrame(columns=list(FEATURE_COLUMNS)), ())
        linker = make_linker(own, table, _settings(_STORED_PLAIN))
        used = [lvl.sql_condition for c in linker._settings_obj.comparisons for lvl in c.comparison_levels]
    assert used == _conditions(_settings())
