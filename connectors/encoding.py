"""Text encoding detection for CSV exports: UTF-8, UTF-8 with a byte-order mark, or a fallback (cp1252).

Rules, in order:

1. a UTF-8 byte-order mark -> ``utf-8`` with the BOM stripped (``bom=True``);
2. a UTF-16/32 byte-order mark, NUL bytes in the header line, or a zip signature -> ``UnusableInputError``
   (not CSV text); a NUL byte on a later line is that line's problem: the reader quarantines it;
3. the whole file decodes as UTF-8 -> ``utf-8``;
4. among the lines holding non-ASCII bytes, more decode as UTF-8 than not -> ``utf-8``: the few that do
   not are a corrupted line each and are quarantined by the reader;
5. otherwise -> the fallback (``cp1252`` by default).

Counting only non-ASCII lines matters: in a Windows-1252 file most lines are plain ASCII, so "most lines
decode as UTF-8" would be true of any cp1252 file. A cp1252 accented letter followed by ASCII is never
valid UTF-8, so cp1252 lines with accents fail, while a UTF-8 file's accented lines succeed. Windows-1252
leaves five bytes undefined (0x81 0x8D 0x8F 0x90 0x9D); lines holding them fail to decode and are
quarantined as well.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from schemas.errors import UnusableInputError

UTF8_BOM = codecs.BOM_UTF8
_BLOCK = 1 << 24
_SAMPLE_NONASCII_LINES = 2000


class EncodingChoice(NamedTuple):
    encoding: str
    bom: bool
    detected: bool


def canonical_encoding(name: str) -> str:
    return codecs.lookup(name).name


def sniff_not_text(path: Path, head: bytes) -> None:
    """Raise when the first bytes show the file is not CSV text at all."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnusableInputError(path, "file is UTF-16 text, which is not supported",
                                 "re-export it as UTF-8 or set a 'utf-16' encoding in sources.yaml")
    if head.startswith(b"PK\x03\x04"):
        raise UnusableInputError(path, "file is a zip/Excel workbook, not CSV text",
                                 "give it the .xlsx extension or export it as CSV")
    if head.startswith(b"PAR1"):
        raise UnusableInputError(path, "file is a Parquet file, not CSV text", "give it the .parquet extension")
    if b"\x00" in head.split(b"\n", 1)[0]:  # a NUL further down spoils its own line only (quarantined)
        raise UnusableInputError(path, "the header line holds NUL bytes, so the file is not CSV text",
                                 "check the export format (UTF-16 text needs 'encoding: utf-16' in sources.yaml)")


def _decodes_as_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def utf8_line_votes(lines: Iterable[bytes]) -> tuple[int, int]:
    """(non-ASCII lines that decode as UTF-8, non-ASCII lines that do not), over a bounded sample."""
    ok = bad = 0
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            ok += 1
        except UnicodeDecodeError:
            bad += 1
        if ok + bad >= _SAMPLE_NONASCII_LINES:
            break
    return ok, bad


def detect_encoding(path: Path, forced: str | None = None, fallback: str = "cp1252") -> EncodingChoice:
    """Choose the encoding for a CSV file (see the module docstring for the rules)."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    bom = head.startswith(UTF8_BOM)
    if not bom:
        sniff_not_text(path, head)
    if forced:
        enc = canonical_encoding(forced)
        if enc in ("utf-8", "utf_8_sig", "utf-8-sig"):
            return EncodingChoice("utf-8", bom, False)
        return EncodingChoice(enc, False, False)
    if bom:
        return EncodingChoice("utf-8", True, True)
    if _decodes_as_utf8(path):
        return EncodingChoice("utf-8", False, True)
    with open(path, "rb") as fh:
        ok, bad = utf8_line_votes(fh)
    if ok > bad:
        return EncodingChoice("utf-8", False, True)
    return EncodingChoice(canonical_encoding(fallback), False, True)
