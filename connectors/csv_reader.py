"""RFC 4180 CSV with physical line tracking, in blocks of lines.

The file is read in blocks of ``CHUNK_ROWS`` physical lines. Each block first takes the fast path in
``csv_bulk`` (a numpy line screen, then single-line records parsed in bulk or by ``csv`` in C). From the
first line the fast path cannot take (undecodable, broken quoting) the careful path reads one record: a
``_LineFeed`` hands ``csv.reader`` (strict) one decoded line at a time and remembers the lines of the
current record, so a quoted field with a newline is one record numbered by its first line.

A quoted field still open after ``MAX_RECORD_LINES`` lines, at end of file, or broken by a stray quote
quarantines only its opening line, and parsing resumes at the next line, so one bad quote never swallows
the rest of the file. A multi-line record with the wrong number of fields is treated the same way.

A NUL byte is not text: the line holding it (or the whole record, when it sits in a quoted field spanning
lines) is quarantined wherever it is in the file; the fast path leaves such lines to the careful path.
"""

from __future__ import annotations

import csv
import itertools
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from connectors import csv_bulk
from connectors import raw as rawmod
from connectors.encoding import UTF8_BOM, detect_encoding
from connectors.raw import Quarantined, RawChunk, RawStream, dedupe_header, make_chunk
from schemas.errors import UnusableInputError

ENCODING_HINT = "set 'encoding:' for this file in sources.yaml (for example cp1252 or utf-8)"


def _decode_reason(err: UnicodeDecodeError, encoding: str) -> str:
    byte = err.object[err.start]
    return (f"line cannot be decoded as {encoding}: byte 0x{byte:02X} at position {err.start} is invalid "
            f"(set 'encoding:' for this file in sources.yaml if it is not {encoding})")


NUL_REASON = "line holds a NUL byte"


def _nul_reason(raw: bytes) -> str:
    position = raw.index(b"\x00")
    return f"{NUL_REASON} (0x00) at position {position}, which is not text (check the export)"


def _csv_reason(err: csv.Error) -> str:
    msg = str(err)
    if "unexpected end of data" in msg:
        return "a quoted field opened on this line is never closed (end of file reached)"
    if "expected after" in msg:
        return "a stray quote character: a closing quote is not followed by a comma"
    if "field larger than field limit" in msg:
        return f"a field is longer than {csv.field_size_limit()} characters"
    return f"line is not valid CSV ({msg})"


class _LineFeed:
    """Decoded physical lines for ``csv.reader``, block by block, remembering the current record's lines."""

    def __init__(self, blocks: Iterator[list[bytes]], encoding: str, limit: int) -> None:
        self._blocks = blocks
        self._block: list[bytes] = []
        self._pos = 0
        self._screen: tuple | None = None
        self.rest_screen: tuple | None = None
        self.encoding, self.limit = encoding, limit
        self.pushback: deque = deque()
        self.pending: list = []
        self.lines_in = 0  # physical lines handed out so far (pushback excluded)
        self.overflow = False

    def __iter__(self):
        return self

    def load(self, block: list[bytes], screen: tuple | None = None) -> None:
        """Read ``block`` next; ``screen`` is its ``CsvStream._screen`` result when already known."""
        self._block, self._pos, self._screen = block, 0, screen

    def take_rest(self) -> list[bytes] | None:
        """The unread lines of the current block (when nothing is pushed back), now marked as read.

        ``rest_screen`` is then the screen of those lines, when the block's screen is known."""
        if self.pushback or self._pos >= len(self._block):
            return None
        pos = self._pos
        rest, self._pos = self._block[pos:], len(self._block)
        self.rest_screen = None if self._screen is None else tuple(a[pos:] for a in self._screen)
        return rest

    def idle(self) -> bool:
        """At a block boundary with nothing pushed back: the next block may take the fast path."""
        return not self.pushback and self._pos >= len(self._block)

    def __next__(self) -> str:
        if len(self.pending) >= self.limit:
            self.overflow = True
            raise StopIteration
        if self.pushback:
            item = self.pushback.popleft()
        else:
            if self._pos >= len(self._block):
                block = next(self._blocks, None)
                if not block:
                    raise StopIteration
                self.load(block)
            raw = self._block[self._pos]
            self._pos += 1
            self.lines_in += 1
            try:
                item = (self.lines_in, raw.decode(self.encoding), None)
            except UnicodeDecodeError as err:
                item = (self.lines_in, raw.decode(self.encoding, "backslashreplace"),
                        _decode_reason(err, self.encoding))
            if b"\x00" in raw and item[2] is None:
                item = (self.lines_in, item[1].replace("\x00", "\\x00"), _nul_reason(raw))
        self.pending.append(item)
        return item[1]

    def push_back(self, items: list) -> None:
        self.pushback.extendleft(reversed(items))


