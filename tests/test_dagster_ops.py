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


@pytest.mark.parametrize(("key", "step"), [(["staging", "health"], "staging__health"),
                                           (["published_warehouse"], "published_warehouse")])
def test_one_asset_materialised_alone_fails_and_writes_nothing(tmp_path, monkeypatch, key, step):
    """The UI's "Materialize" on one asset: the step fails with one line, no build file, nothing published."""
    from pipelines.definitions import build_defs
    from svoc.settings import get_settings
    from tests.e2e import DEMO

    monkeypatch.setenv("SVOC_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    warehouse = tmp_path / "w" / "svoc.duckdb"
    defs = build_defs(get_settings(drop=DEMO, warehouse=warehouse))
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        asset_selection=[dg.AssetKey(key)])
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert "cannot be published because it leaves out" in message and "svoc_run_job" in message
    assert not result.asset_materializations_for_node(step)
    assert not warehouse.parent.exists() or not any(warehouse.parent.iterdir())


@pytest.mark.slow
def test_a_whole_run_logs_library_progress_and_standard_metadata(tmp_path, monkeypatch):
    from pipelines.definitions import build_defs
    from pipelines.runner import JOB_NAME, run_config_for
    from svoc.settings import get_settings
    from tests.e2e import DEMO

    monkeypatch.setenv("SVOC_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    settings = get_settings(drop=DEMO, warehouse=tmp_path / "w" / "svoc.duckdb")
    job = build_defs(settings).resolve_job_def(JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, run_config=run_config_for(settings))
        assert result.success
        logs = [r for r in instance.all_logs(result.run_id) if r.dagster_event is None]
    by_step: dict[str, list[str]] = {}
    for rec in logs:
        by_step.setdefault(rec.step_key or "", []).append(rec.user_message)
    assert any("lines_in=" in m and "records_out=" in m for m in by_step["staging__health"])
    assert any("scored" in m and "pairs" in m for m in by_step["linked__record_citizen"])
    assert any("cluster_records" in m for m in by_step["linked__record_citizen"])
    materialized = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    mats = {m.asset_key.to_user_string(): m.metadata for m in materialized}
    for key in ("staging/health", "linked/record_citizen", "linked/single_view", "marts/agency_overlap"):
        assert mats[key]["dagster/row_count"].value > 0, key
        assert mats[key]["dagster/column_schema"].value.columns, key
    assert mats["staging/health"]["dagster/row_count"].value == 1998


@pytest.mark.slow
def test_cli_draws_a_progress_bar_labelled_with_the_current_step_and_its_progress(tmp_path):
    import re

    from tests.e2e import DEMO, run_cli

    proc = run_cli("run", "--drop", str(DEMO), "--warehouse", str(tmp_path / "w" / "svoc.duckdb"), tmp=tmp_path,
                   TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", COLUMNS="160")
    frames = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", proc.stdout).replace("\r", "\n").splitlines()
    bars = [f for f in frames if "━" in f]
    assert any(re.search(r"\b(\d+)/\1\b", f) for f in bars), "the bar never reached all steps"
    # The label carries the library's progress lines, not only the step name.
    assert any("linked__record_citizen" in f and "running" not in f for f in bars)
    assert any("staging__" in f and "lines_in=" in f for f in bars)
    assert "published" in proc.stdout
