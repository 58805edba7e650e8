"""Why records are one child: each link of a citizen, its method and its strongest evidence."""

from __future__ import annotations

from typing import Any

from svoc.report.data import Warehouse


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


def steward_decisions(w: Warehouse) -> dict[tuple[str, str], dict[str, Any]]:
    """'Same' decisions by (record key, record key), sorted."""
    if not w.has("audit.review_decisions"):
        return {}
    rows = w.rows("SELECT unique_id_l, unique_id_r, reviewer, reason, decided_at FROM audit.review_decisions "
                  "WHERE decision = 'same' ORDER BY decided_at")
    return {tuple(sorted((d["unique_id_l"], d["unique_id_r"]))): d for d in rows}  # type: ignore[misc]


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
