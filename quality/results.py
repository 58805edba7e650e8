"""Check results: one row per check per source, ready for ``audit.quality_results``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from quality.suites import Severity

RESULT_COLUMNS = ("run_id", "source", "check", "severity", "passed", "observed", "expectation", "checked_at")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class CheckResult:
    """The outcome of one check. ``observed`` names the source, the check and what was seen (counts only).

    ``suite`` is the GX expectation suite the check belongs to; ``details`` carries the serialised GX
    validation result (no data values: unexpected-value lists are switched off) for Data Docs.
    """

    source: str
    check: str
    severity: Severity
    passed: bool
    observed: str
    expectation: str
    suite: str = ""
    checked_at: dt.datetime = field(default_factory=_utcnow)
    details: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def blocking(self) -> bool:
        """True when this result should stop the run."""
        return self.severity == "blocking" and not self.passed


def blocking_failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Failed checks whose severity is blocking, in the order they were run."""
    return [r for r in results if r.blocking]


def warning_failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Failed checks that only warn."""
    return [r for r in results if r.severity == "warning" and not r.passed]


def results_frame(results: Iterable[CheckResult], run_id: str) -> pd.DataFrame:
    """Rows for ``audit.quality_results``: run_id, source, check, severity, passed, observed, expectation,
    checked_at (naive UTC)."""
    rows = [
        (run_id, r.source, r.check, r.severity, bool(r.passed), r.observed, r.expectation, r.checked_at)
        for r in results
    ]
    frame = pd.DataFrame.from_records(rows, columns=list(RESULT_COLUMNS))
    frame["passed"] = frame["passed"].astype(bool)
    frame["checked_at"] = pd.to_datetime(frame["checked_at"])
    return frame
