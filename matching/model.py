"""Train, store and apply the Splink 5 model; scored pairs carry per-comparison evidence.

* ``ModelArtifact``: a trained model (``matching.training.train_model`` makes one); its
  ``model_version`` is a content hash of its canonical JSON.
* ``save_model(con, artifact, run_id)`` / ``load_latest_model(con)``: ``audit.models`` in the warehouse.
* ``predict_pairs(features, artifact, threshold_probability)``: scored pairs with an evidence JSON
  list of ``{comparison, level, match_weight}`` (weight = log2 Bayes factor incl. TF adjustment).

Splink runs in its own in-memory DuckDB connection (``matching_connection``) so its scratch tables
never touch the warehouse. Nothing here logs names, dates of birth or identifiers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator

from matching import settings as S
from matching.artifact import ModelArtifact
from matching.comparisons import AGE_LABEL, AGE_NEAR_LABEL, FIRST_INITIAL_LABEL
from matching.term_frequencies import register_term_frequencies

log = logging.getLogger(__name__)
SPLINK_LOG_LEVEL = logging.ERROR  # "level not observed" EM notes are expected on small drops
# Records per left-hand chunk when scoring: bounds DuckDB's working set beyond a county-sized night. Measured
# at 993,157 records (2 threads, 2 GB DuckDB limit): 1 chunk 25.6 s and 3.58 GB peak, 4 chunks 32.9 s and 3.33 GB
# (each chunk repeats the blocking joins), so a county scores in one chunk.
PREDICT_CHUNK_RECORDS = 1_000_000


# --------------------------------------------------------------------------------------------- DB
def spill_folder() -> Path:
    """Where a private matching connection spills when it outgrows its memory: a folder only this user can
    open (0700) under the system temp folder, never DuckDB's default ``.tmp`` in the working folder."""
    folder = Path(tempfile.gettempdir()) / f"svoc-matching-spill-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    return folder


def matching_connection(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:", config={"temp_directory": str(spill_folder())})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con


# Training works on bounded samples (u and EM pairs, ``matching.training``), so it gets a bounded buffer: given more,
# DuckDB keeps caching in it (at 1M records EM filled a 2 GB buffer beside the 1.8 GB feature frame, and gained
# nothing from it: the same training took as long in 1 GB). Past this it spills to ``spill_folder``.
TRAINING_MEMORY_LIMIT = "1GB"
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_MEMORY = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]i?b|b)?\s*", re.IGNORECASE)


def memory_bytes(limit: str) -> int | None:
    """A DuckDB memory setting (``4GB``, ``1.5 GiB``, ``500MB``) in bytes; None when it is not one."""
    m = _MEMORY.fullmatch(limit)
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()]) if m else None


def capped_memory_limit(limit: str | None, cap: str = TRAINING_MEMORY_LIMIT) -> str | None:
    """The smaller of ``limit`` (None: DuckDB's default, most of the machine) and ``cap``; a ``limit`` that is not
    a size is passed on for DuckDB to judge."""
    if limit is None:
        return cap
    given, most = memory_bytes(limit), memory_bytes(cap)
    return cap if given is not None and most is not None and given > most else limit


@contextlib.contextmanager
def scoped_connection(con: duckdb.DuckDBPyConnection | None, threads: int | None, memory_limit: str | None
                      ) -> Iterator[duckdb.DuckDBPyConnection]:
    """``con`` as given, else a private matching connection that is closed (its memory freed) on exit."""
    if con is not None:
        yield con
        return
    own = matching_connection(threads, memory_limit)
    try:
        yield own
    finally:
        own.close()


# Feature columns added later than the first stored models: a frame without them (hand-built in a test,
# or an older caller) gets the value that means "no such evidence".
_DEFAULTS = {
    "dob_precision": "CASE WHEN TRY_CAST(dob AS DATE) IS NOT NULL THEN 'day' END",
    "postcode_token": "replace(CAST(postcode AS VARCHAR), ' ', '')",
    "identifier_keys": "[]::VARCHAR[]",
    "identifier_names": "[]::VARCHAR[]",
    "town_std": "NULL::VARCHAR",
    "birth_earliest": "NULL::DATE",
    "birth_latest": "NULL::DATE",
}


