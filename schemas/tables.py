"""Warehouse table definitions, generated from the pydantic models where one exists.

``TABLES`` maps a qualified table name to its ordered columns and DuckDB types; ``SCHEMAS`` lists the
warehouse's schemas. ``to_arrow`` turns a pandas frame into an Arrow table with exactly the table's types,
which is how every library frame is written (typed, no per-row inference). Creating and writing the
tables is the warehouse's job (``svoc.warehouse.sql``).
"""

from __future__ import annotations

import datetime as dt
import types
import typing

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from schemas.records import IdentityRecord, Interaction, QuarantinedRow

_DUCK = {str: "VARCHAR", int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN", dt.date: "DATE", dt.datetime: "TIMESTAMP"}
_ARROW = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR[]": pa.list_(pa.string()),
}


def _duck_type(annotation: typing.Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _duck_type(args[0])
    if origin is list:
        return f"{_duck_type(args[0])}[]"
    if origin is typing.Literal:
        return "VARCHAR"
    return _DUCK[annotation]


def columns_of(model: type[BaseModel]) -> list[tuple[str, str]]:
    return [(name, _duck_type(f.annotation)) for name, f in model.model_fields.items()]


_PAIR = [("unique_id_l", "VARCHAR"), ("unique_id_r", "VARCHAR")]

TABLES: dict[str, list[tuple[str, str]]] = {
    "staging.identity_records": columns_of(IdentityRecord),
    "staging.interactions": columns_of(Interaction),
    "quarantine.rows": columns_of(QuarantinedRow),
    "audit.runs": [
        ("run_id", "VARCHAR"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"), ("status", "VARCHAR"),
        ("drop", "VARCHAR"), ("drop_date", "DATE"), ("model_version", "VARCHAR"), ("code_version", "VARCHAR"),
        ("thresholds", "VARCHAR"), ("row_counts", "VARCHAR"), ("blocking_analysis", "VARCHAR"),
        ("stage_seconds", "VARCHAR"), ("message", "VARCHAR"),
    ],
    "audit.file_accounts": [
        ("run_id", "VARCHAR"), ("source", "VARCHAR"), ("file", "VARCHAR"), ("lines_in", "BIGINT"),
        ("records_out", "BIGINT"), ("quarantined", "BIGINT"),
    ],
    # What the operator is warned of though the run goes on (a mapped column missing, a file with no rows).
    "audit.input_notices": [
        ("run_id", "VARCHAR"), ("source", "VARCHAR"), ("file", "VARCHAR"), ("kind", "VARCHAR"),
        ("subject", "VARCHAR"), ("message", "VARCHAR"),
    ],
    "audit.source_runs": [
        ("run_id", "VARCHAR"), ("source", "VARCHAR"), ("identity_records", "BIGINT"),
        ("previous_identity_records", "BIGINT"), ("interactions", "BIGINT"), ("quarantined", "BIGINT"),
    ],
    "audit.quality_results": [
        ("run_id", "VARCHAR"), ("source", "VARCHAR"), ("check", "VARCHAR"), ("severity", "VARCHAR"),
        ("passed", "BOOLEAN"), ("observed", "VARCHAR"), ("expectation", "VARCHAR"), ("checked_at", "TIMESTAMP"),
    ],
}

TABLES.update({
    "linked.record_citizen": [
        ("source", "VARCHAR"), ("source_record_id", "VARCHAR"), ("citizen_id", "VARCHAR"), ("link_method", "VARCHAR"),
        ("match_probability", "DOUBLE"), ("run_id", "VARCHAR"),
    ],
    "audit.citizen_ids": [("citizen_id", "VARCHAR"), ("status", "VARCHAR"), ("created_run_id", "VARCHAR")],
    "audit.citizen_events": [
        ("run_id", "VARCHAR"), ("citizen_id", "VARCHAR"), ("event", "VARCHAR"), ("related_citizen_id", "VARCHAR"),
        ("record_key", "VARCHAR"), ("reason", "VARCHAR"),
    ],
    "audit.match_evidence": [
        ("run_id", "VARCHAR"), ("model_version", "VARCHAR"), ("unique_id_l", "VARCHAR"), ("unique_id_r", "VARCHAR"),
        ("source_l", "VARCHAR"), ("source_record_id_l", "VARCHAR"), ("source_r", "VARCHAR"),
        ("source_record_id_r", "VARCHAR"), ("match_probability", "DOUBLE"), ("match_weight", "DOUBLE"),
        ("link_method", "VARCHAR"), ("status", "VARCHAR"), ("reason", "VARCHAR"), ("evidence", "VARCHAR"),
    ],
    "audit.review_queue": [
        ("pair_id", "VARCHAR"), ("unique_id_l", "VARCHAR"), ("unique_id_r", "VARCHAR"), ("match_probability", "DOUBLE"),
        ("match_weight", "DOUBLE"), ("reason", "VARCHAR"), ("evidence", "VARCHAR"), ("status", "VARCHAR"),
        ("queued_run_id", "VARCHAR"),
    ],
    "audit.review_decisions": [
        ("pair_id", "VARCHAR"), ("unique_id_l", "VARCHAR"), ("unique_id_r", "VARCHAR"), ("decision", "VARCHAR"),
        ("reviewer", "VARCHAR"), ("reason", "VARCHAR"), ("decided_at", "TIMESTAMP"),
    ],
    "audit.access_log": [
        ("accessed_at", "TIMESTAMP"), ("who", "VARCHAR"), ("command", "VARCHAR"), ("subject", "VARCHAR"),
        ("purpose", "VARCHAR"),
    ],
    "audit.run_matching": [
        ("run_id", "VARCHAR"), ("model_version", "VARCHAR"), ("thresholds", "VARCHAR"), ("blocking_analysis", "VARCHAR"),
        ("stats", "VARCHAR"),
    ],
    "audit.models": [
        ("model_version", "VARCHAR"), ("created_at", "TIMESTAMP"), ("run_id", "VARCHAR"), ("settings_json", "VARCHAR"),
        ("training_summary_json", "VARCHAR"),
    ],
})

# Matching state an incremental night starts from (matching.incremental): each record's feature row and identity
# hash, and the scored pairs that can still change a cluster or the review queue. Identifiable, like staging.
_FEATURE_ROW = [
    ("unique_id", "VARCHAR"), ("source", "VARCHAR"), ("source_record_id", "VARCHAR"), ("first_name_std", "VARCHAR"),
    ("first_name_groups", "VARCHAR[]"), ("first_name_phonetic", "VARCHAR"), ("middle_names_std", "VARCHAR"),
    ("last_name_std", "VARCHAR"), ("last_name_parts", "VARCHAR[]"), ("last_name_phonetic", "VARCHAR"),
    ("other_surnames", "VARCHAR[]"), ("alt_first_names", "VARCHAR[]"), ("dob", "DATE"), ("dob_year", "BIGINT"),
    ("dob_month", "BIGINT"), ("dob_day", "BIGINT"), ("dob_str", "VARCHAR"), ("sex", "VARCHAR"),
    ("postcode", "VARCHAR"), ("postcode_sector", "VARCHAR"), ("postcode_district", "VARCHAR"),
    ("address_std", "VARCHAR"), ("house_number", "VARCHAR"), ("nhs_number", "VARCHAR"), ("upn", "VARCHAR"),
    ("former_upn", "VARCHAR"), ("upn_any", "VARCHAR[]"), ("ethnicity", "VARCHAR"),
    ("is_placeholder_first_name", "BOOLEAN"), ("dob_precision", "VARCHAR"), ("postcode_token", "VARCHAR"),
    ("identifier_keys", "VARCHAR[]"), ("identifier_names", "VARCHAR[]"), ("town_std", "VARCHAR"),
    ("birth_earliest", "DATE"), ("birth_latest", "DATE"),
]
TABLES.update({
    "matching.record_features": [*_FEATURE_ROW, ("identity_hash", "VARCHAR"), ("run_id", "VARCHAR")],
    "matching.scored_pairs": [
        *_PAIR, ("match_probability", "DOUBLE"), ("match_weight", "DOUBLE"), ("match_key", "BIGINT"),
        ("auto_link_eligible", "BOOLEAN"), ("evidence_gap", "VARCHAR"), ("evidence", "VARCHAR"), ("run_id", "VARCHAR"),
    ],
    # The stored models' name frequencies (matching.term_frequencies): names, so identifiable like the features.
    "matching.term_frequencies": [("model_version", "VARCHAR"), ("column_name", "VARCHAR"), ("value", "VARCHAR"),
                                  ("tf", "DOUBLE")],
})

SCHEMAS = ("staging", "quarantine", "matching", "linked", "marts", "audit")


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([(c, _ARROW[t]) for c, t in TABLES[table]])


def _column_array(col: pd.Series, typ: pa.DataType) -> pa.Array:
    """``col`` as an Arrow array of ``typ``: NaN, NaT, None and pd.NA become null; a null list becomes ``[]``.

    Converted by Arrow straight from the column (about 10x faster on a county's interactions than going through
    Python objects); a column Arrow will not take that way goes through ``_column_array_by_values``, which
    gives the same array or the same error. A categorical text column stays dictionary-encoded (``to_arrow``)."""
    if (dictionary := _dictionary_text(col, typ)) is not None:
        return dictionary
    try:
        if pa.types.is_date(typ) and pd.api.types.is_datetime64_any_dtype(col):
            if getattr(col.dt, "tz", None) is not None:
                raise pa.ArrowInvalid("time-zone aware timestamps are converted by value")
            arr = pa.array(col.to_numpy(dtype="datetime64[D]"), type=typ, from_pandas=True)
        else:
            arr = pa.array(col, type=typ, from_pandas=True)
        if pa.types.is_list(typ) and arr.null_count:
            arr = pc.coalesce(arr, pa.scalar([], type=typ))
        return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        return _column_array_by_values(col, typ)


def _column_array_by_values(col: pd.Series, typ: pa.DataType) -> pa.Array:
    """The same conversion through Python objects: slow, but it takes any column Arrow can read value by value."""
    if pa.types.is_date(typ) and pd.api.types.is_datetime64_any_dtype(col):
        col = col.dt.date
    if pa.types.is_list(typ):
        col = col.map(lambda v: list(v) if isinstance(v, list | tuple) else [] if v is None else v)
    values = col.astype(object).where(pd.notna(col), None) if not pa.types.is_list(typ) else col
    return pa.array(values.tolist(), type=typ, from_pandas=True)


def to_arrow(df: pd.DataFrame, table: str) -> pa.Table:
    """Cast a frame to the table's exact column order and types (missing columns become NULL).

    A text column the frame holds as a pandas ``Categorical`` stays dictionary-encoded (each distinct text once;
    DuckDB stores it as the table's ``VARCHAR``): long texts that repeat, such as match evidence, are then not
    copied once per row."""
    schema = arrow_schema(table)
    arrays = [
        _column_array(df[f.name], f.type) if f.name in df.columns else pa.nulls(len(df), f.type) for f in schema
    ]
    for i, (f, arr) in enumerate(zip(schema, arrays, strict=True)):
        if arr.type != f.type:  # dictionary-encoded text
            schema = schema.set(i, f.with_type(arr.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _dictionary_text(col: pd.Series, typ: pa.DataType) -> pa.Array | None:
    """A categorical text column as an Arrow dictionary array of ``typ`` values (None for any other column)."""
    if not (isinstance(col.dtype, pd.CategoricalDtype) and pa.types.is_string(typ)):
        return None
    values = pa.array(col.cat.categories.astype(object), type=typ, from_pandas=True)
    codes = col.cat.codes.to_numpy()
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0, type=pa.int32()), values)
