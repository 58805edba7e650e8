"""Raw rows as every reader hands them on: string cells, physical line numbers, quarantined lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MAX_RECORD_LINES = 50
CHUNK_ROWS = 100_000


@dataclass
class Quarantined:
    line: int
    n_lines: int
    reason: str
    raw: str
    decode_failure: bool = False


@dataclass
class RawChunk:
    frame: pd.DataFrame  # the file's columns (or the ones asked for), values str or None, RangeIndex
    lines: np.ndarray  # first physical line of each record
    n_lines: np.ndarray  # physical lines each record spans
    raw: list[str | bytes] | None  # raw text per record (None: rebuilt from the values on demand)
    quarantined: list[Quarantined] = field(default_factory=list)
    encoding: str | None = None  # decodes the ``bytes`` items of ``raw`` (lines kept undecoded until needed)

    def raw_text(self, i: int) -> str:
        if self.raw is not None:
            value = self.raw[i]
            if isinstance(value, bytes):
                assert self.encoding is not None, "undecoded lines come with their encoding"
                value = value.decode(self.encoding)
            return value.rstrip("\r\n")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(["" if v is None else v for v in self.frame.iloc[i]])
        return buf.getvalue()


class RawStream:
    """A readable table: ``label`` (as stored in source_file), ``header``, then ``chunks()``.

    Set ``usecols`` (header names) before ``chunks()`` to build frames with only those columns.
    """

    label: str
    path: str
    header: list[str]
    header_lines: int = 0
    lines_in: int = 0  # physical lines (rows) read; final once chunks() is exhausted
    encoding: str | None = None
    usecols: list[str] | None = None

    def chunks(self) -> Iterator[RawChunk]:  # pragma: no cover - interface
        raise NotImplementedError

    def to_frame(self) -> tuple[pd.DataFrame, list[Quarantined]]:
        """Every record in one frame (with a ``__line__`` column) plus the quarantined items. Small inputs only."""
        frames, quarantined = [], []
        for chunk in self.chunks():
            frames.append(chunk.frame.assign(__line__=chunk.lines))
            quarantined.extend(chunk.quarantined)
        if not frames:
            return pd.DataFrame(columns=[*self.header, "__line__"]), quarantined
        return pd.concat(frames, ignore_index=True), quarantined


def dedupe_header(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}__{n + 1}")
    return out


def frame_of_columns(names: list[str], columns: list[np.ndarray]) -> pd.DataFrame:
    """A frame holding the given object arrays as its columns, without copying or consolidating them."""
    return pd.DataFrame(dict(zip(names, columns, strict=True)), columns=names, copy=False)


def make_chunk(header: list[str], rows: list, lines, n_lines, raws, quarantined,
               usecols: list[str] | None = None, parts: list | None = None, encoding: str | None = None) -> RawChunk:
    """Build a chunk from equal-length rows, keeping only ``usecols`` (all columns when None).

    ``parts`` (instead of ``rows``) lists pieces in record order: ``("rows", rows)`` or ``("cols", arrays)``
    with one object array per header column (None for a column not kept).
    """
    keep = [i for i, h in enumerate(header) if usecols is None or h in usecols]
    names = [header[i] for i in keep]
    if parts is None:
        parts = [("rows", rows)]
    pieces = []
    for kind, part in parts:
        if kind == "cols":
            pieces.append([part[i] for i in keep])
        elif part:
            table = np.empty((len(part), len(header)), dtype=object)
            table[:] = part
            pieces.append([table[:, i].copy() for i in keep])
    if pieces:
        columns = [pieces[0][k] if len(pieces) == 1 else np.concatenate([p[k] for p in pieces])
                   for k in range(len(keep))]
        frame = frame_of_columns(names, columns)
    else:
        frame = pd.DataFrame({h: pd.Series(dtype=object) for h in names}, columns=names)
    return RawChunk(frame, np.asarray(lines, dtype=np.int64), np.asarray(n_lines, dtype=np.int64), raws,
                    quarantined, encoding)
