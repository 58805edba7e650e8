"""Statistical disclosure control for the analytics file: small-cell suppression and quasi-identifier risk.

* ``suppressed_count`` / ``suppression_flag``: a count of 1 to ``threshold - 1`` children is published as
  NULL, and its row is marked ``suppressed``; a statistic of such a cell (a mean) is NULL too. Zero is not
  disclosive and stays.
* ``generalise``: local suppression until every child shares its published quasi-identifiers with at least
  ``threshold - 1`` others. It blanks, in order and only for children still in a smaller class, the postcode
  district, then ethnicity, then sex, then the age band.
* ``uniqueness``: how many children are unique (or in a class smaller than the threshold) on a set of
  quasi-identifiers; the analytics build stores it in ``audit.disclosure`` for the run report.
"""

from __future__ import annotations

import duckdb

from svoc.warehouse.sql import qualified, quote_ident

# Published quasi-identifiers of linked.single_view in the analytics file, blanked in this order.
QUASI_IDENTIFIERS = ("age_band", "sex", "postcode_district", "ethnicity")
GENERALISE_ORDER = ("postcode_district", "ethnicity", "sex", "age_band")

AGE_BANDS = ((0, 4), (5, 10), (11, 15), (16, 17))


def age_band_sql(dob: str, as_of: str) -> str:
    """SQL for the age band of ``dob`` on ``as_of`` (both SQL expressions): ``unborn``, ``0-4`` … ``18+``."""
    age = f"date_sub('year', {dob}, {as_of})"
    bands = " ".join(f"WHEN {age} BETWEEN {lo} AND {hi} THEN '{lo}-{hi}'" for lo, hi in AGE_BANDS)
    return f"CASE WHEN {dob} IS NULL THEN NULL WHEN {dob} > {as_of} THEN 'unborn' {bands} ELSE '18+' END"


def suppressed_count(column: str) -> str:
    """``column`` (a count of children) as published: NULL when between 1 and the threshold (parameter)."""
    col = quote_ident(column)
    return f"CASE WHEN {col} BETWEEN 1 AND ? - 1 THEN NULL ELSE {col} END"


def suppression_flag(counts: list[str]) -> str:
    """True when any of the row's counts is suppressed (one threshold parameter per count)."""
    return "(" + " OR ".join(f"coalesce({quote_ident(c)} BETWEEN 1 AND ? - 1, false)" for c in counts) + ")"


def _class_size(qis: tuple[str, ...]) -> str:
    return f"count(*) OVER (PARTITION BY {', '.join(quote_ident(q) for q in qis)})"


def uniqueness(con: duckdb.DuckDBPyConnection, table: str, qis: tuple[str, ...], threshold: int) -> dict[str, int]:
    """Children, equivalence classes, children unique on ``qis``, and children in classes below ``threshold``."""
    found = con.execute(f"""
        SELECT count(*), count(DISTINCT ({', '.join(quote_ident(q) for q in qis)})),
               count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n < ?)
        FROM (SELECT *, {_class_size(qis)} AS n FROM {qualified(table)})""", [threshold]).fetchone()
    row = found or (0, 0, 0, 0)
    return {"children": row[0], "classes": row[1], "unique_children": row[2], "children_below_threshold": row[3]}


def _non_null(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    row = con.execute(f"SELECT count({quote_ident(column)}) FROM {qualified(table)}").fetchone()
    return int(row[0]) if row else 0


def generalise(con: duckdb.DuckDBPyConnection, table: str, key: str, threshold: int,
               qis: tuple[str, ...] = QUASI_IDENTIFIERS, order: tuple[str, ...] = GENERALISE_ORDER) -> dict[str, int]:
    """Blank quasi-identifiers of children in small classes, in ``order``. Returns cells blanked per column."""
    blanked = {}
    for column in order:
        col = quote_ident(column)
        before = _non_null(con, table, column)
        con.execute(f"""
            UPDATE {qualified(table)} SET {col} = NULL WHERE {quote_ident(key)} IN (
              SELECT {quote_ident(key)} FROM (SELECT {quote_ident(key)}, {_class_size(qis)} AS n
                                               FROM {qualified(table)}) WHERE n < ?)""", [threshold])
        blanked[column] = before - _non_null(con, table, column)
    for column, n in _top_up_blank_class(con, table, key, threshold, qis).items():
        blanked[column] = blanked.get(column, 0) + n
    return blanked


def _top_up_blank_class(con: duckdb.DuckDBPyConnection, table: str, key: str, threshold: int,
                        qis: tuple[str, ...]) -> dict[str, int]:
    """After ``generalise``'s passes only the fully blanked class can be small (fewer than ``threshold``
    children needed blanking): blank the quasi-identifiers of just enough children from the largest class that
    stays at or above the threshold to make it whole (the first by ``key``), or of every child when no class
    can spare them. Returns cells blanked per column."""
    found = con.execute(f"SELECT count(*) FROM (SELECT {_class_size(qis)} AS n FROM {qualified(table)}) "
                        "WHERE n < ?", [threshold]).fetchone()
    short = int(found[0]) if found else 0
    if not short:
        return {}
    need = threshold - short
    cols = [quote_ident(q) for q in qis]
    donor = con.execute(
        f"SELECT {', '.join(cols)} FROM {qualified(table)} GROUP BY ALL "
        f"HAVING count(*) - ? >= ? AND NOT ({' AND '.join(f'{c} IS NULL' for c in cols)}) "
        f"ORDER BY count(*) DESC, {', '.join(cols)} LIMIT 1", [need, threshold]).fetchone()
    before = {q: _non_null(con, table, q) for q in qis}
    blank = ", ".join(f"{c} = NULL" for c in cols)
    if donor is None:
        con.execute(f"UPDATE {qualified(table)} SET {blank}")
    else:
        same = " AND ".join(f"{c} IS NOT DISTINCT FROM ?" for c in cols)
        con.execute(f"UPDATE {qualified(table)} SET {blank} WHERE {quote_ident(key)} IN ("
                    f"SELECT {quote_ident(key)} FROM {qualified(table)} WHERE {same} "
                    f"ORDER BY {quote_ident(key)} LIMIT ?)", [*donor, need])
    return {q: before[q] - _non_null(con, table, q) for q in qis}
