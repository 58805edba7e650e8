"""Run a source's suites on its staged frames and word the outcome; write Data Docs.

The GX batch is a slim frame: only the columns the checks read, plus derived columns (DOB as datetime,
identifier validity flags, interaction-to-identity links), all built with vectorised pandas.
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "False"

import datetime as dt  # noqa: E402
import logging  # noqa: E402
from collections.abc import Iterable, Mapping  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from quality import _gx  # noqa: E402
from quality.docs import write_quality_page  # noqa: E402
from quality.results import CheckResult  # noqa: E402
from quality.suites import (  # noqa: E402
    BIRTH_EVIDENCE,
    ID_FIELDS,
    CheckSpec,
    SourceRules,
    identity_specs,
    interaction_specs,
    label,
    rules_for,
    suite_name,
    valid_flag_column,
)
from schemas.rules import MISSING_TOKENS  # noqa: E402

log = logging.getLogger(__name__)

_IDENTITY_BATCH_COLUMNS = ("source_record_id", "first_name", "last_name", "sex", "postcode")
_INTERACTION_BATCH_COLUMNS = ("source_record_id", "event_id", "event_type", "event_date")


def _text(series: pd.Series) -> pd.Series:
    """Arrow-backed strings: GX's null and set checks on them are several times faster than on objects."""
    return series.astype("string[pyarrow]")


def _blank(series: pd.Series) -> pd.Series:
    """Vectorised ``schemas.identifiers.is_missing``: NULL, NaN or a missing token such as 'N/A'."""
    text = series.astype("string").str.strip().str.upper()
    return series.isna() | text.isna() | text.isin(MISSING_TOKENS)


