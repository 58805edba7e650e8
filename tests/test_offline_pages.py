"""No page the project writes fetches anything from the network: every HTML file of a demo run is checked."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.offline import network_fetches


@pytest.mark.parametrize(("html", "found"), [
    ('<script src="https://cdn.example/x.js"></script>', 1),
    ('<link rel="stylesheet" href="//cdn.example/x.css">', 1),
    ('<img src="HTTP://x/logo.png">', 1),
    ("<style>@font-face{src:url('https://fonts.example/f.woff')}</style>", 1),
    ('<div style="background:url(https://x/y.png)"></div>', 1),
    ('<a href="https://docs.example/">docs</a><img src="data:image/png;base64,AA"><script>var a=1</script>', 0),
    ('<link rel="stylesheet" href="static/local.css"><img src="logo.png">', 0),
])
def test_network_fetches_finds_remote_assets_only(html, found):
    assert len(network_fetches(html)) == found


def test_quality_data_docs_load_nothing_from_the_network(tmp_path):
    import quality
    from quality.results import CheckResult

    results = [CheckResult(source="health", check=c, severity=s, passed=p, observed=f"{c}: 3 of 10 rows",
                           expectation="e", suite="svoc_health_identity", checked_at=dt.datetime(2026, 1, 1))
               for c, s, p in [("a", "blocking", True), ("b", "warning", False)]]
    index = quality.write_data_docs({"health": results}, tmp_path / "docs", run_id="r1")
    pages = list((tmp_path / "docs").rglob("*.html"))
    assert index in pages
    for page in pages:
        assert network_fetches(page.read_text(encoding="utf-8")) == [], page
    assert "FAILED" in index.read_text(encoding="utf-8") and "svoc_health_identity" in index.read_text()
    assert oct(index.stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
def test_every_page_a_demo_run_writes_is_offline(demo_run):
    pages = sorted(demo_run.parent.rglob("*.html"))
    assert any(p.name == "index.html" for p in pages), "the Data Docs page was not written"
    assert any(p.name.endswith("_report.html") for p in pages), "the run report was not written"
    offenders = {str(p.relative_to(demo_run.parent)): network_fetches(p.read_text(encoding="utf-8"))
                 for p in pages}
    assert {k: v for k, v in offenders.items() if v} == {}
