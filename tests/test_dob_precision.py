"""Placeholder DOBs (``matching.dates``): the patterns a source shows, found from its records one by one or from
counts per DOB, and the precision they leave each record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching.dates import dob_precision, placeholder_patterns


def test_a_source_that_defaults_unknown_days_to_1_january_gives_year_only_dobs():
    rng = np.random.default_rng(1)
    days = pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 3000, 600), unit="D")
    dob = pd.Series(list(days) + [pd.Timestamp(2012, 1, 1)] * 60 + list(days[:100]) + [pd.Timestamp(2013, 1, 1)])
    source = pd.Series(["a"] * 660 + ["b"] * 101)
    precision = dob_precision(source, dob)
    assert set(precision[600:660]) == {"year"}  # source a's placeholder
    assert precision[-1] == "day"  # one 1 January birth in source b is just a birthday
    assert (precision[:600] == "day").mean() > 0.99


@pytest.mark.parametrize("placeholders", [0, 5, 60, 300])
def test_patterns_from_counts_per_dob_are_those_of_the_records_and_judge_them_alike(placeholders):
    """An incremental night finds the patterns from records per source and DOB, and judges only its new records by
    them: the same patterns, and for every record the same precision, as over the records one by one."""
    rng = np.random.default_rng(placeholders)
    days = pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 3000, 900), unit="D")
    dob = pd.Series(list(days) + [pd.Timestamp(2012, 7, 1)] * placeholders + [pd.NaT] * 5)
    source = pd.Series(["a"] * 500 + ["b"] * (400 + placeholders) + ["a"] * 5)
    counts = pd.DataFrame({"source": source, "dob": dob}).dropna().groupby(["source", "dob"]).size().reset_index()
    patterns = placeholder_patterns(counts["source"], counts["dob"], counts[0])
    assert patterns == placeholder_patterns(source, dob)
    assert ("07-01" in patterns.get("b", [])) == (placeholders >= 60)
    assert dob_precision(source, dob, patterns).tolist() == dob_precision(source, dob).tolist()
    some = slice(450, 950)  # a part of the records, judged by every record's patterns
    assert dob_precision(source[some], dob[some], patterns).tolist() == dob_precision(source, dob)[some].tolist()
