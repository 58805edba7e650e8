"""``<stem>_analytics.duckdb``: the analysts' file, with no direct identifiers and disclosure control.

Only what is declared leaves: ``SINGLE_VIEW`` and ``INTERACTIONS`` below, and each mart's ``analytics``
declaration (``svoc.stages.marts``), map a column to a treatment (``TREATMENTS``). An undeclared column, or a
table an analyst added to ``marts`` by hand, is never copied. Each citizen id is replaced by
``HMAC-SHA256(key, citizen_id)`` (hex); the key comes from ``SVOC_PSEUDONYM_KEY`` and never sits in either
warehouse. Dates of birth become age bands, event and seen dates are cut to the month, postcodes to the
district; quasi-identifiers are generalised until no child is in a class smaller than the small-cell
threshold, and counts of 1 to threshold-1 children in the marts are suppressed (``svoc.warehouse.disclosure``).
The risk measured before and after is stored in ``audit.disclosure`` of both files.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd

from schemas.errors import SvocError
from schemas.indicators import INDICATORS
from schemas.source_rules import KNOWN_TO_PATTERN
from svoc.warehouse.disclosure import (
    GENERALISE_ORDER,
    QUASI_IDENTIFIERS,
    age_band_sql,
    generalise,
    suppressed_count,
    suppression_flag,
    uniqueness,
)
from svoc.warehouse.files import copy_checkpointed
from svoc.warehouse.sql import qualified, quote_ident

log = logging.getLogger(__name__)

# Treatments: how a declared column leaves. keep: as is; pseudonym: citizen_id -> citizen_pseudonym; count: a
# count of children, small cells suppressed; cell_statistic: NULL when its row's count is suppressed; month: a
# date cut to the first of its month (``<name>`` -> ``<name>_month``); age_band: a DOB as an age band on the
# drop date; district: a postcode's outward code; qi: a quasi-identifier kept, then generalised.
TREATMENTS = frozenset({"keep", "pseudonym", "count", "cell_statistic", "month", "age_band", "district", "qi"})

SINGLE_VIEW: dict[str, str] = {
    "citizen_id": "pseudonym", "dob": "age_band", "sex": "qi", "postcode": "district", "ethnicity": "qi",
    "sources": "keep", "record_count": "keep", "first_seen": "month", "last_seen": "month", "unborn": "keep",
    **dict.fromkeys(INDICATORS, "keep"),
    "conflicting_nhs_numbers": "keep", "multiple_upns": "keep", "as_of_date": "keep",
}
# Plus every ``known_to_<source>`` flag (KNOWN_TO_PATTERN): one per configured source.

INTERACTIONS: dict[str, str] = {
    "citizen_id": "pseudonym", "source": "keep", "event_type": "keep", "event_code": "keep", "event_date": "month",
    "end_date": "month", "role": "keep", "academic_year": "keep", "term": "keep", "sessions_possible": "keep",
    "sessions_authorised_absence": "keep", "sessions_unauthorised_absence": "keep", "sessions": "keep",
}

DISCLOSURE_TABLE = "audit.disclosure"
DISCLOSURE_COLUMNS = [("run_id", "VARCHAR"), ("measured_at", "TIMESTAMP"), ("table_name", "VARCHAR"),
                      ("measure", "VARCHAR"), ("quasi_identifiers", "VARCHAR"), ("threshold", "INTEGER"),
                      ("children", "BIGINT"), ("classes", "BIGINT"), ("unique_children", "BIGINT"),
                      ("children_below_threshold", "BIGINT")]
# What the issue measured before coarsening: DOB month, sex and postcode district.
UNPROTECTED_QIS = ("dob_month", "sex", "postcode_district")


def resolve_pseudonym_key(profile: str, key: str | None, key_file: Path) -> bytes:
    """The HMAC key: from the environment; in the demo profile, generated once into a file outside the warehouse."""
    if key:
        return key.encode("utf-8")
    if profile == "production":
        raise SvocError(
            "SVOC_PSEUDONYM_KEY is not set; the production profile will not publish an analytics file "
            "without it (set it from your secrets store)"
        )
    key_file = Path(key_file)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        os.chmod(key_file, 0o600)
        log.info("demo profile: generated a pseudonymisation key at %s (set SVOC_PSEUDONYM_KEY in "
                    "production)", key_file)
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")


def pseudonym(key: bytes, citizen_id: str) -> str:
    return pseudonyms(key, [citizen_id])[0]


def pseudonyms(key: bytes, citizen_ids: Iterable[str]) -> list[str]:
    """HMAC-SHA256 of each citizen id under the key, in hex. The keyed state is set up once and copied per id
    (half the time of ``hmac.new`` per id: 0.9 s a night at 500k children)."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    out = []
    for citizen_id in citizen_ids:
        h = keyed.copy()
        h.update(citizen_id.encode("utf-8"))
        out.append(h.hexdigest())
    return out


