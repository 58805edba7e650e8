"""Term frequencies kept with the model, so a pair's probability depends only on its two records and the model.

Splink weighs an exact name match by how common the name is (its term frequency). Counted afresh each night over
that night's records, the frequencies move a little as records come and go: the same two unchanged records then
score slightly differently on different nights, and a pair on the link threshold can cross it, although nothing
about either child changed. An incremental night, which keeps an unchanged pair's score, would then disagree with
a full one.

So the frequencies are counted once, over the records the model is trained on (Splink's definition: a value's
count over the number of records holding a value), stored with the model (``matching.term_frequencies``) and
registered with Splink on every night that uses the model, on either engine. A name not in the stored table (new
since training) gets no frequency adjustment: its exact match weighs the model's average. Retraining counts
them again.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pandas as pd

from matching.artifact import ModelArtifact


def tf_columns(settings: dict[str, Any]) -> list[str]:
    """The columns the model adjusts by term frequency (from its comparison levels), in settings order."""
    cols: list[str] = []
    for comp in settings.get("comparisons", []):
        for lvl in comp.get("comparison_levels", []):
            col = lvl.get("tf_adjustment_column")
            if col and col not in cols:
                cols.append(col)
    return cols


def term_frequencies(features: pd.DataFrame, columns: list[str]) -> dict[str, pd.DataFrame]:
    """Per column, Splink's lookup table: the column's values and ``tf_<column>`` = count / records with a value."""
    out = {}
    for col in columns:
        if col not in features:
            continue
        values = features[col].dropna()
        counts = values.value_counts(sort=False)
        out[col] = pd.DataFrame({col: counts.index.astype(str), f"tf_{col}": counts.to_numpy() / len(values)})
    return out


def with_term_frequencies(model: ModelArtifact, features: pd.DataFrame) -> ModelArtifact:
    """``model`` carrying the term frequencies of ``features`` (the records it is trained on)."""
    return dataclasses.replace(model, term_frequencies=term_frequencies(features, tf_columns(model.settings)))


def register_term_frequencies(linker: Any, lookups: dict[str, pd.DataFrame]) -> None:
    """Make ``linker`` (DuckDB or Spark) use ``lookups`` instead of counting tonight's records."""
    for col, frame in lookups.items():
        # a name of its own per call: a Spark session outlives the linker and keeps the views it was given
        table = linker.table_management.register_table(frame, f"svoc_tf_{col}_{uuid.uuid4().hex[:12]}")
        linker.table_management.register_term_frequency_lookup(table, col)
