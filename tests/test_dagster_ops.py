"""Running svoc in Dagster: partial runs refused, library progress in the event log, metadata the catalog reads."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from pipelines.steps import library_logs_to, partial_run_reason

A, B, C = (dg.AssetKey([n]) for n in "abc")
CHECK = dg.AssetCheckKey(A, "blocking_check")


@pytest.mark.parametrize(("kw", "expected"), [
    ({}, None),
    ({"asset_selection": frozenset()}, None),  # an in-process job run records an empty selection
    ({"asset_selection": {A, B, C}}, None),
    ({"asset_selection": {A, B, C}, "check_selection": {CHECK}}, None),
    ({"asset_selection": {A}}, "leaves out 2 asset(s), for example b"),
    ({"asset_selection": {A, B, C}, "check_selection": {dg.AssetCheckKey(A, "other")}},
     "leaves out 1 blocking check(s), for example blocking_check"),
    ({"reexecuted_steps": ["a"]}, "re-executes only some steps"),
    ({"op_selection": {"a"}}, "runs only some steps"),
])
def test_partial_run_reason(kw, expected):
    args = {"asset_selection": None, "check_selection": None, "reexecuted_steps": None, "op_selection": None,
            "all_assets": {A, B, C}, "blocking_checks": {CHECK}, **kw}
    reason = partial_run_reason(**args)
    assert reason == expected if expected is None else expected in reason


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_library_logs_reach_the_step_log_and_console_sees_only_what_it_saw_before():
    step_log, console = logging.getLogger("test_step_log"), Collect()
    step_log.propagate, step_log.level = False, logging.DEBUG
    to_step = Collect()
    step_log.addHandler(to_step)
    root = logging.getLogger()
    root.addHandler(console)
    lib = logging.getLogger("matching.model")
    before = (logging.getLogger("matching").level, logging.getLogger("matching").propagate)
    old_root = root.level
    root.setLevel(logging.WARNING)
    try:
        with library_logs_to(step_log):
            lib.info("scored %d pairs", 12)
            lib.warning("a warning")
            logging.getLogger("elsewhere").info("not ours")
        lib.info("after the step")
    finally:
        root.removeHandler(console)
        root.setLevel(old_root)
    assert to_step.lines == ["matching.model: scored 12 pairs", "matching.model: a warning"]
    assert console.lines == ["a warning"]
    assert (logging.getLogger("matching").level, logging.getLogger("matching").propagate) == before
