"""Numbers for the run report, gathered from the warehouse with SQL (aggregated in DuckDB, never per record).

Every section tolerates missing optional tables (first run, no decisions yet): it then returns empty lists.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import duckdb

from matching.prior import log_odds
from svoc.warehouse.sql import one_row

QUEUE_CAP = 200
EVENT_CAP = 500
RECORD_FIELDS = ("first_name", "middle_names", "last_name", "dob", "sex", "address_line", "postcode",
                 "nhs_number", "upn", "pnc_id", "ethnicity", "organisation_name")
# comparison name -> the record fields it looks at (for "agree / differ" on the side-by-side view)
COMPARED_FIELDS = {"first_name": "first_name", "middle_names": "middle_names", "last_name": "last_name",
                   "dob": "dob", "sex": "sex", "postcode": "location", "address_line": "location",
                   "nhs_number": "nhs_number", "upn": "upn"}


class Warehouse:
    """A read-only view of the warehouse with helpers that cope with missing tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.tables = {f"{s}.{t}" for s, t in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def rows(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def one(self, sql: str, params: list | None = None) -> Any:
        # fetchall, not fetchone: DuckDB 2 refuses further work on a connection with an unfinished result
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def weight(m: float | None, u: float | None) -> float | None:
    if m is None or u is None or m <= 0 or u <= 0:
        return None
    return math.log2(m / u)


def prior_weight(p: float | None) -> float:
    if not p or p <= 0 or p >= 1:
        return 0.0
    return log_odds(p)


def pick_run(w: Warehouse, run_id: str | None) -> str | None:
    if run_id:
        return run_id
    if w.has("audit.runs"):
        r = w.one("SELECT run_id FROM audit.runs WHERE status = 'success' ORDER BY finished_at DESC NULLS LAST "
                  "LIMIT 1")
        if r:
            return r
    for table in ("audit.run_matching", "linked.record_citizen"):
        if w.has(table):
            r = w.one(f"SELECT max(run_id) FROM {table}")
            if r:
                return r
    return None


def run_info(w: Warehouse, run_id: str | None) -> dict:
    info: dict[str, Any] = {"run_id": run_id or "unknown"}
    if w.has("audit.runs") and run_id:
        rows = w.rows("SELECT * FROM audit.runs WHERE run_id = ? ORDER BY finished_at DESC NULLS LAST LIMIT 1",
                      [run_id])
        if rows:
            info.update(rows[0])
    if w.has("audit.run_matching") and run_id:
        rows = w.rows("SELECT model_version, thresholds, stats FROM audit.run_matching WHERE run_id = ?", [run_id])
        if rows:
            info["model_version"] = info.get("model_version") or rows[0]["model_version"]
            info["thresholds"] = info.get("thresholds") or rows[0]["thresholds"]
            info["matching_stats"] = _json(rows[0]["stats"], {})
    info["thresholds"] = _json(info.get("thresholds"), {}) if isinstance(info.get("thresholds"), str) else \
        info.get("thresholds") or {}
    info["row_counts"] = _json(info.get("row_counts"), {}) if isinstance(info.get("row_counts"), str) else {}
    info.setdefault("matching_stats", {})
    if w.has("audit.runs") and info.get("started_at"):
        info["previous_run"] = w.one("SELECT run_id FROM audit.runs WHERE status = 'success' AND started_at < ? "
                                     "ORDER BY started_at DESC LIMIT 1", [info["started_at"]])
        info["failed_runs"] = w.rows("SELECT run_id, started_at, message FROM audit.runs WHERE status <> 'success' "
                                     "ORDER BY started_at DESC LIMIT 10")
    return info


def sources(w: Warehouse, run_id: str | None) -> dict:
    out: dict[str, Any] = {"per_source": [], "files": [], "quarantine": [], "quality": [], "quality_failed": 0,
                           "notices": []}
    if w.has("staging.identity_records"):
        q = "(SELECT count(*) FROM quarantine.rows q WHERE q.source = i.source)" if w.has("quarantine.rows") \
            else "0"
        out["per_source"] = w.rows(
            f"SELECT source, count(*) AS records, {q} AS quarantined FROM staging.identity_records i "
            "GROUP BY source ORDER BY source")
    if w.has("audit.file_accounts"):
        out["files"] = w.rows("SELECT source, file, lines_in, records_out, quarantined FROM audit.file_accounts "
                              "WHERE run_id = ? ORDER BY source, file", [run_id])
    if w.has("audit.input_notices"):
        out["notices"] = w.rows("SELECT source, file, message FROM audit.input_notices WHERE run_id = ? "
                                "ORDER BY source, file, kind, subject", [run_id])
    if w.has("quarantine.rows"):
        # reasons carry record ids and positions: group on the reason with quoted values and numbers masked
        out["quarantine"] = w.rows(
            "SELECT source, file, regexp_replace(regexp_replace(reason, '''[^'']*''', '''…''', 'g'), "
            "'[0-9]+', 'N', 'g') AS reason_kind, count(*) AS rows, min(line_number) AS first_line, "
            "list(line_number ORDER BY line_number)[1:20] AS lines, any_value(reason) AS example "
            "FROM quarantine.rows GROUP BY ALL ORDER BY source, file, rows DESC")
    if w.has("audit.quality_results"):
        out["quality"] = w.rows("SELECT source, \"check\", severity, passed, observed, expectation "
                                "FROM audit.quality_results WHERE run_id = ? "
                                "ORDER BY passed, severity, source, \"check\"", [run_id])
        out["quality_failed"] = sum(1 for r in out["quality"] if not r["passed"])
    return out


def linkage(w: Warehouse, run_id: str | None) -> dict:
    out: dict[str, Any] = {"citizens": 0, "records": 0, "by_method": [], "histogram": [], "multi_source": []}
    if w.has("linked.record_citizen"):
        out["records"], out["citizens"] = one_row(
            w.con, "SELECT count(*), count(DISTINCT citizen_id) FROM linked.record_citizen")
        out["by_method"] = w.rows("SELECT link_method, count(*) AS records FROM linked.record_citizen "
                                  "GROUP BY 1 ORDER BY 2 DESC")
        out["by_size"] = w.rows("SELECT n AS records_per_child, count(*) AS children FROM (SELECT citizen_id, "
                                "count(*) AS n FROM linked.record_citizen GROUP BY 1) GROUP BY 1 ORDER BY 1")
    if w.has("audit.match_evidence"):
        out["histogram"] = w.rows(
            "SELECT status, floor(match_weight) AS bin, count(*) AS pairs FROM audit.match_evidence "
            "WHERE run_id = ? AND match_weight IS NOT NULL AND isfinite(match_weight) GROUP BY ALL ORDER BY bin",
            [run_id])
        out["evidence_counts"] = w.rows("SELECT status, link_method, count(*) AS pairs FROM audit.match_evidence "
                                        "WHERE run_id = ? GROUP BY ALL ORDER BY 1, 3 DESC", [run_id])
    return out


def model(w: Warehouse, model_version: str | None) -> dict:
    out: dict[str, Any] = {"comparisons": [], "prior": None, "model_version": model_version, "created_at": None}
    if not w.has("audit.models"):
        return out
    rows = w.rows("SELECT model_version, created_at, settings_json, training_summary_json FROM audit.models "
                  "WHERE model_version = ? OR ? IS NULL ORDER BY created_at DESC LIMIT 1",
                  [model_version, model_version])
    if not rows:
        return out
    settings = _json(rows[0]["settings_json"], {})
    out.update(model_version=rows[0]["model_version"], created_at=rows[0]["created_at"],
               training=_json(rows[0]["training_summary_json"], {}),
               prior=settings.get("probability_two_random_records_match"))
    for comp in settings.get("comparisons", []):
        name = comp.get("output_column_name") or comp.get("comparison_description") or "comparison"
        levels = []
        for lvl in comp.get("comparison_levels", []):
            m, u = lvl.get("m_probability"), lvl.get("u_probability")
            levels.append({"label": lvl.get("label_for_charts") or "level", "m": m, "u": u,
                           "weight": None if lvl.get("is_null_level") else weight(m, u),
                           "null_level": bool(lvl.get("is_null_level"))})
        out["comparisons"].append({"name": name, "levels": levels})
    return out


def changes(w: Warehouse, run_id: str | None) -> dict:
    out: dict[str, Any] = {"summary": [], "events": [], "total": 0}
    if not w.has("audit.citizen_events"):
        return out
    out["summary"] = w.rows("SELECT event, coalesce(reason, '') AS reason, count(*) AS n, "
                            "count(DISTINCT citizen_id) AS citizens FROM audit.citizen_events WHERE run_id = ? "
                            "GROUP BY ALL ORDER BY event, n DESC", [run_id])
    out["total"] = sum(r["n"] for r in out["summary"])
    out["events"] = w.rows("SELECT event, citizen_id, related_citizen_id, record_key, reason "
                           "FROM audit.citizen_events WHERE run_id = ? AND event <> 'created' "
                           f"ORDER BY event, citizen_id LIMIT {EVENT_CAP}", [run_id])
    return out


def _records(w: Warehouse, keys: list[str]) -> dict[str, dict]:
    if not keys or not w.has("staging.identity_records"):
        return {}
    w.con.register("_cv_keys", _keys_table(keys))
    try:
        rows = w.rows(f"SELECT i.source || ':' || i.source_record_id AS unique_id, i.source, i.source_record_id, "
                      f"{', '.join('i.' + f for f in RECORD_FIELDS)} FROM staging.identity_records i "
                      "JOIN _cv_keys k ON k.unique_id = i.source || ':' || i.source_record_id")
    finally:
        w.con.unregister("_cv_keys")
    return {r["unique_id"]: r for r in rows}


def _keys_table(keys: list[str]):
    import pyarrow as pa

    return pa.table({"unique_id": pa.array(sorted(set(keys)), pa.string())})


def _norm(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s.casefold() if s else None


def compare_fields(left: dict, right: dict) -> list[dict]:
    """Side-by-side rows: field, left value, right value, state (agree / differ / missing)."""
    out = []
    for f in RECORD_FIELDS:
        a, b = left.get(f), right.get(f)
        na, nb = _norm(a), _norm(b)
        state = "missing" if na is None or nb is None else "agree" if na == nb else "differ"
        out.append({"field": f.replace("_", " "), "left": "" if a is None else str(a),
                    "right": "" if b is None else str(b), "state": state})
    return out


def parse_evidence(text: str | None) -> list[dict]:
    items = _json(text, [])
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def review_queue(w: Warehouse) -> dict:
    out: dict[str, Any] = {"pairs": [], "open": 0, "by_reason": [], "by_source_pair": []}
    if not w.has("audit.review_queue"):
        return out
    base = "FROM audit.review_queue WHERE coalesce(status, 'open') = 'open'"
    out["open"] = w.one(f"SELECT count(*) {base}")
    out["by_reason"] = w.rows(f"SELECT reason, count(*) AS pairs {base} GROUP BY 1 ORDER BY 2 DESC")
    out["by_source_pair"] = w.rows(
        f"SELECT split_part(unique_id_l, ':', 1) || ' – ' || split_part(unique_id_r, ':', 1) AS source_pair, "
        f"count(*) AS pairs {base} GROUP BY 1 ORDER BY 2 DESC")
    pairs = w.rows(f"SELECT pair_id, unique_id_l, unique_id_r, match_probability, match_weight, reason, evidence, "
                   f"queued_run_id {base} ORDER BY match_probability DESC NULLS LAST, pair_id LIMIT {QUEUE_CAP}")
    records = _records(w, [k for p in pairs for k in (p["unique_id_l"], p["unique_id_r"])])
    for p in pairs:
        left, right = records.get(p["unique_id_l"], {}), records.get(p["unique_id_r"], {})
        p["fields"] = compare_fields(left, right)
        p["evidence"] = parse_evidence(p["evidence"])
    out["pairs"] = pairs
    return out


def decisions(w: Warehouse, info: dict) -> dict:
    out: dict[str, Any] = {"rows": [], "by_source_pair": [], "total": 0, "pending": []}
    if not w.has("audit.review_decisions"):
        return out
    started = info.get("started_at")
    has_rc = w.has("linked.record_citizen")
    together = ("(SELECT count(DISTINCT citizen_id) = 1 AND count(*) = 2 FROM linked.record_citizen rc "
                "WHERE rc.source || ':' || rc.source_record_id IN (d.unique_id_l, d.unique_id_r))") if has_rc \
        else "NULL"
    cond = "d.decided_at <= ?" if started else "true"
    params = [started] if started else []
    out["total"] = w.one(f"SELECT count(*) FROM audit.review_decisions d WHERE {cond}", params)
    out["rows"] = w.rows(
        f"SELECT d.pair_id, d.unique_id_l, d.unique_id_r, d.decision, d.reviewer, d.reason, d.decided_at, "
        f"{together} AS now_together FROM audit.review_decisions d WHERE {cond} "
        f"ORDER BY d.decided_at DESC LIMIT {QUEUE_CAP}", params)
    prev_start = None
    if info.get("previous_run") and w.has("audit.runs"):
        prev_start = w.one("SELECT started_at FROM audit.runs WHERE run_id = ?", [info["previous_run"]])
    for r in out["rows"]:
        r["new_this_run"] = prev_start is None or (r["decided_at"] is not None and r["decided_at"] > prev_start)
        r["honoured"] = None if r["now_together"] is None else (r["now_together"] == (r["decision"] == "same"))
    if started:
        out["pending"] = w.rows("SELECT pair_id, unique_id_l, unique_id_r, decision, reviewer, reason, decided_at "
                                "FROM audit.review_decisions WHERE decided_at > ? ORDER BY decided_at DESC "
                                f"LIMIT {QUEUE_CAP}", [started])
    out["by_source_pair"] = w.rows(
        "SELECT split_part(least(unique_id_l, unique_id_r), ':', 1) || ' – ' || "
        "split_part(greatest(unique_id_l, unique_id_r), ':', 1) AS source_pair, "
        "count(*) FILTER (WHERE decision = 'same') AS same, count(*) FILTER (WHERE decision = 'different') "
        f"AS different FROM audit.review_decisions d WHERE {cond} GROUP BY 1 ORDER BY 1", params)
    return out


def errors(w: Warehouse, truth: Path | None, drop_date: dt.date | None) -> dict | None:
    """Error rates against a ground-truth file (synthetic drops): overall, by source pair / age band
    (``matching.evaluate``) and per child by source, age band and ethnicity (split or merged children)."""
    if truth is None or not Path(truth).exists() or not w.has("linked.record_citizen"):
        return None
    import pandas as pd

    from matching.evaluate import AGE_BANDS, age_band, evaluate

    predicted = w.con.execute("SELECT source, source_record_id, citizen_id FROM linked.record_citizen").df()
    t = pd.read_csv(truth, dtype=str, keep_default_na=False)
    ref = drop_date.date() if isinstance(drop_date, dt.datetime) else drop_date
    metrics = evaluate(predicted, t, reference_date=ref)
    df = t.merge(predicted.astype(str), on=["source", "source_record_id"], how="left")
    df["citizen_id"] = df["citizen_id"].fillna("__unlinked__:" + df["source"] + ":" + df["source_record_id"])
    split = df.groupby("child_id")["citizen_id"].nunique() > 1
    merged_cit = df.groupby("citizen_id")["child_id"].nunique() > 1
    df["split"] = df["child_id"].map(split)
    df["merged"] = df["citizen_id"].map(merged_cit)
    ref_date = dt.date.fromisoformat(metrics["reference_date"])
    df["age_band"] = age_band(df["dob_true"], ref_date) if "dob_true" in df else "unknown"
    df["ethnicity"] = df["ethnicity"].replace("", "not recorded") if "ethnicity" in df else "not recorded"
    groups = {}
    for col in ("source", "age_band", "ethnicity"):
        g = df.groupby(col).agg(records=("child_id", "size"), children=("child_id", "nunique"),
                                split_records=("split", "sum"), merged_records=("merged", "sum")).reset_index()
        g["error_rate"] = (g["split_records"] + g["merged_records"]) / g["records"]
        if col == "age_band":
            g = g.sort_values("age_band", key=lambda c: c.map({b: i for i, b in enumerate(AGE_BANDS)}))
        groups[col] = g.rename(columns={col: "group"}).to_dict("records")
    return {"metrics": {k: v for k, v in metrics.items() if not hasattr(v, "to_dict")},
            "by_source_pair": metrics["by_source_pair"].to_dict("records"),
            "by_age_band": metrics["by_age_band"].to_dict("records"), "groups": groups}


def disclosure(w: Warehouse, run_id: str | None) -> list[dict]:
    """Re-identification risk measured on the analytics file's quasi-identifiers, before and after coarsening."""
    if not w.has("audit.disclosure"):
        return []
    return w.rows("SELECT measure, quasi_identifiers, threshold, children, classes, unique_children, "
                  "children_below_threshold FROM audit.disclosure WHERE run_id IS NOT DISTINCT FROM ? "
                  "ORDER BY measure", [run_id])


def gather(con: duckdb.DuckDBPyConnection, run_id: str | None = None, truth: Path | None = None) -> dict:
    w = Warehouse(con)
    run_id = pick_run(w, run_id)
    info = run_info(w, run_id)
    mdl = model(w, info.get("model_version"))
    return {"run": info, "sources": sources(w, run_id), "linkage": linkage(w, run_id), "model": mdl,
            "changes": changes(w, run_id), "queue": review_queue(w), "disclosure": disclosure(w, run_id), "decisions": decisions(w, info),
            "errors": errors(w, truth, info.get("drop_date")), "prior_weight": prior_weight(mdl.get("prior")),
            "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)}
