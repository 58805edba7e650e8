"""``svoc review list|show|decide`` and ``svoc explain``: the review workflow for IG officers and stewards.

``show``, ``decide`` and ``explain`` need ``--purpose`` and are written to the access log before anything is
shown. The warehouse is only ever opened read-only; decisions and the access log go to the state store
(``svoc.state``: ``<stem>_state.sqlite`` beside the warehouse, or ``SVOC_STATE_URL``), so these commands work
while analysts hold the warehouse open. Decisions are append-only rows the next run's matching stage honours.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console, JustifyMethod
from rich.table import Table

from matching.review import reason_text
from schemas.errors import SvocError
from svoc.cli.errors import reports_errors
from svoc.review.access import ig_session, require_purpose, user_name
from svoc.review.explain import explain_child
from svoc.review.pairs import open_queue, pair_view, record_decision, resolve_pair
from svoc.settings import get_settings

review_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                         help="Review uncertain record pairs and record decisions (every look is logged).")
console = Console(width=160)

PURPOSE_HELP = "Why you need to see this (written to the access log); required"
WAREHOUSE_OPT = typer.Option(..., "--warehouse", help="The published warehouse file")
PURPOSE_OPT = typer.Option(None, "--purpose", help=PURPOSE_HELP)
USER_OPT = typer.Option(None, "--user", help="Who is looking (default: login name)")


def state_url() -> str | None:
    """``SVOC_STATE_URL`` when set (the state store's default is the SQLite file beside the warehouse)."""
    secret = get_settings().state_url
    return secret.get_secret_value() if secret else None


def _weight_bar(w: float, scale: float) -> str:
    n = int(round(abs(w) / scale * 30)) if scale else 0
    return f"[green]{'█' * n}[/]" if w >= 0 else f"[red]{'█' * n}[/]"


def print_waterfall(prior: float, evidence: list[dict]) -> None:
    items = [(f"{e.get('comparison')}: {e.get('level')}", float(e["match_weight"])) for e in evidence
             if isinstance(e.get("match_weight"), int | float) and e.get("comparison") != "model_score"]
    steps = [("starting point (prior)", prior), *items]
    scale = max((abs(v) for _, v in steps), default=1.0) or 1.0
    t = Table(title="How the evidence adds up (match weights)")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("evidence", "left"), ("weight", "right"), ("running total", "right"), ("", "left"))
    for col, just in columns:
        t.add_column(col, justify=just)
    running = 0.0
    for label, v in steps:
        running += v
        t.add_row(label, f"{v:+.2f}", f"{running:+.2f}", _weight_bar(v, scale))
    prob = 1.0 / (1.0 + 2.0 ** (-running))
    t.add_row("[bold]total[/]", "", f"[bold]{running:+.2f}[/]", f"probability {prob:.4f}")
    console.print(t)


