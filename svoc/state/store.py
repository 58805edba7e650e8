"""The IG state store: steward decisions (with the evidence the steward saw) and the access log.

SQLite beside the warehouse by default (``<stem>_state.sqlite``, created 0600, WAL mode so one writer never
blocks readers), or any SQLAlchemy URL (PostgreSQL) from ``Settings.state_url`` (``SVOC_STATE_URL``). One engine
per ``open_store`` block, disposed on exit: nothing outlives the caller.

Decisions and access-log entries are append-only. Rows written into a warehouse by older versions are copied
in once (``migrate_from_warehouse``: idempotent, keyed on each row's content).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from schemas.errors import SvocError

META = sa.MetaData()

DECISIONS = sa.Table(
    "review_decisions", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pair_id", sa.String(32), nullable=False, index=True),
    sa.Column("unique_id_l", sa.String(300), nullable=False),
    sa.Column("unique_id_r", sa.String(300), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("purpose", sa.Text),
    sa.Column("evidence_seen", sa.Text),  # JSON: what the steward was shown when deciding
    sa.Column("origin", sa.String(32)),  # cli | web | migrated
    sa.UniqueConstraint("pair_id", "decision", "reviewer", "decided_at", name="uq_decision"),
)

ACCESS_LOG = sa.Table(
    "access_log", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("accessed_at", sa.DateTime, nullable=False, index=True),
    sa.Column("who", sa.String(200), nullable=False),
    sa.Column("command", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.UniqueConstraint("accessed_at", "who", "command", "subject", name="uq_access"),
)

STATE_META = sa.Table(
    "state_meta", META,
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("value", sa.Text),
)

# The warehouse's published copy (``audit.review_decisions``) has exactly these columns.
WAREHOUSE_DECISION_COLUMNS = ("pair_id", "unique_id_l", "unique_id_r", "decision", "reviewer", "reason",
                              "decided_at")


@dataclass(frozen=True)
class AccessEntry:
    """One line of the access log: who looked at what, when, and why."""

    accessed_at: dt.datetime
    who: str
    command: str
    subject: str
    purpose: str


def utcnow() -> dt.datetime:
    """Now, as the naive UTC timestamp the store and the warehouse keep."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def default_state_path(warehouse: Path) -> Path:
    """``<warehouse folder>/<stem>_state.sqlite``: beside the warehouse, never swapped with it."""
    return warehouse.with_name(f"{warehouse.stem}_state.sqlite")


def state_url_for(warehouse: Path, state_url: str | None = None) -> str:
    """The store's SQLAlchemy URL: ``state_url`` when given, else the SQLite file beside ``warehouse``."""
    if state_url:
        return state_url
    return URL.create("sqlite", database=str(default_state_path(warehouse))).render_as_string()


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def _engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        _create_private_file(Path(parsed.database))
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_con: Any, _record: Any) -> None:
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def _describe(url: str) -> str:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"state store {parsed.database}"
    return f"state store (SVOC_STATE_URL, {parsed.get_backend_name()} on {parsed.host or 'localhost'})"


