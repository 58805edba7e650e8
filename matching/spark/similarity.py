"""DuckDB's Jaro-Winkler as a Spark SQL function, so both engines put a pair in the same comparison level.

Splink's jar brings its own ``jaro_winkler`` (Apache Commons Text), which counts matches and transpositions
differently from DuckDB's ``jaro_winkler_similarity`` (rapidfuzz's algorithm): ``nowicki`` / ``nowcki`` is 0.928 on
DuckDB and under 0.92 on the jar, so the same pair fell into a different level on each engine (measured at 1M:
2 of 993,157 records got a different citizen id). ``svoc_jaro_winkler`` computes DuckDB's value with rapidfuzz,
vectorised in a pandas UDF; rapidfuzz is an svoc dependency, so a cluster's workers have it with svoc.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

JARO_WINKLER = "svoc_jaro_winkler"


def jaro_winkler(left: pd.Series, right: pd.Series) -> pd.Series:
    """Element-wise Jaro-Winkler similarity over code points (prefix weight 0.1, as DuckDB); null where either
    side is null, 0 where either is empty (DuckDB's value for two empty strings too)."""
    out = np.full(len(left), np.nan)
    both = (left.notna() & right.notna()).to_numpy()
    if both.any():
        a, b = left[both].astype(str).tolist(), right[both].astype(str).tolist()
        sim = cpdist(a, b, scorer=JaroWinkler.similarity, dtype=np.float64, workers=1)
        empty = np.fromiter((not x or not y for x, y in zip(a, b, strict=True)), dtype=bool, count=len(a))
        out[both] = np.where(empty, 0.0, sim)
    return pd.Series(out, index=left.index)


def register(spark: Any) -> None:
    """Make ``svoc_jaro_winkler(a, b)`` callable from Spark SQL in ``spark``'s session."""
    from pyspark.sql.functions import pandas_udf

    spark.udf.register(JARO_WINKLER, pandas_udf(jaro_winkler, "double"))  # type: ignore[call-overload]
