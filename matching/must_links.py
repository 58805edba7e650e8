"""Must-links: equal valid identifiers and steward decisions (append-only; the latest per pair wins).

* ``deterministic_links``: equal valid NHS numbers / UPNs (a UPN equal to another record's former UPN
  counts) produce a spanning star of links per identifier value - never all pairs.
* ``latest_decisions`` / ``steward_links``: steward ``same`` decisions are must-links, ``different`` ones
  cannot-links (enforced by ``matching.constraints.ConstraintIndex``).

Nothing here logs personal data.
"""

from __future__ import annotations

import contextlib
import json
import math

import duckdb
import numpy as np
import pandas as pd

DETERMINISTIC_METHODS = ("steward", "nhs_number", "upn")
LINK_COLUMNS = ["unique_id_l", "unique_id_r", "link_method"]
DECISION_COLUMNS = ["unique_id_l", "unique_id_r", "decision", "reviewer", "reason", "decided_at"]


_DETERMINISTIC_SQL = """
WITH nhs AS (
    SELECT unique_id, nhs AS v FROM recs WHERE nhs IS NOT NULL
), nhs_hub AS (
    SELECT v, min(unique_id) AS hub FROM nhs GROUP BY v
), upn_hub AS (
    SELECT upn AS v, min(unique_id) AS hub FROM recs WHERE upn IS NOT NULL GROUP BY upn
), upn_members AS (
    SELECT unique_id, upn AS v FROM recs WHERE upn IS NOT NULL
    UNION
    SELECT unique_id, former_upn AS v FROM recs WHERE former_upn IS NOT NULL
), links AS (
    SELECT h.hub AS a, n.unique_id AS b, 'nhs_number' AS link_method FROM nhs n JOIN nhs_hub h USING (v)
    UNION
    SELECT h.hub AS a, m.unique_id AS b, 'upn' AS link_method FROM upn_members m JOIN upn_hub h USING (v)
)
SELECT DISTINCT least(a, b) AS unique_id_l, greatest(a, b) AS unique_id_r, link_method
FROM links WHERE a <> b
ORDER BY link_method, unique_id_l, unique_id_r
"""


def clean_id_column(series: pd.Series) -> pd.Series:
    s = series.astype(object)
    return s.where(s.notna() & (s != ""), None)


def deterministic_links(features: pd.DataFrame) -> pd.DataFrame:
    """Spanning links between records sharing a valid NHS number or UPN (DuckDB; never all pairs).

    NHS: one star per NHS number, hub = smallest unique_id. UPN: one star per UPN value over the records
    whose current UPN it is; records whose *former* UPN equals that value join the same star (only when
    some record holds it as its current UPN). Output is canonical (``unique_id_l < unique_id_r``),
    de-duplicated and sorted; ``link_method`` is ``nhs_number`` or ``upn``.
    """
    n = len(features)

    def col(name: str) -> pd.Series:
        if name not in features:
            return pd.Series([None] * n, index=features.index, dtype=object)
        return clean_id_column(features[name])

    recs = pd.DataFrame({"unique_id": features["unique_id"].astype(str), "nhs": col("nhs_number"),
                         "upn": col("upn"), "former_upn": col("former_upn")})
    with duckdb.connect() as con:
        con.register("recs", recs)
        out = con.execute(_DETERMINISTIC_SQL).df()
    return out[LINK_COLUMNS].reset_index(drop=True) if not out.empty else pd.DataFrame(columns=LINK_COLUMNS)


def canonical_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` with each pair ordered so that ``unique_id_l < unique_id_r``."""
    out = frame.copy()
    if out.empty:
        return out
    left = out["unique_id_l"].astype(str).to_numpy()
    right = out["unique_id_r"].astype(str).to_numpy()
    swap = left > right
    out["unique_id_l"] = np.where(swap, right, left)
    out["unique_id_r"] = np.where(swap, left, right)
    return out


# ----------------------------------------------------------------------------------------------
# Steward decisions


def latest_decisions(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The latest decision per (unordered) pair; decisions are append-only, so later rows win ties."""
    if decisions is None or decisions.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    d = canonical_pairs(decisions)
    d = d.assign(_order=np.arange(len(d)), _at=pd.to_datetime(d["decided_at"], errors="coerce", utc=True))
    d = d.sort_values(["_at", "_order"], kind="mergesort", na_position="first")
    d = d.drop_duplicates(["unique_id_l", "unique_id_r"], keep="last").drop(columns=["_order", "_at"])
    return d.sort_values(["unique_id_l", "unique_id_r"], kind="mergesort").reset_index(drop=True)


def steward_links(decisions: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(must_links, cannot_links) from the latest steward decisions.

    must_links: ``unique_id_l, unique_id_r, link_method='steward'``; cannot_links: ``unique_id_l,
    unique_id_r, reason='steward_decision'``.
    """
    latest = latest_decisions(decisions)
    same = latest[latest["decision"] == "same"][["unique_id_l", "unique_id_r"]].assign(link_method="steward")
    diff = latest[latest["decision"] == "different"][["unique_id_l", "unique_id_r"]].assign(
        reason="steward_decision")
    return same.reset_index(drop=True), diff.reset_index(drop=True)


def deterministic_evidence(method: str, probability: float | None = None, weight: float | None = None,
                           scored_evidence: str | None = None) -> str:
    """Evidence JSON for a deterministic/steward link; includes the model score when the pair was scored."""
    items: list[dict] = [{"comparison": method, "level": "exact" if method != "steward" else "decision",
                          "match_weight": None}]
    if probability is not None and not (isinstance(probability, float) and math.isnan(probability)):
        items.append({"comparison": "model_score", "level": "scored", "match_weight": weight,
                      "match_probability": probability})
        if scored_evidence:
            with contextlib.suppress(TypeError, ValueError):
                items.extend(json.loads(scored_evidence))
    return json.dumps(items)