class StateStore:
    """Decisions and the access log. Use through ``open_store``; every method is one short transaction."""

    def __init__(self, engine: Engine, description: str) -> None:
        self.engine = engine
        self.description = description

    # ------------------------------------------------------------------ access log
    def log_access(self, who: str, command: str, subject: str, purpose: str,
                   at: dt.datetime | None = None) -> AccessEntry:
        """Append one access-log line (call it BEFORE showing anything). ``subject`` is a record key, pair or
        citizen id: never a name, date of birth or identifier."""
        if not purpose or not purpose.strip():
            raise SvocError("a purpose is required: say why you need this record (it is written to the access log)")
        entry = AccessEntry(at or utcnow(), who, command, subject, purpose.strip())
        with self.engine.begin() as c:
            c.execute(ACCESS_LOG.insert().values(**entry.__dict__))
        return entry

    def access_log(self, *, limit: int = 200, who: str | None = None, subject: str | None = None,
                   since: dt.datetime | None = None) -> list[AccessEntry]:
        """The newest entries first, optionally for one person, one subject, or after a time."""
        q = sa.select(ACCESS_LOG.c.accessed_at, ACCESS_LOG.c.who, ACCESS_LOG.c.command, ACCESS_LOG.c.subject,
                      ACCESS_LOG.c.purpose)
        if who:
            q = q.where(ACCESS_LOG.c.who == who)
        if subject:
            q = q.where(ACCESS_LOG.c.subject == subject)
        if since:
            q = q.where(ACCESS_LOG.c.accessed_at >= since)
        q = q.order_by(ACCESS_LOG.c.accessed_at.desc(), ACCESS_LOG.c.id.desc()).limit(int(limit))
        with self.engine.connect() as c:
            return [AccessEntry(*row) for row in c.execute(q).all()]

    def access_count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(ACCESS_LOG)).scalar_one())

    # ------------------------------------------------------------------ decisions
    def add_decision(self, *, pair_id: str, unique_id_l: str, unique_id_r: str, decision: str, reviewer: str,
                     reason: str, decided_at: dt.datetime | None = None, purpose: str | None = None,
                     evidence_seen: Any = None, origin: str = "cli") -> dict[str, Any]:
        """Append a (validated) steward decision with the evidence the steward was shown. Returns the row."""
        row = {"pair_id": pair_id, "unique_id_l": unique_id_l, "unique_id_r": unique_id_r, "decision": decision,
               "reviewer": reviewer, "reason": reason, "decided_at": decided_at or utcnow(), "purpose": purpose,
               "evidence_seen": None if evidence_seen is None else json.dumps(evidence_seen, default=str),
               "origin": origin}
        with self.engine.begin() as c:
            c.execute(DECISIONS.insert().values(**row))
        return row

    def decisions(self, *, since: dt.datetime | None = None) -> pd.DataFrame:
        """Every decision, oldest first, with the warehouse columns plus ``purpose``, ``evidence_seen``, ``origin``."""
        q = sa.select(*(DECISIONS.c[n] for n in (*WAREHOUSE_DECISION_COLUMNS, "purpose", "evidence_seen", "origin")))
        if since:
            q = q.where(DECISIONS.c.decided_at > since)
        q = q.order_by(DECISIONS.c.decided_at, DECISIONS.c.id)
        with self.engine.connect() as c:
            rows = c.execute(q).mappings().all()
        cols = [*WAREHOUSE_DECISION_COLUMNS, "purpose", "evidence_seen", "origin"]
        return pd.DataFrame([dict(r) for r in rows], columns=cols)

    def latest_decision(self, key_a: str, key_b: str, decision: str | None = None) -> dict[str, Any] | None:
        """The newest decision on the pair of record keys (in either order), or None."""
        lo, hi = sorted((key_a, key_b))
        q = sa.select(DECISIONS).where(DECISIONS.c.unique_id_l == lo, DECISIONS.c.unique_id_r == hi)
        if decision:
            q = q.where(DECISIONS.c.decision == decision)
        q = q.order_by(DECISIONS.c.decided_at.desc(), DECISIONS.c.id.desc()).limit(1)
        with self.engine.connect() as c:
            row = c.execute(q).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["evidence_seen"] = json.loads(out["evidence_seen"]) if out["evidence_seen"] else None
        return out

    def decided_pair_ids(self, since: dt.datetime | None = None) -> set[str]:
        q = sa.select(DECISIONS.c.pair_id).distinct()
        if since:
            q = q.where(DECISIONS.c.decided_at > since)
        with self.engine.connect() as c:
            return {r[0] for r in c.execute(q).all()}

    # ------------------------------------------------------------------ migration
    def _insert_ignoring_duplicates(self, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        name = self.engine.dialect.name
        statement: sa.Insert
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert
            statement = sqlite_insert(table).on_conflict_do_nothing()
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert
            statement = postgresql_insert(table).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise SvocError(f"{self.description}: unsupported database {name}; use SQLite or PostgreSQL")
        with self.engine.begin() as c:
            result = c.execute(statement, rows)
        return max(int(result.rowcount or 0), 0)

    def migrate_from_warehouse(self, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        """Copy decisions and access-log rows that an older version wrote into the warehouse (idempotent)."""
        present = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'audit' "
            "AND table_name IN ('review_decisions', 'access_log')").fetchall()}
        moved = {"decisions": 0, "access_log": 0}
        if "review_decisions" in present:
            df = con.execute("SELECT pair_id, unique_id_l, unique_id_r, decision, reviewer, reason, decided_at "
                             "FROM audit.review_decisions").df()
            rows = [{**_plain(r), "origin": "migrated"} for r in df.to_dict("records")]
            moved["decisions"] = self._insert_ignoring_duplicates(DECISIONS, rows)
        if "access_log" in present:
            df = con.execute("SELECT accessed_at, who, command, subject, purpose FROM audit.access_log").df()
            moved["access_log"] = self._insert_ignoring_duplicates(ACCESS_LOG, [_plain(r) for r in
                                                                                df.to_dict("records")])
        return moved

    def migrated(self, warehouse: Path) -> bool:
        with self.engine.connect() as c:
            return c.execute(sa.select(STATE_META.c.value).where(
                STATE_META.c.key == f"migrated:{warehouse.resolve()}")).first() is not None

    def mark_migrated(self, warehouse: Path) -> None:
        with self.engine.begin() as c:
            if c.execute(sa.select(STATE_META.c.key).where(
                    STATE_META.c.key == f"migrated:{warehouse.resolve()}")).first() is None:
                c.execute(STATE_META.insert().values(key=f"migrated:{warehouse.resolve()}",
                                                     value=utcnow().isoformat()))


