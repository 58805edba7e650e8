"""Training the Splink model: u by seeded random sampling, m by EM, prior from near-certain rules, m from
steward decisions once there are enough, and guards against degenerate parameters (docs/matching.md).

``train_model(features, seed=...)`` returns a ``matching.model.ModelArtifact``. EM sessions that find no
record pairs are skipped with a warning; when none finds any, ``TrainingError`` (one line) names the fields.
Nothing here logs names, dates of birth or identifiers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from splink import Linker, block_on
from splink.internals.exceptions import EMTrainingException
from splink.internals.splink_dataframe import SplinkDataFrame

from matching import settings as S
from matching.artifact import ModelArtifact, make_artifact
from matching.model import capped_memory_limit, load_features, make_linker, scoped_connection
from schemas.errors import SvocError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------- training
# Fallback EM sessions, tried only when no primary session (``S.TRAINING_BLOCKING_RULES``) found pairs.
FALLBACK_TRAINING_RULES = (
    block_on("postcode_token", "last_name_std"),
    block_on("identifier_keys[1]"),  # EM cannot explode arrays: the first identifier of each record
)
# Fields each training session blocks on, named in the one-line error when no session finds pairs.
_SESSION_FIELDS = {0: "date of birth (dob)", 1: "first name and surname", 2: "postcode and surname",
                   3: "identifiers"}
# A trained m or u below this is an artefact of a nearly empty level, not evidence (issue: "same postcode
# sector" at -76 bits from m = 5e-26).
PROBABILITY_FLOOR = 1e-5
MIN_STEWARD_LABELS = 30
# Above EM_SAMPLED_ABOVE records each EM session reads about EM_MAX_PAIRS of its blocked pairs (Splink's hash
# sample), and EM iterates on the comparison levels without term-frequency adjustments (Splink's documented
# shortcut; scoring still applies them). At 1M records (the benchmark drop) the two sessions took 5.5 s instead of
# 12.3 s with 2M pairs and adjustments, and the pairs scored p >= 0.5 kept their pairwise precision and recall
# against the drop's truth (0.9373 / 0.99893, against 0.9343 / 0.99895).
EM_MAX_PAIRS = 1e6
EM_SAMPLED_ABOVE = 50_000


class TrainingError(SvocError):
    """No model could be trained on this drop (every training session found no record pairs)."""


def _field_warnings(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Plain-English warnings for fields no record carries (counts only, no values)."""
    checks = {"dob": "date of birth", "first_name_std": "first name", "last_name_std": "surname"}
    out = []
    for col, label in checks.items():
        n = con.execute(f"SELECT count({col}) FROM {table}").fetchall()[0][0]
        if n == 0:
            out.append(f"no record has a usable {label} (field {col}): linking without it")
    return out


def guard_parameters(model_dict: dict[str, Any], floor: float = PROBABILITY_FLOOR) -> list[str]:
    """Repair degenerate trained m/u values in place; returns what was changed (comparison/level names).

    * m and u are floored at ``floor`` (a nearly empty level otherwise gets a weight of -70 bits or more);
    * a partial-agreement level is never more against a match than full disagreement: its Bayes factor is
      raised to at least the ``else`` level's (by raising m);
    * m is renormalised over the non-null levels.
    """
    changed: list[str] = []
    for comp in model_dict.get("comparisons", []):
        levels = [lvl for lvl in comp.get("comparison_levels", []) if not lvl.get("is_null_level")]
        if not levels or any("m_probability" not in lvl or "u_probability" not in lvl for lvl in levels):
            continue
        name = comp.get("output_column_name", "?")
        for lvl in levels:
            for key in ("m_probability", "u_probability"):
                if not (lvl[key] >= floor):
                    lvl[key] = floor
                    changed.append(f"{name}: {lvl.get('label_for_charts')} ({key} floored)")
        else_level = levels[-1]
        bf_else = else_level["m_probability"] / else_level["u_probability"]
        for lvl in levels[:-1]:
            if lvl["m_probability"] / lvl["u_probability"] < bf_else:
                lvl["m_probability"] = lvl["u_probability"] * bf_else
                changed.append(f"{name}: {lvl.get('label_for_charts')} (raised to the 'else' level's weight)")
        total = sum(lvl["m_probability"] for lvl in levels)
        for lvl in levels:
            lvl["m_probability"] = lvl["m_probability"] / total
    return changed


