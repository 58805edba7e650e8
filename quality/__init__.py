"""Quality gates: Great Expectations suites per source on pandas batches, blocking vs warning.

Importing this package is cheap: Great Expectations (slow to import) loads on the first suite run
or Data Docs build. ``GX_ANALYTICS_ENABLED`` is set to ``"False"`` before anything else.

    results = run_source_suite("health", identity, interactions, previous_row_count, date.today())
    blocking_failures(results)                 # -> the CheckResults that must stop the run
    results_frame(results, run_id)             # -> rows for audit.quality_results
    write_data_docs({"health": results}, data_docs_dir(warehouse_path), run_id)
"""

import os
from typing import Any

os.environ["GX_ANALYTICS_ENABLED"] = "False"

from quality.results import CheckResult, blocking_failures, results_frame, warning_failures  # noqa: E402
from quality.suites import GENERIC_RULES, Severity, SourceRules, rules_for, suite_name  # noqa: E402

_LAZY = {
    "run_source_suite": "quality.runner",
    "write_data_docs": "quality.runner",
    "data_docs_dir": "quality.runner",
    "analytics_disabled": "quality._gx",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quality' has no attribute {name!r}")


__all__ = [
    "GENERIC_RULES",
    "CheckResult",
    "Severity",
    "SourceRules",
    "analytics_disabled",
    "blocking_failures",
    "data_docs_dir",
    "results_frame",
    "rules_for",
    "run_source_suite",
    "suite_name",
    "warning_failures",
    "write_data_docs",
]
