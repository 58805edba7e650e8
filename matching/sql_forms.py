"""Cheaper SQL for the comparisons' edit-distance and shared-element tests, and the rewrite of a stored model.

Damerau-Levenshtein distance is several times dearer than Levenshtein's in DuckDB, and most compared pairs are far
apart. Levenshtein bounds it: lev / 2 <= DL <= lev (a transposition is two Levenshtein edits), so the dear function
runs only for the pairs the cheap one cannot decide. ``list_has_any`` answers "do the lists share an element" at a
third of the cost of ``len(list_intersect(..)) >= 1``. Each helper gives exactly what the plain form gives, NULL
included (tests/test_comparison_sql.py checks them against it in DuckDB).

A model trained before these helpers keeps the plain forms in ``audit.models``. ``with_cheaper_sql`` parses each
of its level conditions with sqlglot and puts the helpers in place of the plain forms, so that model scores as fast
as one trained now; the stored settings and their version are not changed (``ModelArtifact.engine_settings``).
"""

from __future__ import annotations

import copy
from typing import Any

import sqlglot
from sqlglot import exp


def has_any(col_l: str, col_r: str) -> str:
    """SQL for "the two lists share a non-NULL element": false (not NULL) when either list is NULL."""
    return f"coalesce(list_has_any({col_l}, {col_r}), false)"


def edits_at_most(a: str, b: str, k: int) -> str:
    """SQL for ``damerau_levenshtein(a, b) <= k``."""
    lev = f"levenshtein({a}, {b})"
    return f"(CASE WHEN {lev} <= {k} THEN true WHEN {lev} > {2 * k} THEN false ELSE damerau_levenshtein({a}, {b}) <= {k} END)"


def one_edit(a: str, b: str) -> str:
    """SQL for ``damerau_levenshtein(a, b) = 1``: one insertion, deletion, substitution or swap of neighbours."""
    lev = f"levenshtein({a}, {b})"
    return f"(CASE WHEN {lev} = 1 THEN true WHEN {lev} <> 2 THEN false ELSE damerau_levenshtein({a}, {b}) = 1 END)"


def _named(node: exp.Expression, *names: str) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() in names


def _plain_edits(node: exp.Expression) -> str | None:
    """The helper for ``damerau_levenshtein(a, b) <= k`` / ``= 1``, unless it already is a helper's own guard."""
    if not (isinstance(node, exp.LTE | exp.EQ) and _named(node.this, "damerau_levenshtein")
            and isinstance(node.expression, exp.Literal) and not node.expression.is_string
            and node.expression.name.isdigit() and len(node.this.expressions) == 2):
        return None
    if isinstance(node.parent, exp.Case) and node.arg_key == "default":  # the ELSE of edits_at_most / one_edit
        return None
    a, b = (e.sql(dialect="duckdb") for e in node.this.expressions)
    k = int(node.expression.name)
    if isinstance(node, exp.LTE):
        return edits_at_most(a, b, k)
    return one_edit(a, b) if k == 1 else None


def _plain_shared(node: exp.Expression) -> str | None:
    """``has_any`` for ``coalesce(len(list_intersect(x, y)) >= 1, false)``."""
    if not (isinstance(node, exp.Coalesce) and len(node.expressions) == 1
            and isinstance(node.expressions[0], exp.Boolean) and node.expressions[0].this is False):
        return None
    test = node.this
    if not (isinstance(test, exp.GTE) and isinstance(test.this, exp.Length)
            and isinstance(test.expression, exp.Literal) and test.expression.name == "1"):
        return None
    inner = test.this.this
    if not ((isinstance(inner, exp.ArrayIntersect) or _named(inner, "list_intersect", "array_intersect"))
            and len(inner.expressions) == 2):
        return None
    return has_any(*(e.sql(dialect="duckdb") for e in inner.expressions))


def cheaper_condition(sql: str) -> str:
    """``sql`` with each plain edit-distance and shared-element test in the helpers' form; ``sql`` itself,
    unparsed and unchanged, when it holds none (or is not SQL sqlglot reads, which Splink then reports)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return sql
    changed = False

    def swap(node: exp.Expression) -> exp.Expression:
        nonlocal changed
        better = _plain_edits(node) or _plain_shared(node)
        if better is None:
            return node
        changed = True
        new = sqlglot.parse_one(better, read="duckdb")
        return new if isinstance(new, exp.Paren) else exp.Paren(this=new)

    out = tree.transform(swap)  # a replaced node's own parts are not visited again
    return out.sql(dialect="duckdb") if changed else sql


def with_cheaper_sql(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored model's settings with every level condition through ``cheaper_condition``: each pair
    lands in the same level as before, at less cost."""
    out = copy.deepcopy(settings)
    for comp in out.get("comparisons", []):
        for level in comp.get("comparison_levels", []):
            if isinstance(level.get("sql_condition"), str):
                level["sql_condition"] = cheaper_condition(level["sql_condition"])
    return out