def analytics_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}_analytics.duckdb")


def _select(columns: list[tuple[str, str]], declared: dict[str, str], alias: str, as_of: str | None = None) -> str:
    """The SELECT list of a declared table's published columns (undeclared ones are left out)."""
    out = []
    for name, sql_type in columns:
        treatment = declared.get(name) or ("keep" if KNOWN_TO_PATTERN.fullmatch(name) and sql_type == "BOOLEAN" else None)
        col = f"{alias}.{quote_ident(name)}"
        if treatment is None or treatment not in TREATMENTS:
            continue
        if treatment == "pseudonym":
            out.append("p.citizen_pseudonym")
        elif treatment == "month":
            out.append(f"CAST(date_trunc('month', {col}) AS DATE) AS {quote_ident(name.removesuffix('_date') + '_month')}")
        elif treatment == "age_band":
            out.append(f"{age_band_sql(col, as_of or 'current_date')} AS age_band")
        elif treatment == "district":
            out.append(f"CASE WHEN {col} IS NOT NULL THEN split_part({col}, ' ', 1) END AS postcode_district")
        else:
            out.append(col)
    return ", ".join(out)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    schema, _, name = table.partition(".")
    return [(r[0], r[1]) for r in con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, name]).fetchall()]


def _publish_mart(con: duckdb.DuckDBPyConnection, name: str, declared: dict[str, str], threshold: int) -> None:
    cols = [(c, t) for c, t in _columns(con, name) if c in declared]
    counts = [c for c, _ in cols if declared[c] == "count"]
    flag_params = [threshold] * len(counts)
    parts, params = [], []
    for col, _ in cols:
        treatment = declared[col]
        if treatment == "count":
            parts.append(f"{suppressed_count(col)} AS {quote_ident(col)}")
            params.append(threshold)
        elif treatment == "cell_statistic" and counts:
            parts.append(f"CASE WHEN {suppression_flag(counts)} THEN NULL ELSE m.{quote_ident(col)} END "
                         f"AS {quote_ident(col)}")
            params += flag_params
        elif treatment == "pseudonym":
            parts.append("p.citizen_pseudonym")
        elif treatment == "month":
            parts.append(f"CAST(date_trunc('month', m.{quote_ident(col)}) AS DATE) AS {quote_ident(col)}")
        else:
            parts.append(f"m.{quote_ident(col)}")
    if counts:
        parts.append(f"{suppression_flag(counts)} AS suppressed")
        params += flag_params
    join = " JOIN _pseudonyms p USING (citizen_id)" if "citizen_id" in dict(cols) else ""
    con.execute(f"CREATE TABLE analytics.{qualified(name)} AS SELECT {', '.join(parts)} FROM {qualified(name)} m"
                f"{join}", params)


