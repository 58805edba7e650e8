"""What every step that opens the run's build does first: refuse a partial run, and send library logs to Dagster.

A run builds one file (``<warehouse>.build-<run_id>``) that only the publish step swaps in, so an asset
materialised on its own (or a mart picked in the UI, or a re-execution of some steps) would be recorded as fresh
in Dagster while nothing reached the published warehouse. ``WarehouseResource.build`` therefore calls
``step_scope``: it refuses any run that does not select every asset and every blocking check, with one line
saying to launch the whole job.

The libraries (``connectors``, ``matching``, ``quality``, ``svoc``) log progress with the standard ``logging``
module: rows read per file, pairs scored, clusters built (record keys and counts only, never personal data).
For the step's duration those loggers also write to the step's Dagster log, so long steps are not silent in
the event log, the UI or the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Set
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
from dagster_shared.check import CheckError

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

JOB_NAME = "svoc_run_job"
LIBRARY_LOGGERS = ("connectors", "matching", "quality", "schemas", "svoc")


def partial_run_reason(*, asset_selection: Set[dg.AssetKey] | None, check_selection: Set[dg.AssetCheckKey] | None,
                       reexecuted_steps: list[str] | None, op_selection: Set[str] | None, all_assets: Set[dg.AssetKey],
                       blocking_checks: Set[dg.AssetCheckKey]) -> str | None:
    """Why a run with this selection cannot be published (``None`` for a whole run)."""
    if reexecuted_steps is not None:
        return "it re-executes only some steps of an earlier run"
    if op_selection is not None:
        return "it runs only some steps"
    # An empty selection is no selection: a job run in-process records its selection as frozenset().
    if asset_selection and not all_assets <= asset_selection:
        missing = sorted(k.to_user_string() for k in all_assets - asset_selection)
        return f"it leaves out {len(missing)} asset(s), for example {missing[0]}"
    if check_selection and not blocking_checks <= check_selection:
        missing = sorted(k.name for k in blocking_checks - check_selection)
        return f"it leaves out {len(missing)} blocking check(s), for example {missing[0]}"
    return None


def current_step() -> dg.AssetExecutionContext | dg.AssetCheckExecutionContext | None:
    """The asset or check step running in this thread, if any (``None`` outside Dagster, e.g. in a test)."""
    try:
        return dg.AssetExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        pass
    try:
        return dg.AssetCheckExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None


def _repository_graph(step: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> AssetGraph | None:
    """The code location's asset graph; a job run in-process (the CLI, tests) has no repository."""
    try:
        return step.repository_def.asset_graph
    except CheckError:
        return None


def _whole_graph(job: dg.JobDefinition, repository_graph: AssetGraph | None) -> AssetGraph:
    """The graph a whole run materialises: the code location's, else the job's before any subsetting."""
    if repository_graph is not None:
        return repository_graph
    while (selection := job.asset_selection_data or job.op_selection_data) is not None:
        job = selection.parent_job_def
    return job.asset_layer.asset_graph


def require_whole_run(step: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> None:
    """Fail the step (no retry) unless its run materialises the whole pipeline."""
    run = step.run
    graph = _whole_graph(step.job_def, _repository_graph(step))
    reason = partial_run_reason(
        asset_selection=run.asset_selection, check_selection=run.asset_check_selection,
        reexecuted_steps=list(run.step_keys_to_execute)
        if run.parent_run_id is not None and run.step_keys_to_execute is not None else None,
        op_selection=run.resolved_op_selection, all_assets=set(graph.materializable_asset_keys),
        blocking_checks={k for k in graph.asset_check_keys if graph.get_check_spec(k).blocking})
    if reason:
        raise dg.Failure(
            description=f"this run cannot be published because {reason}: every asset lives in one build file "
                        f"that only a whole run publishes. Launch the job '{JOB_NAME}' (or Materialize all).",
            allow_retries=False)


class _UpTo(logging.Handler):
    """Hands records at or above the logger's old level on to its parent, as propagation did before."""

    def __init__(self, parent: logging.Logger, level: int) -> None:
        super().__init__(level=level)
        self._parent = parent

    def emit(self, record: logging.LogRecord) -> None:
        self._parent.handle(record)


class _ToStepLog(logging.Handler):
    def __init__(self, log: logging.Logger) -> None:
        super().__init__(level=logging.INFO)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._log.log(record.levelno, f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - a log line must never fail the step
            self.handleError(record)


@contextmanager
def library_logs_to(log: logging.Logger, names: tuple[str, ...] = LIBRARY_LOGGERS) -> Iterator[None]:
    """Send INFO and above from the library loggers to ``log`` (a step's ``context.log``) while inside.

    A logger that was quieter than INFO is opened to INFO for the duration, and only to this handler: the
    console handlers above it still see only what they saw before.
    """
    handler = _ToStepLog(log)
    saved: list[tuple[logging.Logger, int, bool, list[logging.Handler]]] = []
    for name in names:
        logger = logging.getLogger(name)
        if any(isinstance(h, _ToStepLog) for h in logger.handlers):
            continue  # already forwarded by an enclosing scope
        added: list[logging.Handler] = [handler]
        effective = logger.getEffectiveLevel()
        saved.append((logger, logger.level, logger.propagate, added))
        if effective > logging.INFO:
            if logger.propagate and logger.parent is not None:
                added.append(_UpTo(logger.parent, effective))
            logger.setLevel(logging.INFO)
            logger.propagate = False
        for h in added:
            logger.addHandler(h)
    try:
        yield
    finally:
        for logger, level, propagate, added in saved:
            for h in added:
                logger.removeHandler(h)
            logger.setLevel(level)
            logger.propagate = propagate


@contextmanager
def step_scope() -> Iterator[None]:
    """Inside a Dagster step: refuse a partial run, and forward library logs to the step's log."""
    step = current_step()
    if step is None:
        yield
        return
    require_whole_run(step)
    with library_logs_to(step.log):
        yield
