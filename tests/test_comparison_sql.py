"""The cheaper SQL the comparisons use gives exactly what the plain SQL gives, NULL included: the edit-distance
helpers against ``damerau_levenshtein`` and the shared-element test against ``list_intersect``, in DuckDB; and a
stored model's plain level SQL, rewritten into them, puts every pair of real records in the same level."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching import settings as S
from matching.artifact import make_artifact
from matching.model import load_features
from matching.sql_forms import (
    cheaper_condition,
    edits_at_most,
    has_any,
    has_any_with,
    one_edit,
    with_cheaper_sql,
)

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
    assert _differing(con, rows, plain, has_any("a", "b"), "VARCHAR[]") == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_LISTS, _TEXT, _LISTS, _TEXT), min_size=1, max_size=40))
def test_has_any_with_is_a_shared_element_of_the_lists_with_their_values(con, rows):
    con.execute("CREATE OR REPLACE TEMP TABLE lv (xl VARCHAR[], vl VARCHAR, xr VARCHAR[], vr VARCHAR)")
    con.executemany("INSERT INTO lv VALUES (?, ?, ?, ?)", rows)
    plain = ("coalesce(len(list_intersect(list_append(coalesce(xl, []::VARCHAR[]), vl), "
             "list_append(coalesce(xr, []::VARCHAR[]), vr))) >= 1, false)")
    cheap = has_any_with("xl", "vl", "xr", "vr")
    assert con.execute(f"SELECT * FROM lv WHERE ({plain}) IS DISTINCT FROM ({cheap})").fetchall() == []


@pytest.mark.parametrize(("a", "b"), [("2012-01-18", "2021-10-81"), ("é", "a"), ("𝒜b", "b𝒜"), ("", ""), ("ab", "abc")])
def test_the_length_guards_never_ask_hamming_of_strings_of_two_lengths(con, a, b):
    """``hamming`` fails on strings of two lengths (in code points, as ``length`` counts): the guards ask it only
    of strings of one length, and answer as the distance does."""
    got = con.execute(f"SELECT {edits_at_most('$a', '$b', 1)}, {one_edit('$a', '$b')}, "
                      "damerau_levenshtein($a, $b)", {"a": a, "b": b}).fetchone()
    assert got == (got[2] <= 1, got[2] == 1, got[2])


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


# Level SQL as a model trained with the earlier helpers stores it (no length guards; lists built per pair)
_STORED_HELPERS = {
    'first name one typo apart':
        'least(length(first_name_std_l), length(first_name_std_r)) >= 3 AND (CASE WHEN levenshtein(first_name_st'
        'd_l, first_name_std_r) <= 1 THEN true WHEN levenshtein(first_name_std_l, first_name_std_r) > 2 THEN fal'
        'se ELSE damerau_levenshtein(first_name_std_l, first_name_std_r) <= 1 END)',
    'first name two typos apart (six letters or more)':
        'least(length(first_name_std_l), length(first_name_std_r)) >= 6 AND abs(length(first_name_std_l) - le'
        'ngth(first_name_std_r)) <= 2 AND (CASE WHEN levenshtein(first_name_std_l, first_name_std_r) <= 2 THEN t'
        'rue WHEN levenshtein(first_name_std_l, first_name_std_r) > 4 THEN false ELSE damerau_levenshtein(first_'
        'name_std_l, first_name_std_r) <= 2 END)',
    'former/preferred/alternative surname matches':
        'coalesce(list_has_any(list_append(coalesce(other_surnames_l, []::VARCHAR[]), last_name_std_l), list_'
        'append(coalesce(other_surnames_r, []::VARCHAR[]), last_name_std_r)), false)',
    'date of birth one digit different (or two neighbouring digits swapped)':
        '(CASE WHEN levenshtein(dob_str_l, dob_str_r) = 1 THEN true WHEN levenshtein(dob_str_l, dob_str_r) <> 2 '
        'THEN false ELSE damerau_levenshtein(dob_str_l, dob_str_r) = 1 END)',
}

DEMO = Path(__file__).resolve().parents[1] / "sample_data" / "demo"


def _settings(replace: dict[str, str] | None = None) -> dict:
    out = S.build_settings().get_settings("duckdb").as_dict()
    for comp in out["comparisons"]:
        for level in comp["comparison_levels"]:
            if replace and level.get("label_for_charts") in replace:
                level["sql_condition"] = replace[level["label_for_charts"]]
    return out


def _conditions(settings: dict) -> dict[str, str]:
    return {lvl["label_for_charts"]: lvl["sql_condition"] for c in settings["comparisons"]
            for lvl in c["comparison_levels"] if "label_for_charts" in lvl}


_KEY_PAIRS = [
    (["pnc"], ["pnc"], ["pnc=12/345678A"], ["pnc=12/345678A"]),
    (["pnc"], ["pnc"], ["pnc=12/345678A"], ["pnc=12/354678A"]),   # neighbours swapped
    (["pnc"], ["pnc"], ["pnc=12/345678A"], ["pnc=12/345678B"]),
    (["pnc"], ["pnc"], ["pnc=12/345678A"], ["pnc=21/435678A"]),   # two swaps
    (["pnc"], ["mosaic"], ["pnc=12/345678A"], ["mosaic=12/345678A"]),
    (["pnc", "mosaic"], ["mosaic"], ["pnc=1", "mosaic=77"], ["mosaic=78"]),
    (["pnc"], None, ["pnc=1"], None),
    ([], [], [], []),
]


@pytest.fixture(scope="module")
def demo_pairs():
    """Pairs of the demo drop's records (same birth year, or the same first two letters of a surname) with every
    feature column as ``<column>_l`` / ``<column>_r``, as Splink compares them."""
    from connectors import extract_source, load_source_configs
    from matching.features import build_features

    ref = dt.date.fromisoformat(json.loads((DEMO / "manifest.json").read_text())["drop_date"])
    identity = pd.concat([extract_source(DEMO / c.name, c, run_id="t", reference_date=ref).identity
                          for c in load_source_configs(None)], ignore_index=True)
    with duckdb.connect() as own:
        table = load_features(own, build_features(identity, ref), ())
        columns = [d[0] for d in own.execute(f"SELECT * FROM {table} LIMIT 0").description]
        sides = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in columns)
        own.execute(f"CREATE TABLE pairs AS SELECT {sides} FROM {table} l JOIN {table} r ON l.unique_id < r.unique_id "
                    "AND (year(l.dob) = year(r.dob) OR l.last_name_std[1:2] = r.last_name_std[1:2])")
        # the demo drop's sources carry no extra identifiers: pairs of identifier keys, the rest of the pair NULL
        own.executemany("INSERT INTO pairs (identifier_names_l, identifier_names_r, identifier_keys_l, "
                        "identifier_keys_r) VALUES (?, ?, ?, ?)", _KEY_PAIRS)
        yield own


@pytest.mark.parametrize("label", sorted(_STORED_PLAIN))
def test_a_stored_model_s_plain_level_sql_puts_every_real_pair_in_the_same_level(demo_pairs, label):
    plain = _STORED_PLAIN[label]
    cheap = cheaper_condition(plain)
    assert "list_intersect" not in cheap.lower()
    assert cheap.lower().count("damerau_levenshtein") == cheap.lower().count("else damerau_levenshtein")
    n, holds, differ = demo_pairs.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {plain}), count(*) FILTER (WHERE ({plain}) IS DISTINCT FROM "
        f"({cheap})) FROM pairs").fetchone()
    assert n > 100_000 and holds > 0
    assert differ == 0


@pytest.mark.parametrize("label", sorted(_STORED_HELPERS))
def test_an_earlier_helper_s_sql_becomes_today_s(demo_pairs, label):
    earlier = _STORED_HELPERS[label]
    cheap = cheaper_condition(earlier)
    today = _conditions(_settings())[label]
    assert cheap != earlier and "list_append" not in cheap.lower()
    assert cheaper_condition(today) == today  # today's form is left as it is
    n, differ = demo_pairs.execute(
        f"SELECT count(*), count(*) FILTER (WHERE ({earlier}) IS DISTINCT FROM ({cheap}) OR ({today}) IS DISTINCT "
        f"FROM ({cheap})) FROM pairs").fetchone()
    assert n > 100_000 and differ == 0
    assert ("hamming" in cheap.lower()) == ("one typo" in label or "digit" in label)


def test_the_rewrite_leaves_today_s_sql_and_the_stored_settings_as_they_are():
    stored = _settings(_STORED_PLAIN)
    assert with_cheaper_sql(_settings()) == _settings()
    cheap = with_cheaper_sql(stored)
    assert stored == _settings(_STORED_PLAIN)
    changed = {k for k, v in _conditions(cheap).items() if v != _conditions(stored)[k]}
    assert changed == set(_STORED_PLAIN)
    assert with_cheaper_sql(cheap) == cheap


def test_a_stored_model_scores_with_the_cheaper_sql_and_keeps_its_version():
    artifact = make_artifact(_settings(_STORED_PLAIN), {})
    engine = _conditions(artifact.engine_settings())
    assert engine == {k: cheaper_condition(v) for k, v in _conditions(_settings(_STORED_PLAIN)).items()}
    assert _conditions(artifact.settings) == _conditions(_settings(_STORED_PLAIN))
    assert make_artifact(_settings(_STORED_PLAIN), {}).model_version == artifact.model_version


@pytest.mark.parametrize("sql", ["ELSE", "not sql at all (", "first_name_std_l = first_name_std_r"])
def test_sql_without_a_plain_form_is_returned_as_written(sql):
    assert cheaper_condition(sql) == sql