_NS_RANGE = (pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D"))


def _as_datetime(series: pd.Series) -> pd.Series:
    """Dates as datetime64 in nanoseconds, the unit GX's range check compares vectorised (on another unit it calls
    Python per value: 5 s per million DOBs). Dates outside that range stay out of range (clamped), never NULL."""
    out = pd.to_datetime(series, errors="coerce")
    if out.dtype != "datetime64[ns]":  # staged DATEs arrive in microseconds, which reach years 1066 and 9999
        low, high = _NS_RANGE
        out = out.mask(out < low, low).mask(out > high, high).astype("datetime64[ns]")  # NaT stays NaT
    lost = series.notna() & out.isna()
    if lost.any():  # rare: year < 1677 or > 2262, or an unparseable value
        for idx in series.index[lost]:
            year = getattr(series.at[idx], "year", None)
            if year is not None:
                out.at[idx] = pd.Timestamp.min.ceil("D") if year < 1677 else pd.Timestamp.max.floor("D")
    return out


def identity_columns(rules: SourceRules) -> frozenset[str]:
    """Every staged identity column ``identity_batch`` (and ``interactions_batch``) reads for these rules:
    the stage loads only these, not the whole table."""
    ids = {c for f in rules.id_validity for c in (f, f"{f}_raw")}
    return frozenset({*_IDENTITY_BATCH_COLUMNS, *rules.required, *rules.present, "dob", "age", *ids})


INTERACTION_COLUMNS = frozenset(_INTERACTION_BATCH_COLUMNS)


def identity_batch(identity: pd.DataFrame, rules: SourceRules) -> pd.DataFrame:
    """The columns the identity suite reads, plus derived ones. Absent input columns stay absent."""
    wanted = set(_IDENTITY_BATCH_COLUMNS) | set(rules.required) | set(rules.present)
    batch = pd.DataFrame(index=identity.index)
    for col in identity.columns:
        if col in wanted and col != "dob":
            batch[col] = _text(identity[col])
    if "dob" in identity.columns:
        batch["dob"] = _as_datetime(identity["dob"])
        known = identity["dob"].notna().to_numpy(dtype=bool)
        if "age" in identity.columns:
            known |= identity["age"].notna().to_numpy(dtype=bool)
        evidence = np.full(len(identity), None, dtype=object)
        evidence[known] = True
        batch[BIRTH_EVIDENCE] = pd.Series(evidence, index=identity.index, dtype=object)
    for id_field in rules.id_validity:
        raw = identity.get(f"{id_field}_raw")
        value = identity.get(id_field)
        flag = np.full(len(identity), None, dtype=object)
        if raw is not None and value is not None:
            non_blank = (~_blank(raw)).to_numpy()
            flag[non_blank] = value.notna().to_numpy()[non_blank]
        batch[valid_flag_column(id_field)] = pd.Series(flag, index=identity.index, dtype=object)
    return batch.reset_index(drop=True)


def interactions_batch(interactions: pd.DataFrame, identity: pd.DataFrame,
                       identity_keys: pd.Series | None = None) -> pd.DataFrame:
    """``identity_keys``: the record ids interactions may refer to (default: ``identity``'s)."""
    batch = pd.DataFrame(index=interactions.index)
    for col in _INTERACTION_BATCH_COLUMNS:
        if col in interactions.columns:
            batch[col] = interactions[col] if col == "event_date" else _text(interactions[col])
    if "event_date" in batch.columns:
        batch["event_date"] = _as_datetime(batch["event_date"])
    if identity_keys is None and "source_record_id" in identity.columns:
        identity_keys = identity["source_record_id"]
    if "source_record_id" in interactions.columns and identity_keys is not None:
        batch["has_identity_record"] = has_key(interactions["source_record_id"], identity_keys)
    return batch.reset_index(drop=True)


def has_key(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """``values.isin(keys)`` for text columns, as an Arrow set lookup: pandas' arrow-string ``isin`` loops in
    Python, and making 2M Python strings for its object one took 1.4 s of a county's education checks. A
    missing value is in ``keys`` when a key is missing too, as with ``isin``."""
    found = pc.is_in(_arrow_text(values), value_set=_arrow_text(keys).combine_chunks(), skip_nulls=False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _arrow_text(series: pd.Series) -> pa.ChunkedArray:
    if hasattr(series.array, "__arrow_array__"):  # Arrow-backed strings: the column's own data, no copy
        arr = pa.chunked_array(pa.array(series.array))
    else:
        arr = pa.chunked_array([pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)])
    return arr.cast(pa.large_string())


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _describe(spec: CheckSpec, res: dict, batch: pd.DataFrame) -> str:
    """What was observed, in counts; never a data value."""
    r = res.get("result") or {}
    n = len(batch)
    if spec.column and spec.column not in batch.columns and spec.kind not in ("linked",):
        return f"column '{spec.column}' is missing"
    if spec.kind == "not_empty":
        return f"{n:,} rows in the extract"
    if spec.kind == "collapse" and spec.params.get("changes_only"):
        return f"{n:,} changed or new rows; a changes-only drop removes no record"
    if spec.kind == "collapse":
        prev = spec.params["previous"]
        if not prev:
            return f"{n:,} rows; no previous run to compare with"
        return f"{n:,} rows this run vs {prev:,} in the previous run ({_pct(n, prev)})"
    if spec.kind == "columns":
        missing = [c for c in spec.params["required"] if c not in batch.columns]
        return "missing column(s): " + ", ".join(missing) if missing else "all required columns present"
    if spec.kind == "linked" and spec.column not in batch.columns:
        return "no source_record_id column to link on"
    unexpected = int(r.get("unexpected_count") or 0)
    element = int(r.get("element_count") or n)
    non_missing = element - int(r.get("missing_count") or 0)
    if spec.kind == "keys_present":
        return f"{unexpected:,} of {n:,} rows have no source_record_id"
    if spec.kind == "unique":
        return f"{unexpected:,} of {n:,} rows share a source_record_id with another row"
    if spec.kind == "compound_unique":
        return f"{unexpected:,} of {n:,} interactions share a (source_record_id, event_id) with another row"
    if spec.kind in ("not_all_null", "mostly_present"):
        assert spec.column is not None, "column checks name their column"
        have = int(batch[spec.column].notna().sum())
        what = label(spec.column)
        text = f"{have:,} of {n:,} rows have {'an' if what[0] in 'aeiou' else 'a'} {what}"
        if spec.kind == "mostly_present":
            text += f" ({_pct(have, n)}; expected at least {spec.params['threshold']:.0%})"
        return text
    if spec.kind == "range":
        low, high = spec.params["low"], spec.params["high"]
        return (
            f"{unexpected:,} of {non_missing:,} rows with a DOB ({_pct(unexpected, non_missing)}) "
            f"fall outside {low}..{high}"
        )
    if spec.kind == "in_set":
        assert spec.column is not None, "column checks name their column"
        return (
            f"{unexpected:,} of {non_missing:,} non-blank {label(spec.column)}s "
            f"({_pct(unexpected, non_missing)}) are not in the allowed list"
        )
    if spec.kind == "validity":
        what = spec.params["label"]
        if non_missing == 0:
            return f"no non-blank {what}s to check"
        valid = non_missing - unexpected
        return (
            f"{valid:,} of {non_missing:,} non-blank {what}s ({_pct(valid, non_missing)}) are valid; "
            f"expected at least {spec.params['threshold']:.0%}"
        )
    if spec.kind == "linked":
        return f"{unexpected:,} of {n:,} interactions ({_pct(unexpected, n)}) refer to no identity record"
    return str(r.get("observed_value", ""))


def _run(source: str, suite: str, specs: list[CheckSpec], batch: pd.DataFrame) -> list[CheckResult]:
    evrs, meta = _gx.validate(batch, suite, specs, source)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = []
    for spec, res in zip(specs, evrs, strict=True):
        passed = bool(res.get("success"))
        body = _describe(spec, res, batch)
        out.append(
            CheckResult(
                source=source,
                check=spec.check,
                severity=spec.severity,
                passed=passed,
                observed=f"source '{source}' check '{spec.check}': {body}",
                expectation=spec.expectation,
                suite=suite,
                checked_at=now,
                details={"evr": res, "suite_meta": meta},
            )
        )
    return out


def run_source_suite(
    source: str,
    identity: pd.DataFrame,
    interactions: pd.DataFrame | None,
    previous_row_count: int | None,
    reference_date: dt.date,
    rules: SourceRules | None = None,
    identity_keys: pd.Series | None = None,
    changes_only: bool = False,
) -> list[CheckResult]:
    """Validate one source's staged identity frame (and interactions, if given) with its GX suites.

    ``previous_row_count`` is the identity row count of the previous run (``None`` on the first run).
    ``rules`` overrides the source's thresholds (default: ``quality.suites.rules_for(source)``).
    ``changes_only``: the frames hold what a changes-only drop delivered (``identity_keys``: every record id of
    the source, for the interactions' links); no identity record delivered passes the identity checks unrun.
    Returns one ``CheckResult`` per check; see ``blocking_failures`` for the ones that stop the run.
    """
    rules = rules or rules_for(source)
    batch = identity_batch(identity, rules)
    specs = identity_specs(rules, previous_row_count, reference_date, changes_only=changes_only)
    if changes_only and batch.empty:
        results = [CheckResult(source=source, check=s.check, severity=s.severity, passed=True,
                               observed=f"source '{source}' check '{s.check}': no identity record in this "
                                        "changes-only drop", expectation=s.expectation,
                               suite=suite_name(source, "identity")) for s in specs]
    else:
        results = _run(source, suite_name(source, "identity"), specs, batch)
    if interactions is not None:
        ibatch = interactions_batch(interactions, identity, identity_keys)
        results += _run(source, suite_name(source, "interactions"), interaction_specs(rules), ibatch)
    failed = [r.check for r in results if not r.passed]
    log.info("quality: source %s: %d checks, %d failed %s", source, len(results), len(failed), failed)
    return results


def data_docs_dir(warehouse_path: Path) -> Path:
    """Where Data Docs go for a warehouse file: ``<warehouse_dir>/<stem>_data_docs``."""
    warehouse_path = Path(warehouse_path)
    return warehouse_path.parent / f"{warehouse_path.stem}_data_docs"


def write_data_docs(
    results_by_source: Mapping[str, Iterable[CheckResult]] | Iterable[CheckResult],
    out_dir: Path,
    run_id: str | None = None,
) -> Path:
    """Write the Data Docs page for these results into ``out_dir``; returns ``out_dir/index.html``.

    One self-contained page (``quality.docs``) naming every suite and check: it loads nothing from the
    network, unlike GX's own Data Docs.
    """
    if isinstance(results_by_source, Mapping):
        results = [r for rs in results_by_source.values() for r in rs]
    else:
        results = list(results_by_source)
    index = write_quality_page(results, Path(out_dir), run_id or "svoc")
    log.info("quality: wrote Data Docs for %d checks", len(results))
    return index


__all__ = ["ID_FIELDS", "INTERACTION_COLUMNS", "data_docs_dir", "identity_columns", "run_source_suite",
           "write_data_docs"]
