"""The CSV reader's fast path: a numpy line screen, then blocks parsed in bulk or by ``csv`` in C.

``screen`` marks, per physical line of a block, whether it is probably one record on its own (``single``)
and whether it can be split exactly at its commas (``plain``), using byte counts over the whole block.
``parse_block`` then parses as much of the block as it can without the careful path in ``csv_reader``:
runs of ``single`` lines in bulk (``("bulk", ...)`` pieces, one object array per column), other lines
record by record (``("rows", ...)`` pieces). It stops before the first line that does not decode (or holds a
NUL byte) and the
first broken record, which the careful path takes; ``csv_reader._State.add_pieces`` consumes the pieces.
"""

from __future__ import annotations

import codecs
import csv

import numpy as np

from connectors.raw import Quarantined

# encodings in which every ASCII byte is that character and never part of a multi-byte sequence
_ASCII_SUPERSETS = frozenset(codecs.lookup(e).name for e in ("utf-8", "cp1252", "latin-1", "iso8859-15", "ascii"))


def screen(block: list[bytes], encoding: str, n_fields: int) -> tuple[np.ndarray, np.ndarray]:
    """Per line: (plain, single). ``single``: the line decodes, holds no NUL byte, no carriage return but a final CRLF,
    an even number of quotes and fits csv's field size limit, so it is probably one record on its own.
    ``plain``: also no quote at all and exactly ``n_fields - 1`` commas, and not blank, so ``csv``
    would split it exactly at its commas."""
    n_lines = len(block)
    if encoding not in _ASCII_SUPERSETS or not n_lines:
        return np.zeros(n_lines, dtype=bool), np.zeros(n_lines, dtype=bool)
    lens = np.fromiter(map(len, block), dtype=np.int64, count=n_lines)
    ends = np.cumsum(lens)
    arr = np.frombuffer(b"".join(block), dtype=np.uint8)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(ends, np.flatnonzero(mask), side="right"), minlength=n_lines)

    lf = arr[ends - 1] == 10
    crlf = lf & (lens >= 2) & (arr[np.maximum(ends - 2, 0)] == 13)
    quotes = count(arr == 34)
    single = (count(arr == 13) == crlf) & (quotes % 2 == 0) & (lens <= csv.field_size_limit())
    single &= count(arr == 0) == 0  # a NUL byte: the careful path quarantines the line
    for i in np.flatnonzero(single & (count(arr >= 128) > 0)).tolist():  # non-ASCII: only if it decodes
        try:
            block[i].decode(encoding)
        except UnicodeDecodeError:
            single[i] = False
    commas = np.cumsum(arr == 44, dtype=np.int32)[ends - 1]
    commas[1:] -= commas[:-1].copy()
    plain = single & (quotes == 0) & (commas == n_fields - 1)
    if n_fields == 1:
        plain &= lens - lf - crlf > 0
    return plain, single


