"""An incremental night on the build warehouse (``matching.incremental`` has the rules).

State the last published run left in the build: ``matching.record_features`` (every record's feature row and
identity hash), ``matching.scored_pairs`` (the pairs that can still change a cluster or the queue), the registry
and queue, and ``audit.run_matching`` (thresholds, model and feature version). Tonight only new and changed
records are featured and scored; only the touched records are re-clustered; every other record keeps its row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from matching.incremental import (
    IDENTITY_FIELDS,
    MAX_CHANGED_SHARE,
    MUST_LINK_FIELDS,
    keep_floor,
    pairs_to_keep,
    seed_records,
)
from schemas.tables import TABLES
from svoc.warehouse.sql import qualified, quote_ident, repeated_texts, write_frame

log = logging.getLogger(__name__)

_KEY = "source || ':' || source_record_id"
_PAIR_COLUMNS = [c for c, _ in TABLES["matching.scored_pairs"] if c != "run_id"]


def _neither_end_in(*tables: str) -> str:
    """SQL: a pair (``unique_id_l``, ``unique_id_r``) with neither record in any of ``tables`` (this module's temp
    tables of record keys): ``_svoc_dead`` alone, a pair between records unchanged tonight."""
    keys = " UNION ALL ".join(f"SELECT unique_id FROM {quote_ident(t)}" for t in tables)
    return f"unique_id_l NOT IN ({keys}) AND unique_id_r NOT IN ({keys})"


def identity_hash_sql() -> str:
    """SQL expression over ``staging.identity_records``: md5 of the record's ``IDENTITY_FIELDS`` as a JSON array."""
    fields = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR)" for c in IDENTITY_FIELDS)
    return f"md5(CAST(to_json(list_value({fields})) AS VARCHAR))"


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append a large frame to a contract table, matched by column name and cast to the table's types by DuckDB
    (Arrow's per-column type inference; ``write_frame``'s per-value conversion costs ~13 s per 1M feature rows)."""
    con.register("_svoc_rows", pa.Table.from_pandas(frame, preserve_index=False))
    try:
        con.execute(f"INSERT INTO {qualified(table)} BY NAME SELECT * FROM _svoc_rows")
    finally:
        con.unregister("_svoc_rows")


def previous_state(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """What the last published run left for an incremental night (``full_night_reason``'s ``previous``)."""
    run_id = con.execute("SELECT any_value(run_id) FROM linked.record_citizen").fetchall()[0][0]
    if run_id is None:
        return None
    rows = con.execute("SELECT model_version, thresholds, stats FROM audit.run_matching WHERE run_id = ?",
                       [run_id]).fetchall()
    if not rows:
        return None
    model_version, thresholds, stats_json = rows[0]
    stats = json.loads(stats_json or "{}")
    n = con.execute("SELECT count(*) FROM matching.record_features WHERE identity_hash IS NOT NULL").fetchall()[0][0]
    return {"run_id": run_id, "model_version": model_version, "thresholds": json.loads(thresholds or "{}"),
            "feature_version": stats.get("feature_version"), "drop_date": stats.get("drop_date"),
            "cannot_link_identifiers": stats.get("cannot_link_identifiers"), "state_records": int(n)}


def store_features(con: duckdb.DuckDBPyConnection, features: pa.Table, run_id: str) -> None:
    """A full night's first state: every record's feature row (``features``: the frame as an Arrow table, which
    linking then loads too) and identity hash. Stored before linking, when the scores and clusters do not yet
    share the memory (a failed run's build is never published)."""
    con.execute("DELETE FROM matching.record_features")
    # the hashes joined in DuckDB: a pandas merge copied every feature row (3.8 s at 1M records), and the run id
    # added in SQL, not by a pandas copy of the frame (over a gigabyte at 1M records)
    con.register("_svoc_rows", features)
    try:
        con.execute("INSERT INTO matching.record_features BY NAME SELECT f.*, ? AS run_id, h.identity_hash "
                    f"FROM _svoc_rows f LEFT JOIN (SELECT {_KEY} AS unique_id, {identity_hash_sql()} AS identity_hash "
                    "FROM staging.identity_records) h USING (unique_id)", [run_id])
    finally:
        con.unregister("_svoc_rows")


def store_pairs(con: duckdb.DuckDBPyConnection, scored: pd.DataFrame, evidence: pd.DataFrame,
                thresholds: dict[str, Any], run_id: str) -> None:
    """A full night's other state: the scored pairs worth keeping for the next incremental night."""
    kept = pairs_to_keep(scored, keep_floor(thresholds), evidence)
    con.execute("DELETE FROM matching.scored_pairs")
    # evidence texts repeat (pairs with the same levels share one): written each once, as a dictionary
    insert_rows(con, "matching.scored_pairs",
                kept[_PAIR_COLUMNS].assign(run_id=run_id, evidence=repeated_texts(kept["evidence"])))


@dataclass
class IncrementalResult:
    """What the match stage writes after an incremental night (``linked.record_citizen``, the evidence and the
    kept state are already written)."""

    known_ids: pd.DataFrame
    events: pd.DataFrame
    review_queue: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


def _ids(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[str]:
    return [r[0] for r in con.execute(sql, list(params)).fetchall()]


def _temp_keys(con: duckdb.DuckDBPyConnection, name: str, keys: Sequence[str]) -> None:
    """A temp table ``name`` (a fixed name from this module) of record keys."""
    frame = pd.DataFrame({"unique_id": pd.Series(list(keys), dtype=object)})
    con.register("_svoc_keys_in", frame)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT unique_id FROM _svoc_keys_in")
    con.unregister("_svoc_keys_in")


def _plain_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Feature rows read back from the warehouse in ``build_features``' shapes (lists, dates, nullable ints)."""
    from matching.features import FEATURE_COLUMNS, LIST_COLUMNS

    out = frame[list(FEATURE_COLUMNS)].copy()
    for c in LIST_COLUMNS:
        out[c] = [list(v) if isinstance(v, list | tuple | np.ndarray) else [] for v in out[c]]
    dob = pd.to_datetime(out["dob"])
    out["dob"] = [d.date() if pd.notna(d) else None for d in dob]
    for c in ("dob_year", "dob_month", "dob_day"):
        out[c] = out[c].astype("Int64")
    out["is_placeholder_first_name"] = out["is_placeholder_first_name"].fillna(False).astype(bool)
    return out


def first_name_counts(con: duckdb.DuckDBPyConnection, features: pd.DataFrame) -> pd.Series:
    """Records holding each touched record's first name, over all tonight's records: the twin guard's
    established-name test counts the whole drop (``matching.twin_guard``), not the touched part of it."""
    from matching.must_links import clean_id_column

    everyone = clean_id_column(con.execute("SELECT first_name_std FROM matching.record_features").df()
                               ["first_name_std"]).str.upper()
    mine = clean_id_column(features["first_name_std"]).str.upper()
    return mine.map(everyone.value_counts()).astype("Int64")


def refresh_features(con: duckdb.DuckDBPyConnection, *, drop_date: dt.date, previous_drop: dt.date,
                     dob_from: dt.date, run_id: str) -> tuple[list[str], list[str], int]:
    """Tonight's ``matching.record_features``: rows of removed records dropped, new and changed records featured
    (a DOB between the two drop dates counts as changed: in the future at one and not at the other). Returns ``(changed, removed,
    records tonight)``; records whose DOB precision moved with their source's placeholder pattern count as changed."""
    from matching.dates import dob_precision
    from matching.features import build_features

    # only rows staged tonight can differ from their feature row: a row an earlier run staged is the row the
    # stored hash was computed from (its run id changes whenever extract stages a change to it), so it is not
    # hashed again (0.7 s at 1M records)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _svoc_tonight AS SELECT {_KEY} AS unique_id, "
                f"CASE WHEN run_id = ? THEN {identity_hash_sql()} END AS identity_hash, dob "
                "FROM staging.identity_records", [run_id])
    changed = _ids(con, "SELECT t.unique_id FROM _svoc_tonight t LEFT JOIN matching.record_features f "
                        "USING (unique_id) WHERE f.identity_hash IS NULL OR f.identity_hash <> t.identity_hash "
                        "OR (t.dob > ? AND t.dob <= ?) ORDER BY 1", sorted([previous_drop, drop_date]))
    removed = _ids(con, "SELECT unique_id FROM matching.record_features WHERE unique_id NOT IN "
                        "(SELECT unique_id FROM _svoc_tonight) ORDER BY 1")
    total = int(con.execute("SELECT count(*) FROM _svoc_tonight").fetchall()[0][0])
    if len(changed) + len(removed) > MAX_CHANGED_SHARE * max(total, 1):
        return changed, removed, total
    _temp_keys(con, "_svoc_changed", changed)
    patterns_before = _dob_patterns(con)
    identity = con.execute(f"SELECT * FROM staging.identity_records WHERE {_KEY} IN "
                           "(SELECT unique_id FROM _svoc_changed) ORDER BY source, source_record_id").df()
    fresh = build_features(identity, drop_date, dob_from=dob_from)
    hashes = con.execute(f"SELECT {_KEY} AS unique_id, {identity_hash_sql()} AS identity_hash "
                         f"FROM staging.identity_records WHERE {_KEY} IN (SELECT unique_id FROM _svoc_changed)").df()
    con.execute("DELETE FROM matching.record_features WHERE unique_id IN (SELECT unique_id FROM _svoc_changed) "
                "OR unique_id NOT IN (SELECT unique_id FROM _svoc_tonight)")
    insert_rows(con, "matching.record_features", fresh.merge(hashes, on="unique_id").assign(run_id=run_id))
    # a source's DOB placeholder patterns are found over all its records (matching.dates): tonight's records are
    # judged by tonight's patterns, and every other record too when tonight's records changed a source's patterns
    patterns = _dob_patterns(con)
    only_changed = "" if patterns != patterns_before else " WHERE unique_id IN (SELECT unique_id FROM _svoc_changed)"
    dobs = con.execute(f"SELECT unique_id, source, dob, dob_precision FROM matching.record_features{only_changed}").df()
    precision = pd.Series(dob_precision(dobs["source"], dobs["dob"], patterns), dtype=object).fillna("")
    moved = dobs.loc[(precision != dobs["dob_precision"].fillna("")).to_numpy()]
    if len(moved):
        con.executemany("UPDATE matching.record_features SET dob_precision = NULLIF(?, '') WHERE unique_id = ?",
                        [[p, u] for p, u in zip(precision[moved.index], moved["unique_id"], strict=True)])
        changed = sorted(set(changed) | set(moved["unique_id"]))
    return changed, removed, total


def _dob_patterns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Each source's DOB placeholder patterns over every stored feature row, from its records per DOB."""
    from matching.dates import placeholder_patterns

    counts = con.execute("SELECT source, dob, count(*) AS n FROM matching.record_features WHERE dob IS NOT NULL "
                         "GROUP BY ALL").df()
    return placeholder_patterns(counts["source"], counts["dob"], counts["n"])


def touched_keys(con: duckdb.DuckDBPyConnection, seeds: Collection[str], fresh: pd.DataFrame,
                 floor: float) -> list[str]:
    """The records to re-cluster tonight (``matching.incremental.touched_records``), with the graph built in
    DuckDB on row numbers: stored pairs at or above ``floor`` between records unchanged tonight (neither in
    ``_svoc_dead``), tonight's ``fresh`` pairs, and records sharing an NHS number, UPN or last night's citizen id
    (as hashes: a shared hash only re-clusters more records). Proportional to the records, without string work on
    them in pandas (4 s at 1M records)."""
    from matching.incremental import component_mask

    groups = [*(f"f.{quote_ident(c)}" for c in MUST_LINK_FIELDS), "r.citizen_id"]
    # DuckDB hashes NULL too: a missing value gets no label (-1), not a shared one
    labels = ", ".join(f"CASE WHEN nullif(CAST({c} AS VARCHAR), '') IS NULL THEN -1 "
                       f"ELSE (hash(CAST({c} AS VARCHAR)) >> 1)::BIGINT END AS g{k}" for k, c in enumerate(groups))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _svoc_nodes AS SELECT row_number() OVER (ORDER BY f.unique_id) - 1 "
                f"AS i, f.unique_id, {labels} FROM matching.record_features f LEFT JOIN "
                f"(SELECT {_KEY} AS unique_id, citizen_id FROM linked.record_citizen) r USING (unique_id)")
    _temp_keys(con, "_svoc_seeds", list(seeds))
    con.register("_svoc_fresh", fresh if len(fresh) else pd.DataFrame({"unique_id_l": pd.Series(dtype=object),
                                                                       "unique_id_r": pd.Series(dtype=object)}))
    try:
        edges = con.execute(
            "WITH p AS (SELECT unique_id_l, unique_id_r FROM matching.scored_pairs WHERE match_probability >= ? "
            f"AND {_neither_end_in('_svoc_dead')} UNION ALL SELECT unique_id_l, unique_id_r FROM _svoc_fresh) "
            "SELECT a.i AS l, b.i AS r FROM p JOIN _svoc_nodes a ON a.unique_id = p.unique_id_l "
            "JOIN _svoc_nodes b ON b.unique_id = p.unique_id_r", [floor]).fetchnumpy()
    finally:
        con.unregister("_svoc_fresh")
    nodes = con.execute("SELECT * EXCLUDE (unique_id) FROM _svoc_nodes ORDER BY i").fetchnumpy()
    seed_rows = con.execute("SELECT i FROM _svoc_nodes WHERE unique_id IN (SELECT unique_id FROM _svoc_seeds)"
                            ).fetchnumpy()["i"]
    mask = component_mask(len(nodes["i"]), np.column_stack([edges["l"], edges["r"]]).astype(np.int64),
                          [np.asarray(nodes[f"g{k}"], dtype=np.int64) for k in range(len(groups))],
                          np.asarray(seed_rows, dtype=np.int64))
    con.register("_svoc_rows", pa.table({"i": np.flatnonzero(mask).astype(np.int64)}))
    try:
        return _ids(con, "SELECT unique_id FROM _svoc_nodes WHERE i IN (SELECT i FROM _svoc_rows) ORDER BY i")
    finally:
        con.unregister("_svoc_rows")


