"""The svoc model's SQL, written in DuckDB's dialect (``matching.settings``), made runnable on Spark.

A Splink settings dict (a fresh ``build_settings()`` rendered for DuckDB, or a stored model from
``audit.models``) carries each comparison level's ``sql_condition`` and each blocking rule as DuckDB SQL.
``spark_settings`` transpiles them with sqlglot (DuckDB -> Spark: list functions, lambdas, 1-based list
indexes to 0-based) and then maps the functions sqlglot has no Spark spelling for onto Spark built-ins or
the Scala functions in Splink's jar. The m/u parameters and labels are not touched, so a stored model
scores the same on both engines.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import sqlglot
from sqlglot import exp

from matching.spark.similarity import JARO_WINKLER

# DuckDB functions without a Spark spelling in sqlglot -> the Spark function (built-in or Splink's jar).
_RENAMES = {
    "list_intersect": "array_intersect",
    "jaro_winkler_similarity": JARO_WINKLER,  # DuckDB's algorithm (matching.spark.similarity), not the jar's
    "jarowinkler_similarity": JARO_WINKLER,
    "damerau_levenshtein": "damerau_levenshtein",  # Splink jar: LevDamerauDistance
}
# Functions whose result is a list: ``len``/``length`` of one is Spark's ``size``.
_ARRAY_FUNCS = {"array_intersect", "filter", "array_append", "split", "array", "array_union"}


class UntranslatableSQL(ValueError):
    """A comparison level or blocking rule that could not be put into Spark's dialect."""


def _rename(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() in _RENAMES:
        return exp.Anonymous(this=_RENAMES[node.name.lower()], expressions=node.expressions)
    return node


def _fix(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.JarowinklerSimilarity):
        return exp.Anonymous(this=JARO_WINKLER, expressions=[node.this, node.expression])
    if isinstance(node, exp.ArrayOverlaps):  # DuckDB list_has_any / &&
        return exp.Anonymous(this="arrays_overlap", expressions=[node.this, node.expression])
    if isinstance(node, exp.Length) and _is_array(node.this):
        return exp.ArraySize(this=node.this)
    if isinstance(node, exp.DateDiff):  # DuckDB date_diff('day', a, b) = b - a in days: Spark datediff(b, a)
        given = node.args.get("unit")
        unit = given.name.lower() if given is not None else "day"
        if unit in ("day", "days"):
            return exp.Anonymous(this="datediff", expressions=[node.this, node.expression])
    return node


def _hamming(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``hamming(a, b)`` (two strings of one length: the places, in code points, where they differ) in
    Spark SQL, which has no such function. Spark's ``substring`` and ``length`` count code points, as DuckDB's do.
    A pass of its own, before ``_fix``: a node ``_fix`` replaces (``len(list_filter(..))``) is not visited again."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "hamming" and len(node.expressions) == 2):
        return node
    a, b = (e.sql(dialect="spark") for e in node.expressions)
    out = sqlglot.parse_one(f"size(filter(sequence(1, length({a})), svoc_pos -> "
                            f"substring({a}, svoc_pos, 1) <> substring({b}, svoc_pos, 1)))", read="spark")
    assert isinstance(out, exp.Expression), "a Spark expression parses to one"
    return out


def _is_array(node: exp.Expression) -> bool:
    if isinstance(node, exp.ArrayFilter | exp.ArrayIntersect | exp.Split | exp.Array | exp.ArrayAppend):
        return True
    if isinstance(node, exp.Anonymous | exp.Func):
        name = node.name.lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()
        return name in _ARRAY_FUNCS or name in ("list_intersect", "list_filter")
    return False


def to_spark(sql: str) -> str:
    """One DuckDB SQL expression in Spark's dialect (``ELSE`` stays ``ELSE``)."""
    if sql.strip().upper() == "ELSE":
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        tree = tree.transform(_rename).transform(_hamming).transform(_fix)
        out = tree.sql(dialect="spark")
    except sqlglot.errors.SqlglotError as exc:
        raise UntranslatableSQL(f"cannot put this model SQL into Spark's dialect: {sql!r} ({exc})") from None
    # a DuckDB name sqlglot parsed into its own node and wrote back under a name Spark lacks
    out = re.sub(r"\bLENGTH\((ARRAY_\w+|FILTER|SPLIT)\(", r"SIZE(\1(", out)
    if re.search(r"\b(LIST_\w+|JAROWINKLER_SIMILARITY|STRING_SPLIT)\(", out):
        raise UntranslatableSQL(f"no Spark function for part of this model SQL: {sql!r}")
    return out


def spark_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Splink settings dict (DuckDB SQL) with every level and blocking rule in Spark SQL."""
    out = copy.deepcopy(settings)
    out["sql_dialect"] = "spark"
    for comp in out.get("comparisons", []):
        for level in comp.get("comparison_levels", []):
            if "sql_condition" in level:
                level["sql_condition"] = to_spark(level["sql_condition"])
    rules = []
    for rule in out.get("blocking_rules_to_generate_predictions", []):
        if isinstance(rule, dict):
            rule = {**rule, "blocking_rule": to_spark(rule["blocking_rule"]), "sql_dialect": "spark"}
        else:
            rule = to_spark(str(rule))
        rules.append(rule)
    out["blocking_rules_to_generate_predictions"] = rules
    return out
