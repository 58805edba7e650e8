"""Cheaper SQL for the comparisons' edit-distance and shared-element tests, and the rewrite of a stored model.

Damerau-Levenshtein distance is several times dearer than Levenshtein's in DuckDB, and most compared pairs are far
apart. Levenshtein bounds it: lev / 2 <= DL <= lev (a transposition is two Levenshtein edits), so the dear function
runs only for the pairs the cheap one cannot decide. Cheaper still, the lengths bound both (DL >= the difference in
length), and for two strings of one length a single edit changes at most two places (Hamming distance <= 2): most
pairs are decided before either distance is computed (the DOB's "one digit different" test over the 1M night's
10M candidate pairs: 2.0 s on 2 threads, 1.1 s so guarded). ``list_has_any`` answers "do the lists share an
element" at a third of the cost of ``len(list_intersect(..)) >= 1``, and ``has_any_with`` asks it of two lists with a
value each without building the longer lists for every pair. Each helper gives exactly what the plain form gives,
NULL included (tests/test_comparison_sql.py checks them against it in DuckDB).

A model trained before these helpers keeps the plain forms in ``audit.models`` (or an earlier helper's form).
``with_cheaper_sql`` parses each of its level conditions with sqlglot and puts today's helpers in their place, so
that model scores as fast as one trained now; the stored settings and their version are not changed
(``ModelArtifact.engine_settings``).
"""

from __future__ import annotations

import copy
from typing import Any

import sqlglot
from sqlglot import exp


def has_any(col_l: str, col_r: str) -> str:
    """SQL for "the two lists share a non-NULL element": false (not NULL) when either list is NULL."""
    return f"coalesce(list_has_any({col_l}, {col_r}), false)"


def has_any_with(list_l: str, value_l: str, list_r: str, value_r: str) -> str:
    """SQL for ``has_any`` of each list with its value appended (a NULL list as an empty one), without the lists:
    one shared element, or a value in the other list, or the two values equal."""
    return (f"({has_any(list_l, list_r)} OR coalesce(list_contains({list_l}, {value_r}), false)"
            f" OR coalesce(list_contains({list_r}, {value_l}), false) OR coalesce({value_l} = {value_r}, false))")


def _length_guards(a: str, b: str, k: int) -> str:
    """``WHEN`` clauses that answer "false" for "DL(a, b) <= k" from the lengths (and, for one edit, the Hamming
    distance of two strings of one length: a substitution changes one place, a swap of neighbours two).
    ``hamming`` fails on strings of two lengths or none, so it sits in a ``THEN``, which is evaluated only for the
    rows its ``WHEN`` selects (the parts of an ``AND`` may be evaluated in any order)."""
    out = f"WHEN abs(length({a}) - length({b})) > {k} THEN false "
    if k == 1:
        out += (f"WHEN (CASE WHEN length({a}) = length({b}) AND length({a}) > 2 THEN hamming({a}, {b}) > 2 "
                "ELSE false END) THEN false ")
    return out


def edits_at_most(a: str, b: str, k: int) -> str:
    """SQL for ``damerau_levenshtein(a, b) <= k``."""
    lev = f"levenshtein({a}, {b})"
    return (f"(CASE {_length_guards(a, b, k)}WHEN {lev} <= {k} THEN true WHEN {lev} > {2 * k} THEN false "
            f"ELSE damerau_levenshtein({a}, {b}) <= {k} END)")


def one_edit(a: str, b: str) -> str:
    """SQL for ``damerau_levenshtein(a, b) = 1``: one insertion, deletion, substitution or swap of neighbours."""
    lev = f"levenshtein({a}, {b})"
    return (f"(CASE {_length_guards(a, b, 1)}WHEN {lev} = 1 THEN true WHEN {lev} <> 2 THEN false "
            f"ELSE damerau_levenshtein({a}, {b}) = 1 END)")


def _earlier_helper(a: str, b: str, k: int, op: str) -> str:
    """The form the earlier helper gave ``damerau_levenshtein(a, b) <= k`` (``op`` "<=") or ``= 1`` (``op`` "=")."""
    lev = f"levenshtein({a}, {b})"
    if op == "<=":
        return (f"CASE WHEN {lev} <= {k} THEN true WHEN {lev} > {2 * k} THEN false "
                f"ELSE damerau_levenshtein({a}, {b}) <= {k} END")
    return f"CASE WHEN {lev} = 1 THEN true WHEN {lev} <> 2 THEN false ELSE damerau_levenshtein({a}, {b}) = 1 END"