def _features_table_sql(extra_id_columns: tuple[str, ...], present: set[str] | None = None) -> str:
    casts = {
        "dob": "TRY_CAST(dob AS DATE)",
        "birth_earliest": "TRY_CAST(birth_earliest AS DATE)",
        "birth_latest": "TRY_CAST(birth_latest AS DATE)",
        "dob_year": "TRY_CAST(dob_year AS INTEGER)",
        "dob_month": "TRY_CAST(dob_month AS INTEGER)",
        "dob_day": "TRY_CAST(dob_day AS INTEGER)",
    }
    cols = []
    for c in S.REQUIRED_FEATURE_COLUMNS:
        if present is not None and c not in present and c in _DEFAULTS:
            cols.append(f"{_DEFAULTS[c]} AS {c}")
        elif c in S.LIST_COLUMNS:
            cols.append(f"CAST({c} AS VARCHAR[]) AS {c}")
        elif c in casts:
            cols.append(f"{casts[c]} AS {c}")
        else:
            cols.append(f"CAST({c} AS VARCHAR) AS {c}")
    cols += [f"CAST({c} AS VARCHAR) AS {c}" for c in extra_id_columns]
    return ",\n  ".join(cols)


def load_features(
    con: duckdb.DuckDBPyConnection, features: pd.DataFrame | pa.Table, extra_id_columns: tuple[str, ...]
) -> str:
    """Copy ``features`` (a frame, or an Arrow table, which DuckDB scans without a pandas step) into
    ``cv_features``, typed and ordered by ``unique_id``."""
    columns = set(features.column_names if isinstance(features, pa.Table) else features.columns)
    needed = [c for c in (*S.REQUIRED_FEATURE_COLUMNS, *extra_id_columns) if c not in _DEFAULTS]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValueError(f"feature frame lacks columns: {missing}")
    con.register("__cv_features_in", features)
    con.execute(
        "CREATE OR REPLACE TABLE cv_features AS SELECT\n  "
        f"{_features_table_sql(extra_id_columns, columns)}\nFROM __cv_features_in ORDER BY unique_id"
    )
    con.unregister("__cv_features_in")
    return "cv_features"


def extra_ids(settings: dict[str, Any]) -> tuple[str, ...]:
    names = [c["output_column_name"] for c in settings["comparisons"]]
    return tuple(n for n in names if n in _extra_ids_from_names(names))


def make_linker(con: duckdb.DuckDBPyConnection, table: str, settings: SettingsCreator | dict[str, Any]) -> Linker:
    """A DuckDB linker on ``table`` (a stored model's settings: ``ModelArtifact.engine_settings()``)."""
    db_api = DuckDBAPI(con)
    sdf = db_api.register(table)
    return Linker(sdf, settings, log_level=SPLINK_LOG_LEVEL)


# --------------------------------------------------------------------------------------- predict
def level_labels(linker: Linker) -> dict[str, dict[int, str]]:
    """comparison name -> {comparison vector value (gamma): the level's plain-English label}."""
    return {comp.output_column_name: {lvl.comparison_vector_value: lvl.label_for_charts
                                      for lvl in comp.comparison_levels}
            for comp in linker._settings_obj.comparisons}


def _evidence_select(linker: Linker) -> tuple[list[str], str]:
    """Per-comparison gamma/weight columns and the evidence JSON expression, from the settings. Level
    labels are added afterwards as categoricals (``_add_level_columns``): one string per level, not per pair."""
    cols: list[str] = []
    items: list[str] = []
    labels = level_labels(linker)
    for comp in linker._settings_obj.comparisons:
        name = comp.output_column_name
        whens = " ".join(f"WHEN {gamma} THEN '{label.replace(chr(39), chr(39) * 2)}'"
                         for gamma, label in labels[name].items())
        level = f"CASE gamma_{name} {whens} END"
        mw = f"mw_{name}" + (f" + coalesce(mw_tf_adj_{name}, 0)" if comp._has_tf_adjustments else "")
        cols += [f"gamma_{name}", f"round({mw}, 4) AS mw_{name}"]
        items.append(f"{{'comparison': '{name}', 'level': {level}, 'match_weight': round({mw}, 3)}}")
    return cols, f"to_json([{', '.join(items)}])"


