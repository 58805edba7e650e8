"""Errors a person can act on. The CLI prints ``str(err)`` as one line, with no traceback."""

from __future__ import annotations

from pathlib import Path


class SvocError(Exception):
    """Base class: a run stopped for a reason the operator can fix."""


class UnusableInputError(SvocError):
    """An input file or table cannot be read at all (missing, wrong type, missing column, wrong encoding)."""

    def __init__(self, path: Path | str, problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        msg = f"{self.path}: {problem}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class LineAccountingError(SvocError):
    """Lines in did not equal records plus quarantined rows: something would have been silently dropped."""


class BlockedRunError(SvocError):
    """A blocking quality check failed; matching and publishing did not happen."""

    def __init__(self, source: str, check: str, observed: str) -> None:
        self.source, self.check, self.observed = source, check, observed
        super().__init__(
            f"source '{source}' blocked by check '{check}': observed {observed}; "
            "the published warehouse was left unchanged"
        )
