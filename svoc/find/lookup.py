"""Find a child: candidates for a partial identity, ranked by the stored Splink model, with per-field evidence.

    from svoc.find import Finder, Query
    finder = Finder()                                   # hold one (web app); it keeps the compiled model
    with finder.session(warehouse, state_url) as s:     # read-only warehouse + state store, opened per request
        result = s.find(Query.of(first_name="Amy", dob="2012-03-04"), who="ann", purpose="MASH referral 123")

Exact identifiers (NHS number, UPN, a source and record id) go first; then children by probability. A query
too weak to pick out a child (or that matches more than ``max_candidates`` children) returns
``status="too_many"`` and a message asking for another field, never a wall of children. Every search is written
to the access log before anything is returned: who, when, why, the NAMES of the fields searched (never the
values) and the citizen ids shown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd

from matching.artifact import load_latest_model
from matching.features import build_features
from matching.lookup import LookupScorer
from schemas.errors import SvocError
from svoc.find.candidates import find_candidates
from svoc.find.query import FIELD_LABELS, Query
from svoc.report.data import Warehouse
from svoc.review.access import ig_session
from svoc.state import StateStore
from svoc.warehouse.sql import one_row

Band = Literal["matched", "possible", "none"]
MATCH_AT = 0.95  # when the warehouse records no thresholds (the nightly run's own are used when it does)
POSSIBLE_AT = 0.5


@dataclass
class Candidate:
    """A child who may be the one searched for."""

    citizen_id: str
    probability: float
    band: Band
    exact: str | None  # the identifier that matched exactly ("NHS number", "UPN", "source record"), if any
    record: str  # the record key that matched best (source:record id)
    agencies: list[str]  # every source that holds a record of this child
    evidence: list[dict[str, Any]] = field(default_factory=list)  # comparison, level, match_weight


@dataclass
class LookupResult:
    status: Literal["found", "none", "too_many"]
    message: str
    candidates: list[Candidate] = field(default_factory=list)


def band_of(probability: float, exact: str | None, match_at: float = MATCH_AT,
            possible_at: float = POSSIBLE_AT) -> Band:
    if exact or probability >= match_at:
        return "matched"
    return "possible" if probability >= possible_at else "none"


def _too_weak(q: Query) -> str:
    missing = [FIELD_LABELS[f] for f in ("dob", "last_name", "first_name", "nhs_number") if getattr(q, f) is None]
    return "too many candidates: add a field (" + ", ".join(missing[:3]) + ")"


class Finder:
    """Holds the compiled model (one per model version) across searches; everything else is opened per call."""

    def __init__(self, match_at: float | None = None, possible_at: float | None = None, max_candidates: int = 10,
                 max_records_per_query: int = 1000) -> None:
        """``match_at``/``possible_at``: band thresholds; None: the link and review thresholds the warehouse's
        last successful run used (``audit.runs.thresholds``), so "matched" means what the nightly run would do."""
        self.given = (match_at, possible_at)
        self.max_candidates, self.max_records = max_candidates, max_records_per_query
        self._scorer: LookupScorer | None = None
        self._names: tuple[str | None, dict[str, dict[str, float]]] | None = None

    def scorer(self, con: duckdb.DuckDBPyConnection) -> LookupScorer:
        artifact = load_latest_model(con)
        if artifact is None:
            raise SvocError("this warehouse has no stored matching model yet; run the pipeline first")
        if self._scorer is None or self._scorer.model_version != artifact.model_version:
            self._scorer = LookupScorer(artifact)
        return self._scorer

    def frequencies(self, w: Warehouse) -> dict[str, dict[str, float]]:
        """Name frequencies of this warehouse, computed once per published run."""
        run = published_run(w)
        if run is None or self._names is None or self._names[0] != run:
            self._names = (run, name_frequencies(w.con))
        return self._names[1]

    @contextmanager
    def session(self, warehouse: Path, state_url: str | None = None) -> Iterator[FindSession]:
        """The published warehouse (read-only, opened afresh: a nightly swap is picked up) and the state store."""
        with ig_session(warehouse, state_url) as (w, store):
            yield FindSession(self, w, store)

    # ------------------------------------------------------------------ scoring many queries at once
    def rank(self, w: Warehouse, queries: list[Query]) -> list[LookupResult]:
        """One result per query (no access logging: callers log first)."""
        # Local, not on self: one Finder serves the web app's concurrent requests.
        thresholds = run_thresholds(w, *self.given)
        weak = {i for i, q in enumerate(queries) if not q.strong_enough()}
        usable = [q if i not in weak else Query() for i, q in enumerate(queries)]
        found, overflowing, identity = find_candidates(w.con, usable, max_per_query=self.max_records)
        found = found[~found["qid"].isin(weak)]
        scored = self._score(w, usable, found, identity, thresholds) if not found.empty else {}
        agencies = _agencies(w, {c for per in scored.values() for c in per})
        out = []
        for i, q in enumerate(queries):
            if i in weak or i in overflowing:
                out.append(LookupResult("too_many", _too_weak(q)))
                continue
            out.append(self._result(scored.get(i, {}), agencies))
        return out

    def _score(self, w: Warehouse, queries: list[Query], found: pd.DataFrame, identity: pd.DataFrame,
               thresholds: tuple[float, float]) -> dict[int, dict[str, Candidate]]:
        today = dt.date.today()
        qids = sorted(int(q) for q in found["qid"].unique())
        qf = build_features(pd.DataFrame([queries[i].identity_row(i) for i in qids]), today)
        qf["qid"] = qids
        con = w.con
        features = build_features(identity, today)
        cand = found[["qid", "source", "source_record_id"]].assign(
            unique_id=found["source"] + ":" + found["source_record_id"])
        cf = cand[["qid", "unique_id"]].merge(features, on="unique_id", how="inner")
        tf = self.frequencies(w)
        # a single search shows evidence for every candidate; a list only for the ones that can be its answer
        scored = self.scorer(con).score(qf, cf, tf, evidence_from=0.0 if len(qids) == 1 else 0.01)
        by_key = {(int(r.qid), r.unique_id): r for r in scored}
        out: dict[int, dict[str, Candidate]] = {}
        columns = ("qid", "source", "source_record_id", "citizen_id", "exact")
        for qid, source, record_id, citizen_id, exact_hit in zip(*(found[c].tolist() for c in columns),
                                                                 strict=True):
            key = f"{source}:{record_id}"
            s = by_key.get((int(qid), key))
            prob = s.match_probability if s else 0.0
            exact = exact_hit if isinstance(exact_hit, str) else None
            per = out.setdefault(int(qid), {})
            best = per.get(citizen_id)
            if best is None or (bool(exact), prob) > (bool(best.exact), best.probability):
                exact = exact or (best.exact if best else None)  # the child keeps an exact hit on any record
                per[citizen_id] = Candidate(
                    citizen_id=citizen_id, probability=prob, band=band_of(prob, exact, *thresholds),
                    exact=exact, record=key, agencies=[], evidence=s.evidence if s else [])
        return out

    def _result(self, per_child: dict[str, Candidate], agencies: dict[str, list[str]]) -> LookupResult:
        ranked = sorted(per_child.values(), key=lambda c: (not c.exact, -c.probability, c.citizen_id))
        shown = [c for c in ranked if c.exact or c.band != "none"]
        for c in shown:
            c.agencies = agencies.get(c.citizen_id, [])
        exact = [c for c in shown if c.exact]
        if exact:
            return LookupResult("found", f"{len(exact)} child(ren) match an identifier exactly", exact + [
                c for c in shown if not c.exact][: max(0, self.max_candidates - len(exact))])
        if len(shown) > self.max_candidates:
            return LookupResult("too_many", f"too many candidates ({len(shown)} children): add a field")
        if not shown:
            return LookupResult("none", "no child in the warehouse matches")
        return LookupResult("found", f"{len(shown)} candidate child(ren)", shown)


def run_thresholds(w: Warehouse, match_at: float | None = None, possible_at: float | None = None
                   ) -> tuple[float, float]:
    """(link, review lower) of the last successful run, unless given; ``MATCH_AT``/``POSSIBLE_AT`` otherwise."""
    recorded: dict[str, Any] = {}
    if (match_at is None or possible_at is None) and w.has("audit.runs"):
        text = w.one("SELECT thresholds FROM audit.runs WHERE status = 'success' AND thresholds IS NOT NULL "
                     "ORDER BY finished_at DESC NULLS LAST LIMIT 1")
        try:
            recorded = json.loads(text) if text else {}
        except ValueError:
            recorded = {}
    review = recorded.get("review") or [None]
    link = match_at if match_at is not None else recorded.get("link") or MATCH_AT
    lower = possible_at if possible_at is not None else review[0] or POSSIBLE_AT
    return float(link), float(min(lower, link))


NAME_COUNTS = (  # (feature column, its count over the warehouse by lower-cased raw value)
    ("first_name_std", "SELECT lower(first_name), count(*) FROM staging.identity_records "
                       "WHERE first_name IS NOT NULL GROUP BY 1"),
    ("last_name_std", "SELECT lower(last_name), count(*) FROM staging.identity_records "
                      "WHERE last_name IS NOT NULL GROUP BY 1"),
)


def name_frequencies(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, float]]:
    """Share of all warehouse records holding each first name and surname (the term frequencies the model's
    name comparisons adjust by). One scan per column; ``Finder`` keeps it until the warehouse is republished."""
    total = one_row(con, "SELECT count(*) FROM staging.identity_records")[0] or 1
    return {col: {v: n / total for v, n in con.execute(sql).fetchall()} for col, sql in NAME_COUNTS}


def published_run(w: Warehouse) -> str | None:
    """The run that published this warehouse file (changes with every nightly swap), if recorded."""
    if not w.has("audit.runs"):
        return None
    return w.one("SELECT run_id FROM audit.runs WHERE status = 'success' ORDER BY finished_at DESC NULLS LAST "
                 "LIMIT 1")


def _agencies(w: Warehouse, citizen_ids: set[str]) -> dict[str, list[str]]:
    if not citizen_ids:
        return {}
    rows = w.rows("SELECT citizen_id, list(DISTINCT source ORDER BY source) AS sources FROM linked.record_citizen "
                  "WHERE list_contains(?, citizen_id) GROUP BY 1", [sorted(citizen_ids)])
    return {r["citizen_id"]: list(r["sources"]) for r in rows}


class FindSession:
    """One request's view: the read-only warehouse, the state store and the finder's compiled model."""

    def __init__(self, finder: Finder, w: Warehouse, store: StateStore) -> None:
        self.finder, self.w, self.store = finder, w, store

    def find(self, query: Query, *, who: str, purpose: str, command: str = "find") -> LookupResult:
        """Search for one child. The search (field names only) is logged before the search runs; the citizen
        ids shown are logged with it."""
        if not purpose or not purpose.strip():
            raise SvocError("a purpose is required: say why you are searching (it is written to the access log)")
        if not query.given():
            raise SvocError("give at least one field to search on")
        result = self.finder.rank(self.w, [query])[0]
        shown = ",".join(c.citizen_id for c in result.candidates) or "none"
        self.store.log_access(who, command, f"search [{','.join(query.given())}] -> {shown}", purpose)
        return result