def _labels_table(con: duckdb.DuckDBPyConnection, decisions: pd.DataFrame | None, table: str) -> int:
    """Register the steward ``same`` decisions on records of this drop as Splink pairwise labels; returns
    how many there are."""
    if decisions is None or decisions.empty:
        return 0
    same = decisions[decisions["decision"] == "same"][["unique_id_l", "unique_id_r"]].astype(str)
    con.register("__cv_labels_in", same)
    con.execute(
        "CREATE OR REPLACE TABLE cv_labels AS SELECT DISTINCT l.unique_id_l, l.unique_id_r, "
        "'__splink__input_table_0' AS source_dataset_l, '__splink__input_table_0' AS source_dataset_r "
        f"FROM __cv_labels_in l JOIN {table} a ON a.unique_id = l.unique_id_l "
        f"JOIN {table} b ON b.unique_id = l.unique_id_r"
    )
    con.unregister("__cv_labels_in")
    return con.execute("SELECT count(*) FROM cv_labels").fetchall()[0][0]


def train_model(
    features: pd.DataFrame | pa.Table,
    *,
    seed: int = 42,
    u_max_pairs: float = 2e6,
    em_max_pairs: float | None = EM_MAX_PAIRS,
    prior_recall: float = 0.8,
    extra_id_columns: tuple[str, ...] = (),
    threads: int | None = None,
    memory_limit: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    decisions: pd.DataFrame | None = None,
) -> ModelArtifact:
    """Estimate the model on ``features``. Deterministic for a given seed and input.

    EM sessions that find no record pairs are skipped with a warning; when none finds any, a
    ``TrainingError`` names the fields that were unusable. With at least ``MIN_STEWARD_LABELS`` steward
    ``same`` decisions on records of this drop, m is then re-estimated from them
    (``estimate_m_from_pairwise_labels``). Degenerate m/u values are repaired (``guard_parameters``).
    Its own connection's ``memory_limit`` is at most ``matching.model.TRAINING_MEMORY_LIMIT``: training reads
    bounded samples.
    """
    with scoped_connection(con, threads, capped_memory_limit(memory_limit)) as con:
        table = load_features(con, features, extra_id_columns)
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        warnings_out = _field_warnings(con, table)
        for w in warnings_out:
            log.warning(w)
        linker = make_linker(con, table, S.build_settings(extra_id_columns=extra_id_columns))
        tr = linker.training
        prior_note = "estimated"
        try:
            tr.estimate_probability_two_random_records_match(
                list(S.deterministic_rules(extra_id_columns)), recall=prior_recall
            )
        except (ValueError, EMTrainingException) as exc:  # rules inconsistent with recall, or found nothing
            prior_note = f"default ({type(exc).__name__})"
        tr.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        sessions, skipped = run_em(linker, n, em_max_pairs)
        if not sessions:
            raise untrainable(skipped)
        labels = _labels_table(con, decisions, table)
        m_from_labels = labels >= MIN_STEWARD_LABELS
        if m_from_labels:
            tr.estimate_m_from_pairwise_labels("cv_labels")
        model_dict = linker.misc.save_model_to_json(out_path=None)
        guarded = guard_parameters(model_dict)
        summary = {
            "seed": seed,
            "n_records": int(n),
            "u_max_pairs": u_max_pairs,
            "em_max_pairs": em_max_pairs,
            "em_blocking_rules": sessions,
            "em_sessions_skipped": skipped,
            "m_from_steward_labels": int(labels) if m_from_labels else 0,
            "guarded_parameters": guarded,
            "warnings": warnings_out,
            "prior_rules": [
                r.get_blocking_rule("duckdb").blocking_rule_sql for r in S.deterministic_rules(extra_id_columns)
            ],
            "prior_recall": prior_recall,
            "prior": prior_note,
            "splink_version": _splink_version(),
        }
        return make_artifact(model_dict, summary)


def untrainable(skipped: list[str]) -> TrainingError:
    """The one-line error when no training session gave estimates (``skipped``: from ``run_em``)."""
    empty = [f for f in skipped if not f.endswith(" (degenerate)")]
    odd = [f.removesuffix(" (degenerate)") for f in skipped if f.endswith(" (degenerate)")]
    why = "; ".join([*([f"no two records share a {', nor '.join(empty)}"] if empty else []),
                     *([f"pairs sharing a {', or '.join(odd)} gave degenerate estimates"] if odd else [])])
    return TrainingError(f"no matching model could be trained: {why}; "
                         "check that the identity columns are mapped in sources.yaml")


