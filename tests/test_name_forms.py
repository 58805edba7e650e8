"""Name and text forms other systems write: "SURNAME, Forenames" in one field, text mangled by a wrong encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.names import parse_name, split_names
from connectors.standardise import text


def _split(first, middle, last, full=None):
    out = {"first_name": np.array([first], dtype=object), "middle_names": np.array([middle], dtype=object),
           "last_name": np.array([last], dtype=object)}
    by_comma, by_whole = split_names(out, np.array([full], dtype=object))
    return (out["first_name"][0], out["middle_names"][0], out["last_name"][0]), bool(by_comma[0]), bool(by_whole[0])


@pytest.mark.parametrize(("first", "middle", "last", "expected", "split"), [
    (None, None, "SMITH, John", ("John", None, "SMITH"), True),
    (None, None, "O'BRIEN,  Mary Jane", ("Mary", "Jane", "O'BRIEN"), True),
    (None, "Rose", "Khan, Aisha Noor", ("Aisha", "Rose", "Khan"), True),      # middle names given: kept
    ("John", None, "Smith, Jones", ("John", None, "Smith, Jones"), False),    # a first name given: left alone
    (None, None, "Smith", (None, None, "Smith"), False),
    (None, None, "Smith Jones", (None, None, "Smith Jones"), False),          # no comma: a surname of two words
    (None, None, ", John", (None, None, ", John"), False),                    # no surname before the comma
    (None, None, "Smith,", (None, None, "Smith,"), False),                    # nothing after it
    (None, None, "Smith, John, Paul", (None, None, "Smith, John, Paul"), False),
    (None, None, None, (None, None, None), False),
])
def test_a_surname_field_holding_surname_comma_forenames_is_split(first, middle, last, expected, split):
    assert _split(first, middle, last) == (expected, split, False)


@pytest.mark.parametrize(("full", "expected"), [
    ("John Smith", ("John", None, "Smith")),
    ("Mary Jane Watson", ("Mary", "Jane", "Watson")),
    ("WATSON, Mary Jane", ("Mary", "Jane", "WATSON")),
    ("Ludwig van Beethoven", ("Ludwig", None, "van Beethoven")),
    ("Juan Carlos de la Cruz", ("Juan", "Carlos", "de la Cruz")),
    ("Omar al Farsi", ("Omar", None, "al Farsi")),
    ("Van Morrison", ("Van", None, "Morrison")),           # a first word is never a particle
    ("Cher", None),                                         # one word: which name it is cannot be told
])
def test_parse_name_reads_both_orders_and_surname_particles(full, expected):
    assert parse_name(full) == expected


@pytest.mark.parametrize(("first", "last", "full", "expected", "whole"), [
    (None, None, "Mary Jane Watson", ("Mary", "Jane", "Watson"), True),
    ("Anna", None, "Mary Jane Watson", ("Anna", None, None), False),       # a first name given: the fields win
    (None, "Smith", "Mary Jane Watson", (None, None, "Smith"), False),     # a surname given: the fields win
    (None, None, "Cher", (None, None, None), False),
])
def test_a_full_name_column_fills_the_name_fields_only_when_they_are_empty(first, last, full, expected, whole):
    assert _split(first, None, last, full) == (expected, False, whole)


def test_split_names_leaves_other_rows_and_read_only_inputs_alone():
    last = np.array(["SMITH, John", "Jones"], dtype=object)
    last.flags.writeable = False
    out = {"first_name": np.array([None, "Ann"], dtype=object), "middle_names": np.array([None, None], dtype=object),
           "last_name": last}
    by_comma, by_whole = split_names(out, np.array([None, None], dtype=object))
    assert by_comma.tolist() == [True, False] and not by_whole.any()
    assert out["last_name"].tolist() == ["SMITH", "Jones"] and out["first_name"].tolist() == ["John", "Ann"]
    assert last.tolist() == ["SMITH, John", "Jones"]


@pytest.mark.parametrize(("raw", "expected"), [
    ("ZoÃ©", "Zoé"), ("SiÃ¢n", "Siân"), ("JosÃ© GarcÃ\xada", "José García"),
    ("Zoë", "Zoë"), ("Łukasz", "Łukasz"), ("O'Brien", "O'Brien"), ("  Ann   Marie ", "Ann Marie"), ("N/A", None),
])
def test_text_repairs_utf8_read_as_windows_1252_and_keeps_real_accents(raw, expected):
    assert text(pd.Series([raw], dtype=object)).iat[0] == expected


# accents ftfy puts back whatever the letters around them (it leaves "Ã¥" for å and a leading "ÃŽ" for Î alone: those
# can be real text)
_ACCENTED = list("éèëïöüáóñçâêôûøíúàäãõ")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10), st.sampled_from(_ACCENTED),
       st.integers(min_value=1, max_value=10))
def test_a_name_with_an_accent_written_as_utf8_and_read_as_windows_1252_comes_back(base, accent, at):
    name = (base[:at] + accent + base[at:]).title()
    try:
        mangled = name.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:  # bytes Windows-1252 has no character for: no such mangled text exists
        return
    assert text(pd.Series([mangled], dtype=object)).iat[0] == text(pd.Series([name], dtype=object)).iat[0]


def test_a_source_with_one_name_column_is_extracted_into_name_fields(tmp_path):
    import datetime as dt

    from connectors import extract_source
    from schemas.config import FileConfig, SourceConfig

    cfg = SourceConfig(name="cases", identity=FileConfig(
        file="people", columns={"source_record_id": "Ref", "full_name": "Name", "dob": "Born"}))
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "people.csv").write_text(
        "Ref,Name,Born\nc1,Mary Jane Watson,2014-02-03\nc2,\"WATSON, Peter\",2012-05-06\nc3,Cher,2011-01-01\n"
        "c4,,2010-01-01\n", encoding="utf-8")
    ident = extract_source(tmp_path / "cases", cfg, reference_date=dt.date(2026, 12, 1)).identity
    got = ident.set_index("source_record_id")[["first_name", "middle_names", "last_name"]].astype(object)
    got = got.where(got.notna(), None)
    assert got.loc["c1"].tolist() == ["Mary", "Jane", "Watson"]
    assert got.loc["c2"].tolist() == ["Peter", None, "WATSON"]
    assert got.loc["c3"].tolist() == [None, None, None] and got.loc["c4"].tolist() == [None, None, None]
    flags = ident.set_index("source_record_id")["quality_flags"]
    assert "name_split_from_full_name" in flags["c1"] and "first_name_missing" in flags["c3"]
