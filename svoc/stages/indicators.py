"""SQL for the declared indicators (``schemas.indicators``), fed by the sources that opt into each.

``IndicatorSql`` turns the catalogue plus the source configs into SQL fragments for ``linked.single_view``:
aggregates over the timeline (``ev``), over identity records (``ids``), one attendance CTE per attendance
indicator, and the final column. Identifiers go through ``quote_ident``; every value (source names, event
types, windows, thresholds, the drop date) is a named parameter collected in ``params``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.config import SourceConfig
from schemas.indicators import (
    ATTENDANCE_MEASURES,
    EVENT_MEASURES,
    FIELD_MEASURES,
    INDICATORS,
    Indicator,
    academic_year_of,
)
from svoc.warehouse.sql import quote_ident


def opted_in(configs: Sequence[SourceConfig]) -> dict[str, list[str]]:
    """Indicator name -> the sources that feed it (catalogue order; an indicator nobody feeds has [])."""
    return {name: [c.name for c in configs if name in c.indicators] for name in INDICATORS}


@dataclass
class Params:
    """Named query parameters, collected while SQL text is generated."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any, cast: str | None = None) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"CAST(${name} AS {cast})" if cast else f"${name}"


@dataclass
class IndicatorSql:
    """The SQL pieces of every catalogue indicator, for one drop date and one set of source configs."""

    drop_date: dt.date
    configs: Sequence[SourceConfig]
    params: Params = field(default_factory=Params)
    ev: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    ctes: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    # queries of one value each that every child's indicators depend on (the latest academic year with
    # attendance data): a single view kept up to date child by child holds only while they do not change
    shared: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        d = self.params.add(self.drop_date, "DATE")
        self.d = d
        for i, (name, sources) in enumerate(opted_in(self.configs).items()):
            self._indicator(i, INDICATORS[name], sources)

    def _indicator(self, i: int, ind: Indicator, sources: list[str]) -> None:
        src = self.params.add(sources, "VARCHAR[]")
        known = f"k{i}"
        self.ids.append(f"bool_or(list_contains({src}, source)) AS {known}")
        out = quote_ident(ind.name)
        if ind.measure in EVENT_MEASURES:
            cond = [f"list_contains({src}, source)", f"event_date <= {self.d}"]
            if ind.event_types:
                cond.append(f"list_contains({self.params.add(list(ind.event_types), 'VARCHAR[]')}, event_type)")
            if ind.measure == "open":
                cond.append(f"(end_date IS NULL OR end_date > {self.d})")
            elif ind.window_months is not None:
                cond.append(f"event_date > {self.d} - to_months({self.params.add(ind.window_months, 'INTEGER')})")
            where = " AND ".join(cond)
            if ind.measure == "count":
                self.ev.append(f"count(*) FILTER (WHERE {where}) AS v{i}")
                self.columns.append(f"CASE WHEN ids.{known} THEN coalesce(ev.v{i}, 0) END AS {out}")
            else:
                self.ev.append(f"bool_or({where}) AS v{i}")
                self.columns.append(f"CASE WHEN ids.{known} THEN coalesce(ev.v{i}, false) END AS {out}")
        elif ind.measure in ATTENDANCE_MEASURES:
            self._attendance(i, ind, src, known, out)
        elif ind.measure in FIELD_MEASURES:
            col = quote_ident(ind.field or ind.name)
            # the latest record's value; on the same start date, the greater value (a rebuild gives the same)
            agg = (f"arg_max({col}, (coalesce(start_date, DATE '1900-01-01'), {col}))" if ind.measure == "latest_value"
                   else f"bool_or({col})")
            self.ids.append(f"{agg} FILTER (WHERE list_contains({src}, source)) AS v{i}")
            self.columns.append(f"CASE WHEN ids.{known} THEN ids.v{i} END AS {out}")

    def _attendance(self, i: int, ind: Indicator, src: str, known: str, out: str) -> None:
        """The latest academic year with attendance data in the drop, up to the drop date's year."""
        year = self.params.add(academic_year_of(self.drop_date), "VARCHAR")
        types = self.params.add(list(ind.event_types) or ["attendance_term"], "VARCHAR[]")
        terms = f"""
      SELECT citizen_id, academic_year, sessions_possible,
             sessions_authorised_absence + sessions_unauthorised_absence AS missed
      FROM linked.interactions
      WHERE list_contains({src}, source) AND list_contains({types}, event_type)
        AND academic_year IS NOT NULL AND academic_year <= {year} AND sessions_possible > 0"""
        self.shared.append(f"SELECT max(academic_year) FROM ({terms})")
        self.ctes.append(f"""
    att{i}_terms AS ({terms}
    ),
    att{i} AS (
      SELECT citizen_id, sum(missed) AS missed, sum(sessions_possible) AS possible
      FROM att{i}_terms WHERE academic_year = (SELECT max(academic_year) FROM att{i}_terms)
      GROUP BY citizen_id
    )""")
        self.joins.append(f"LEFT JOIN att{i} USING (citizen_id)")
        ok = f"ids.{known} AND att{i}.possible > 0"
        if ind.measure == "attendance_rate":
            self.columns.append(f"CASE WHEN {ok} THEN round(1 - att{i}.missed / att{i}.possible, 4) END AS {out}")
        else:
            thr = self.params.add(ind.threshold, "DOUBLE")
            self.columns.append(f"CASE WHEN {ok} THEN att{i}.missed / att{i}.possible >= {thr} END AS {out}")
