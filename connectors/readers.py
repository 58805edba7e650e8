"""One reader layer for .csv, .xlsx and .parquet: raw string rows with physical line numbers, in chunks.

``open_tables`` opens a file as one stream per table in it (a workbook: one per sheet that holds rows).
A reader yields ``RawChunk``s (``connectors.raw``): a frame of the file's own columns (``str`` or ``None``),
the first physical line of each record, how many physical lines it spans, its raw text, and the lines that
could not become a record at all (``Quarantined``). Every physical line ends up in exactly one place: the
header, one record, or one quarantined item; ``connectors.accounting`` proves it per file. CSV parsing
lives in ``connectors.csv_reader``.
"""

from __future__ import annotations

import csv
import io
import os
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
           "RawStream", "XlsxStream", "check_inside", "open_file", "open_tables", "resolve_file",
           "xlsx_data_sheets"]


# --------------------------------------------------------------------------------------------- XLSX


def _cells(values) -> list[str | None]:
    """A worksheet row as strings, without its trailing empty cells."""
    vals = [value_str(v) for v in values]
    while vals and (vals[-1] is None or not vals[-1].strip()):
        vals.pop()
    return vals


class _Workbook:
    """An open read-only workbook (closed on exit); a file that is not a workbook is an ``UnusableInputError``."""

    def __init__(self, path: Path) -> None:
        import openpyxl

        try:
            self.wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # openpyxl raises zip, XML and key errors for non-workbooks
            raise UnusableInputError(path, "not a readable .xlsx workbook",
                                     "check the file is really an Excel workbook") from None

    def __enter__(self):
        return self.wb

    def __exit__(self, *exc) -> None:
        self.wb.close()


