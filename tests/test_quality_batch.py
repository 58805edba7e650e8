"""The frames the quality suites validate: columns in the form GX checks fastest, values unchanged."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.runner import has_key


@pytest.mark.parametrize("unit", ["us", "ms", "s", "ns"])
def test_dobs_reach_the_range_check_in_nanoseconds_with_far_dates_clamped(unit):
    """GX compares a datetime64[ns] column vectorised (another unit: Python per value); 1066 and 9999 stay out of
    range, as the first and last days pandas holds, never NULL."""
    from quality.runner import _as_datetime

    dates = pd.Series(pd.array(["1066-10-14", "2012-02-29", None, "9999-12-31"], dtype=f"datetime64[{unit}]")
                      if unit != "ns" else pd.to_datetime(["1700-01-01", "2012-02-29", None, "2200-12-31"]))
    out = _as_datetime(dates)
    assert out.dtype == "datetime64[ns]"
    assert out.isna().tolist() == [False, False, True, False]
    assert out[1] == pd.Timestamp("2012-02-29")
    if unit != "ns":
        assert out[0] == pd.Timestamp.min.ceil("D") and out[3] == pd.Timestamp.max.floor("D")


_IDS = st.one_of(st.none(), st.sampled_from(["P1", "P2", "p1", "P10", "é", "𝒜", ""]))


@given(values=st.lists(_IDS, max_size=30), keys=st.lists(_IDS, max_size=10),
       arrow_values=st.booleans(), arrow_keys=st.booleans())
@settings(max_examples=200, deadline=None)
def test_has_key_answers_as_isin_does(values, keys, arrow_values, arrow_keys):
    """Interactions whose record id is an identity record's: the Arrow lookup against pandas' isin, whichever way
    each side holds its text."""
    def column(items, arrow):
        return pd.Series(items, dtype=pd.StringDtype("pyarrow") if arrow else object)

    expected = pd.Series(values, dtype=object).isin(pd.Series(keys, dtype=object)).to_numpy(dtype=bool)
    assert has_key(column(values, arrow_values), column(keys, arrow_keys)).tolist() == expected.tolist()