def _add_level_columns(out: pd.DataFrame, labels: dict[str, dict[int, str]]) -> pd.DataFrame:
    """``level_<comparison>`` categoricals decoded from ``gamma_<comparison>``, placed before ``mw_``."""
    for name, by_gamma in labels.items():
        gammas = sorted(by_gamma)
        lut = np.full(max(gammas) + 2, -1, dtype=np.int64)
        lut[np.asarray(gammas) + 1] = np.arange(len(gammas))
        gamma = out[f"gamma_{name}"].to_numpy(dtype=np.int64)
        level = pd.Categorical.from_codes(lut[gamma + 1], categories=pd.Index([by_gamma[g] for g in gammas]))
        at = out.columns.get_loc(f"mw_{name}")
        assert isinstance(at, int), "column names are unique"
        # pandas-stubs: insert's value omits ExtensionArray (a Categorical), which pandas takes
        out.insert(at, f"level_{name}", level)  # type: ignore[arg-type]
    return out


IDENTIFIER_COMPARISONS = ("nhs_number", "upn", "identifiers")


def _levels_where(linker: Linker, name: str, pred: Callable[[str], bool]) -> list[int]:
    comp = next((c for c in linker._settings_obj.comparisons if c.output_column_name == name), None)
    if comp is None:
        return []
    return [lvl.comparison_vector_value for lvl in comp.comparison_levels
            if not lvl.is_null_level and pred(lvl.label_for_charts)]


def _gamma_in(name: str, values: list[int]) -> str:
    return f"coalesce(gamma_{name} IN ({', '.join(map(str, values))}), false)" if values else "false"