def _named(node: exp.Expression, *names: str) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() in names


def _damerau_test(node: exp.Expression | None) -> tuple[str, str, int, str] | None:
    """``(a, b, k, op)`` of ``damerau_levenshtein(a, b) <= k`` (op "<=") or ``= k`` (op "=")."""
    if not (isinstance(node, exp.LTE | exp.EQ) and _named(node.this, "damerau_levenshtein")
            and isinstance(node.expression, exp.Literal) and not node.expression.is_string
            and node.expression.name.isdigit() and len(node.this.expressions) == 2):
        return None
    a, b = (e.sql(dialect="duckdb") for e in node.this.expressions)
    return a, b, int(node.expression.name), "<=" if isinstance(node, exp.LTE) else "="


def _edits_helper(a: str, b: str, k: int, op: str) -> str | None:
    if op == "<=":
        return edits_at_most(a, b, k)
    return one_edit(a, b) if k == 1 else None


def _same_sql(node: exp.Expression, sql: str) -> bool:
    return node.sql(dialect="duckdb") == sqlglot.parse_one(sql, read="duckdb").sql(dialect="duckdb")


def _plain_edits(node: exp.Expression) -> str | None:
    """Today's helper for ``damerau_levenshtein(a, b) <= k`` / ``= 1``, or for an earlier helper's form of it; None
    for a helper's own last resort (today's, whose guards are then left as they are)."""
    if isinstance(node, exp.Case):
        test = _damerau_test(node.args.get("default"))
        if test is None or not _same_sql(node, _earlier_helper(*test)):
            return None
        return _edits_helper(*test)
    test = _damerau_test(node)
    if test is None or (isinstance(node.parent, exp.Case) and node.arg_key == "default"):
        return None
    return _edits_helper(*test)


def _appended(node: exp.Expression) -> tuple[str, str] | None:
    """``(list, value)`` of ``list_append(coalesce(list, []::VARCHAR[]), value)``."""
    if not (isinstance(node, exp.ArrayAppend) and isinstance(node.this, exp.Coalesce)
            and len(node.this.expressions) == 1 and isinstance(node.this.expressions[0], exp.Cast)
            and isinstance(node.this.expressions[0].this, exp.Array)
            and not node.this.expressions[0].this.expressions):
        return None
    return node.this.this.sql(dialect="duckdb"), node.expression.sql(dialect="duckdb")


def _shared(x: exp.Expression, y: exp.Expression) -> str:
    """Today's helper for "``x`` and ``y`` share a non-NULL element"."""
    left, right = _appended(x), _appended(y)
    if left is not None and right is not None:
        return has_any_with(left[0], left[1], right[0], right[1])
    return has_any(x.sql(dialect="duckdb"), y.sql(dialect="duckdb"))


def _plain_shared(node: exp.Expression) -> str | None:
    """Today's helper for ``coalesce(len(list_intersect(x, y)) >= 1, false)``, or for an earlier helper's
    ``coalesce(list_has_any(x, y), false)`` of two lists with a value appended."""
    if not (isinstance(node, exp.Coalesce) and len(node.expressions) == 1
            and isinstance(node.expressions[0], exp.Boolean) and node.expressions[0].this is False):
        return None
    test = node.this
    if isinstance(test, exp.ArrayOverlaps) and _appended(test.this) and _appended(test.expression):
        return _shared(test.this, test.expression)
    if not (isinstance(test, exp.GTE) and isinstance(test.this, exp.Length)
            and isinstance(test.expression, exp.Literal) and test.expression.name == "1"):
        return None
    inner = test.this.this
    if not ((isinstance(inner, exp.ArrayIntersect) or _named(inner, "list_intersect", "array_intersect"))
            and len(inner.expressions) == 2):
        return None
    return _shared(*inner.expressions)


def cheaper_condition(sql: str) -> str:
    """``sql`` with each plain (or earlier helper's) edit-distance and shared-element test in today's helpers'
    form; ``sql`` itself, unparsed and unchanged, when it holds none (or is not SQL sqlglot reads, which Splink
    then reports)."""
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
