"""Finding candidate records for many queries at once: one pass of equi-joins over the published records.

Each rule is an exact join (hash join in DuckDB), so a 1,000-row list costs a handful of scans of
``staging.identity_records``, not 1,000 × N comparisons. The rules are deliberately loose (the stored model
does the judging): an identifier; the date of birth or its day/month transposition (with a first-name or surname
initial in common when a name is given); both names; surname and postcode; surname, year of birth and initial.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from svoc.find.query import Query, swapped_dob

# A date of birth is shared by hundreds of children in a city: with a name given, a DOB candidate must share the
# first letter of the first name or of the surname (Bill/William Jones keeps J; a typo rarely hits both).
_INITIAL = ("((q.first_name IS NULL AND q.last_name IS NULL) OR left(r.fn, 1) = left(q.first_name, 1) "
            "OR left(r.ln, 1) = left(q.last_name, 1))")
# (rule name, join condition between the query row q and the record r). Fixed text: values come as a table.
RULES: tuple[tuple[str, str], ...] = (
    ("source record", "r.source = q.source AND r.source_record_id = q.record_id"),
    ("NHS number", "r.nhs_number = q.nhs_number"),
    ("UPN", "r.upn = q.upn"),
    ("UPN", "r.former_upn = q.upn"),
    ("date of birth", f"r.d = q.dob AND {_INITIAL}"),
    ("date of birth transposed", f"r.d = q.dob_swapped AND {_INITIAL}"),
    ("names", "r.fn = q.first_name AND r.ln = q.last_name"),
    ("surname and postcode", "r.ln = q.last_name AND r.postcode = q.postcode"),
    ("surname and birth year", "r.ln = q.last_name AND year(r.d) = q.dob_year "
                               "AND (q.first_name IS NULL OR left(r.fn, 1) = left(q.first_name, 1))"),
)
# One scan of the records keeps only those any rule could join (every rule needs one of these to agree).
# The identity columns matching.features reads come along, so the candidates need no second scan.
IDENTITY_COLUMNS = ("source", "source_record_id", "first_name", "middle_names", "last_name", "former_surname",
                    "preferred_surname", "alternative_names", "dob", "date_of_death", "sex", "address_line",
                    "postcode", "postcode_raw", "nhs_number", "upn", "former_upn", "ethnicity", "quality_flags")
PREFILTER = f"""
    SELECT {', '.join(IDENTITY_COLUMNS)}, lower(first_name) AS fn, lower(last_name) AS ln, CAST(dob AS DATE) AS d
    FROM staging.identity_records
    WHERE nhs_number IN (SELECT nhs_number FROM _find_queries)
       OR upn IN (SELECT upn FROM _find_queries) OR former_upn IN (SELECT upn FROM _find_queries)
       OR source_record_id IN (SELECT record_id FROM _find_queries)
       OR CAST(dob AS DATE) IN (SELECT dob FROM _find_queries UNION SELECT dob_swapped FROM _find_queries)
       OR lower(last_name) IN (SELECT last_name FROM _find_queries)"""
EXACT_RULES = frozenset({"source record", "NHS number", "UPN"})


def query_table(queries: list[Query]) -> pd.DataFrame:
    """The queries as join keys: lower-cased names, validated identifiers, DOB and its transposition."""
    rows = []
    for qid, q in enumerate(queries):
        rows.append({
            "qid": qid, "source": q.source, "record_id": q.record_id, "nhs_number": q.valid_nhs_number,
            "upn": q.valid_upn, "dob": q.dob, "dob_swapped": swapped_dob(q.dob),
            "dob_year": q.dob.year if q.dob else None,
            "first_name": q.first_name.lower() if q.first_name else None,
            "last_name": q.last_name.lower() if q.last_name else None,
            "postcode": _postcode(q.postcode),
        })
    frame = pd.DataFrame(rows, columns=["qid", "source", "record_id", "nhs_number", "upn", "dob", "dob_swapped",
                                        "dob_year", "first_name", "last_name", "postcode"])
    for col in ("dob", "dob_swapped"):
        frame[col] = pd.to_datetime(frame[col]).dt.date
    frame["dob_year"] = frame["dob_year"].astype("Int64")
    return frame


def _postcode(raw: str | None) -> str | None:
    from schemas.identifiers import check_postcode

    return check_postcode(raw).value if raw else None


def find_candidates(con: duckdb.DuckDBPyConnection, queries: list[Query], *, max_per_query: int = 1000
                    ) -> tuple[pd.DataFrame, set[int], pd.DataFrame]:
    """``(candidates, overflowing, identity)``: one row per (qid, record) with ``source``, ``source_record_id``,
    ``citizen_id`` and ``exact`` (the identifier rule that found it, else NULL); the query numbers that found
    more than ``max_per_query`` records (too weak: their candidates are dropped); and the identity columns
    (``IDENTITY_COLUMNS``) of every candidate record, once each."""
    table = query_table(queries)
    con.register("_find_queries", table)
    try:
        union = " UNION ALL ".join(
            f"SELECT q.qid, r.source, r.source_record_id, {_exact(name)} AS exact FROM _find_queries q "
            f"JOIN r ON {cond}" for name, cond in RULES)
        rows = con.execute(
            f"WITH r AS MATERIALIZED ({PREFILTER}), hits AS ({union}), "
            "found AS (SELECT h.qid, h.source, h.source_record_id, rc.citizen_id, min(h.exact) AS exact FROM hits h "
            "JOIN linked.record_citizen rc ON rc.source = h.source AND rc.source_record_id = h.source_record_id "
            "GROUP BY ALL) "
            f"SELECT f.qid, f.citizen_id, f.exact, {', '.join('r.' + c for c in IDENTITY_COLUMNS)} FROM found f "
            "JOIN r USING (source, source_record_id) ORDER BY f.qid, r.source, r.source_record_id").df()
    finally:
        con.unregister("_find_queries")
    found = rows[["qid", "source", "source_record_id", "citizen_id", "exact"]]
    counts = found.groupby("qid").size()
    overflowing = {int(q) for q in counts[counts > max_per_query].index}
    keep = ~rows["qid"].isin(overflowing)
    identity = rows.loc[keep, list(IDENTITY_COLUMNS)].drop_duplicates(["source", "source_record_id"])
    return found[keep].reset_index(drop=True), overflowing, identity.reset_index(drop=True)


def _exact(rule: str) -> str:
    return f"'{rule}'" if rule in EXACT_RULES else "NULL::VARCHAR"
