"""Sorting large frames by text keys with Arrow's sort instead of pandas', and finding pairs of keys without a
merge on the strings.

pandas sorts object (Python string) columns by factorising and comparing Python objects: at 1M records, sorting
the evidence rows by status and record keys took 3.2 s of the match stage, and the registry's and events' sorts
another 2 s. Arrow sorts the same keys in C++. The order is the same: Arrow compares strings by their UTF-8
bytes, which orders them as Python compares them (by code point), and its sort is stable, as a mergesort is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def sorted_order(frame: pd.DataFrame, by: Sequence[str], *, na_position: Literal["first", "last"] = "last"
                 ) -> np.ndarray:
    """Row positions of ``frame`` in ascending order of the ``by`` columns (text, numbers or a mix of missing
    values), stably, missing values ``na_position`` (as ``DataFrame.sort_values(by, kind="mergesort")``)."""
    keys = pa.table({f"k{i}": _key(frame[c]) for i, c in enumerate(by)})
    nulls = "at_start" if na_position == "first" else "at_end"
    order = pc.sort_indices(keys, sort_keys=[(f"k{i}", "ascending", nulls) for i in range(len(by))])
    return order.to_numpy()


def sort_frame(frame: pd.DataFrame, by: Sequence[str], *, na_position: Literal["first", "last"] = "last"
               ) -> pd.DataFrame:
    """``frame`` sorted by ``by`` (``sorted_order``), with a fresh RangeIndex."""
    return frame.iloc[sorted_order(frame, by, na_position=na_position)].reset_index(drop=True)


def _key(column: pd.Series) -> pa.Array:
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        values = column.to_numpy(dtype=object)
        # NaN and None are both "missing" to pandas' sort; Arrow takes None (and from_pandas NaN) as null
        return pa.array(values, type=pa.string(), from_pandas=True)
    return pa.array(column.to_numpy(), from_pandas=True)


def pair_positions(scored: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Position in ``scored`` (one row per pair) of each row's pair (``unique_id_l``, ``unique_id_r``); -1 for a
    pair not scored."""
    n, m = len(scored), len(rows)
    if n == 0:
        return np.full(m, -1, dtype=np.int64)
    codes, uniques = pd.factorize(pd.concat([scored["unique_id_l"], scored["unique_id_r"], rows["unique_id_l"],
                                             rows["unique_id_r"]], ignore_index=True))
    codes, width = codes.astype(np.int64), len(uniques)
    scored_key = codes[:n] * width + codes[n:2 * n]
    wanted = codes[2 * n:2 * n + m] * width + codes[2 * n + m:]
    order = np.argsort(scored_key, kind="stable")
    found = order[np.minimum(np.searchsorted(scored_key, wanted, sorter=order), n - 1)]
    return np.where(scored_key[found] == wanted, found, -1)
