"""The ``childview`` command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from childview.review_cli import explain, review_app  # noqa: E402
from schemas.errors import ChildviewError  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="childview: link children's records across agencies into one warehouse.")
app.add_typer(review_app, name="review")
app.command("explain")(explain)
console = Console(stderr=False)
err_console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _summary(warehouse: Path, run_id: str) -> None:
    import duckdb

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
        q = Table(title="Lines per file")
        for col in ("file", "lines in", "records", "quarantined"):
            q.add_column(col, justify="right" if col != "file" else "left")
        for f, li, ro, qu in con.execute(
            "SELECT file, lines_in, records_out, quarantined FROM audit.file_accounts WHERE run_id = ? ORDER BY file",
            [run_id],
        ).fetchall():
            q.add_row(f, f"{li:,}", f"{ro:,}", f"[yellow]{qu:,}[/]" if qu else "0")
        console.print(q)
        linked = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name='linked'").fetchall()}
        if "record_citizen" in linked:
            n_cit, n_rec = con.execute(
                "SELECT count(DISTINCT citizen_id), count(*) FROM linked.record_citizen").fetchone()
            console.print(f"[bold]{n_rec:,}[/] records linked into [bold]{n_cit:,}[/] children.")
    finally:
        con.close()


def _run(drop: Path, warehouse: Path, retrain: bool, sources: Path | None) -> None:
    from childview.drops import check_drop
    from childview.runner import run_pipeline

    check_drop(drop)
    from childview.settings import get_settings
    from childview.warehouse.publish import pseudonym_key

    s = get_settings()
    if s.pseudonym_key is None and s.profile == "demo" and not s.pseudonym_key_file.exists():
        console.print(f"[yellow]note:[/] no CHILDVIEW_PSEUDONYM_KEY set; the demo profile generates one into "
                      f"{s.pseudonym_key_file} (outside the warehouse). Production refuses to run without it.")
    pseudonym_key()  # the production profile refuses to start without CHILDVIEW_PSEUDONYM_KEY
    with console.status("starting Dagster job…") as status:
        def on_event(step: str, state: str, secs: float) -> None:
            if state == "started":
                status.update(f"running [bold]{step}[/]…")
            else:
                mark = {"success": "[green]✓[/]", "failure": "[red]✗[/]", "skipped": "[yellow]–[/]"}[state]
                console.print(f"  {mark} {step} ({secs:.1f}s)")

        outcome = run_pipeline(drop, warehouse, retrain=retrain, sources_file=sources, on_event=on_event)
    if not outcome.success:
        _fail(f"run {outcome.run_id[:8]} stopped: {outcome.message}")
    console.print(f"[bold green]published[/] {warehouse} (run {outcome.run_id[:8]})")
    _summary(warehouse, outcome.run_id)


@app.command()
def run(
    drop: Path = typer.Option(..., "--drop", help="Drop folder: one subfolder per source"),
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse file to publish"),
    retrain: bool = typer.Option(False, "--retrain", help="Train a new matching model instead of reusing the stored one"),
    sources: Path | None = typer.Option(None, "--sources", help="sources.yaml for non-standard layouts"),
) -> None:
    """Run the whole pipeline on one drop and publish the warehouse."""
    _run(drop, warehouse, retrain, sources)


@app.command()
def demo() -> None:
    """Run the pipeline on the embedded sample drop into warehouse/childview.duckdb."""
    from childview.settings import get_settings

    s = get_settings()
    _run(s.drop, s.warehouse, False, s.sources_file)


@app.command()
def generate(
    children: int = typer.Option(2000, "--children", min=1),
    seed: int = typer.Option(42, "--seed"),
    out: Path = typer.Option(..., "--out"),
    night: int = typer.Option(1, "--night", min=1, max=2),
) -> None:
    """Write a synthetic drop in the reference layouts, with a ground-truth file the pipeline never reads."""
    from childview.synth import generate_drop

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
    truth: Path = typer.Option(..., "--truth", exists=True, dir_okay=False, help="truth.csv from childview generate"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON"),
) -> None:
    """Pairwise precision/recall/F1, exact-cluster rate, twin pairs merged, errors by source pair and age band."""
    import json

    import duckdb
    import pandas as pd

    from matching.evaluate import evaluate as run_evaluation
    from matching.evaluate import format_report

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        predicted = con.execute("SELECT source, source_record_id, citizen_id FROM linked.record_citizen").df()
        as_of = con.execute("SELECT max(drop_date) FROM audit.runs WHERE status = 'success'").fetchone()[0]
    finally:
        con.close()
    metrics = run_evaluation(predicted, pd.read_csv(truth, dtype=str, keep_default_na=False), reference_date=as_of)
    if as_json:
        console.print_json(json.dumps(metrics, default=str))
    else:
        console.print(format_report(metrics), highlight=False)


def main() -> None:
    import warnings

    # Operators see childview's own messages; library deprecation chatter is for developers.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*deprecated.*")
    logging.basicConfig(level=os.environ.get("CHILDVIEW_LOG_LEVEL", "WARNING"))
    for noisy in ("splink", "great_expectations", "dagster"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        app()
    except ChildviewError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