def _evidence_sql(linker: Linker) -> tuple[str, str]:
    """``(auto_link_eligible, evidence_gap)`` SQL over the scored pairs.

    Minimum identity evidence for an automatic probabilistic link, the same within one source and across
    sources: an identifier agrees; or first name AND date of birth agree; or identical middle names, DOB and
    surname; or, when one record has no usable DOB, first name AND surname AND an address, postcode or middle
    name (in full, or its initial against the full name: a third name, not first and surname alone); or, when
    one record has no usable first name, the exact DOB AND surname AND an address, postcode or middle name (in
    full, or its initial); in those last two, only when sex and middle names do not differ. An age that fits the
    other record's DOB counts as no DOB. Household evidence alone (surname + address) never suffices. ``evidence_gap`` names what an ineligible pair lacks,
    or what contradicts it (``matching.review.REASON_TEXT`` words the queued ones for people)."""
    names = [c.output_column_name for c in linker._settings_obj.comparisons]

    def agree(c: str) -> str:
        return f"coalesce(gamma_{c} > 0, false)" if c in names else "false"

    def missing(c: str) -> str:
        return f"coalesce(gamma_{c} = -1, true)" if c in names else "true"

    ids = [agree(c) for c in names if c in IDENTIFIER_COMPARISONS or c in _extra_ids_from_names(names)]
    # An age that fits the other record's DOB narrows the birth to a year, which a brother or a classmate may share:
    # the pair is judged as one without a DOB, and may link as one with an address would, on a middle name instead.
    aged = _gamma_in("dob", _levels_where(linker, "dob", lambda t: t == AGE_LABEL))
    near = _gamma_in("dob", _levels_where(linker, "dob", lambda t: t == AGE_NEAR_LABEL))
    dob_agrees = f"({agree('dob')} AND NOT {aged} AND NOT {near})"
    # an age a year out is weak evidence against (ages are estimated, or taken on another day): its weight counts in
    # the score, but for the rules the pair is one without a DOB, needing an address or postcode to link
    dob_unknown = f"({missing('dob')} OR {aged} OR {near})"
    dob_exact = _gamma_in("dob", _levels_where(linker, "dob", lambda t: t == "date of birth exact match"))
    exact_middle = _gamma_in("middle_names", _levels_where(linker, "middle_names", lambda t: "exact" in t))
    place = _gamma_in("location", _levels_where(
        linker, "location", lambda t: t.startswith(("same postcode ", "same postcode and", "same address"))))
    # "J" against "Joshua": the initial fits the child, a brother or a twin alike, so it counts for no more
    # than a missing first name does
    initial = _gamma_in("first_name", _levels_where(linker, "first_name", lambda t: t == FIRST_INITIAL_LABEL))
    first = f"({agree('first_name')} AND NOT {initial})"
    no_first = f"({missing('first_name')} OR {initial})"

    def differs(c: str) -> str:  # the comparison's "different" level (its else level, gamma 0)
        return f"coalesce(gamma_{c} = 0, false)" if c in names else "false"

    # Without a first name or a DOB, a household's evidence (surname, address, DOB) fits a sibling or a parent as
    # well: a different sex or different middle names then say two people.
    uncontradicted = f"NOT {differs('sex')} AND NOT {differs('middle_names')}"
    core = [
        f"({first} AND {dob_agrees})",
        f"({exact_middle} AND {dob_agrees} AND {agree('last_name')})",
        f"({first} AND {agree('last_name')} AND {dob_unknown} AND {place} AND {uncontradicted})",
        f"({first} AND {agree('last_name')} AND {dob_unknown} AND {agree('middle_names')} AND {uncontradicted})",
        f"({no_first} AND {dob_exact} AND {agree('last_name')} AND ({place} OR {agree('middle_names')})"
        f" AND {uncontradicted})",
    ]
    eligible = "(" + " OR ".join([*ids, *core]) + ")"
    # The first gap that applies is the pair's real reason; a middle name that differs is evidence of two people.
    gap = (
        f"CASE WHEN {eligible} THEN NULL "
        f"WHEN ({no_first} OR {dob_unknown}) AND {differs('middle_names')} THEN 'middle_names_differ' "
        f"WHEN {initial} AND {dob_agrees} THEN 'first_name_initial_only' "
        f"WHEN {missing('first_name')} AND {dob_agrees} THEN 'first_name_missing' "
        f"WHEN {no_first} THEN 'household_only' "
        f"WHEN NOT {agree('first_name')} THEN 'first_name_differs' "
        f"WHEN {dob_unknown} AND NOT {agree('last_name')} THEN 'dob_missing_surname_differs' "
        f"WHEN {dob_unknown} AND {place} THEN 'dob_missing_sex_differs' "
        f"WHEN {dob_unknown} AND {differs('location')} THEN 'dob_missing_address_differs' "
        f"WHEN {dob_unknown} THEN 'dob_missing_no_address' "
        "ELSE 'dob_differs' END"
    )
    return eligible, gap


def _extra_ids_from_names(names: list[str]) -> set[str]:
    base = {"first_name", "middle_names", "last_name", "dob", "sex", "location", "identifiers",
            *IDENTIFIER_COMPARISONS}
    return {n for n in names if n not in base}


