"""The frames the quality suites validate: columns in the form GX checks fastest, values unchanged."""

import pandas as pd
import pytest


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