def parse_block(block: list[bytes], plain: np.ndarray, single: np.ndarray, header: list[str],
                usecols: list[str] | None, encoding: str, limit: int) -> tuple[list, int] | None:
    """Parse a block without the careful path: (pieces, lines used), or None when no line can be read.

    A run of ``single`` lines (see ``screen``) is parsed in bulk into one ``("bulk", ...)`` piece: plain
    lines split at their commas, the others by ``csv`` in C, each on its own (if one does not make
    exactly one record, the run goes the sequential way instead). Other lines go through ``csv`` in C
    record by record into ``("rows", ...)`` pieces, until a record ends before a ``single`` line.
    Stops before the first line that does not decode and before the first record that is broken (csv
    error, a quote still open at the block's end, a multi-line record with the wrong field count or
    more than ``limit`` lines); the careful path takes over from there for one record, then the fast
    path resumes on the rest of the block.
    """
    n, enc = len(header), encoding
    total = len(block)
    others = np.flatnonzero(~single).tolist() + [total]
    pieces: list = []
    pos = 0
    k = 0  # index in others of the first non-single line at or after pos
    seq_until = 0  # sequential parsing continues at least to here (a bulk run that failed)
    while pos < total:
        while others[k] < pos:
            k += 1
        if others[k] > pos and pos >= seq_until:
            stop = others[k]
            bulk = _bulk(block, pos, stop, plain, header, usecols, enc)
            if bulk is not None:
                pieces.append(bulk)
                pos = stop
                continue
            seq_until = stop
        texts: list[str] = []

        def lines(start: int = pos, texts: list[str] = texts):
            for i in range(start, total):
                if b"\x00" in block[i]:
                    return  # like an undecodable line: the careful path quarantines it
                try:
                    text = block[i].decode(enc)
                except UnicodeDecodeError:
                    return
                texts.append(text)
                yield text

        rows: list = []
        spans: list[int] = []
        used = 0
        broken = False
        reader = csv.reader(lines(), strict=True)
        try:
            for row in reader:
                span = reader.line_num - used
                if span > 1 and (len(row) != n or span > limit):
                    broken = True
                    break
                rows.append(row)
                spans.append(span)
                used = reader.line_num
                nxt = pos + used
                if nxt < total and nxt >= seq_until and single[nxt]:
                    break
        except csv.Error:
            broken = True
        if not texts and not pieces:
            return None
        if rows:
            pieces.append(("rows", pos, texts[:used], rows, spans))
        pos += used
        if broken or pos < total and not single[pos] and pos >= seq_until:
            break  # a broken record or an undecodable line: the careful path takes it
        if used == 0:
            break
    return pieces, pos


def _bulk(block: list[bytes], start: int, stop: int, plain: np.ndarray, header: list[str],
          keep: list[str] | None, enc: str) -> tuple | None:
    """Lines ``start:stop`` (all ``single``) as ``("bulk", start, stop, arrays, record offsets,
    quarantined)``: one object array per header column (None for a column not in ``keep``); None when a
    non-plain line is not exactly one record."""
    n = len(header)
    is_plain = plain[start:stop]
    plain_idx = np.flatnonzero(is_plain)
    other_idx = np.flatnonzero(~is_plain)
    rows: list = []
    texts: list[str] = []
    if len(other_idx):
        texts = [block[start + i].decode(enc) for i in other_idx.tolist()]
        reader = csv.reader(texts, strict=True)
        try:
            rows = list(reader)
        except csv.Error:
            return None
        if len(rows) != len(texts) or reader.line_num != len(texts):
            return None
    quarantined: list[Quarantined] = []
    good = np.ones(len(rows), dtype=bool)
    for j, row in enumerate(rows):
        if len(row) != n:
            text = texts[j]
            reason = "line is blank" if not text.strip() else f"expected {n} fields, found {len(row)}"
            quarantined.append(Quarantined(int(other_idx[j]), 1, reason, text.rstrip("\r\n")))
            good[j] = False
    record = is_plain.copy()
    record[other_idx[good]] = True
    offsets = np.flatnonzero(record)  # line offsets (from start) of the records, in order
    m = len(offsets)
    fields: list = []
    if len(plain_idx):
        text = b"".join([block[start + i] for i in plain_idx.tolist()]).decode(enc)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if text.endswith("\n"):
            text = text[:-1]
        fields = text.replace("\n", ",").split(",")
        if len(fields) != len(plain_idx) * n:  # cannot happen for screened lines
            raise AssertionError("plain CSV lines split into the wrong number of fields")
    good_rows = [r for r, g in zip(rows, good.tolist(), strict=True) if g]
    table = None
    if good_rows:
        table = np.empty((len(good_rows), n), dtype=object)
        table[:] = good_rows
    plain_pos = np.searchsorted(offsets, plain_idx) if table is not None else None
    other_pos = np.searchsorted(offsets, other_idx[good]) if table is not None else None
    arrays: list = []
    for i, h in enumerate(header):
        if keep is not None and h not in keep:
            arrays.append(None)
            continue
        if table is None:
            arrays.append(np.array(fields[i::n], dtype=object))
            continue
        col = np.empty(m, dtype=object)
        if len(plain_idx):
            col[plain_pos] = np.array(fields[i::n], dtype=object)
        col[other_pos] = table[:, i]
        arrays.append(col)
    return ("bulk", start, stop, arrays, offsets, quarantined)