def _plain(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, pd.Timestamp):
            v = v.to_pydatetime()
        elif v is not None and not isinstance(v, str | dt.datetime) and pd.isna(v):
            v = None
        out[str(k)] = v
    return out


@contextmanager
def open_store(warehouse: Path, state_url: str | None = None, *, migrate: bool = True) -> Iterator[StateStore]:
    """The state store for ``warehouse`` (created on first use). On first open, decisions and access-log rows
    an older version wrote into the warehouse are copied in (the warehouse is opened read-only for that)."""
    url = state_url_for(warehouse, state_url)
    store = StateStore(_engine(url), _describe(url))
    try:
        try:
            META.create_all(store.engine)
        except sa.exc.OperationalError:
            raise SvocError(f"{store.description}: cannot open or create the state store; check that the database "
                            "is running and reachable and the credentials are right") from None
        if migrate and warehouse.exists() and not store.migrated(warehouse):
            try:
                con = duckdb.connect(str(warehouse), read_only=True)
            except duckdb.Error:
                con = None  # held for writing elsewhere: migrate at the next open or the next build
            if con is not None:
                try:
                    store.migrate_from_warehouse(con)
                finally:
                    con.close()
                store.mark_migrated(warehouse)
        yield store
    finally:
        store.engine.dispose()


def carry_state_into_build(con: duckdb.DuckDBPyConnection, store: StateStore) -> int:
    """In a build: copy any warehouse-held decisions/access log into the store, then publish the store's
    decisions as ``audit.review_decisions`` and drop the access log from the warehouse (it lives in the store,
    where only IG reads it). Returns the number of decisions carried."""
    from svoc.warehouse.sql import write_frame

    store.migrate_from_warehouse(con)
    decisions = store.decisions()[list(WAREHOUSE_DECISION_COLUMNS)]
    write_frame(con, "audit.review_decisions", decisions, replace_where="true")
    con.execute("DELETE FROM audit.access_log")
    return len(decisions)
