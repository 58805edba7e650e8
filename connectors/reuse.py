"""Re-using last night's standardised rows for the lines of a full drop that did not change.

Most nights a full export repeats ~99% of yesterday's lines. Each staged row carries ``row_digest``: a 64-bit
hash of its raw line as read (a CSV file), or of its raw cell values (a workbook, a Parquet file, a SQL table),
keyed by a fingerprint of everything else the standardised row depends on: the source and its file config, the
header and the columns it resolved to, the encoding, the earliest plausible DOB, the connector code and the
versions of the libraries it calls.
A line whose digest is among the reusable digests of the rows staged for the same file is not standardised
again: its staged row is kept as it is (its ``source_line`` moved to where the line is tonight). A change to the
config, the code or a library changes every digest, so nothing stale is ever kept.

What a row depends on beyond its line and that fingerprint is the drop date, for a few outputs only: a DOB or
date of death in the future, and an age (its ``age_recorded_on`` defaults to the drop date). Rows with those are
never reused (``DATE_DEPENDENT_FLAGS``, and see ``svoc.stages.reuse``). Nothing here logs values.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import json
import platform
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from schemas.config import FileConfig

# Flags whose presence depends on the drop date: a row carrying one is standardised again every night.
DATE_DEPENDENT_FLAGS: tuple[str, ...] = ("dob_in_future", "dob_expected", "date_of_death_in_future",
                                         "age_recorded_on_in_future")
_LIBRARIES = ("pandas", "numpy", "pyarrow", "python-stdnum", "ftfy")
_CODE_PACKAGES = ("connectors", "schemas")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the connector and schema code (its syntax tree without docstrings and comments: a release that
    only rewords them keeps last night's rows) and the versions of the libraries the standardisers call."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in _CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(_code_only(path.read_text(encoding="utf-8")).encode())
    # Python's own Unicode tables (case folding, normalisation) change between releases
    h.update(f"python={platform.python_version()} unicode={unicodedata.unidata_version}".encode())
    for lib in _LIBRARIES:
        try:
            h.update(f"{lib}={importlib.metadata.version(lib)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{lib}=?".encode())
    return h.hexdigest()


def _code_only(source: str) -> str:
    """``source``'s syntax tree as text, docstrings left out (comments are not in the tree)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(tree, include_attributes=False)


def digest_key(source: str, cfg: FileConfig, *, identity: bool, dob_from: object, header: Sequence[str],
               encoding: str | None, colmap: Mapping[str, str]) -> str:
    """The 16-character hash key of one table's row digests (``row_digests``): changes whenever anything but
    the line itself could change the standardised row (the header too: the same line under a reordered header
    means other values)."""
    spec = json.dumps({"source": source, "identity": identity, "config": cfg.model_dump(mode="json"),
                       "dob_from": str(dob_from), "header": list(header), "encoding": encoding,
                       "colmap": dict(sorted(colmap.items())), "code": code_fingerprint()}, sort_keys=True, default=str)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def row_digests(raw: pd.DataFrame, key: str, lines: Sequence[str | bytes] | np.ndarray | None = None) -> np.ndarray:
    """One signed 64-bit digest per row, under ``key``: of its raw line as read (``lines``, one per row: a CSV
    file's), else of its values in ``raw`` (a workbook, Parquet file or SQL table: string cells by column)."""
    if not len(raw):
        return np.zeros(0, dtype=np.int64)
    if lines is not None:
        hashed = pd.util.hash_array(np.asarray(lines, dtype=object), categorize=False, hash_key=key)
        return np.asarray(hashed, dtype=np.uint64).view(np.int64)
    frame = raw[sorted(raw.columns)]
    hashed_rows = pd.util.hash_pandas_object(frame, index=False, categorize=False, hash_key=key)
    return hashed_rows.to_numpy(dtype=np.uint64).view(np.int64)


@dataclass
class Reusable:
    """The digests of one source's staged rows that may be kept tonight, by (identity?, file label), sorted."""

    digests: dict[tuple[bool, str], np.ndarray] = field(default_factory=dict)

    def unchanged(self, identity: bool, label: str, digests: np.ndarray) -> np.ndarray:
        """Mask of ``digests`` found among the reusable ones of that table and file."""
        known = self.digests.get((identity, label))
        if known is None or not len(known) or not len(digests):
            return np.zeros(len(digests), dtype=bool)
        at = np.searchsorted(known, digests).clip(max=len(known) - 1)
        return known[at] == digests

    def __bool__(self) -> bool:
        return any(len(v) for v in self.digests.values())


@dataclass
class Carried:
    """The lines of one table of one file whose staged rows are kept: their digests and tonight's line numbers."""

    identity: bool
    label: str
    digests: list[np.ndarray] = field(default_factory=list)
    lines: list[np.ndarray] = field(default_factory=list)

    def take_unchanged(self, reuse: Reusable, keep: np.ndarray, digests: np.ndarray,
                       lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of a chunk's rows to stage (``keep``, their ``digests``; ``lines``: every row's first line), carry the
        unchanged ones. Returns ``(keep, digests)`` of the rows left to standardise."""
        same = reuse.unchanged(self.identity, self.label, digests)
        if not same.any():
            return keep, digests
        at = np.flatnonzero(keep)[same]
        self.digests.append(digests[same])
        self.lines.append(np.asarray(lines[at], dtype=np.int64))
        left = keep.copy()
        left[at] = False
        return left, digests[~same]

    def __len__(self) -> int:
        return sum(len(d) for d in self.digests)


CARRIED_COLUMNS = ("identity", "source_file", "row_digest", "source_line")


def carried_table(carried: Sequence[Carried]) -> pa.Table:
    """Every table's carried lines in one Arrow table (``CARRIED_COLUMNS``)."""
    parts = [c for c in carried if len(c)]
    sizes = [len(c) for c in parts]
    return pa.table({
        "identity": pa.array(np.repeat([c.identity for c in parts], sizes).astype(bool), type=pa.bool_()),
        "source_file": pa.array(np.repeat(np.array([c.label for c in parts], dtype=object), sizes), type=pa.string()),
        "row_digest": pa.array(np.concatenate([np.zeros(0, np.int64), *(d for c in parts for d in c.digests)])),
        "source_line": pa.array(np.concatenate([np.zeros(0, np.int64), *(x for c in parts for x in c.lines)])),
    })