def _text(pending: list) -> str:
    return "".join(p[1] for p in pending).rstrip("\r\n")


def iter_csv_items(feed: _LineFeed) -> Iterator[tuple[list[str] | None, list, str | None]]:
    """Yield ``(fields, lines, None)`` per record, or ``(None, [opening line], reason)`` for broken quoting."""
    reader = csv.reader(feed, strict=True)
    while True:
        feed.pending = []
        try:
            row = next(reader)
        except StopIteration:
            if not feed.overflow:
                return
            pend, feed.overflow = feed.pending, False
            feed.push_back(pend[1:])
            reader = csv.reader(feed, strict=True)
            yield None, pend[:1], f"a quoted field opened on this line is not closed within {feed.limit} lines"
            continue
        except csv.Error as err:
            pend = feed.pending
            feed.push_back(pend[1:])
            reader = csv.reader(feed, strict=True)
            if feed.overflow:
                feed.overflow = False
                yield None, pend[:1], f"a quoted field opened on this line is not closed within {feed.limit} lines"
            elif len(pend) > 1 and "expected after" in str(err):
                yield None, pend[:1], f"a quoted field opened on this line is not closed properly within {len(pend)} lines"
            elif pend:
                yield None, pend[:1], _csv_reason(err)
            continue
        yield row, feed.pending, None


