"""The run report shows the analytics file's re-identification risk, measured on the published quasi-identifiers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e import query


@pytest.mark.slow
def test_report_shows_no_child_unique_on_published_quasi_identifiers(demo_run: Path):
    html = (demo_run.parent / f"{demo_run.stem}_report.html").read_text(encoding="utf-8")
    table = html[html.index('id="disclosure-table"'):]
    table = table[:table.index("</table>")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"<tr><td>(\w+)</td>(.*?)</tr>", table, re.S)}
    assert set(rows) == {"published", "unprotected"}
    measured = dict(query(demo_run, "SELECT measure, unique_children FROM audit.disclosure"))
    assert measured["published"] == 0
    assert measured["unprotected"] > 0  # the unprotected measure shows what coarsening prevented
    cells = re.findall(r'<td class="n">([\d,]+)</td>', rows["published"])
    assert cells[2] == "0" and cells[3] == "0"
