"""Render the run report to one self-contained HTML file (inline CSS and SVG; no scripts, fonts or links out)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import jinja2

from matching.review import reason_text
from svoc.report import charts
from svoc.report.data import gather
from svoc.report.template import CSS, TEMPLATE

log = logging.getLogger(__name__)

METHOD_HELP = {
    "nhs_number": "same valid NHS number",
    "upn": "same valid Unique Pupil Number (or former UPN)",
    "probabilistic": "names, date of birth, sex and address agree strongly enough (model score above the link threshold)",
    "steward": "a reviewer decided the records are the same child",
    "singleton": "no other record matched: the child is known from this record only",
}
# Review reasons are worded once, beside the code that assigns them (matching.review.REASON_TEXT).


def _n(v) -> str:
    if v is None:
        return "0"
    try:
        return f"{int(v):,}"
    except (TypeError, ValueError):
        return str(v)


def _d(v) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S") if (v.hour or v.minute or v.second) else v.strftime("%Y-%m-%d")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _p(v) -> str:
    return "—" if v is None else f"{v:.3g}"


def _w(v) -> str:
    return "—" if v is None else f"{v:+.2f}"


def render_html(report: dict, warehouse_name: str = "") -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    env.filters.update(n=_n, d=_d, p=_p, w=_w)
    prior = report["prior_weight"]
    queue = report["queue"]
    ctx = dict(report)
    ctx.update(
        css=CSS, method_help=METHOD_HELP, reason_text=reason_text, warehouse_name=warehouse_name,
        quarantined_total=sum(int(s.get("quarantined") or 0) for s in report["sources"]["per_source"]),
        histogram=charts.histogram(report["linkage"]["histogram"]),
        model_charts=[charts.weight_bars(c["levels"], f"Match weights for {c['name']}")
                      for c in report["model"]["comparisons"]],
        waterfalls=[charts.waterfall(prior, p["evidence"], f"Evidence for pair {p['pair_id']}") for p in queue["pairs"]],
    )
    return env.from_string(TEMPLATE).render(**ctx)


def report_paths(warehouse: Path, run_id: str) -> tuple[Path, Path]:
    warehouse = Path(warehouse)
    return (warehouse.with_name(f"{warehouse.stem}_report_{run_id[:8]}.html"),
            warehouse.with_name(f"{warehouse.stem}_report.html"))


def write_report(warehouse: Path, run_id: str | None = None, truth: Path | None = None) -> Path:
    """Write ``<stem>_report_<run8>.html`` beside the warehouse (and the stable ``<stem>_report.html``).

    Opens the warehouse read-only; returns the run-specific path.
    """
    import duckdb

    warehouse = Path(warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        report = gather(con, run_id, truth)
    finally:
        con.close()
    rid = report["run"]["run_id"]
    html = render_html(report, warehouse.name)
    path, stable = report_paths(warehouse, rid if rid != "unknown" else "norun000")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    stable_tmp = stable.with_name(stable.name + ".tmp")
    shutil.copyfile(path, stable_tmp)
    stable_tmp.replace(stable)
    log.info("report written run=%s bytes=%d", rid[:8], len(html))
    return path
