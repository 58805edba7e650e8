"""``schemas.tables.to_arrow``: the fast conversion gives exactly what the value-by-value conversion gives."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.tables import _column_array, _column_array_by_values, arrow_schema, to_arrow
from svoc.warehouse.sql import repeated_texts

DATE, TEXT, BIG, REAL, FLAG = pa.date32(), pa.string(), pa.int64(), pa.float64(), pa.bool_()
TEXTS = pa.list_(pa.string())


@pytest.mark.parametrize(("values", "dtype", "typ", "expected"), [
    (["a", None, np.nan, pd.NA, ""], object, TEXT, ["a", None, None, None, ""]),
    (["a", None, "b"], "string", TEXT, ["a", None, "b"]),
    ([dt.date(2012, 3, 4), None, pd.NaT], object, DATE, [dt.date(2012, 3, 4), None, None]),
    (pd.to_datetime(["2012-03-04", None, "1899-12-31 13:00"], format="ISO8601"), None, DATE,
     [dt.date(2012, 3, 4), None, dt.date(1899, 12, 31)]),
    ([1.0, np.nan, 3.0], float, BIG, [1, None, 3]),
    ([1, 2, None], "Int64", BIG, [1, 2, None]),
    ([0.5, None, np.nan], object, REAL, [0.5, None, None]),
    ([True, None, False], object, FLAG, [True, None, False]),
    ([["x"], None, ("y", "z"), []], object, TEXTS, [["x"], [], ["y", "z"], []]),
])
def test_a_column_converts_with_nulls_in_place(values, dtype, typ, expected):
    col = pd.Series(values, dtype=dtype)
    fast = _column_array(col, typ)
    assert fast.type == typ and fast.to_pylist() == expected
    assert fast.equals(_column_array_by_values(col, typ))


@pytest.mark.parametrize(("values", "typ"), [
    ([1, "a"], TEXT),  # an int in a text column: the same error either way
    (["not a date"], DATE),
])
def test_a_column_arrow_refuses_fails_as_the_value_by_value_conversion_does(values, typ):
    col = pd.Series(values, dtype=object)
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)) as slow:
        _column_array_by_values(col, typ)
    with pytest.raises(slow.type):
        _column_array(col, typ)


def test_time_zone_aware_timestamps_become_their_local_dates():
    col = pd.Series(pd.to_datetime(["2012-03-04 23:30"]).tz_localize("Europe/London"))
    assert _column_array(col, DATE).to_pylist() == [dt.date(2012, 3, 4)]


_texts = st.one_of(st.none(), st.just(np.nan), st.text(max_size=6))
_dates = st.one_of(st.none(), st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2100, 12, 31)))


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_texts, max_size=30), dates=st.lists(_dates, max_size=30),
       lists=st.lists(st.one_of(st.none(), st.lists(st.text(max_size=3), max_size=3)), max_size=30))
def test_fast_and_value_by_value_conversions_agree(texts, dates, lists):
    for values, typ in ((texts, TEXT), (dates, DATE), (lists, TEXTS)):
        col = pd.Series(values, dtype=object)
        assert _column_array(col, typ).equals(_column_array_by_values(col, typ))


def test_a_frame_takes_the_tables_columns_in_order_with_missing_ones_null():
    frame = pd.DataFrame({"event_date": pd.to_datetime(["2026-01-05", None]), "source": ["health", "police"],
                          "not_in_the_contract": [1, 2]})
    table = to_arrow(frame, "staging.interactions")
    assert table.schema == arrow_schema("staging.interactions")
    assert table.column("source").to_pylist() == ["health", "police"]
    assert table.column("event_date").to_pylist() == [dt.date(2026, 1, 5), None]
    assert table.column("run_id").null_count == 2


@pytest.mark.parametrize("values", [['{"w": 1}', None, '{"w": 1}', '{"w": 2}'], [None, None], []])
@pytest.mark.parametrize("categorical", [pd.Categorical, lambda v: repeated_texts(pd.Series(v, dtype=object))])
def test_a_categorical_text_column_is_written_once_per_distinct_text_and_reads_back_as_text(values, categorical):
    import duckdb

    frame = pd.DataFrame({"unique_id_l": [f"a:{i}" for i in range(len(values))],
                          "evidence": categorical(values)})
    table = to_arrow(frame, "matching.scored_pairs")
    evidence = table.column("evidence")
    assert pa.types.is_dictionary(evidence.type) and evidence.to_pylist() == values
    assert table.column("unique_id_l").type == TEXT  # every other column keeps the contract's type
    con = duckdb.connect()
    con.execute("CREATE TABLE t (unique_id_l VARCHAR, evidence VARCHAR)")
    con.register("f", table)
    con.execute("INSERT INTO t BY NAME SELECT unique_id_l, evidence FROM f")
    assert [r[0] for r in con.execute("SELECT evidence FROM t ORDER BY unique_id_l").fetchall()] == values


# without NUL: pandas hashes an object string only up to one (so did pd.Categorical); evidence is JSON, which
# escapes every control character
@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "", "ä"]),
                          st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=5)), max_size=40))
def test_repeated_texts_keeps_every_value_and_each_text_once(values):
    out = repeated_texts(pd.Series(values, dtype=object))
    assert [None if pd.isna(v) else v for v in out] == values
    assert sorted(out.categories) == sorted({v for v in values if v is not None})