def _record_disclosure(con: duckdb.DuckDBPyConnection, run_id: str | None, rows: list[tuple]) -> None:
    """The measured risk, in the build's ``audit.disclosure`` (for the run report) and in the analytics file."""
    body = ", ".join(f"{quote_ident(c)} {t}" for c, t in DISCLOSURE_COLUMNS)
    for prefix in ("", "analytics."):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {prefix}audit")
        target = prefix + qualified(DISCLOSURE_TABLE)
        con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({body})")
        con.execute(f"DELETE FROM {target} WHERE run_id IS NOT DISTINCT FROM ?", [run_id])
        con.executemany(f"INSERT INTO {target} VALUES (?, current_timestamp, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[run_id, *r] for r in rows])


def _single_view(con: duckdb.DuckDBPyConnection, threshold: int) -> list[tuple]:
    """Publish linked.single_view with generalised quasi-identifiers; returns the disclosure rows."""
    cols = _columns(con, "linked.single_view")
    as_of = "s.as_of_date" if "as_of_date" in dict(cols) else None
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _svoc_sv AS SELECT {_select(cols, SINGLE_VIEW, "s", as_of)}
        FROM linked.single_view s JOIN _pseudonyms p USING (citizen_id)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _svoc_raw AS
        SELECT strftime(dob, '%Y-%m') AS dob_month, sex, split_part(postcode, ' ', 1) AS postcode_district
        FROM linked.single_view""")
    try:
        published = {c for c, _ in _columns_of_temp(con, "_svoc_sv")}
        qis = tuple(q for q in QUASI_IDENTIFIERS if q in published)
        before = uniqueness(con, "_svoc_raw", UNPROTECTED_QIS, threshold)
        blanked = generalise(con, "_svoc_sv", "citizen_pseudonym", threshold, qis,
                             tuple(q for q in GENERALISE_ORDER if q in qis))
        after = uniqueness(con, "_svoc_sv", qis, threshold)
        con.execute("CREATE TABLE analytics.linked.single_view AS SELECT * FROM _svoc_sv ORDER BY citizen_pseudonym")
    finally:
        con.execute("DROP TABLE IF EXISTS _svoc_sv")
        con.execute("DROP TABLE IF EXISTS _svoc_raw")
    log.info("analytics: quasi-identifiers generalised (cells blanked per column %s); unique children %d -> %d",
             blanked, before["unique_children"], after["unique_children"])
    return [("linked.single_view", "unprotected", ",".join(UNPROTECTED_QIS), threshold, *before.values()),
            ("linked.single_view", "published", ",".join(qis), threshold, *after.values())]


def _columns_of_temp(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'temp' AND table_name = ?",
        [name]).fetchall()]


def _count_analytics(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM analytics.{quote_ident(schema)}.{quote_ident(table)}").fetchone()
    return int(row[0]) if row else 0


def build_analytics(con: duckdb.DuckDBPyConnection, out: Path, key: bytes, *,
                    marts: Mapping[str, Mapping[str, str]] | None = None, small_cell_threshold: int = 5,
                    run_id: str | None = None, timeline_from: Path | None = None,
                    changed_children: Sequence[str] | None = None) -> dict[str, int]:
    """Write the analytics file to ``out`` (a build path; the caller swaps it in).

    ``marts``: each mart's declaration (table -> column -> treatment); a table in ``marts`` without one is not
    published. ``small_cell_threshold``: counts of 1 to threshold-1 children are suppressed, and no child is
    left in a class smaller than it on the published quasi-identifiers.

    ``timeline_from`` and ``changed_children`` (a night that knows which children's timelines changed: the
    published analytics file of the same run as the warehouse the build started from, and those children's
    citizen ids, old ids included): the published timeline is kept for every other child
    (``_keep_timeline``); everything else is built whole, as disclosure control is over all children.
    """
    threshold = small_cell_threshold
    ids = [r[0] for r in con.execute("SELECT citizen_id FROM linked.single_view").fetchall()]
    mapping = pd.DataFrame({"citizen_id": ids, "citizen_pseudonym": pseudonyms(key, ids)})
    con.register("_pseudonyms", mapping)
    timeline = (f"SELECT {_select(_columns(con, 'linked.interactions'), INTERACTIONS, 'x')} "
                "FROM linked.interactions x JOIN _pseudonyms p USING (citizen_id)")
    definition = _timeline_definition(timeline, key)
    try:
        kept = (timeline_from is not None and changed_children is not None
                and _keep_timeline(con, timeline_from, out, timeline, definition, key, changed_children))
        if not kept:
            out.unlink(missing_ok=True)
            con.execute("ATTACH ? AS analytics", [str(out)])  # the path as a parameter: "St John's" is fine
            con.execute("CREATE SCHEMA analytics.linked")
            con.execute(f"CREATE TABLE analytics.linked.interactions AS {timeline} "
                        "ORDER BY p.citizen_pseudonym, x.event_date")
            # COMMENT ON takes no parameter: a fixed phrase and a hex digest computed here
            assert re.fullmatch(r"[0-9a-f]{16}", definition), "a sha256 prefix"
            con.execute(f"COMMENT ON TABLE analytics.linked.interactions IS '{_TIMELINE_COMMENT}{definition}'")
        try:
            con.execute("CREATE SCHEMA analytics.marts")
            risk = _single_view(con, threshold)
            _publish_marts(con, marts, threshold)
            _record_disclosure(con, run_id, risk)
            counts = {
                f"{s}.{t}": _count_analytics(con, s, t)
                for s, t in con.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'analytics'").fetchall()
            }
        finally:
            con.execute("DETACH analytics")
    finally:
        con.unregister("_pseudonyms")
    log.info("analytics: timeline %s", "kept for unchanged children" if kept else "built for every child")
    return counts


def _publish_marts(con: duckdb.DuckDBPyConnection, marts: Mapping[str, Mapping[str, str]] | None,
                   threshold: int) -> None:
    present = {f"marts.{r[0]}" for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'marts'"
    ).fetchall()}
    declared = dict(marts or {})
    for name in sorted(present & set(declared)):
        _publish_mart(con, name, dict(declared[name]), threshold)
    if present - set(declared):
        log.info("analytics: %d table(s) in marts have no analytics declaration and were not published",
                 len(present - set(declared)))


_TIMELINE_COMMENT = "Analytics timeline (svoc); built by definition "


def _timeline_definition(timeline_sql: str, key: bytes) -> str:
    """What a published timeline row depends on besides its interaction: the SQL (columns and treatments) and
    the pseudonym key, as an HMAC of a fixed text under it (the key itself is never written anywhere)."""
    probe = hmac.new(key, b"svoc analytics timeline", hashlib.sha256).hexdigest()
    return hashlib.sha256(f"{timeline_sql}\n{probe}".encode()).hexdigest()[:16]


def _keep_timeline(con: duckdb.DuckDBPyConnection, previous: Path, out: Path, timeline_sql: str, definition: str,
                   key: bytes, changed: Sequence[str]) -> bool:
    """Start ``out`` as a copy of the published analytics file ``previous`` and keep its timeline, but for the
    ``changed`` children (citizen ids), whose rows are built again; every other table is dropped (the caller
    builds them). False (``out`` removed, nothing attached) when the copy cannot be used: no file, a
    write-ahead log or many free blocks, another definition (columns, treatments, key), or a row count that
    differs from the timeline's (a whole build is then made)."""
    if not previous.exists():
        return False
    out.unlink(missing_ok=True)
    try:
        if not copy_checkpointed(previous, out):
            return False
    except duckdb.IOException:  # a writer holds it: not ours to read
        return False
    con.execute("ATTACH ? AS analytics", [str(out)])
    ok = False
    try:
        comment = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = 'analytics' "
                              "AND schema_name = 'linked' AND table_name = 'interactions'").fetchall()
        if comment and comment[0][0] == _TIMELINE_COMMENT + definition:
            for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                                             "database_name = 'analytics'").fetchall():
                if (schema, table) != ("linked", "interactions"):
                    con.execute(f"DROP TABLE analytics.{quote_ident(schema)}.{quote_ident(table)}")
            for schema in ("marts", "audit"):
                con.execute(f"DROP SCHEMA IF EXISTS analytics.{schema}")
            ids = list(changed)
            con.register("_svoc_changed", pd.DataFrame({"citizen_id": pd.Series(ids, dtype=object),
                                                        "citizen_pseudonym": pd.Series(pseudonyms(key, ids),
                                                                                       dtype=object)}))
            try:  # the old ids of merged or retired children too: their pseudonyms, not only tonight's
                con.execute("DELETE FROM analytics.linked.interactions WHERE citizen_pseudonym IN "
                            "(SELECT citizen_pseudonym FROM _svoc_changed)")
                con.execute(f"INSERT INTO analytics.linked.interactions {timeline_sql} WHERE x.citizen_id IN "
                            "(SELECT citizen_id FROM _svoc_changed) ORDER BY p.citizen_pseudonym, x.event_date")
            finally:
                con.unregister("_svoc_changed")
            ok = _count_analytics(con, "linked", "interactions") == con.execute(
                "SELECT count(*) FROM linked.interactions x JOIN _pseudonyms p USING (citizen_id)").fetchall()[0][0]
    finally:
        if not ok:
            con.execute("DETACH analytics")
            out.unlink(missing_ok=True)
    return ok