def relink_incremental(con: duckdb.DuckDBPyConnection, *, run_id: str, drop_date: dt.date,
                       previous: dict[str, Any], model: Any, decisions: pd.DataFrame, dob_from: dt.date,
                       cannot_link_identifiers: Sequence[str], threads: int, memory_limit: str
                       ) -> IncrementalResult | str:
    """The incremental night; a string instead says why it must be a full one after all."""
    from matching.linker import link_touched
    from matching.model import predict_pairs
    from matching.thresholds import Thresholds

    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    stored_th = previous["thresholds"]
    review = stored_th["review"]
    th = Thresholds(link=float(stored_th["link"]), review=(float(review[0]), float(review[1])),
                    floor=float(stored_th.get("floor", 0.01)), source=str(stored_th.get("source", "model")))
    floor = keep_floor(stored_th)
    previous_drop = dt.date.fromisoformat(previous["drop_date"]) if previous.get("drop_date") else drop_date
    changed, removed, total = refresh_features(con, drop_date=drop_date, previous_drop=previous_drop,
                                               dob_from=dob_from, run_id=run_id)
    if len(changed) + len(removed) > MAX_CHANGED_SHARE * max(total, 1):
        return (f"{len(changed) + len(removed)} of {total} records are new, changed or removed "
                f"(over {MAX_CHANGED_SHARE:.0%})")
    clock["features"] = round(time.perf_counter() - t0, 2)
    _temp_keys(con, "_svoc_dead", [*changed, *removed])
    new_scored = pd.DataFrame()
    if changed:
        everything = con.sql("SELECT * EXCLUDE (identity_hash, run_id) FROM matching.record_features"
                             ).to_arrow_table()
        new_scored = predict_pairs(everything, model, th.floor, threads=threads, memory_limit=memory_limit,
                                   new_ids=changed)
        del everything
    clock["predict"] = round(time.perf_counter() - t0 - sum(clock.values()), 2)
    previous_registry = con.execute(f"SELECT {_KEY} AS record_key, citizen_id FROM linked.record_citizen").df()
    seeds = seed_records(changed, removed, previous_registry, decisions)
    fresh = new_scored.loc[new_scored["match_probability"].to_numpy(dtype=float) >= floor,
                           ["unique_id_l", "unique_id_r"]] if len(new_scored) else pd.DataFrame()
    touched = touched_keys(con, seeds, fresh, floor)
    _temp_keys(con, "_svoc_touched", list(touched))
    clock["select"] = round(time.perf_counter() - t0 - sum(clock.values()), 2)

    features = _plain_features(con.execute("SELECT * FROM matching.record_features WHERE unique_id IN "
                                           "(SELECT unique_id FROM _svoc_touched) ORDER BY unique_id").df())
    features["first_name_count"] = first_name_counts(con, features)
    touched_set = set(touched)
    pairs = con.execute(f"SELECT * EXCLUDE (run_id) FROM matching.scored_pairs WHERE {_neither_end_in('_svoc_dead')} "
                        "AND unique_id_l IN "
                        "(SELECT unique_id FROM _svoc_touched) AND unique_id_r IN (SELECT unique_id FROM _svoc_touched)"
                        ).df()
    if len(new_scored):
        inside = new_scored["unique_id_l"].isin(touched_set) & new_scored["unique_id_r"].isin(touched_set)
        pairs = pd.concat([df for df in (pairs, new_scored[inside.to_numpy(dtype=bool)]) if len(df)],
                          ignore_index=True)
    lost = set(previous_registry.loc[previous_registry["record_key"].isin(touched_set | set(removed)), "citizen_id"])
    result = link_touched(
        features, pairs, model=model, thresholds=th, decisions=decisions,
        previous_registry=previous_registry[previous_registry["citizen_id"].isin(lost)],
        known_ids=con.execute("SELECT * FROM audit.citizen_ids").df(),
        previous_queue=con.execute("SELECT * FROM audit.review_queue").df(), run_id=run_id,
        cannot_link_identifiers=tuple(cannot_link_identifiers))
    clock["cluster"] = round(time.perf_counter() - t0 - sum(clock.values()), 2)

    # every other record keeps its row; all rows carry tonight's run id, as after a full night
    con.execute(f"DELETE FROM linked.record_citizen WHERE {_KEY} IN (SELECT unique_id FROM _svoc_touched) "
                f"OR {_KEY} IN (SELECT unique_id FROM _svoc_dead)")
    write_frame(con, "linked.record_citizen", result.record_citizen)
    con.execute("UPDATE linked.record_citizen SET run_id = ?", [run_id])
    untouched = _neither_end_in("_svoc_touched", "_svoc_dead")
    queue = pd.concat([con.execute(f"SELECT * FROM audit.review_queue WHERE {untouched}").df(),
                       result.review_queue], ignore_index=True)
    # evidence of the untouched children carries forward from the last run, under tonight's run id
    con.execute("DELETE FROM audit.match_evidence WHERE run_id = ?", [run_id])
    con.execute(f"INSERT INTO audit.match_evidence SELECT * REPLACE (CAST(? AS VARCHAR) AS run_id) "
                f"FROM audit.match_evidence WHERE run_id = ? AND {untouched}", [run_id, previous["run_id"]])
    write_frame(con, "audit.match_evidence", result.match_evidence)
    con.execute("DELETE FROM matching.scored_pairs WHERE unique_id_l IN (SELECT unique_id FROM _svoc_dead) "
                "OR unique_id_r IN (SELECT unique_id FROM _svoc_dead)")
    if len(new_scored):
        insert_rows(con, "matching.scored_pairs",
                    pairs_to_keep(new_scored, floor, result.match_evidence)[_PAIR_COLUMNS].assign(run_id=run_id))
    clock["write"] = round(time.perf_counter() - t0 - sum(clock.values()), 2)
    stats = {"changed_records": len(changed), "removed_records": len(removed), "touched_records": len(touched),
             "new_pairs_scored": len(new_scored), "scored_pairs": len(pairs), "linked_pairs": len(result.match_evidence),
             "seconds": clock}
    log.info("incremental night: %d new or changed, %d removed, %d of %d records re-clustered", len(changed),
             len(removed), len(touched), total)
    return IncrementalResult(result.known_ids, result.events, queue, stats)
