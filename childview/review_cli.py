"""Review workflow for IG officers and data stewards: ``childview review list|show|decide`` and ``childview explain``.

``show``, ``decide`` and ``explain`` need ``--purpose`` and are written to ``audit.access_log`` before anything is
shown. They write into the *published* warehouse: under the per-warehouse writer lock (so never while a run is
building), with a short read-write open. Decisions are append-only rows in ``audit.review_decisions`` that the next
run's matching stage honours.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from childview.report.data import Warehouse, compare_fields, parse_evidence, prior_weight

review_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                         help="Review uncertain record pairs and record decisions (every look is logged).")
console = Console(width=160)
err = Console(stderr=True)

ACCESS_LOG_DDL = ("CREATE TABLE IF NOT EXISTS audit.access_log (accessed_at TIMESTAMP, who VARCHAR, command VARCHAR, "
                  "subject VARCHAR, purpose VARCHAR)")
PURPOSE_HELP = "Why you need to see this (written to the access log); required"
WAREHOUSE_OPT = typer.Option(..., "--warehouse", help="The published warehouse file")
PURPOSE_OPT = typer.Option(None, "--purpose", help=PURPOSE_HELP)
USER_OPT = typer.Option(None, "--user", help="Who is looking (default: login name)")


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _require_purpose(purpose: str | None) -> str:
    if purpose is None or not purpose.strip():
        _fail("--purpose is required: say why you need this record (it is written to the access log); "
              "nothing was shown", code=2)
    return purpose.strip()


def _check_exists(warehouse: Path) -> None:
    if not warehouse.exists():
        _fail(f"{warehouse}: no such warehouse")


@contextmanager
def _reader(warehouse: Path):
    _check_exists(warehouse)
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        _fail(f"{warehouse}: cannot open the warehouse ({str(exc).splitlines()[0]})")
    try:
        yield Warehouse(con)
    finally:
        con.close()


@contextmanager
def _writer(warehouse: Path, attempts: int = 10):
    """Exclusive, short read-write access to the published file (refused while a run is writing it)."""
    from childview.warehouse.build import acquire_lock, release_lock
    from schemas.errors import ChildviewError

    _check_exists(warehouse)
    try:
        acquire_lock(warehouse, f"review-{uuid.uuid4()}")
    except ChildviewError:
        _fail(f"{warehouse}: a pipeline run is writing this warehouse; try again when it has finished")
    try:
        con = None
        for i in range(attempts):
            try:
                con = duckdb.connect(str(warehouse))
                break
            except duckdb.IOException as exc:
                if i == attempts - 1:
                    _fail(f"{warehouse}: another program has the warehouse open ({str(exc).splitlines()[0]}); "
                          "close it and try again")
                time.sleep(0.5)
        try:
            con.execute(ACCESS_LOG_DDL)
            yield con
            con.execute("CHECKPOINT")
        finally:
            con.close()
    finally:
        release_lock(warehouse)


def _log_access(con: duckdb.DuckDBPyConnection, who: str, command: str, subject: str, purpose: str) -> None:
    con.execute("INSERT INTO audit.access_log VALUES (?, ?, ?, ?, ?)",
                [dt.datetime.now(dt.UTC).replace(tzinfo=None), who, command, subject, purpose])


def _user(user: str | None) -> str:
    return (user or "").strip() or getpass.getuser()


def _resolve_pair(w: Warehouse, pair: str) -> dict:
    """A pair by its 16-hex id (review queue first, then this warehouse's match evidence), or as ``KEY_A,KEY_B``."""
    from matching.review import pair_id

    if "," in pair:
        a, b = (p.strip() for p in pair.split(",", 1))
        lo, hi = sorted((a, b))
        return {"pair_id": pair_id(lo, hi), "unique_id_l": lo, "unique_id_r": hi, "match_probability": None,
                "reason": "named by record keys", "evidence": None, "status": None}
    if w.has("audit.review_queue"):
        rows = w.rows("SELECT pair_id, unique_id_l, unique_id_r, match_probability, reason, evidence, status "
                      "FROM audit.review_queue WHERE pair_id = ? LIMIT 1", [pair])
        if rows:
            return rows[0]
    if w.has("audit.match_evidence"):
        rows = w.rows(
            "SELECT substr(sha256(least(unique_id_l, unique_id_r) || chr(31) || greatest(unique_id_l, unique_id_r)),"
            " 1, 16) AS pair_id, unique_id_l, unique_id_r, match_probability, link_method AS reason, evidence, "
            "status FROM audit.match_evidence WHERE substr(sha256(least(unique_id_l, unique_id_r) || chr(31) || "
            "greatest(unique_id_l, unique_id_r)), 1, 16) = ? ORDER BY run_id DESC LIMIT 1", [pair])
        if rows:
            return rows[0]
    _fail(f"pair {pair} is not in the review queue or the match evidence (use a pair id from "
          "'childview review list', or KEY_A,KEY_B)")
    raise AssertionError  # unreachable


def _record(w: Warehouse, key: str) -> dict:
    from childview.report.data import RECORD_FIELDS

    src, _, rid = key.partition(":")
    rows = w.rows(f"SELECT {', '.join(RECORD_FIELDS)} FROM staging.identity_records WHERE source = ? AND "
                  "source_record_id = ?", [src, rid])
    return rows[0] if rows else {}


def _prior(w: Warehouse) -> float:
    if not w.has("audit.models"):
        return 0.0
    text = w.one("SELECT settings_json FROM audit.models ORDER BY created_at DESC LIMIT 1")
    try:
        return prior_weight(json.loads(text or "{}").get("probability_two_random_records_match"))
    except (TypeError, ValueError):
        return 0.0


def _weight_bar(w: float, scale: float) -> str:
    n = int(round(abs(w) / scale * 30)) if scale else 0
    return f"[green]{'█' * n}[/]" if w >= 0 else f"[red]{'█' * n}[/]"


def print_waterfall(prior: float, evidence: list[dict]) -> None:
    items = [(f"{e.get('comparison')}: {e.get('level')}", float(e["match_weight"])) for e in evidence
             if isinstance(e.get("match_weight"), int | float) and e.get("comparison") != "model_score"]
    steps = [("starting point (prior)", prior), *items]
    scale = max((abs(v) for _, v in steps), default=1.0) or 1.0
    t = Table(title="How the evidence adds up (match weights)")
    for col, just in (("evidence", "left"), ("weight", "right"), ("running total", "right"), ("", "left")):
        t.add_column(col, justify=just)
    running = 0.0
    for label, v in steps:
        running += v
        t.add_row(label, f"{v:+.2f}", f"{running:+.2f}", _weight_bar(v, scale))
    prob = 1.0 / (1.0 + 2.0 ** (-running))
    t.add_row("[bold]total[/]", "", f"[bold]{running:+.2f}[/]", f"probability {prob:.4f}")
    console.print(t)


@review_app.command("list")
def list_pairs(warehouse: Path = WAREHOUSE_OPT,
               limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many pairs")) -> None:
    """The open review queue: pair id, probability, reason and sources (no personal details)."""
    with _reader(warehouse) as w:
        if not w.has("audit.review_queue"):
            console.print("The review queue is empty.")
            return
        total = w.one("SELECT count(*) FROM audit.review_queue WHERE coalesce(status, 'open') = 'open'")
        rows = w.rows("SELECT pair_id, match_probability, reason, unique_id_l, unique_id_r, queued_run_id "
                      "FROM audit.review_queue WHERE coalesce(status, 'open') = 'open' "
                      f"ORDER BY match_probability DESC NULLS LAST, pair_id LIMIT {int(limit)}")
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
def show(pair: str = typer.Argument(..., help="Pair id from 'review list', or KEY_A,KEY_B"),
         warehouse: Path = WAREHOUSE_OPT,
         purpose: str | None = PURPOSE_OPT,
         user: str | None = USER_OPT) -> None:
    """Both records side by side, which fields agree, and how the evidence adds up."""
    purpose = _require_purpose(purpose)
    with _writer(warehouse) as con:
        w = Warehouse(con)
        p = _resolve_pair(w, pair)
        _log_access(con, _user(user), "review show", f"pair {p['pair_id']}", purpose)
        left, right = _record(w, p["unique_id_l"]), _record(w, p["unique_id_r"])
        prior = _prior(w)
    prob = "" if p.get("match_probability") is None else f", probability {p['match_probability']:.4f}"
    console.print(f"[bold]Pair {p['pair_id']}[/] ({p.get('status') or 'not queued'}{prob}): {p.get('reason') or ''}")
    t = Table(title="The two records")
    for col in ("field", p["unique_id_l"], p["unique_id_r"], ""):
        t.add_column(col)
    for f in compare_fields(left, right):
        mark = {"agree": "[green]agree[/]", "differ": "[bold red]differ[/]", "missing": "[dim]—[/]"}[f["state"]]
        t.add_row(f["field"], f["left"], f["right"], mark)
    console.print(t)
    evidence = parse_evidence(p.get("evidence"))
    if evidence:
        print_waterfall(prior, evidence)
    else:
        console.print("No model evidence stored for this pair.")


@review_app.command("decide")
def decide(pair: str = typer.Argument(..., help="Pair id from 'review list', or KEY_A,KEY_B"),
           decision: str = typer.Argument(..., help="same | different"),
           reviewer: str = typer.Option(..., "--reviewer", help="Who decided"),
           reason: str = typer.Option(..., "--reason", help="Why (kept with the decision)"),
           warehouse: Path = WAREHOUSE_OPT,
           purpose: str | None = PURPOSE_OPT) -> None:
    """Record a decision on a pair; the next run honours it. Decisions are appended, never edited."""
    from matching.review import pair_id, validate_decision

    purpose = _require_purpose(purpose)
    with _writer(warehouse) as con:
        w = Warehouse(con)
        p = _resolve_pair(w, pair)
        keys = [p["unique_id_l"], p["unique_id_r"]]
        known = {r[0] for r in con.execute(
            "SELECT source || ':' || source_record_id FROM staging.identity_records "
            "WHERE source || ':' || source_record_id IN (?, ?)", keys).fetchall()}
        try:
            row = validate_decision({"unique_id_l": keys[0], "unique_id_r": keys[1], "decision": decision,
                                     "reviewer": reviewer, "reason": reason}, known_records=known)
        except ValueError as exc:
            _fail(str(exc))
        decided_at = row["decided_at"].tz_convert("UTC").tz_localize(None).to_pydatetime()
        pid = pair_id(row["unique_id_l"], row["unique_id_r"])
        _log_access(con, row["reviewer"], f"review decide {row['decision']}", f"pair {pid}", purpose)
        con.execute("INSERT INTO audit.review_decisions (pair_id, unique_id_l, unique_id_r, decision, reviewer, "
                    "reason, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [pid, row["unique_id_l"], row["unique_id_r"], row["decision"], row["reviewer"], row["reason"],
                     decided_at])
        if w.has("audit.review_queue"):
            con.execute("UPDATE audit.review_queue SET status = 'decided' WHERE pair_id = ?", [pid])
    console.print(f"Recorded: pair {pid} is [bold]{row['decision']}[/] (by {row['reviewer']}). "
                  "The next run applies it.")


def _links_for(w: Warehouse, citizen_id: str) -> tuple[list[dict], list[dict], str | None]:
    records = w.rows("SELECT source, source_record_id, source || ':' || source_record_id AS unique_id, link_method, "
                     "match_probability, run_id FROM linked.record_citizen WHERE citizen_id = ? ORDER BY 1, 2",
                     [citizen_id])
    if not records or not w.has("audit.match_evidence"):
        return records, [], None
    run_id = records[0]["run_id"]
    links = w.rows(
        "SELECT e.unique_id_l, e.unique_id_r, e.link_method, e.match_probability, e.evidence "
        "FROM audit.match_evidence e JOIN linked.record_citizen a ON a.source = e.source_l AND "
        "a.source_record_id = e.source_record_id_l JOIN linked.record_citizen b ON b.source = e.source_r AND "
        "b.source_record_id = e.source_record_id_r WHERE e.status = 'linked' AND e.run_id = ? "
        "AND a.citizen_id = ? AND b.citizen_id = ? ORDER BY e.unique_id_l, e.unique_id_r",
        [run_id, citizen_id, citizen_id])
    return records, links, run_id


def strongest_evidence(method: str, evidence: list[dict], top: int = 3) -> str:
    """One line: for identifier links the identifier agreement, then the top-weighted comparisons."""
    parts = []
    if method in ("nhs_number", "upn"):
        parts.append(f"{'NHS number' if method == 'nhs_number' else 'UPN'} identical and valid on both records")
    scored = [e for e in evidence if isinstance(e.get("match_weight"), int | float)
              and e.get("comparison") not in ("model_score", method if method != "probabilistic" else "")]
    scored.sort(key=lambda e: -float(e["match_weight"]))
    parts += [f"{e['level']} ({float(e['match_weight']):+.1f})" for e in scored[:top] if e["match_weight"] > 0]
    return "; ".join(parts) or "no scored evidence"


def explain(citizen_id: str = typer.Argument(..., help="The citizen id to explain"),
            warehouse: Path = WAREHOUSE_OPT,
            purpose: str | None = PURPOSE_OPT,
            user: str | None = USER_OPT) -> None:
    """Why these records are one child: every link, its method and its strongest evidence."""
    purpose = _require_purpose(purpose)
    with _writer(warehouse) as con:
        w = Warehouse(con)
        _log_access(con, _user(user), "explain", f"citizen {citizen_id}", purpose)
        records, links, run_id = _links_for(w, citizen_id)
        decisions = []
        if links and w.has("audit.review_decisions"):
            decisions = w.rows("SELECT unique_id_l, unique_id_r, reviewer, reason, decided_at FROM "
                               "audit.review_decisions WHERE decision = 'same' ORDER BY decided_at")
    if not records:
        _fail(f"citizen {citizen_id} is not in this warehouse")
    console.print(f"[bold]Citizen {citizen_id}[/]: {len(records)} record(s), {len(links)} link(s) "
                  f"(run {(run_id or '')[:8]})")
    rt = Table(title="Records")
    for col in ("record", "joined by", "probability"):
        rt.add_column(col)
    for r in records:
        prob = "" if r["match_probability"] is None else f"{r['match_probability']:.4f}"
        rt.add_row(r["unique_id"], r["link_method"] or "", prob)
    console.print(rt)
    if not links:
        console.print("This child is known from a single record: there are no links to explain.")
        return
    steward = {(d["unique_id_l"], d["unique_id_r"]): d for d in decisions}
    lt = Table(title="Links (the chain that joins these records)")
    for col in ("record", "linked to", "method", "probability", "strongest evidence"):
        lt.add_column(col)
    for link in links:
        method = link["link_method"] or ""
        ev = strongest_evidence(method, parse_evidence(link["evidence"]))
        if method == "steward":
            d = steward.get(tuple(sorted((link["unique_id_l"], link["unique_id_r"]))))
            if d:
                ev = f"reviewer {d['reviewer']} decided same: {d['reason']}; " + ev
        prob = "" if link["match_probability"] is None else f"{link['match_probability']:.4f}"
        lt.add_row(link["unique_id_l"], link["unique_id_r"], method, prob, ev)
    console.print(lt)
