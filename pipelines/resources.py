"""Resources: everything a stage needs from the settings, as Dagster resources built from one ``Settings``."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from connectors.reuse import Reusable
from pipelines.sources import configured_sources
from pipelines.steps import step_scope
from schemas.config import SourceConfig, cannot_link_names, load_sources_options, resolve_dob_from
from schemas.errors import SvocError
from schemas.rules import DOB_FROM_DEFAULT
from svoc.drops import check_drop, drop_date
from svoc.settings import Settings, writes_parquet
from svoc.stages.ahead import ExtractAhead
from svoc.stages.changes import changes_only
from svoc.state import carry_state_into_build, open_store
from svoc.warehouse.analytics import resolve_pseudonym_key
from svoc.warehouse.build import open_build


class WarehouseResource(dg.ConfigurableResource):
    """The published warehouse file; each run works on its own build file beside it."""

    path: str
    memory_limit: str = "4GB"
    threads: int = 2
    spill_dir: str | None = None
    state_url: str | None = None  # IG state store (svoc.state); None: the SQLite file beside the warehouse
    parquet: bool = False  # also publish every table as Parquet (svoc.warehouse.parquet)

    @property
    def target(self) -> Path:
        return Path(self.path)

    def carry_state(self, con: duckdb.DuckDBPyConnection) -> int:
        """Carry the IG state store's steward decisions into this run's build (``svoc.state``)."""
        with open_store(self.target, self.state_url, migrate=False) as store:
            return carry_state_into_build(con, store)

    def conn_kw(self) -> dict[str, Any]:
        return {"memory_limit": self.memory_limit, "threads": self.threads,
                "spill_dir": Path(self.spill_dir) if self.spill_dir else None}

    @contextmanager
    def build(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """This run's build file. In a Dagster step: refuses a partial run and logs library progress to the step
        (``pipelines.steps.step_scope``)."""
        with step_scope():
            con = open_build(self.target, run_id, **self.conn_kw())
            try:
                yield con
            finally:
                con.close()


class DropResource(dg.ConfigurableResource):
    """Tonight's drop folder (one subfolder per source)."""

    path: str

    @property
    def dir(self) -> Path:
        check_drop(Path(self.path))
        return Path(self.path)

    @property
    def date(self) -> dt.date:
        return drop_date(self.dir)


class LandingResource(dg.ConfigurableResource):
    """Where dated drops land (``<landing>/<YYYY-MM-DD>/``), for the drop sensor."""

    path: str

    @property
    def dir(self) -> Path:
        return Path(self.path)


class AheadResource(dg.ConfigurableResource):
    """Worker processes that extract the drop's sources ahead of their steps (``svoc.stages.ahead``;
    ``SVOC_EXTRACT_WORKERS``, 0 for none). Started by the first source step of a run, stopped when the run ends."""

    workers: int = 1
    _ahead: ExtractAhead | None = PrivateAttr(default=None)
    _started: bool = PrivateAttr(default=False)

    def for_run(self, run_id: str, drop: Path, reference_date: dt.date, dob_from: dt.date,
                configs: list[SourceConfig], selection: AbstractSet[dg.AssetKey] | None = None,
                reuse: Callable[[list[str]], dict[str, Reusable]] | None = None) -> ExtractAhead | None:
        """The run's worker (started on the first call) for the sources the run stages (``selection``: the run's
        assets; None or empty for the whole job); None when there is none: switched off, one source, or an intraday drop of
        changes only (small by nature). ``reuse``: the staged digests its sources' unchanged lines keep, by source
        (``svoc.stages.reuse.reusable_by_source``), read when the worker starts."""
        if not self._started:
            self._started = True
            # a whole-job run's selection is empty (Dagster gives a set only when the run picked assets)
            configs = [c for c in configs if not selection or dg.AssetKey(["staging", c.name]) in selection]
            if self.workers >= 1 and len(configs) > 1 and not changes_only(drop):
                self._ahead = ExtractAhead(drop, configs, run_id, reference_date, dob_from,
                                           reuse([c.name for c in configs]) if reuse is not None else None)
        return self._ahead

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None


