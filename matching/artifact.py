"""A trained model as stored: ``ModelArtifact`` and ``audit.models``.

A model's ``model_version`` is a content hash of its canonical JSON (estimated parameters rounded to
``_SIG_DIGITS`` significant digits, so the same training gives the same version whatever the thread count).
``save_model(con, artifact, run_id)`` / ``load_latest_model(con)`` keep models in the warehouse; a stored
model whose settings no longer match its hash is refused. ``load_current_model(con)`` is the one a run reuses:
none when this version's comparison levels differ from the stored model's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

_SIG_DIGITS = 10
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelArtifact:
    """A trained model: Splink settings dict (with m/u and prior) plus how it was trained."""

    model_version: str
    created_at: str
    settings: dict[str, Any]
    training_summary: dict[str, Any] = field(default_factory=dict)
    # Splink term-frequency lookups counted on the training records (``matching.term_frequencies``), by column
    term_frequencies: dict[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    @property
    def settings_json(self) -> str:
        return canonical_json(self.settings)

    def engine_settings(self) -> dict[str, Any]:
        """The settings an engine scores with: a copy of the stored ones whose level SQL is in the comparisons'
        cheaper, equal form (``matching.sql_forms``). ``settings`` and the version hashed from them stay as stored."""
        from matching.sql_forms import with_cheaper_sql

        return with_cheaper_sql(json.loads(self.settings_json))

    @property
    def prior(self) -> float:
        return float(self.settings["probability_two_random_records_match"])


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()[:16]


def _round_sig(x: Any) -> Any:
    if isinstance(x, float) and math.isfinite(x) and x != 0.0:
        return float(f"{x:.{_SIG_DIGITS}g}")
    return x


def _canonical_settings(model_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop run-specific keys and round estimated parameters so the hash is stable across threads."""
    d = json.loads(json.dumps(model_dict, default=str))
    d.pop("linker_uid", None)
    d.pop("sql_dialect", None)
    d["probability_two_random_records_match"] = _round_sig(d["probability_two_random_records_match"])
    for comp in d.get("comparisons", []):
        for lvl in comp.get("comparison_levels", []):
            for key in ("m_probability", "u_probability"):
                if key in lvl:
                    lvl[key] = _round_sig(lvl[key])
    return d


def make_artifact(model_dict: dict[str, Any], training_summary: dict[str, Any]) -> ModelArtifact:
    settings = _canonical_settings(model_dict)
    return ModelArtifact(
        model_version=content_hash(settings),
        created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        settings=settings,
        training_summary=training_summary,
    )


# ------------------------------------------------------------------------------------ audit.models
_MODELS_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.models (
    model_version VARCHAR PRIMARY KEY,
    created_at TIMESTAMP,
    run_id VARCHAR,
    settings_json VARCHAR,
    training_summary_json VARCHAR
);
"""


def save_model(con: duckdb.DuckDBPyConnection, artifact: ModelArtifact, run_id: str | None) -> None:
    """Insert the model into ``audit.models`` unless that exact version is already stored."""
    con.execute(_MODELS_DDL)
    con.execute(
        "INSERT INTO audit.models SELECT ?, ?::TIMESTAMP, ?, ?, ? "
        "WHERE NOT EXISTS (SELECT 1 FROM audit.models WHERE model_version = ?)",
        [
            artifact.model_version,
            artifact.created_at,
            run_id,
            artifact.settings_json,
            canonical_json(artifact.training_summary),
            artifact.model_version,
        ],
    )
    _save_term_frequencies(con, artifact)


_TF_DDL = """
CREATE SCHEMA IF NOT EXISTS matching;
CREATE TABLE IF NOT EXISTS matching.term_frequencies (
    model_version VARCHAR, column_name VARCHAR, value VARCHAR, tf DOUBLE
);
"""


def _save_term_frequencies(con: duckdb.DuckDBPyConnection, artifact: ModelArtifact) -> None:
    """The model's term-frequency lookups, once per model version."""
    if not artifact.term_frequencies:
        return
    con.execute(_TF_DDL)
    if con.execute("SELECT count(*) FROM matching.term_frequencies WHERE model_version = ?",
                   [artifact.model_version]).fetchall()[0][0]:
        return
    for col, frame in artifact.term_frequencies.items():
        rows = pd.DataFrame({"value": frame[col].astype(str), "tf": frame[f"tf_{col}"].astype(float)})
        con.register("__svoc_tf_in", rows)
        con.execute("INSERT INTO matching.term_frequencies SELECT ?, ?, value, tf FROM __svoc_tf_in",
                    [artifact.model_version, col])
        con.unregister("__svoc_tf_in")


def _load_term_frequencies(con: duckdb.DuckDBPyConnection, model_version: str) -> dict[str, pd.DataFrame]:
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'matching' "
                         "AND table_name = 'term_frequencies'").fetchall()[0][0]
    if not exists:
        return {}
    rows = con.execute("SELECT column_name, value, tf FROM matching.term_frequencies WHERE model_version = ? "
                       "ORDER BY column_name, value", [model_version]).df()
    return {str(col): pd.DataFrame({col: g["value"].to_numpy(), f"tf_{col}": g["tf"].to_numpy()})
            for col, g in rows.groupby("column_name", sort=True)}


def load_latest_model(con: duckdb.DuckDBPyConnection) -> ModelArtifact | None:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' AND table_name = 'models'"
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(
        "SELECT model_version, created_at, settings_json, training_summary_json FROM audit.models "
        "ORDER BY created_at DESC, model_version DESC LIMIT 1"
    ).fetchall()
    if not rows:
        return None
    row = rows[0]
    settings = json.loads(row[2])
    if content_hash(settings) != row[0]:
        raise ValueError(f"stored model {row[0]} does not match its content hash")
    return ModelArtifact(
        model_version=row[0],
        created_at=row[1].isoformat(timespec="seconds") if hasattr(row[1], "isoformat") else str(row[1]),
        settings=settings,
        training_summary=json.loads(row[3] or "{}"),
        term_frequencies=_load_term_frequencies(con, row[0]),
    )


def load_current_model(con: duckdb.DuckDBPyConnection) -> ModelArtifact | None:
    """The latest stored model when it compares what this version's model does (``matching.settings.
    model_is_current``), else None: a run after an upgrade that changed the comparison levels trains anew
    rather than scoring with a model that cannot see the new levels."""
    from matching.settings import model_is_current

    model = load_latest_model(con)
    if model is not None and not model_is_current(model.settings):
        log.warning("stored model %s compares other levels than this version's model: training a new one",
                    model.model_version)
        return None
    return model
