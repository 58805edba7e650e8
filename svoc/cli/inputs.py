"""What ``svoc run`` tells the operator about tonight's inputs: lines and rows per file, notices and warnings."""

from __future__ import annotations

from pathlib import Path

import duckdb
from rich.markup import escape
from rich.table import Table

from svoc.warehouse.sql import one_row


def lines_table(con: duckdb.DuckDBPyConnection, run_id: str) -> Table:
    """Lines per file, where the numbers add up: rows in = records + quarantined. Lines in also counts the
    header and the extra lines of records whose quoted fields span lines."""
    t = Table(title="Lines per file", caption="rows in = records + quarantined; lines in also counts the header "
                                              "line and the extra lines of quoted fields that span lines")
    for col in ("source", "file", "lines in", "rows in", "records", "quarantined"):
        t.add_column(col, justify="left" if col in ("source", "file") else "right")
    for src, f, li, ro, qu in con.execute(
        "SELECT source, file, lines_in, records_out, quarantined FROM audit.file_accounts WHERE run_id = ? "
        "ORDER BY source, file", [run_id],
    ).fetchall():
        t.add_row(escape(src), escape(f), f"{li:,}", f"{ro + qu:,}", f"{ro:,}", f"[yellow]{qu:,}[/]" if qu else "0")
    return t


def notice_lines(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """One warning line per input notice of the run (``audit.input_notices``), source and file first."""
    has = one_row(con, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'audit' "
                       "AND table_name = 'input_notices'")[0]
    if not has:
        return []
    rows = con.execute("SELECT source, file, message FROM audit.input_notices WHERE run_id = ? "
                       "ORDER BY source, file, kind, subject", [run_id]).fetchall()
    return [f"[yellow]warning:[/] {escape(f'{src}/{f}: {message}')}" for src, f, message in rows]


def drop_notice_lines(drop: Path, sources_file: Path | None) -> list[str]:
    """Notices about the drop folder itself (a folder no configured source reads), before the run starts."""
    from svoc.drops import drop_notices

    return [f"[yellow]notice:[/] {escape(n)}" for n in drop_notices(drop, sources_file)]