class MatchingResource(dg.ConfigurableResource):
    """Matching settings: thresholds, whether to train a new model instead of reusing the stored one, the
    earliest plausible DOB (ISO; ``SVOC_DOB_FROM``, else sources.yaml ``matching.dob_from``, else the
    default) and the identifier names that are cannot-links (sources.yaml ``cannot_link_identifiers``)."""

    link_threshold: float | None = None  # None: set from the model (docs/matching.md)
    review_lower: float | None = None
    retrain: bool = False
    full: bool = False  # True: re-link every record; False: an incremental night when the last run allows it
    engine: str = "duckdb"  # "duckdb" | "spark" (docs/scale.md)
    dob_from: str = DOB_FROM_DEFAULT.isoformat()
    cannot_link_identifiers: list[str] = []

    @property
    def earliest_dob(self) -> dt.date:
        return dt.date.fromisoformat(self.dob_from)


class PrivacyResource(dg.ConfigurableResource):
    """The pseudonymisation key for the analytics file (a secret: from the environment, never in config)."""

    profile: str = "demo"
    pseudonym_key: str | None = None
    pseudonym_key_file: str = ""
    small_cell_threshold: int = 5

    def key(self) -> bytes:
        return resolve_pseudonym_key(self.profile, self.pseudonym_key, Path(self.pseudonym_key_file))


def matching_resource(settings: Settings) -> MatchingResource:
    """The matching resource: thresholds from the settings, DOB range and cannot-links from settings and
    sources.yaml (read afresh, like the source list)."""
    options = load_sources_options(settings.sources_file)
    return MatchingResource(
        link_threshold=settings.link_threshold, review_lower=settings.review_lower, retrain=settings.retrain,
        full=settings.full, engine=settings.engine,
        dob_from=resolve_dob_from(settings.dob_from, options).isoformat(),
        cannot_link_identifiers=cannot_link_names(options, configured_sources(settings), settings.sources_file))


def _state_url(settings: Settings) -> str | None:
    """The state store URL may hold a password: read from the environment at run time, never put in config."""
    env = settings.env_name("state_url")
    if env in os.environ:
        return dg.EnvVar(env)
    return settings.state_url.get_secret_value() if settings.state_url else None


def spark_resource(settings: Settings) -> dg.ConfigurableResource:
    """``dagster-pyspark``'s resource for the Spark engine: master and configuration from the settings
    (``SVOC_SPARK_MASTER``: ``local[*]``, a cluster URL, or ``sc://...`` / ``databricks`` for Spark or Databricks
    Connect; ``SVOC_SPARK_CONF``: extra configuration). Imported only when the engine is Spark."""
    try:
        from dagster_pyspark import PySparkResource
    except ImportError:
        raise SvocError("SVOC_ENGINE=spark needs PySpark: install it with pip install 'svoc[spark]' "
                        "(and Java: .ci/system-deps.sh), or unset SVOC_ENGINE") from None

    from matching.spark.session import spark_config, use_this_python

    class SvocPySparkResource(PySparkResource):
        def setup_for_execution(self, context: dg.InitResourceContext) -> None:
            use_this_python()  # applyInPandas workers run this environment's Python
            super().setup_for_execution(context)

    return SvocPySparkResource(spark_config=spark_config(settings.spark_master, settings.spark_conf))


def resources_from(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    key_env = settings.env_name("pseudonym_key")
    extra = {"pyspark": spark_resource(settings)} if settings.engine == "spark" else {}
    return {
        **extra,
        "warehouse": WarehouseResource(path=str(settings.warehouse), memory_limit=settings.duckdb_memory_limit,
                                       threads=settings.duckdb_threads,
                                       spill_dir=str(settings.spill_dir) if settings.spill_dir else None,
                                       state_url=_state_url(settings), parquet=writes_parquet(settings)),
        "drop": DropResource(path=str(settings.drop)),
        "ahead": AheadResource(workers=settings.extract_workers),
        "landing": LandingResource(path=str(settings.landing_dir)),
        "matching": matching_resource(settings),
        "privacy": PrivacyResource(
            profile=settings.profile,
            # Read from the environment at run time, so the key never appears in run config or the UI.
            pseudonym_key=dg.EnvVar(key_env) if key_env in os.environ else None,
            pseudonym_key_file=str(settings.pseudonym_key_file),
            small_cell_threshold=settings.small_cell_threshold),
    }
