"""Line accounting: prove every physical input line went to exactly one of header, a record, or quarantine.

Each record and each quarantined item covers a span of physical lines ``[start, start + n)``. A
``LineLedger`` receives spans chunk by chunk (in file order) and checks they tile the file with no gap
and no overlap; ``check_line_accounting`` then checks the totals against the lines the reader counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.errors import LineAccountingError


@dataclass
class InputNotice:
    """Something about an input the operator should know, though the run goes on (no personal data:
    names of sources, files and columns only). ``kind``: ``missing_column`` (``subject`` is the column),
    ``no_rows``, ``unconfigured_folder`` (``subject`` is the folder)."""

    source: str
    file: str
    kind: str
    subject: str
    message: str


@dataclass
class FileAccount:
    """Per input file: physical lines in, records out, rows quarantined (and the lines each took)."""

    file: str
    lines_in: int
    records_out: int
    quarantined: int
    header_lines: int = 0
    record_lines: int = 0
    quarantined_lines: int = 0

    @property
    def rows_in(self) -> int:
        """Rows read (records out + quarantined rows): fewer than ``lines_in`` by the header and by the
        extra lines of records whose quoted fields span lines."""
        return self.records_out + self.quarantined


def check_line_accounting(account: FileAccount) -> None:
    """Raise ``LineAccountingError`` unless lines in == header + record lines + quarantined lines."""
    a = account
    if a.records_out > a.record_lines or a.quarantined > a.quarantined_lines:
        raise LineAccountingError(
            f"{a.file}: {a.records_out} records in {a.record_lines} lines, {a.quarantined} quarantined rows in "
            f"{a.quarantined_lines} lines: every record and quarantined row takes at least one line"
        )
    if a.lines_in != a.header_lines + a.record_lines + a.quarantined_lines:
        raise LineAccountingError(
            f"{a.file}: {a.lines_in} lines in, but header {a.header_lines} + records {a.record_lines} "
            f"+ quarantined {a.quarantined_lines} = {a.header_lines + a.record_lines + a.quarantined_lines}; "
            "some input would have been lost or counted twice"
        )


class LineLedger:
    """Checks that spans arrive as an exact tiling of lines ``first, first + 1, ...`` (chunk by chunk)."""

    def __init__(self, file: str, header_lines: int) -> None:
        self.file = file
        self.header_lines = header_lines
        self.next_line = header_lines + 1
        self.records = self.record_lines = self.quarantined = self.quarantined_lines = 0

    def add(self, record_starts, record_counts, quarantine_starts, quarantine_counts) -> None:
        rs, rc = np.asarray(record_starts, np.int64), np.asarray(record_counts, np.int64)
        qs, qc = np.asarray(quarantine_starts, np.int64), np.asarray(quarantine_counts, np.int64)
        starts, counts = np.concatenate([rs, qs]), np.concatenate([rc, qc])
        if len(starts):
            order = np.argsort(starts, kind="stable")
            starts, counts = starts[order], counts[order]
            if (counts < 1).any():
                raise LineAccountingError(f"{self.file}: a record or quarantined row covers no line")
            expected = np.concatenate([[self.next_line], (starts + counts)[:-1]])
            bad = np.flatnonzero(starts != expected)
            if len(bad):
                i = bad[0]
                what = "gap" if starts[i] > expected[i] else "overlap"
                raise LineAccountingError(
                    f"{self.file}: line accounting {what} at line {min(starts[i], expected[i])}: "
                    f"expected the next record or quarantined row to start at line {expected[i]}, "
                    f"found one at {starts[i]}"
                )
            self.next_line = int(starts[-1] + counts[-1])
        self.records += len(rs)
        self.record_lines += int(rc.sum())
        self.quarantined += len(qs)
        self.quarantined_lines += int(qc.sum())

    def close(self, lines_in: int) -> FileAccount:
        account = FileAccount(self.file, lines_in, self.records, self.quarantined, self.header_lines,
                              self.record_lines, self.quarantined_lines)
        check_line_accounting(account)
        if self.next_line != lines_in + 1:
            raise LineAccountingError(
                f"{self.file}: {lines_in} lines in, but records and quarantined rows end at line {self.next_line - 1}"
            )
        return account
