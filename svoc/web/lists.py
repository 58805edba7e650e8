"""Match a list in the workspace (the HTTP face of ``svoc match-list``): upload a CSV or xlsx list, map its
columns, give a purpose, get each row's citizen id, band, probability, agencies and evidence, as a page or
as CSV (``format=csv``). The upload is kept only while it is matched, in a private temporary folder."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.errors import SvocError
from svoc.find import FindSession, ListMatch, match_list
from svoc.find.lists import SEARCH_FIELDS, parse_mapping
from svoc.find.query import FIELD_LABELS
from svoc.web.context import CsrfFailed, RateLimited, render, require, web_state
from svoc.web.security import tokens_match

READERS = ("practitioner", "ig_officer")
MAX_LIST_BYTES = 20 * 1024 * 1024
SUFFIXES = (".csv", ".xlsx")


def safe_list_name(filename: str | None) -> str:
    """The uploaded file's name reduced to letters, digits, '.', '_' and '-' (it is written to the access log);
    it must end .csv or .xlsx."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename or "").name).strip("._")[-100:]
    if not name.lower().endswith(SUFFIXES):
        raise SvocError("a list must be a .csv or .xlsx file")
    return name


def mapping_from(values: dict[str, str]) -> dict[str, str]:
    """``{field: column header}`` from the form's ``map_<field>`` inputs (blank ones skipped)."""
    text = ",".join(f"{f}={values[f'map_{f}'].strip()}" for f in SEARCH_FIELDS
                    if values.get(f"map_{f}", "").strip())
    if not text:
        raise SvocError("map at least one search field to a column of the list")
    return parse_mapping(text)


def as_csv(rows: list[ListMatch]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["line", "citizen_id", "probability", "band", "agencies", "note"])
    for r in rows:
        w.writerow([r.line, r.citizen_id or "", "" if r.probability is None else f"{r.probability:.4f}", r.band,
                    ";".join(r.agencies), r.note])
    return out.getvalue()


async def list_form(request: Request) -> Response:
    require(request, *READERS)
    return render(request, "list.html", {"fields": SEARCH_FIELDS, "labels": FIELD_LABELS, "values": {}})


async def list_match(request: Request) -> Response:
    session = require(request, *READERS)
    form = await request.form(max_files=1, max_fields=50)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    if not tokens_match(session.csrf, values.get("csrf")):
        raise CsrfFailed()
    st = web_state(request)
    if st.searches is not None and not st.searches.allow(session.user.username):
        raise RateLimited(st.searches.retry_after(session.user.username))
    purpose = (values.get("purpose") or "").strip()
    if not purpose:
        raise SvocError("say why you are matching this list: a purpose is required and is written to the access log")
    upload = form.get("list")
    if not isinstance(upload, UploadFile):
        raise SvocError("choose a list file (.csv or .xlsx) to match")
    name, mapping = safe_list_name(upload.filename), mapping_from(values)
    data = await upload.read(MAX_LIST_BYTES + 1)
    if len(data) > MAX_LIST_BYTES:
        raise SvocError(f"the list is larger than {MAX_LIST_BYTES // (1024 * 1024)} MB; split it")

    def run() -> list[ListMatch]:
        with tempfile.TemporaryDirectory(prefix="svoc-list-") as folder:  # created 0700
            path = Path(folder) / name
            path.touch(mode=0o600)
            path.write_bytes(data)
            with st.live.reader() as w:
                return match_list(FindSession(st.finder, w, st.store), path, mapping, who=session.user.username,
                                  purpose=purpose[:500])

    rows = await run_in_threadpool(run)
    if values.get("format") == "csv":
        return Response(as_csv(rows), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="matched_{name.rsplit(".", 1)[0]}.csv"'})
    counts: dict[str, Any] = {b: sum(r.band == b for r in rows) for b in ("matched", "possible", "none")}
    return render(request, "list.html", {"fields": SEARCH_FIELDS, "labels": FIELD_LABELS, "values": values,
                                         "rows": rows, "counts": counts, "name": name, "purpose": purpose})


ROUTES = [Route("/match-list", list_form, methods=["GET"]), Route("/match-list", list_match, methods=["POST"])]