@review_app.command("list")
@reports_errors
def list_pairs(warehouse: Path = WAREHOUSE_OPT,
               limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many pairs")) -> None:
    """The open review queue: pair id, probability, reason and sources (no personal details)."""
    with ig_session(warehouse, state_url()) as (w, store):
        total, rows = open_queue(w, limit, decided=store.decided_pair_ids())
    if not total:
        console.print("The review queue is empty.")
        return
    t = Table(title=f"Review queue: {total:,} open pairs")
    for col in ("pair", "probability", "reason", "sources", "records", "queued in run"):
        t.add_column(col, justify="right" if col == "probability" else "left")
    for r in rows:
        srcs = f"{r['unique_id_l'].split(':')[0]} – {r['unique_id_r'].split(':')[0]}"
        prob = "" if r["match_probability"] is None else f"{r['match_probability']:.3f}"
        t.add_row(r["pair_id"], prob, r["reason"] or "", srcs, f"{r['unique_id_l']}  {r['unique_id_r']}",
                  (r["queued_run_id"] or "")[:8])
    console.print(t)
    if total > len(rows):
        console.print(f"{total - len(rows):,} more not shown (use --limit).")


@review_app.command("show")
@reports_errors
def show(pair: str = typer.Argument(..., help="Pair id from 'review list', or KEY_A,KEY_B"),
         warehouse: Path = WAREHOUSE_OPT,
         purpose: str | None = PURPOSE_OPT,
         user: str | None = USER_OPT) -> None:
    """Both records side by side, which fields agree, and how the evidence adds up."""
    why = require_purpose(purpose)
    with ig_session(warehouse, state_url()) as (w, store):
        p = resolve_pair(w, pair)
        store.log_access(user_name(user), "review show", f"pair {p['pair_id']}", why)
        view = pair_view(w, p)
    prob = "" if p.get("match_probability") is None else f", probability {p['match_probability']:.4f}"
    console.print(f"[bold]Pair {p['pair_id']}[/] ({p.get('status') or 'not queued'}{prob}): "
                  f"{reason_text(p.get('reason')) if p.get('reason') else ''}")
    t = Table(title="The two records")
    for col in ("field", p["unique_id_l"], p["unique_id_r"], ""):
        t.add_column(col)
    for f in view["fields"]:
        mark = {"agree": "[green]agree[/]", "differ": "[bold red]differ[/]", "missing": "[dim]—[/]"}[f["state"]]
        t.add_row(f["field"], f["left"], f["right"], mark)
    console.print(t)
    if view["evidence"]:
        print_waterfall(view["prior"], view["evidence"])
    else:
        console.print("No model evidence stored for this pair.")


@review_app.command("decide")
@reports_errors
def decide(pair: str = typer.Argument(..., help="Pair id from 'review list', or KEY_A,KEY_B"),
           decision: str = typer.Argument(..., help="same | different"),
           reviewer: str = typer.Option(..., "--reviewer", help="Who decided"),
           reason: str = typer.Option(..., "--reason", help="Why (kept with the decision)"),
           warehouse: Path = WAREHOUSE_OPT,
           purpose: str | None = PURPOSE_OPT) -> None:
    """Record a decision on a pair; the next run honours it. Decisions are appended, never edited."""
    why = require_purpose(purpose)
    with ig_session(warehouse, state_url()) as (w, store):
        p = resolve_pair(w, pair)
        store.log_access(reviewer.strip() or user_name(None), f"review decide {decision}", f"pair {p['pair_id']}",
                         why)
        row = record_decision(store, w, p, decision, reviewer, reason, purpose=why)
    console.print(f"Recorded: pair {row['pair_id']} is [bold]{row['decision']}[/] (by {row['reviewer']}). "
                  "The next run applies it.")


@reports_errors
def explain(citizen_id: str = typer.Argument(..., help="The citizen id to explain"),
            warehouse: Path = WAREHOUSE_OPT,
            purpose: str | None = PURPOSE_OPT,
            user: str | None = USER_OPT) -> None:
    """Why these records are one child: each record's source, name and DOB, every link, its method and its
    strongest evidence, and for a steward link the evidence the steward saw."""
    why = require_purpose(purpose)
    with ig_session(warehouse, state_url()) as (w, store):
        store.log_access(user_name(user), "explain", f"citizen {citizen_id}", why)
        child = explain_child(w, store, citizen_id)
    records, links = child["records"], child["links"]
    if not records:
        raise SvocError(f"citizen {citizen_id} is not in this warehouse; check the id (svoc explain takes a citizen id)")
    console.print(f"[bold]Citizen {citizen_id}[/]: {len(records)} record(s), {len(links)} link(s) "
                  f"(run {(child['run_id'] or '')[:8]})")
    rt = Table(title="Records")
    for col in ("source", "record", "name", "date of birth", "joined by", "probability"):
        rt.add_column(col)
    for r in records:
        prob = "" if r["match_probability"] is None else f"{r['match_probability']:.4f}"
        rt.add_row(r["source"], r["source_record_id"], r["name"] or "—", str(r["dob"] or "—"),
                   r["link_method"] or "", prob)
    console.print(rt)
    if not links:
        console.print("This child is known from a single record: there are no links to explain.")
        return
    lt = Table(title="Links (the chain that joins these records)")
    for col in ("record", "linked to", "method", "probability", "strongest evidence"):
        lt.add_column(col)
    for link in links:
        ev = link["strongest"]
        d = link["steward"]
        if d:
            ev = f"reviewer {d['reviewer']} decided same on {d['decided_at']:%Y-%m-%d}: {d['reason']}; " + ev
        prob = "" if link["match_probability"] is None else f"{link['match_probability']:.4f}"
        lt.add_row(link["unique_id_l"], link["unique_id_r"], link["link_method"] or "", prob, ev)
    console.print(lt)
    for link in links:
        d = link["steward"]
        seen = (d or {}).get("evidence_seen")
        if not seen:
            continue
        left, right = seen.get("unique_id_l", d["unique_id_l"]), seen.get("unique_id_r", d["unique_id_r"])
        st = Table(title=f"What {d['reviewer']} saw when linking {left} and {right}")
        for col in ("field", left, right, ""):
            st.add_column(col)
        for f in seen.get("fields", []):
            st.add_row(f["field"], f["left"], f["right"], f["state"])
        console.print(st)
