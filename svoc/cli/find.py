"""``svoc find`` and ``svoc match-list``: find a child from a partial identity, or match a whole list.

Both read the published warehouse read-only, need ``--purpose``, and write the access log (state store) before
anything is shown. Names, dates of birth and identifiers typed here are never logged: only the field names.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from svoc.cli.errors import reports_errors
from svoc.cli.review import PURPOSE_OPT, USER_OPT, WAREHOUSE_OPT, state_url
from svoc.find import Finder, Query, match_list
from svoc.find.lists import parse_mapping
from svoc.review.access import require_purpose, user_name
from svoc.settings import get_settings

console = Console(width=160)


def _finder() -> Finder:
    """Bands from the thresholds the nightly run linked and queued with (or ``SVOC_LINK_THRESHOLD`` /
    ``SVOC_REVIEW_LOWER`` when set)."""
    settings = get_settings()
    return Finder(match_at=settings.link_threshold, possible_at=settings.review_lower)


def _evidence_line(evidence: list[dict], top: int = 4) -> str:
    scored = sorted((e for e in evidence if isinstance(e.get("match_weight"), int | float) and e["match_weight"]),
                    key=lambda e: -abs(float(e["match_weight"])))
    return "; ".join(f"{e['level']} ({float(e['match_weight']):+.1f})" for e in scored[:top]) or "—"


@reports_errors
def find_command(warehouse: Path = WAREHOUSE_OPT,
         purpose: str | None = PURPOSE_OPT,
         user: str | None = USER_OPT,
         first_name: str | None = typer.Option(None, "--first-name"),
         last_name: str | None = typer.Option(None, "--last-name"),
         dob: str | None = typer.Option(None, "--dob", help="Date of birth: YYYY-MM-DD or DD/MM/YYYY"),
         sex: str | None = typer.Option(None, "--sex", help="M or F"),
         postcode: str | None = typer.Option(None, "--postcode"),
         nhs_number: str | None = typer.Option(None, "--nhs-number"),
         upn: str | None = typer.Option(None, "--upn"),
         source: str | None = typer.Option(None, "--source", help="With --record-id: a source's own record id"),
         record_id: str | None = typer.Option(None, "--record-id")) -> None:
    """Find a child: candidates ranked by the stored matching model, exact identifiers first, with evidence."""
    why = require_purpose(purpose)
    query = Query.of(first_name=first_name, last_name=last_name, dob=dob, sex=sex, postcode=postcode,
                     nhs_number=nhs_number, upn=upn, source=source, record_id=record_id)
    with _finder().session(warehouse, state_url()) as s:
        result = s.find(query, who=user_name(user), purpose=why)
    console.print(f"[bold]{result.message}[/]", highlight=False)
    if not result.candidates:
        return
    t = Table(title="Candidates (most likely first)")
    for col in ("citizen id", "band", "probability", "matched on", "agencies", "evidence"):
        t.add_column(col, justify="right" if col == "probability" else "left")
    for c in result.candidates:
        t.add_row(c.citizen_id, c.band, f"{c.probability:.4f}", c.exact or c.record, ", ".join(c.agencies),
                  _evidence_line(c.evidence))
    console.print(t)
    console.print("Open a child with: svoc explain CITIZEN_ID --warehouse … --purpose …", highlight=False)


@reports_errors
def match_list_command(
        list_file: Path = typer.Argument(..., help="The list: .csv or .xlsx, any column names"),
        mapping: str = typer.Option(..., "--map", help="field=Column header pairs, comma-separated "
                                    "(first_name=Forename,dob=DOB), or a YAML file with a columns: mapping"),
        warehouse: Path = WAREHOUSE_OPT,
        purpose: str | None = PURPOSE_OPT,
        user: str | None = USER_OPT,
        out: Path | None = typer.Option(None, "--out", help="Write the answers to this CSV (created 0600)")) -> None:
    """Match a list (absence list, referral batch) against the warehouse: citizen id, probability, band
    (matched / possible / none), evidence and agencies for each row; nothing else about the children."""
    why = require_purpose(purpose)
    fields = parse_mapping(mapping)
    with _finder().session(warehouse, state_url()) as s:
        rows = match_list(s, list_file, fields, who=user_name(user), purpose=why)
    counts = {b: sum(r.band == b for r in rows) for b in ("matched", "possible", "none")}
    console.print(f"[bold]{len(rows):,} rows[/]: {counts['matched']:,} matched, {counts['possible']:,} possible, "
                  f"{counts['none']:,} none", highlight=False)
    if out:
        fd = os.open(out, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["line", "citizen_id", "probability", "band", "agencies", "evidence", "note"])
            for r in rows:
                w.writerow([r.line, r.citizen_id or "", "" if r.probability is None else f"{r.probability:.4f}",
                            r.band, ";".join(r.agencies), _evidence_line(r.evidence), r.note])
        console.print(f"written to {out}", highlight=False)
        return
    t = Table(title="List rows")
    for col in ("line", "citizen id", "band", "probability", "agencies", "evidence / note"):
        t.add_column(col, justify="right" if col in ("line", "probability") else "left")
    for r in rows:
        prob = "" if r.probability is None else f"{r.probability:.4f}"
        t.add_row(str(r.line), r.citizen_id or "", r.band, prob, ", ".join(r.agencies),
                  _evidence_line(r.evidence) if r.citizen_id else r.note)
    console.print(t)
