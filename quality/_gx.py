"""The only module that imports Great Expectations: a cached ephemeral context, validation, Data Docs.

GX 1.24 sends no usage statistics (its ``analytics`` package and PostHog client are gone; only the
``analytics_enabled`` config key and the ``GX_ANALYTICS_ENABLED`` variable remain), and its PyPI version
checker (``data_context._version_checker``) is never called. We still set the variable, pin
``analytics_enabled=False`` in the project config, never take the cloud path (``mode="ephemeral"``, no
GX Cloud variables read), keep every store in memory, and point Data Docs at a directory we are given.
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "False"

import datetime as dt  # noqa: E402
import logging  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.execution_engine import pandas_execution_engine as _pandas_engine  # noqa: E402
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration  # noqa: E402

from quality.suites import CheckSpec  # noqa: E402

log = logging.getLogger(__name__)

# GX fingerprints every pandas batch under 1 GB (an md5 over ``hash_pandas_object`` of the whole frame),
# twice per validation. On 1M rows that is most of the run time and we never use it: switch it off.
if hasattr(_pandas_engine, "HASH_THRESHOLD"):
    _pandas_engine.HASH_THRESHOLD = 0

# No unexpected values in results: they would be names, DOBs or identifiers.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "include_unexpected_rows": False}
SEVERITY_TO_GX = {"blocking": "critical", "warning": "warning"}
DOCS_SITE = "svoc_data_docs"

_LOCK = threading.RLock()
_STATE: dict = {}


def _project_config(docs_dir: Path | None = None) -> DataContextConfig:
    sites = {}
    if docs_dir is not None:
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )


def new_context(docs_dir: Path | None = None):
    """A fresh in-memory (ephemeral) GX context; with ``docs_dir``, one Data Docs site writing there."""
    ctx = gx.get_context(mode="ephemeral", project_config=_project_config(docs_dir), cloud_mode=False)
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


def write_docs(
    suites: dict[str, list[dict]], metas: dict[str, dict], out_dir: Path, run_name: str, run_time: dt.datetime
) -> Path:
    """Render stored validation results with GX's SiteBuilder into ``out_dir``; returns index.html."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = new_context(out_dir)
    for name, evr_dicts in suites.items():
        configs = [ExpectationConfiguration(**d["expectation_config"]) for d in evr_dicts]
        ctx.suites.add(gx.ExpectationSuite(name=name, expectations=[c.to_domain_obj() for c in configs]))
        evrs = [
            ExpectationValidationResult(
                success=d["success"],
                expectation_config=cfg,
                result=d.get("result") or {},
                meta=d.get("meta") or {},
                exception_info=d.get("exception_info"),
            )
            for d, cfg in zip(evr_dicts, configs, strict=True)
        ]
        ok = sum(bool(e.success) for e in evrs)
        stats = {
            "evaluated_expectations": len(evrs),
            "successful_expectations": ok,
            "unsuccessful_expectations": len(evrs) - ok,
            "success_percent": 100.0 * ok / len(evrs) if evrs else None,
        }
        run_id = RunIdentifier(run_name=run_name, run_time=run_time)
        asset = "staging.interactions" if name.endswith("_interactions") else "staging.identity_records"
        meta = dict(metas.get(name) or {})
        meta.update(
            run_id=run_id,
            validation_time=run_time.strftime("%Y%m%dT%H%M%S.%fZ"),
            batch_spec={**(meta.get("batch_spec") or {}), "data_asset_name": asset},
        )
        suite_result = ExpectationSuiteValidationResult(
            success=ok == len(evrs), results=evrs, suite_name=name, statistics=stats, meta=meta
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
            run_id=run_id,
            batch_identifier=name,
        )
        ctx.validation_results_store.set(key, suite_result)
    ctx.build_data_docs(site_names=[DOCS_SITE])
    index = out_dir / "index.html"
    log.info("quality: wrote Data Docs for %d suites to %s", len(suites), index)
    return index
