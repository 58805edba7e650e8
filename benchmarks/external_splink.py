"""Splink's own labelled demo datasets as drops for the external benchmark, when a copy is at hand.

The data is not in the repository and is not downloaded: ``historical_figures_with_errors_50k`` holds real
people's names, and the benchmark machine has no internet. Point ``SVOC_BENCH_SPLINK_DATASETS`` at a folder
holding the files of the ``data/`` folder of ``moj-analytical-services/splink_datasets`` (``fake_1000.csv``,
``historical_figures_with_errors_50k.parquet``), then:

    python -m benchmarks.external --datasets splink-fake1000,splink-historical50k

Each is one source (a dedupe) mapped as a new user would map it in ``sources.yaml``:

- ``splink-fake1000``: 1,000 synthetic adults, 251 people; first name, surname, DOB, city as the town and the
  email as a named identifier.
- ``splink-historical50k``: 50,578 records of 5,156 historical figures, noisy and sparse (22% without a DOB,
  23% without a postcode); first name, surname, DOB (``matching: dob_from: 1000-01-01``), birth place as the town,
  the (fake) postcode and gender. The pipeline reads no DOB before 1678 (pandas' date range): 2,611 of the
  39,175 DOBs given are then flagged ``dob_unparseable``, which no children's data meets.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.external_data import SchemaSupport, SourceSpec, cached_drop, sources_document, write_drop

ENV = "SVOC_BENCH_SPLINK_DATASETS"
SOURCE = "people"
FILES = {"splink-fake1000": "fake_1000.csv", "splink-historical50k": "historical_figures_with_errors_50k.parquet"}
HISTORICAL_DOB_FROM = "1000-01-01"


def data_file(name: str) -> Path:
    """The local copy of dataset ``name``'s file; a one-line error saying where to put it when there is none."""
    folder = os.environ.get(ENV)
    path = Path(folder) / FILES[name] if folder else None
    if path is None or not path.is_file():
        raise FileNotFoundError(f"{name}: set {ENV} to a folder holding {FILES[name]} (from the data/ folder of "
                                "moj-analytical-services/splink_datasets); it is not downloaded")
    return path


def _frame(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.rename(columns={"cluster": "entity_id"}).astype("string")


def _write(drop: Path, frame: pd.DataFrame, spec: SourceSpec, support: SchemaSupport, dob_from: str | None) -> Path:
    cached_drop(drop, lambda out: write_drop(out, {SOURCE: frame}, "unique_id", "2024-01-01"))
    doc = sources_document([spec], support, **({"dob_from": dob_from} if dob_from else {}))
    path = drop / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def write_fake1000_drop(drop: Path, support: SchemaSupport) -> Path:
    frame = _frame(pd.read_csv(data_file("splink-fake1000"), dtype=str))
    spec = SourceSpec(name=SOURCE, identity={
        "file": SOURCE, "date_formats": ["%Y-%m-%d"], "required": ["source_record_id"],
        "columns": {"source_record_id": "unique_id", "first_name": "first_name", "last_name": "surname",
                    "dob": "dob", "town": "city"}}, identifiers={"email": "email"})
    return _write(drop, frame, spec, support, None)


def write_historical_drop(drop: Path, support: SchemaSupport) -> Path:
    raw = pd.read_parquet(data_file("splink-historical50k"))
    frame = _frame(raw.drop(columns=[c for c in ("full_name", "first_and_surname") if c in raw]))
    spec = SourceSpec(name=SOURCE, identity={
        "file": SOURCE, "date_formats": ["%Y-%m-%d"], "required": ["source_record_id"],
        "columns": {"source_record_id": "unique_id", "first_name": "first_name", "last_name": "surname",
                    "dob": "dob", "town": "birth_place", "postcode": "postcode_fake", "sex": "gender"}},
        identifiers={})
    return _write(drop, frame, spec, support, HISTORICAL_DOB_FROM)