def predict_pairs(
    features: pd.DataFrame | pa.Table,
    artifact: ModelArtifact,
    threshold_probability: float = 0.01,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    num_chunks: int | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    new_ids: Collection[str] | None = None,
    rule_counts: dict[int, int] | None = None,
    loaded: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """Score candidate pairs; keep those with ``match_probability >= threshold_probability``.

    ``new_ids`` (an incremental night, ``matching.incremental``): score only the pairs with at least one of
    these records (new × the others and new × new), with the same blocking rules and with term frequencies
    counted over all of ``features``, as a full scoring would.

    ``rule_counts`` (a full scoring in one chunk): filled with the pairs each blocking rule made, by rule index,
    counted on the blocked pairs Splink then scores (``matching.blocking.analysis_from_counts``).

    ``loaded`` is called once the features are copied into the scoring database: from then on scoring does not
    read ``features``, so a caller that needs only some of its columns afterwards may drop the rest there."""
    with scoped_connection(con, threads, memory_limit) as con:
        extra = extra_ids(artifact.settings)
        table = load_features(con, features, extra)
        del features  # a table handed over (``matching.memory.HandedOver``) is freed here
        if loaded is not None:
            loaded()
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        linker = make_linker(con, table, artifact.engine_settings())
        register_term_frequencies(linker, artifact.term_frequencies)
        if new_ids is not None:
            from matching.incremental import predict_new

            pairs, frames = predict_new(con, linker, table, new_ids, threshold_probability)
            out = shape_predictions(con, linker, pairs)
            for frame in frames:
                frame.drop_table_from_database_and_remove_from_cache()
            log.info("scored %d pairs above p=%.3g for %d new or changed of %d records", len(out),
                     threshold_probability, len(new_ids), n)
            return out
        chunks = num_chunks or max(1, math.ceil(n / PREDICT_CHUNK_RECORDS))
        blocked = None
        if rule_counts is not None and chunks == 1:  # predict scores this cached table; counting it is ~free
            blocked = linker.inference.compute_blocked_pairs_for_predict()
            rule_counts.update({int(k): int(c) for k, c in con.execute(
                f"SELECT match_key, count(*) FROM {blocked.physical_name} GROUP BY match_key").fetchall()})
        pred = linker.inference.predict(
            threshold_match_probability=threshold_probability,
            num_chunks_left=chunks,
            num_chunks_right=1,
            warning_mode="never",
        )
        if blocked is not None:
            blocked.drop_table_from_database_and_remove_from_cache()
        out = shape_predictions(con, linker, pred.physical_name)
        pred.drop_table_from_database_and_remove_from_cache()
    log.info("scored %d pairs above p=%.3g from %d records", len(out), threshold_probability, n)
    return out


def shape_predictions(con: duckdb.DuckDBPyConnection, linker: Linker, table: str) -> pd.DataFrame:
    """The scored pairs ``predict_pairs`` returns, from a table of Splink predictions in ``con`` (``linker``:
    a DuckDB linker with the same settings; the Spark engine collects its predictions into such a table)."""
    cols, evidence = _evidence_select(linker)
    eligible, gap = _evidence_sql(linker)
    # Pairs with the same levels and weights share one evidence text (at 1M records, 270k distinct in 718k): each
    # pair brings only the text's hash, and each distinct text crosses into Python once.
    sql = (
        "SELECT unique_id_l, unique_id_r, match_probability, match_weight, match_key, "
        f"{eligible} AS auto_link_eligible, {gap} AS evidence_gap, "
        f"hash({evidence}) AS evidence_hash, {', '.join(cols)} FROM {table} "
        "ORDER BY unique_id_l, unique_id_r"
    )
    out = _add_level_columns(con.execute(sql).df(), level_labels(linker))
    out["match_key"] = out["match_key"].astype(int)
    texts = con.execute(f"SELECT hash(evidence) AS h, evidence FROM (SELECT DISTINCT {evidence} AS evidence "
                        f"FROM {table}) ORDER BY evidence").df()
    hashes = pd.Index(texts["h"].to_numpy(dtype=np.uint64))
    if hashes.is_unique:
        shared = np.empty(len(texts) + 1, dtype=object)  # code -1 (no text) takes the last slot: None
        shared[:-1] = texts["evidence"].to_numpy(dtype=object)
        values = shared[hashes.get_indexer(out["evidence_hash"].to_numpy(dtype=np.uint64))]
    else:  # two texts with one 64-bit hash: never seen, but then the texts are read per pair
        values = con.execute(f"SELECT {evidence} FROM {table} ORDER BY unique_id_l, unique_id_r"
                             ).df().iloc[:, 0].to_numpy(dtype=object)
    at = out.columns.get_loc("evidence_hash")
    assert isinstance(at, int), "column names are unique"
    del out["evidence_hash"]
    out.insert(at, "evidence", values)
    return out