def run_em(linker: Linker, n: int, em_max_pairs: float | None,
           as_engine_rule: Callable[[Any], Any] = lambda rule: rule) -> tuple[list[str], list[str]]:
    """Run the EM sessions; ``(rules trained on, as DuckDB SQL; fields of sessions skipped)``. Fallback sessions
    run only when no primary session found pairs. ``as_engine_rule`` turns a rule into the backend's form (the
    Spark engine passes Spark SQL)."""
    sessions: list[str] = []
    skipped: list[str] = []
    em_pairs = em_max_pairs if em_max_pairs and n > EM_SAMPLED_ABOVE else None
    rules = list(S.TRAINING_BLOCKING_RULES)
    for k, rule in enumerate([*rules, *FALLBACK_TRAINING_RULES]):
        if k >= len(rules) and sessions:
            break
        sql = rule.get_blocking_rule("duckdb").blocking_rule_sql
        # Splink trains a session on the linker's own settings with the session's comparisons left out, and puts
        # them back only when the session succeeds: a failed session must not leave the model without them
        before = linker._settings_obj.core_model_settings.copy()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                as_engine_rule(rule), max_pairs=em_pairs, estimate_without_term_frequencies=True)
        except EMTrainingException:
            linker._settings_obj.core_model_settings = before
            field_name = _SESSION_FIELDS.get(k, sql)
            log.warning("matching model: no record pairs share a %s; that training session was skipped", field_name)
            skipped.append(field_name)
            continue
        except ValueError as exc:
            # Splink 5 refuses an m-probability EM drove to exactly 0 (every pair at that level scored 0.0), and
            # fails on the log of a session prior EM drove to 1 (every pair a match: a small drop): the session's
            # estimates are left out (the model keeps the other sessions'), as for a session without pairs
            if not any(text in str(exc) for text in ("below the minimum allowed", "math domain error")):
                raise
            linker._settings_obj.core_model_settings = before
            field_name = _SESSION_FIELDS.get(k, sql)
            log.warning("matching model: training on pairs sharing a %s gave degenerate estimates (a level's "
                        "m-probability or the session's prior at 0 or 1); that training session was skipped",
                        field_name)
            skipped.append(f"{field_name} (degenerate)")
            continue
        sessions.append(sql)
    return sessions, skipped


def _splink_version() -> str:
    import splink

    return splink.__version__


def label_accuracy_table(features: pd.DataFrame, artifact: ModelArtifact, decisions: pd.DataFrame | None, *,
                         threads: int | None = None, memory_limit: str | None = None) -> pd.DataFrame | None:
    """What the stewards' decisions say of every threshold (Splink's ``accuracy_analysis_from_labels_table``:
    labelled precision and recall by match probability); None when fewer than ``MIN_STEWARD_LABELS`` decisions
    concern records of this drop, or they hold only one kind of answer. It does not depend on the link threshold,
    so linking takes it before scoring, while it still has every feature column (``accuracy_at`` reads it)."""
    if decisions is None or len(decisions) < MIN_STEWARD_LABELS:
        return None
    with scoped_connection(None, threads, memory_limit) as con:
        table = load_features(con, features, ())
        labels = decisions[["unique_id_l", "unique_id_r"]].astype(str).assign(
            clerical_match_score=(decisions["decision"] == "same").astype(float).to_numpy())
        con.register("__cv_acc_in", labels)
        con.execute(
            "CREATE OR REPLACE TABLE cv_acc_labels AS SELECT l.* FROM __cv_acc_in l "
            f"JOIN {table} a ON a.unique_id = l.unique_id_l JOIN {table} b ON b.unique_id = l.unique_id_r")
        con.unregister("__cv_acc_in")
        counts = con.execute("SELECT count(*), sum(clerical_match_score) FROM cv_acc_labels").fetchall()[0]
        n, same = int(counts[0]), float(counts[1] or 0)
        if n < MIN_STEWARD_LABELS or same in (0, n):
            return None
        linker = make_linker(con, table, artifact.engine_settings())
        analysis = linker.evaluation.accuracy_analysis_from_labels_table(
            "cv_acc_labels", output_type="table", match_weight_round_to_nearest=0.1)
        assert isinstance(analysis, SplinkDataFrame), "output_type='table' gives a table"
        return analysis.as_pandas_dataframe().assign(labels=n)


def accuracy_at(table: pd.DataFrame | None, link_threshold: float) -> dict[str, float]:
    """From ``label_accuracy_table``: the labelled precision and recall of linking at ``link_threshold`` and the
    number of labels (empty without a table)."""
    if table is None or table.empty:
        return {}
    at = table[table["match_probability"] >= link_threshold].sort_values("match_probability")
    row = at.iloc[0] if not at.empty else table.sort_values("match_probability").iloc[-1]
    return {"labels": int(row["labels"]), "labels_precision_at_link": float(row["precision"]),
            "labels_recall_at_link": float(row["recall"])}


def label_accuracy(features: pd.DataFrame, artifact: ModelArtifact, decisions: pd.DataFrame | None,
                   link_threshold: float, *, threads: int | None = None,
                   memory_limit: str | None = None) -> dict[str, float]:
    """What the stewards' decisions say about the link threshold: ``accuracy_at`` of ``label_accuracy_table``."""
    return accuracy_at(label_accuracy_table(features, artifact, decisions, threads=threads,
                                            memory_limit=memory_limit), link_threshold)
