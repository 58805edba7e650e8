"""What the child page shows, read from the published warehouse: the surviving identity, each agency's records
side by side, the indicators, the multi-agency timeline and why the records are linked.

Call ``store.log_access`` before this: it reads a person's records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from matching.review import pair_id
from schemas.indicators import INDICATORS
from svoc.report.charts import waterfall
from svoc.report.data import Warehouse, parse_evidence
from svoc.review.explain import explain_child
from svoc.review.pairs import model_prior
from svoc.state import StateStore
from svoc.web.charts import timeline_svg

IDENTITY_FIELDS = (("first_name", "First name"), ("last_name", "Last name"), ("dob", "Date of birth"),
                   ("sex", "Sex"), ("postcode", "Postcode"), ("nhs_number", "NHS number"), ("upn", "UPN"),
                   ("ethnicity", "Ethnicity"), ("first_seen", "First seen"), ("last_seen", "Last seen"))
RECORD_FIELDS = (("source_record_id", "Record id"), ("first_name", "First name"), ("middle_names", "Middle names"),
                 ("last_name", "Last name"), ("dob", "Date of birth"), ("sex", "Sex"),
                 ("address_line", "Address"), ("postcode", "Postcode"), ("nhs_number", "NHS number"),
                 ("upn", "UPN"), ("organisation_name", "Organisation"), ("link_method", "Joined by"))
FLAGS = (("conflicting_nhs_numbers", "records hold different NHS numbers"),
         ("multiple_upns", "records hold different UPNs"), ("conflicting_dobs", "records give different dates of birth"),
         ("multiple_last_names", "records give different last names"), ("unborn", "provisional (unborn) record"))
EVENT_CAP = 400


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, float):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:g}"
    return str(value)


def identity(w: Warehouse, citizen_id: str) -> dict[str, Any] | None:
    """The surviving identity (``linked.single_view``) with its indicators and data-quality flags."""
    if not w.has("linked.single_view"):
        return None
    rows = w.rows("SELECT * FROM linked.single_view WHERE citizen_id = ?", [citizen_id])
    if not rows:
        return None
    row = rows[0]
    return {
        "fields": [(label, _shown(row.get(name))) for name, label in IDENTITY_FIELDS if name in row],
        "sources": list(row.get("sources") or []),
        "indicators": [{"name": i.name.replace("_", " "), "value": _shown(row[i.name]),
                        "known": row[i.name] is not None, "description": i.description}
                       for i in INDICATORS.values() if i.name in row],
        "flags": [text for name, text in FLAGS if row.get(name)],
        "as_of": _shown(row.get("as_of_date")),
    }


def records_by_agency(w: Warehouse, citizen_id: str) -> list[dict[str, Any]]:
    """Each agency's records of the child, one column per record, grouped by source."""
    rows = w.rows("SELECT i.*, rc.link_method FROM linked.record_citizen rc JOIN staging.identity_records i "
                  "USING (source, source_record_id) WHERE rc.citizen_id = ? ORDER BY i.source, i.source_record_id",
                  [citizen_id])
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["source"], []).append(r)
    return [{"source": src, "records": recs, "fields": [
        (label, [_shown(r.get(name)) for r in recs]) for name, label in RECORD_FIELDS
        if any(r.get(name) not in (None, "") for r in recs)]} for src, recs in out.items()]


def events(w: Warehouse, citizen_id: str) -> tuple[list[dict[str, Any]], int]:
    """The child's dated events, newest first (at most ``EVENT_CAP``), and how many there are in all."""
    if not w.has("linked.interactions"):
        return [], 0
    total = int(w.one("SELECT count(*) FROM linked.interactions WHERE citizen_id = ?", [citizen_id]) or 0)
    rows = w.rows("SELECT source, source_record_id, event_type, event_code, event_date, end_date, role, detail "
                  "FROM linked.interactions WHERE citizen_id = ? AND event_date IS NOT NULL "
                  "ORDER BY event_date DESC, source, event_id LIMIT ?", [citizen_id, EVENT_CAP])
    return rows, total


def links(w: Warehouse, store: StateStore, citizen_id: str) -> list[dict[str, Any]]:
    """Every link that joins the child's records, its evidence, its waterfall and any steward decision."""
    child = explain_child(w, store, citizen_id)
    prior = model_prior(w)
    out = []
    for link in child["links"]:
        evidence = parse_evidence(link.get("evidence"))
        out.append({**link, "pair_id": pair_id(*sorted((link["unique_id_l"], link["unique_id_r"]))),
                    "waterfall": waterfall(prior, evidence, title=(
            f"How the evidence adds up: {link['unique_id_l']} and {link['unique_id_r']}")) if evidence else None})
    return out


def child_page(w: Warehouse, store: StateStore, citizen_id: str) -> dict[str, Any] | None:
    """Everything the child page shows, or None when the citizen id is not in this warehouse."""
    agencies = records_by_agency(w, citizen_id)
    if not agencies:
        return None
    evs, total = events(w, citizen_id)
    return {"citizen_id": citizen_id, "identity": identity(w, citizen_id), "agencies": agencies,
            "events": evs, "event_total": total, "timeline": timeline_svg(evs),
            "links": links(w, store, citizen_id)}
