"""Why records are one child: each link of a citizen, its method and its strongest evidence."""

from __future__ import annotations

from typing import Any

from svoc.report.data import Warehouse, parse_evidence
from svoc.state import StateStore


def links_for(w: Warehouse, citizen_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """The citizen's records, the links that join them in the latest run, and that run's id."""
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


def steward_decision(store: StateStore, key_a: str, key_b: str) -> dict[str, Any] | None:
    """The steward's latest 'same' decision on the pair, with the evidence the steward was shown, or None."""
    return store.latest_decision(key_a, key_b, decision="same")


def explain_child(w: Warehouse, store: StateStore, citizen_id: str) -> dict[str, Any]:
    """Everything ``explain`` shows: each record with its source, name and date of birth (an IG view), the
    links that join them with their strongest evidence, and for steward links the decision and what the
    steward saw. Call ``store.log_access`` first."""
    records, links, run_id = links_for(w, citizen_id)
    identity = {}
    if records:
        keys = [r["unique_id"] for r in records]
        identity = {r["unique_id"]: r for r in w.rows(
            "SELECT source || ':' || source_record_id AS unique_id, first_name, middle_names, last_name, dob, sex, "
            "postcode FROM staging.identity_records WHERE list_contains(?, source || ':' || source_record_id)",
            [keys])}
    for r in records:
        i = identity.get(r["unique_id"], {})
        r["name"] = " ".join(str(i[f]) for f in ("first_name", "middle_names", "last_name") if i.get(f))
        r["dob"] = i.get("dob")
        r["sex"] = i.get("sex")
        r["postcode"] = i.get("postcode")
    for link in links:
        method = link["link_method"] or ""
        link["strongest"] = strongest_evidence(method, parse_evidence(link["evidence"]))
        link["steward"] = steward_decision(store, link["unique_id_l"], link["unique_id_r"]) \
            if method == "steward" else None
    return {"citizen_id": citizen_id, "run_id": run_id, "records": records, "links": links}


def strongest_evidence(method: str, evidence: list[dict[str, Any]], top: int = 3) -> str:
    """One line: for identifier links the identifier agreement, then the top-weighted comparisons."""
    parts = []
    if method in ("nhs_number", "upn"):
        parts.append(f"{'NHS number' if method == 'nhs_number' else 'UPN'} identical and valid on both records")
    scored = [e for e in evidence if isinstance(e.get("match_weight"), int | float)
              and e.get("comparison") not in ("model_score", method if method != "probabilistic" else "")]
    scored.sort(key=lambda e: -float(e["match_weight"]))
    parts += [f"{e['level']} ({float(e['match_weight']):+.1f})" for e in scored[:top] if e["match_weight"] > 0]
    return "; ".join(parts) or "no scored evidence"
