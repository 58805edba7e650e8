"""Scoring a partial identity (or a list of them) against candidate records with the STORED Splink model.

The caller finds candidate records cheaply (identifiers, date of birth, names: ``svoc.find``) and builds
feature rows for them and for each query with ``matching.features.build_features``. This module scores each
query only against its own candidates, with Splink 5's ``predict_between`` and a blocking rule on the query
number, so a 1,000-row list is one Splink call. Term frequencies come from the caller (from the whole
warehouse), so a common name weighs less than a rare one, as in the nightly model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from matching.artifact import ModelArtifact
from matching.model import SPLINK_LOG_LEVEL, extra_ids, level_labels, load_features, matching_connection

TF_COLUMNS = ("first_name_std", "last_name_std")
QUERY_PREFIX = "query:"


@dataclass
class ScoredCandidate:
    """One candidate record for one query: probability, match weight and per-comparison evidence."""

    qid: int
    unique_id: str
    match_probability: float
    match_weight: float
    evidence: list[dict[str, Any]] = field(default_factory=list)


def _table(con: duckdb.DuckDBPyConnection, features: pd.DataFrame, extra: tuple[str, ...], name: str,
           term_frequencies: dict[str, dict[str, float]] | None) -> None:
    """Feature rows as table ``name``, plus ``qid`` (the query number) and ``tf_<column>`` for ``TF_COLUMNS``."""
    for col in extra:
        if col not in features.columns:
            features = features.assign(**{col: None})
    load_features(con, features.drop(columns=["qid"]), extra)
    side = pd.DataFrame({"unique_id": features["unique_id"].to_numpy(), "qid": features["qid"].astype("int64")})
    for col in TF_COLUMNS:
        freqs = (term_frequencies or {}).get(col) or {}
        floor = min(freqs.values(), default=1e-6)
        side[f"tf_{col}"] = [None if v is None or v != v else freqs.get(v, floor) for v in features[col]]
    con.register("_lookup_side", side)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT f.*, s.* EXCLUDE (unique_id) FROM cv_features f "
                "JOIN _lookup_side s USING (unique_id)")
    con.unregister("_lookup_side")


class LookupScorer:
    """The stored model, compiled once into the scoring SQL Splink itself runs for ``score_pairs`` (comparison
    vectors, then Bayes factors, term-frequency adjustments and probability: ``splink.internals.predict``), so a
    lookup pays Splink's SQL generation once per model, not once per query. Hold one per model version."""

    def __init__(self, artifact: ModelArtifact) -> None:
        from splink import DuckDBAPI, Linker
        from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings

        from matching.features import FEATURE_COLUMNS

        self.model_version = artifact.model_version
        settings = artifact.engine_settings()
        self.extra = extra_ids(settings)
        con = matching_connection(threads=1)
        try:
            load_features(con, pd.DataFrame(columns=[*FEATURE_COLUMNS, *self.extra]), self.extra)
            linker = Linker(DuckDBAPI(con).register("cv_features"), settings, log_level=SPLINK_LOG_LEVEL)
            s = linker._settings_obj
            s._retain_matching_columns = True
            s._retain_intermediate_calculation_columns = True
            self.labels = level_labels(linker)
            ctes = [("__splink__df_blocked",
                     f"SELECT {', '.join(s._columns_to_select_for_blocking)}, 0 AS match_key "
                     "FROM lookup_queries AS l JOIN lookup_candidates AS r ON l.qid = r.qid"),
                    ("__splink__df_comparison_vectors",
                     f"SELECT {', '.join(s._columns_to_select_for_comparison_vector_values)} FROM __splink__df_blocked")]
            ctes += [(q["output_table_name"], q["sql"]) for q in predict_from_comparison_vectors_sqls_using_settings(s)]
        finally:
            con.close()
        self.sql = "WITH " + ",\n".join(f"{name} AS ({sql})" for name, sql in ctes) + f"\nSELECT * FROM {ctes[-1][0]}"
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """A private in-memory connection for scoring, kept with the scorer (closed by ``close``)."""
        if self._con is None:
            self._con = matching_connection(threads=1)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def score(self, queries: pd.DataFrame, candidates: pd.DataFrame,
              term_frequencies: dict[str, dict[str, float]] | None = None, evidence_from: float = 0.0
              ) -> list[ScoredCandidate]:
        """Score every (query, candidate) pair. ``queries``: feature rows (``FEATURE_COLUMNS``) with an int
        ``qid``; ``candidates``: feature rows with the ``qid`` of the query that found them (a record may appear
        under several queries); ``term_frequencies``: column -> {value: share of warehouse records};
        ``evidence_from``: the probability from which per-comparison evidence is built (lower pairs get none)."""
        if queries.empty or candidates.empty:
            return []
        q = queries.copy()
        q["unique_id"] = [f"{QUERY_PREFIX}{int(i)}" for i in q["qid"]]
        c = candidates.copy()
        c["unique_id"] = [f"{QUERY_PREFIX}{int(i)}|{u}" for i, u in zip(c["qid"], c["unique_id"], strict=True)]
        with self._lock:
            con = self._connection()
            _table(con, q, self.extra, "lookup_queries", term_frequencies)
            _table(con, c, self.extra, "lookup_candidates", term_frequencies)
            out = con.execute("SELECT COLUMNS('^(unique_id_l|unique_id_r|match_probability|match_weight|gamma_.*|"
                              f"mw_.*)$') FROM ({self.sql})").df()
        return _scored(out, self.labels, evidence_from)