def xlsx_data_sheets(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(index, title, header)`` of every worksheet that holds anything, in workbook order.

    Every such sheet must have the first one's header in row 1, else ``UnusableInputError`` naming the file
    and the sheet: a sheet that would not be read must never be skipped silently.
    """
    sheets: list[tuple[int, str, list[str]]] = []
    with _Workbook(path) as wb:
        for index, ws in enumerate(wb.worksheets):
            rows = ws.iter_rows(values_only=True)
            cells = _cells(next(rows, None) or ())
            if not cells:
                if any(_cells(row) for row in rows):
                    raise UnusableInputError(path, f"sheet '{ws.title}' holds rows but has no header in row 1",
                                             "put the column names in row 1 of every sheet, or delete the sheet")
                continue
            header = dedupe_header([(h or "").strip() for h in cells])
            if sheets and header != sheets[0][2]:
                raise UnusableInputError(
                    path, f"sheet '{ws.title}' has a different header from sheet '{sheets[0][1]}', so its rows "
                    "would not be read", "move that sheet to a file of its own, or delete it")
            sheets.append((index, ws.title, header))
    if not sheets:
        raise UnusableInputError(path, "file is empty: no sheet has a header in row 1",
                                 "check the export finished and re-send the file")
    return sheets


class XlsxStream(RawStream):
    """One worksheet, header in row 1; line numbers are worksheet row numbers.

    ``open_file`` reads every sheet of a workbook that holds rows, one stream per sheet (see
    ``xlsx_data_sheets``); each is accounted for line by line on its own.
    """

    def __init__(self, path: Path, label: str, chunk_rows: int = CHUNK_ROWS, sheet: int = 0,
                 header: list[str] | None = None) -> None:
        self.path, self.label, self._file, self.chunk_rows = str(path), label, path, chunk_rows
        self.sheet = sheet
        self.header_lines = 1
        if header is None:
            header = next((h for i, _, h in xlsx_data_sheets(path) if i == sheet), None)
            if header is None:
                raise UnusableInputError(self.path, f"sheet {sheet + 1} has no header in row 1")
        self.header = header

    def chunks(self) -> Iterator[RawChunk]:
        n_fields = len(self.header)
        rows, lines, n_lines, quarantined = [], [], [], []
        blank_run: list[int] = []
        last_nonblank = 1
        with _Workbook(self._file) as wb:
            it = wb.worksheets[self.sheet].iter_rows(values_only=True)
            next(it, None)
            for rownum, values in enumerate(it, start=2):
                vals = _cells(values)
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
        except Exception:
            raise UnusableInputError(path, "not a readable Parquet file",
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


def resolve_file(source_dir: Path, stem: str, root: Path | None = None) -> Path | None:
    """``pupils`` -> whichever of pupils.csv / .xlsx / .parquet exists (a stem with an extension is exact).

    Two candidates (``pupils.csv`` and ``pupils.xlsx``) are an ``UnusableInputError`` naming both. With
    ``root`` (the drop folder), the file must lie inside it once links are followed: a configured name
    that leads out of the drop (``../../x.csv``, an absolute path) or a link to a file outside it is refused.
    """
    given = source_dir / stem
    if given.suffix.lower() in EXTENSIONS:
        found = [given] if given.is_file() else []
    else:
        parent, name = given.parent, given.name
        found = sorted(p for p in (parent.iterdir() if parent.is_dir() else ())
                       if p.name.startswith(name + ".") and p.suffix.lower() in EXTENSIONS
                       and p.name[len(name):].lower() in EXTENSIONS and p.is_file())
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:-1]) + f" and {found[-1].name}"
        raise UnusableInputError(given, f"{len(found)} files could be meant: {names}",
                                 "keep only one of them, or give the file with its extension in sources.yaml")
    if not found:
        return None
    path = found[0]
    if root is not None:
        check_inside(path, root)
    return path


def check_inside(path: Path, root: Path) -> None:
    """Refuse ``path`` unless it lies inside ``root`` once ``..`` and links are resolved."""
    if not Path(os.path.normpath(path.absolute())).is_relative_to(os.path.normpath(root.absolute())):
        raise UnusableInputError(path, "is outside the drop folder, so it is not read",
                                 "put the file inside the drop and name it relative to its source folder")
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnusableInputError(path, "is a link to a file outside the drop folder, so it is not read",
                                 "copy the file into the drop instead of linking to it")


def open_tables(path: Path, label: str | None = None, encoding: str | None = None, fallback: str = "cp1252",
                chunk_rows: int | None = None) -> list[RawStream]:
    """Every table in ``path``: one stream, or one per sheet of a workbook that holds rows on several
    sheets with one header (each labelled ``file.xlsx[sheet]``)."""
    label = label or path.name
    if not path.is_file():
        raise UnusableInputError(path, "file is missing")
    if path.suffix.lower() != ".xlsx":
        return [open_file(path, label, encoding, fallback, chunk_rows)]
    sheets = xlsx_data_sheets(path)
    rows = chunk_rows or rawmod.CHUNK_ROWS
    if len(sheets) == 1:
        return [XlsxStream(path, label, rows, sheets[0][0], sheets[0][2])]
    return [XlsxStream(path, f"{label}[{title}]", rows, index, header) for index, title, header in sheets]


def open_file(path: Path, label: str | None = None, encoding: str | None = None, fallback: str = "cp1252",
              chunk_rows: int | None = None) -> RawStream:
    """Open ``path`` with the reader its extension picks (``chunk_rows`` defaults to ``CHUNK_ROWS``).

    A workbook must hold one table here; ``open_tables`` reads a workbook with rows on several sheets."""
    label = label or path.name
    chunk_rows = chunk_rows or rawmod.CHUNK_ROWS
    if not path.is_file():
        raise UnusableInputError(path, "file is missing")
    ext = path.suffix.lower()
    if ext == ".csv":
        return CsvStream(path, label, encoding, fallback, chunk_rows)
    if ext == ".xlsx":
        sheets = xlsx_data_sheets(path)
        if len(sheets) > 1:
            raise UnusableInputError(path, f"holds rows on {len(sheets)} sheets", "read it with open_tables")
        return XlsxStream(path, label, chunk_rows, sheets[0][0], sheets[0][2])
    if ext == ".parquet":
        return ParquetStream(path, label, chunk_rows)
    raise UnusableInputError(path, f"unsupported file type '{ext}'", "use .csv, .xlsx or .parquet")
