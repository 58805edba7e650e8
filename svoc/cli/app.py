"""The ``svoc`` command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from schemas.errors import SvocError  # noqa: E402
from svoc.cli.errors import err_console, fail, reports_errors  # noqa: E402
from svoc.cli.find import find_command, match_list_command  # noqa: E402
from svoc.cli.inputs import drop_notice_lines, lines_table, notice_lines  # noqa: E402
from svoc.cli.review import explain, review_app  # noqa: E402
from svoc.cli.serve import account_app, demo_account, serve  # noqa: E402
from svoc.settings import Settings  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="svoc: link children's records across agencies into one warehouse.")
app.add_typer(review_app, name="review")
app.command("explain")(explain)
app.command("find")(find_command); app.command("match-list")(match_list_command)  # noqa: E702
app.command("serve")(serve); app.add_typer(account_app, name="account"); app.command("demo-account")(demo_account)  # noqa: E702
console = Console(stderr=False)


def _matching_mode(con: Any, run_id: str) -> str:
    """One line: whether the night re-linked every record or only new and changed ones (and why)."""
    import json

    rows = con.execute("SELECT stats FROM audit.run_matching WHERE run_id = ?", [run_id]).fetchall()
    stats = json.loads(rows[0][0] or "{}") if rows else {}
    if stats.get("mode") == "incremental":
        return (f"Incremental night: {stats.get('changed_records', 0):,} new or changed and "
                f"{stats.get('removed_records', 0):,} removed records; {stats.get('touched_records', 0):,} "
                "records re-clustered, every other child unchanged.")
    return f"Full re-link: {stats.get('full_reason') or 'every record linked'}."


def _summary(warehouse: Path, run_id: str) -> None:
    import duckdb

    from svoc.warehouse.sql import one_row

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        t = Table(title="Rows per source")
        for col in ("source", "identity records", "interactions", "quarantined"):
            t.add_column(col, justify="right" if col != "source" else "left")
        for src, n_id, n_ix, n_q in con.execute("""
            SELECT s.source,
                   (SELECT count(*) FROM staging.identity_records i WHERE i.source = s.source),
                   (SELECT count(*) FROM staging.interactions x WHERE x.source = s.source),
                   (SELECT count(*) FROM quarantine.rows q WHERE q.source = s.source)
            FROM (SELECT DISTINCT source FROM audit.file_accounts WHERE run_id = ?) s ORDER BY 1""",
                                                [run_id]).fetchall():
            t.add_row(src, f"{n_id:,}", f"{n_ix:,}", f"{n_q:,}")
        console.print(t)
        console.print(lines_table(con, run_id))
        for line in notice_lines(con, run_id):
            console.print(line, highlight=False, soft_wrap=True)
        linked = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name='linked'").fetchall()}
        if "record_citizen" in linked:
            n_cit, n_rec = one_row(con, "SELECT count(DISTINCT citizen_id), count(*) FROM linked.record_citizen")
            console.print(f"[bold]{n_rec:,}[/] records linked into [bold]{n_cit:,}[/] children.")
            console.print(_matching_mode(con, run_id), highlight=False)
    finally:
        con.close()


def _run(settings: Settings) -> None:
    from pipelines.runner import run_pipeline
    from svoc.drops import check_drop
    from svoc.warehouse.analytics import resolve_pseudonym_key
    from svoc.warehouse.build import remove_own_build

    check_drop(settings.drop)
    for line in drop_notice_lines(settings.drop, settings.sources_file):
        console.print(line, highlight=False, soft_wrap=True)
    key = settings.pseudonym_key.get_secret_value() if settings.pseudonym_key else None
    if key is None and settings.profile == "demo" and not settings.pseudonym_key_file.exists():
        console.print(f"[yellow]note:[/] no SVOC_PSEUDONYM_KEY set; the demo profile generates one into "
                      f"{settings.pseudonym_key_file} (outside the warehouse). Production refuses to run without it.")
    # The production profile refuses to start without SVOC_PSEUDONYM_KEY.
    resolve_pseudonym_key(settings.profile, key, settings.pseudonym_key_file)
    from rich import progress as rp
    from rich.markup import escape

    from pipelines.progress import step_count

    # A bar over the job's steps; its label is the current step and its latest progress line (counts only).
    with rp.Progress(rp.SpinnerColumn(), rp.TextColumn("{task.description}"), rp.BarColumn(),
                     rp.MofNCompleteColumn(), rp.TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting Dagster job…", total=step_count(settings))

        def on_event(step: str, state: str, secs: float) -> None:
            if state == "started":
                progress.update(task, description=f"running [bold]{step}[/]…")
            else:
                mark = {"success": "[green]✓[/]", "failure": "[red]✗[/]", "skipped": "[yellow]–[/]"}[state]
                progress.console.print(f"  {mark} {step} ({secs:.1f}s)")
                progress.advance(task)

        def on_log(step: str, message: str) -> None:  # drawn at once: lines read in one poll are each shown
            progress.update(task, description=f"[bold]{step}[/] {escape(message.split(': ', 1)[-1][:70])}",
                            refresh=True)

        try:
            outcome = run_pipeline(settings, on_event=on_event, on_log=on_log)
        except KeyboardInterrupt:
            fail("interrupted (Ctrl-C) before the run started; nothing was changed", 130)
    if outcome.interrupted:
        err_console.print(f"[bold red]error:[/] run {outcome.run_id[:8]} {outcome.message}", highlight=False,
                          soft_wrap=True)
        sys.stdout.flush()
        sys.stderr.flush()
        remove_own_build(settings.warehouse, outcome.run_id)  # a file the abandoned worker had open at the discard
        os._exit(130)  # the abandoned worker thread can no longer publish; do not wait for it
    if not outcome.success:
        fail(f"run {outcome.run_id[:8]} stopped: {outcome.message}")
    console.print(f"[bold green]published[/] {settings.warehouse} (run {outcome.run_id[:8]})")
    _summary(settings.warehouse, outcome.run_id)


@app.command()
@reports_errors
def run(
    drop: Path = typer.Option(..., "--drop", help="Drop folder: one subfolder per source"),
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse file to publish"),
    retrain: bool = typer.Option(False, "--retrain", help="Train a new matching model instead of reusing the stored one"),
    full: bool = typer.Option(False, "--full", help="Re-link every record instead of only new and changed ones"),
    sources: Path | None = typer.Option(None, "--sources", help="sources.yaml for non-standard layouts"),
) -> None:
    """Run the whole pipeline on one drop and publish the warehouse."""
    from svoc.settings import get_settings

    _run(get_settings(drop=drop, warehouse=warehouse, retrain=retrain or None, full=full or None,
                      sources_file=sources))


@app.command()
@reports_errors
def demo() -> None:
    """Run the pipeline on the embedded sample drop into warehouse/svoc.duckdb."""
    from svoc.settings import get_settings

    _run(get_settings())


@app.command()
def generate(
    children: int = typer.Option(2000, "--children", min=1),
    seed: int = typer.Option(42, "--seed"),
    out: Path = typer.Option(..., "--out"),
    night: int = typer.Option(1, "--night", min=1, max=2),
) -> None:
    """Write a synthetic drop in the reference layouts, with a ground-truth file the pipeline never reads."""
    from svoc.synth import generate_drop

    summary = generate_drop(children=children, seed=seed, out=out, night=night)
    t = Table(title=f"Generated drop {out}")
    t.add_column("file")
    t.add_column("rows", justify="right")
    for name, n in summary.get("files", summary).items():
        if isinstance(n, int):
            t.add_row(name, f"{n:,}")
    console.print(t)


@app.command()
def evaluate(
    warehouse: Path = typer.Option(..., "--warehouse", exists=True, dir_okay=False),
    truth: Path = typer.Option(..., "--truth", exists=True, dir_okay=False, help="truth.csv from svoc generate"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON"),
) -> None:
    """Pairwise precision/recall/F1, exact-cluster rate, twin pairs merged, errors by source pair and age band."""
    import json

    import duckdb
    import pandas as pd

    from matching.evaluate import evaluate as run_evaluation
    from matching.evaluate import format_report
    from svoc.warehouse.sql import one_row

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        predicted = con.execute("SELECT source, source_record_id, citizen_id FROM linked.record_citizen").df()
        as_of = one_row(con, "SELECT max(drop_date) FROM audit.runs WHERE status = 'success'")[0]
    finally:
        con.close()
    metrics = run_evaluation(predicted, pd.read_csv(truth, dtype=str, keep_default_na=False), reference_date=as_of)
    if as_json:
        console.print_json(json.dumps(metrics, default=str))
    else:
        console.print(format_report(metrics), highlight=False)


def main() -> None:
    import warnings

    # Operators see svoc's own messages; library deprecation chatter is for developers.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*deprecated.*")
    # urllib3's note that SOCKS needs PySocks: requests silences it, but a library's warnings.catch_warnings in
    # another thread can drop that filter (CI once printed it above a run's one error line)
    warnings.filterwarnings("ignore", message=".*requires the installation of optional dependencies")
    warnings.formatwarning = lambda message, *_args, **_kw: f"warning: {message}\n"  # one plain line
    logging.basicConfig(level=os.environ.get("SVOC_LOG_LEVEL") or os.environ.get("CHILDVIEW_LOG_LEVEL") or "WARNING")
    for noisy in ("splink", "great_expectations", "dagster"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        app()
    except SvocError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