def score_queries(queries: pd.DataFrame, candidates: pd.DataFrame, artifact: ModelArtifact,
                  term_frequencies: dict[str, dict[str, float]] | None = None) -> list[ScoredCandidate]:
    """One-off scoring (compiles the model each call; hold a ``LookupScorer`` to score repeatedly)."""
    scorer = LookupScorer(artifact)
    try:
        return scorer.score(queries, candidates, term_frequencies)
    finally:
        scorer.close()


def _scored(out: pd.DataFrame, labels: dict[str, dict[int, str]], evidence_from: float) -> list[ScoredCandidate]:
    """Rows of the scoring SQL -> candidates. The query is always the left record. Evidence (each comparison's
    level label and weight, term-frequency adjustment included) is built only for pairs with
    ``match_probability >= evidence_from``: the rest are never shown."""
    if out.empty:
        return []
    qids = out["unique_id_l"].str.slice(len(QUERY_PREFIX)).astype("int64").to_numpy()
    records = out["unique_id_r"].str.split("|", n=1).str[1].to_numpy()
    prob = out["match_probability"].to_numpy(dtype=float)
    weight = out["match_weight"].to_numpy(dtype=float)
    levels: dict[str, tuple[list[str | None], np.ndarray]] = {}
    for name, by_gamma in labels.items():
        if f"gamma_{name}" not in out:
            continue
        gamma = out[f"gamma_{name}"].to_numpy()
        mw = out[f"mw_{name}"].to_numpy(dtype=float) if f"mw_{name}" in out else np.zeros(len(out))
        if f"mw_tf_adj_{name}" in out:
            mw = mw + np.nan_to_num(out[f"mw_tf_adj_{name}"].to_numpy(dtype=float))
        levels[name] = ([by_gamma.get(int(g), str(g)) if g == g else None for g in gamma], np.nan_to_num(mw))
    result = []
    for i in range(len(out)):
        evidence = [{"comparison": name, "level": lv[i], "match_weight": round(float(mw[i]), 3)}
                    for name, (lv, mw) in levels.items() if lv[i] is not None] if prob[i] >= evidence_from else []
        result.append(ScoredCandidate(qid=int(qids[i]), unique_id=str(records[i]), match_probability=float(prob[i]),
                                      match_weight=float(weight[i]), evidence=evidence))
    return result
