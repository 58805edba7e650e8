"""Name and text forms other systems write: "SURNAME, Forenames" in one field, text mangled by a wrong encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.standardise import split_comma_names, text


@pytest.mark.parametrize(("first", "middle", "last", "expected", "split"), [
    (None, None, "SMITH, John", ("John", None, "SMITH"), True),
    (None, None, "O'BRIEN,  Mary Jane", ("Mary", "Jane", "O'BRIEN"), True),
    (None, "Rose", "Khan, Aisha Noor", ("Aisha", "Rose", "Khan"), True),      # middle names given: kept
    ("John", None, "Smith, Jones", ("John", None, "Smith, Jones"), False),    # a first name given: left alone
    (None, None, "Smith", (None, None, "Smith"), False),
    (None, None, ", John", (None, None, ", John"), False),                    # no surname before the comma
    (None, None, "Smith,", (None, None, "Smith,"), False),                    # nothing after it
    (None, None, "Smith, John, Paul", (None, None, "Smith, John, Paul"), False),
    (None, None, None, (None, None, None), False),
])
def test_a_surname_field_holding_surname_comma_forenames_is_split(first, middle, last, expected, split):
    out = {"first_name": np.array([first], dtype=object), "middle_names": np.array([middle], dtype=object),
           "last_name": np.array([last], dtype=object)}
    done = split_comma_names(out)
    assert (out["first_name"][0], out["middle_names"][0], out["last_name"][0]) == expected
    assert bool(done[0]) is split


def test_split_comma_names_leaves_other_rows_and_read_only_inputs_alone():
    last = np.array(["SMITH, John", "Jones"], dtype=object)
    last.flags.writeable = False
    out = {"first_name": np.array([None, "Ann"], dtype=object), "middle_names": np.array([None, None], dtype=object),
           "last_name": last}
    assert split_comma_names(out).tolist() == [True, False]
    assert out["last_name"].tolist() == ["SMITH", "Jones"] and out["first_name"].tolist() == ["John", "Ann"]
    assert last.tolist() == ["SMITH, John", "Jones"]


@pytest.mark.parametrize(("raw", "expected"), [
    ("ZoÃ©", "Zoé"), ("SiÃ¢n", "Siân"), ("JosÃ© GarcÃ\xada", "José García"),
    ("Zoë", "Zoë"), ("Łukasz", "Łukasz"), ("O'Brien", "O'Brien"), ("  Ann   Marie ", "Ann Marie"), ("N/A", None),
])
def test_text_repairs_utf8_read_as_windows_1252_and_keeps_real_accents(raw, expected):
    assert text(pd.Series([raw], dtype=object)).iat[0] == expected


_ACCENTED = list("éèëïöüáóñçâêîôûøåíú")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10), st.sampled_from(_ACCENTED),
       st.integers(min_value=1, max_value=10))
def test_a_name_with_an_accent_written_as_utf8_and_read_as_windows_1252_comes_back(base, accent, at):
    name = (base[:at] + accent + base[at:]).title()
    try:
        mangled = name.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:  # bytes Windows-1252 has no character for: no such mangled text exists
        return
    assert text(pd.Series([mangled], dtype=object)).iat[0] == text(pd.Series([name], dtype=object)).iat[0]
