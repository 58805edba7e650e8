"""The only module that imports Great Expectations: a cached ephemeral context and validation.

GX 1.24 sends no usage statistics (its ``analytics`` package and PostHog client are gone; only the
``analytics_enabled`` config key and the ``GX_ANALYTICS_ENABLED`` variable remain), and its PyPI version
checker (``data_context._version_checker``) is never called. We still set the variable, pin
``analytics_enabled=False`` in the project config, never take the cloud path (``mode="ephemeral"``, no
GX Cloud variables read) and keep every store in memory. GX's Data Docs site is not built: its pages load
CSS/JS from CDNs, so ``quality.docs`` renders the results as one offline page instead.
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "False"

import logging  # noqa: E402
import threading  # noqa: E402

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.execution_engine import pandas_execution_engine as _pandas_engine  # noqa: E402
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration  # noqa: E402
from great_expectations.expectations.metadata_types import FailureSeverity  # noqa: E402

from quality.suites import CheckSpec  # noqa: E402

log = logging.getLogger(__name__)

# GX fingerprints every pandas batch under 1 GB (an md5 over ``hash_pandas_object`` of the whole frame),
# twice per validation. On 1M rows that is most of the run time and we never use it: switch it off.
if hasattr(_pandas_engine, "HASH_THRESHOLD"):
    _pandas_engine.HASH_THRESHOLD = 0

# No unexpected values in results: they would be names, DOBs or identifiers.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "include_unexpected_rows": False}
SEVERITY_TO_GX = {"blocking": FailureSeverity.CRITICAL, "warning": FailureSeverity.WARNING}

_LOCK = threading.RLock()
_STATE: dict = {}


def _project_config() -> DataContextConfig:
    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )


def new_context():
    """A fresh in-memory (ephemeral) GX context, with no Data Docs site (``quality.docs`` renders the results)."""
    ctx = gx.get_context(mode="ephemeral", project_config=_project_config(), cloud_mode=False)
    return ctx


def context():
    """The module-level cached context used for validation (created on first use)."""
    with _LOCK:
        if "context" not in _STATE:
            ctx = new_context()
            asset = ctx.data_sources.add_pandas("svoc").add_dataframe_asset("staged_frame")
            _STATE["context"] = ctx
            _STATE["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole_frame")
        return _STATE["context"]


def analytics_disabled() -> bool:
    """True when both the environment variable and the cached context's config disable analytics."""
    ctx = context()
    return os.environ.get("GX_ANALYTICS_ENABLED") == "False" and ctx.config.analytics_enabled is False


def _expectation(spec: CheckSpec, source: str):
    meta = {"check": spec.check, "severity": spec.severity, "source": source}
    config = ExpectationConfiguration(
        type=spec.gx_type,
        kwargs=dict(spec.kwargs),
        meta=meta,
        notes=spec.expectation,
        severity=SEVERITY_TO_GX[spec.severity],
    )
    return config.to_domain_obj()


def validate(frame: pd.DataFrame, suite: str, specs: list[CheckSpec], source: str) -> tuple[list[dict], dict]:
    """Run ``specs`` as one GX suite on ``frame``. Returns per-spec result dicts (same order) and suite meta."""
    expectations = [_expectation(s, source) for s in specs]
    gx_suite = gx.ExpectationSuite(name=suite, expectations=expectations, meta={"source": source})
    with _LOCK:
        context()
        batch = _STATE["batch_definition"].get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(gx_suite, result_format=RESULT_FORMAT)
    by_check = {r.expectation_config.meta["check"]: r.to_json_dict() for r in result.results}
    meta = result.to_json_dict()["meta"]
    return [by_check[s.check] for s in specs], meta