class CsvStream(RawStream):
    encoding: str  # detected when not given, so never None here

    def __init__(self, path: Path, label: str, encoding: str | None = None, fallback: str = "cp1252",
                 chunk_rows: int | None = None, max_record_lines: int | None = None) -> None:
        self.path, self.label, self._file = str(path), label, path
        choice = detect_encoding(path, encoding, fallback)
        self.encoding, self._bom = choice.encoding, choice.bom
        self.chunk_rows = chunk_rows or rawmod.CHUNK_ROWS
        self.max_record_lines = max_record_lines or rawmod.MAX_RECORD_LINES
        self._read_header()

    def _blocks(self, fh) -> Iterator[list[bytes]]:
        first = True
        while block := list(itertools.islice(fh, self.chunk_rows)):
            if first and self._bom and block[0].startswith(UTF8_BOM):
                block[0] = block[0][len(UTF8_BOM):]
            first = False
            yield block

    def _read_header(self) -> None:
        with open(self._file, "rb") as fh:
            feed = _LineFeed(self._blocks(fh), self.encoding, self.max_record_lines)
            first = next(iter_csv_items(feed), None)
        if first is None:
            raise UnusableInputError(self.path, "file is empty: there is no header line",
                                     "check the export finished, then re-send the file")
        row, pend, reason = first
        bad = reason or next((p[2] for p in pend if p[2]), None)
        if bad:
            raise UnusableInputError(self.path, f"the header line cannot be read: {bad.split(' (')[0]}",
                                     ENCODING_HINT)
        assert row is not None, "a record without fields always comes with a reason"
        if not [c for c in row if c.strip()]:
            raise UnusableInputError(self.path, "the first line is blank; expected a header line")
        self.header = dedupe_header([c.strip().lstrip("\ufeff") for c in row])
        self.header_lines = len(pend)

    def _screen(self, block: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Per line of ``block``: (plain, single), see ``csv_bulk.screen``."""
        return csv_bulk.screen(block, self.encoding, len(self.header))

    def _fast(self, block: list[bytes], plain: np.ndarray, single: np.ndarray) -> tuple[list, int] | None:
        """(pieces, lines used) of ``block`` parsed without the careful path, see ``csv_bulk.parse_block``."""
        return csv_bulk.parse_block(block, plain, single, self.header, self.usecols, self.encoding,
                                    self.max_record_lines)

    def chunks(self) -> Iterator[RawChunk]:
        n = len(self.header)
        st = _State(self, n)
        with open(self._file, "rb") as fh:
            blocks = self._blocks(fh)
            feed = _LineFeed(blocks, self.encoding, self.max_record_lines)
            next(iter_csv_items(feed))  # the header record, already read
            rest = feed.take_rest()
            while True:
                if feed.idle():
                    screen = feed.rest_screen if rest else None
                    block, rest = rest or next(blocks, None), None
                    if block is None:
                        break
                    screen = screen or self._screen(block)
                    fast = self._fast(block, *screen)
                    if fast is not None:
                        pieces, used = fast
                        st.add_pieces(feed.lines_in + 1, block, pieces)
                        feed.lines_in += used
                        if st.count >= self.chunk_rows:
                            yield st.flush()
                        if used == len(block):
                            continue
                        block, screen = block[used:], tuple(a[used:] for a in screen)
                    feed.load(block, screen)
                items = iter_csv_items(feed)
                for item in items:
                    st.add_item(feed, *item)
                    if st.count >= self.chunk_rows:
                        yield st.flush()
                    if feed.idle():
                        break
                    if not feed.pushback:  # at a record boundary: the rest of the block may take the fast path
                        rest = feed.take_rest()
                        if rest:
                            break
                else:
                    break
            self.lines_in = feed.lines_in
        if st.decode_failed and not (st.records or st.count or st.other_quarantined):
            raise UnusableInputError(self.path, f"no line after the header can be decoded as {self.encoding}",
                                     ENCODING_HINT)
        yield st.flush()


class _State:
    """Records and quarantined items gathered for the next chunk, plus counts for the whole file."""

    def __init__(self, stream: CsvStream, n_fields: int) -> None:
        self.stream, self.n = stream, n_fields
        self.decode_failed = self.other_quarantined = self.records = 0
        self._reset()

    def _reset(self) -> None:
        self.parts: list = []  # ("rows", rows) / ("cols", arrays), in record order
        self.lines: list = []  # per part: first physical line of each record (list or array)
        self.n_lines: list = []  # per part: physical lines each record spans
        self.raws: list = []  # str, or the line's bytes for plain lines
        self.quarantined: list[Quarantined] = []
        self.count = 0

    def flush(self) -> RawChunk:
        lines = np.concatenate([np.asarray(v, dtype=np.int64) for v in self.lines]) if self.lines \
            else np.zeros(0, np.int64)
        n_lines = np.concatenate([np.asarray(v, dtype=np.int64) for v in self.n_lines]) if self.n_lines \
            else np.zeros(0, np.int64)
        chunk = make_chunk(self.stream.header, [], lines, n_lines, self.raws, self.quarantined,
                           self.stream.usecols, parts=self.parts, encoding=self.stream.encoding)
        self.records += self.count
        self._reset()
        return chunk

    def _row(self, row: list[str], line: int, span: int, raw: str) -> None:
        if not self.parts or self.parts[-1][0] != "rows":
            self.parts.append(("rows", []))
            self.lines.append([])
            self.n_lines.append([])
        self.parts[-1][1].append(row)
        self.lines[-1].append(line)
        self.n_lines[-1].append(span)
        self.raws.append(raw)
        self.count += 1

    def add_pieces(self, first_line: int, block: list[bytes], pieces: list) -> None:
        """Add what ``CsvStream._fast`` parsed from ``block`` (whose first line is ``first_line``)."""
        for piece in pieces:
            if piece[0] == "bulk":
                _, start, stop, arrays, offsets, quarantined = piece
                for item in quarantined:
                    item.line += first_line + start
                self.quarantined.extend(quarantined)
                self.other_quarantined += len(quarantined)
                self.parts.append(("cols", arrays))
                self.lines.append(offsets + (first_line + start))
                self.n_lines.append(np.ones(len(offsets), dtype=np.int64))
                self.raws.extend([block[start + i] for i in offsets.tolist()] if len(offsets) < stop - start
                                 else block[start:stop])
                self.count += len(offsets)
            else:
                _, start, texts, rows, spans = piece
                self._add_rows(first_line + start, texts, rows, spans)

    def _add_rows(self, first_line: int, texts: list[str], rows: list[list[str]], spans: list[int]) -> None:
        n = self.n
        idx = 0
        for row, span in zip(rows, spans, strict=True):
            text = texts[idx] if span == 1 else "".join(texts[idx:idx + span]).rstrip("\r\n")
            if len(row) == n:
                self._row(row, first_line + idx, span, text)
            else:  # single line (the fast path stops before a multi-line record with the wrong count)
                reason = "line is blank" if not text.strip() else f"expected {n} fields, found {len(row)}"
                self.quarantined.append(Quarantined(first_line + idx, 1, reason, text.rstrip("\r\n")))
                self.other_quarantined += 1
            idx += span

    def add_item(self, feed: _LineFeed, row, pend: list, reason: str | None) -> None:
        n = self.n
        bad = next((p[2] for p in pend if p[2]), None)
        if reason is None and len(row) != n:
            if len(pend) == 1 and not pend[0][1].strip():
                reason = "line is blank"
            elif len(pend) > 1:  # probably an unclosed quote: keep the lines after the opening one
                feed.push_back(pend[1:])
                pend = pend[:1]
                bad = pend[0][2]
                reason = bad or (f"expected {n} fields, found {len(row)}: a quoted field opened "
                                 "on this line is probably not closed")
            else:
                reason = bad or f"expected {n} fields, found {len(row)}"
        elif reason is not None:
            bad = pend[0][2]
            reason = bad or reason
        else:
            reason = bad
        if reason is not None:
            decode = reason == bad and not reason.startswith(NUL_REASON)
            self.quarantined.append(Quarantined(pend[0][0], len(pend), reason, _text(pend), decode))
            self.decode_failed += decode
            self.other_quarantined += not decode
            return
        self._row(row, pend[0][0], len(pend), pend[0][1] if len(pend) == 1 else _text(pend))
