"""Typed cell values (Excel, Parquet, SQL) to the same strings a CSV export would hold."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd


def value_str(value: object) -> str | None:
    """One typed value as text: dates ISO, whole floats without ``.0``, booleans ``true``/``false``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp | dt.datetime):
        if pd.isna(value):
            return None
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float | np.floating):
        if value != value:
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, decimal.Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def stringify_series(series: pd.Series) -> pd.Series:
    """Vectorised ``value_str`` (one call per distinct value)."""
    if series.dtype == object and series.map(lambda v: v is None or isinstance(v, str)).all():
        return series.where(series.notna(), None)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.array([value_str(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=series.index, dtype=object)


def stringify_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({c: stringify_series(frame[c]) for c in frame.columns}, index=frame.index)
    out.columns = list(frame.columns)
    return out.reset_index(drop=True)
