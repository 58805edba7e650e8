"""One reader layer for .csv, .xlsx and .parquet: raw string rows with physical line numbers, in chunks.

A reader yields ``RawChunk``s (``connectors.raw``): a frame of the file's own columns (``str`` or ``None``),
the first physical line of each record, how many physical lines it spans, its raw text, and the lines that
could not become a record at all (``Quarantined``). Every physical line ends up in exactly one place: the
header, one record, or one quarantined item; ``connectors.accounting`` proves it per file. CSV parsing
lives in ``connectors.csv_reader``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from connectors import raw as rawmod
from connectors.csv_reader import CsvStream
from connectors.raw import (
    CHUNK_ROWS,
    MAX_RECORD_LINES,
    Quarantined,
    RawChunk,
    RawStream,
    dedupe_header,
    make_chunk,
)
from connectors.values import stringify_frame, value_str
from schemas.errors import UnusableInputError

EXTENSIONS = (".csv", ".xlsx", ".parquet")
__all__ = ["CHUNK_ROWS", "EXTENSIONS", "MAX_RECORD_LINES", "CsvStream", "ParquetStream", "Quarantined", "RawChunk",
           "RawStream", "XlsxStream", "open_file", "resolve_file"]


# --------------------------------------------------------------------------------------------- XLSX


class XlsxStream(RawStream):
    """First sheet of a workbook, header in row 1; line numbers are worksheet row numbers."""

    def __init__(self, path: Path, label: str, chunk_rows: int = CHUNK_ROWS) -> None:
        self.path, self.label, self._file, self.chunk_rows = str(path), label, path, chunk_rows
        self.header_lines = 1
        with self._open() as rows:
            first = next(rows, None)
        header = [value_str(v) for v in (first or ())]
        while header and header[-1] is None:
            header.pop()
        if not header:
            raise UnusableInputError(self.path, "the first sheet has no header in row 1")
        self.header = dedupe_header([(h or "").strip() for h in header])

    class _Rows:
        def __init__(self, path: Path, label: str) -> None:
            import openpyxl

            try:
                self.wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
                ws = self.wb.worksheets[0]
                self.it = ws.iter_rows(values_only=True)
            except Exception as err:  # openpyxl raises zip, XML and key errors for non-workbooks
                raise UnusableInputError(path, f"not a readable .xlsx workbook ({type(err).__name__})",
                                         "check the file is really an Excel workbook") from None

        def __enter__(self):
            return self.it

        def __exit__(self, *exc):
            self.wb.close()

    def _open(self):
        return self._Rows(self._file, self.label)

    def chunks(self) -> Iterator[RawChunk]:
        n_fields = len(self.header)
        rows, lines, n_lines, quarantined = [], [], [], []
        blank_run: list[int] = []
        last_nonblank = 1
        with self._open() as it:
            next(it, None)
            for rownum, values in enumerate(it, start=2):
                vals = [value_str(v) for v in values]
                while vals and (vals[-1] is None or not vals[-1].strip()):
                    vals.pop()
                if not vals:
                    blank_run.append(rownum)
                    continue
                for b in blank_run:
                    quarantined.append(Quarantined(b, 1, "row is blank", ""))
                blank_run = []
                last_nonblank = rownum
                if len(vals) > n_fields:
                    buf = io.StringIO()
                    csv.writer(buf, lineterminator="").writerow([v or "" for v in vals])
                    quarantined.append(Quarantined(rownum, 1, f"expected {n_fields} fields, found {len(vals)}",
                                                   buf.getvalue()))
                    continue
                rows.append(vals + [None] * (n_fields - len(vals)))
                lines.append(rownum)
                n_lines.append(1)
                if len(rows) >= self.chunk_rows:
                    yield make_chunk(self.header, rows, lines, n_lines, None, quarantined)
                    rows, lines, n_lines, quarantined = [], [], [], []
        self.lines_in = last_nonblank  # trailing empty rows are formatting, not data
        yield make_chunk(self.header, rows, lines, n_lines, None, quarantined)


# ------------------------------------------------------------------------------------------ Parquet


class ParquetStream(RawStream):
    """Parquet row groups in batches; line numbers are 1-based row ordinals (no header line)."""

    def __init__(self, path: Path, label: str, chunk_rows: int = CHUNK_ROWS) -> None:
        import pyarrow.parquet as pq

        self.path, self.label, self.chunk_rows = str(path), label, chunk_rows
        try:
            self._pf = pq.ParquetFile(path)
        except Exception as err:
            raise UnusableInputError(path, f"not a readable Parquet file ({type(err).__name__})",
                                     "check the file is really Parquet") from None
        self.header = dedupe_header([str(n).strip() for n in self._pf.schema_arrow.names])
        self.header_lines = 0

    def chunks(self) -> Iterator[RawChunk]:
        start = 1
        for batch in self._pf.iter_batches(batch_size=self.chunk_rows):
            frame = stringify_frame(batch.to_pandas())
            frame.columns = self.header
            n = len(frame)
            lines = np.arange(start, start + n, dtype=np.int64)
            start += n
            self.lines_in = start - 1
            yield RawChunk(frame, lines, np.ones(n, dtype=np.int64), None, [])
        if start == 1:
            yield RawChunk(pd.DataFrame(columns=self.header, dtype=object), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), None, [])


# ---------------------------------------------------------------------------------------- resolving


def resolve_file(source_dir: Path, stem: str) -> Path | None:
    """``pupils`` -> whichever of pupils.csv / .xlsx / .parquet exists (a stem with an extension is exact)."""
    given = source_dir / stem
    if given.suffix.lower() in EXTENSIONS:
        return given if given.is_file() else None
    found = [source_dir / f"{stem}{ext}" for ext in EXTENSIONS if (source_dir / f"{stem}{ext}").is_file()]
    if not found:  # tolerate upper-case extensions
        found = sorted(p for p in source_dir.glob(f"{stem}.*") if p.suffix.lower() in EXTENSIONS)
    return found[0] if found else None


def open_file(path: Path, label: str | None = None, encoding: str | None = None, fallback: str = "cp1252",
              chunk_rows: int | None = None) -> RawStream:
    """Open ``path`` with the reader its extension picks (``chunk_rows`` defaults to ``CHUNK_ROWS``)."""
    label = label or path.name
    chunk_rows = chunk_rows or rawmod.CHUNK_ROWS
    if not path.is_file():
        raise UnusableInputError(path, "file is missing")
    ext = path.suffix.lower()
    if ext == ".csv":
        return CsvStream(path, label, encoding, fallback, chunk_rows)
    if ext == ".xlsx":
        return XlsxStream(path, label, chunk_rows)
    if ext == ".parquet":
        return ParquetStream(path, label, chunk_rows)
    raise UnusableInputError(path, f"unsupported file type '{ext}'", "use .csv, .xlsx or .parquet")
