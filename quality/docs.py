"""The quality checks' Data Docs: one self-contained HTML page per warehouse, readable offline.

Great Expectations' own Data Docs load their CSS and JavaScript from six CDNs (Bootstrap, jQuery, Vega,
Font Awesome...) and show an empty index without them; a council's IG laptop is often offline, and no page
the project writes may fetch anything from the network. So the validation results GX produced are rendered
here instead: inline CSS, no scripts, no links that leave the file. Counts only, never a data value.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, select_autoescape

from quality.results import CheckResult

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Data quality checks, run {{ run_id }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:70rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.fail{color:#a00000;font-weight:600}.pass{color:#006400}
.blocking{font-weight:600}nav a{margin-right:1rem}
</style></head><body>
<h1>Data quality checks</h1>
<p>Run <code>{{ run_id }}</code>, checked {{ checked_at }} UTC. {{ total }} checks in {{ suites|length }} suites:
<span class="{{ 'fail' if failed else 'pass' }}">{{ failed }} failed</span>
({{ blocking_failed }} blocking). A failed blocking check stops the run before matching.</p>
<nav>{% for s in suites %}<a href="#{{ s.name }}">{{ s.name }}</a>{% endfor %}</nav>
{% for s in suites %}
<h2 id="{{ s.name }}">{{ s.name }}</h2>
<p>Source <b>{{ s.source }}</b>: {{ s.results|length }} checks,
<span class="{{ 'fail' if s.failed else 'pass' }}">{{ s.failed }} failed</span>.</p>
<table><tr><th>check</th><th>severity</th><th>result</th><th>expectation</th><th>what was seen</th></tr>
{% for r in s.results %}<tr><td>{{ r.check }}</td><td class="{{ r.severity }}">{{ r.severity }}</td>
<td class="{{ 'pass' if r.passed else 'fail' }}">{{ 'passed' if r.passed else 'FAILED' }}</td>
<td>{{ r.expectation }}</td><td>{{ r.observed }}</td></tr>
{% endfor %}</table>
{% endfor %}
</body></html>
"""


def render_quality_page(results: Iterable[CheckResult], run_id: str) -> str:
    """The page for one run's results, grouped by GX suite (failed checks first within a suite)."""
    results = list(results)
    by_suite: dict[str, list[CheckResult]] = {}
    for r in results:
        by_suite.setdefault(r.suite or f"svoc_{r.source}", []).append(r)
    suites = [{"name": name, "source": rs[0].source, "failed": sum(not r.passed for r in rs),
               "results": sorted(rs, key=lambda r: r.passed)} for name, rs in sorted(by_suite.items())]
    checked = min((r.checked_at for r in results), default=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_PAGE).render(
        run_id=run_id, checked_at=checked.strftime("%Y-%m-%d %H:%M"), suites=suites, total=len(results),
        failed=sum(not r.passed for r in results),
        blocking_failed=sum(not r.passed and r.severity == "blocking" for r in results))


def write_quality_page(results: Iterable[CheckResult], out_dir: Path, run_id: str) -> Path:
    """Write ``out_dir/index.html`` (folder 0700, file 0600, replaced atomically); returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)
    for gx_leftover in ("static", "expectations", "validations"):  # GX's pages from before, which load CDNs
        shutil.rmtree(out_dir / gx_leftover, ignore_errors=True)
    index = out_dir / "index.html"
    tmp = out_dir / f".index.html.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render_quality_page(results, run_id))
    os.replace(tmp, index)
    return index
