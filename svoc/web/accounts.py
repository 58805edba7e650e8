"""Workspace accounts and sign-in sessions, kept in the IG state store's database (beside decisions and the
access log: the SQLite file next to the warehouse, or PostgreSQL through ``SVOC_STATE_URL``).

Passwords are hashed with Argon2id (argon2-cffi). A session is a random token in an HttpOnly cookie; only its
SHA-256 is stored, with the user, the role, the CSRF token and when it was last used, so signing out or expiry
ends it on the server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Engine

from schemas.errors import SvocError
from svoc.state.store import utcnow
from svoc.web.config import ROLES

META = sa.MetaData()

ACCOUNTS = sa.Table(
    "web_accounts", META,
    sa.Column("username", sa.String(120), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.Text),  # NULL for accounts that sign in through OpenID Connect only
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

SESSIONS = sa.Table(
    "web_sessions", META,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(120), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
)

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,119}$")
_HASHER = PasswordHasher()
# A hash of a random password: checking a wrong user name costs as much as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 12


@dataclass(frozen=True)
class User:
    username: str
    role: str

    def can(self, *roles: str) -> bool:
        return self.role in roles


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise SvocError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def check_username(username: str) -> str:
    if not USERNAME.match(username or ""):
        raise SvocError("a user name is 2-120 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return username


class Accounts:
    """Accounts and sessions on one SQLAlchemy engine (the state store's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        META.create_all(engine)

    # ------------------------------------------------------------------ accounts
    def add(self, username: str, role: str, password: str | None, *, replace: bool = False) -> User:
        """Create (or with ``replace``, reset) an account. ``password=None``: OpenID Connect sign-in only."""
        check_username(username)
        check_role(role)
        if password is not None and len(password) < MIN_PASSWORD:
            raise SvocError(f"a password needs at least {MIN_PASSWORD} characters")
        row = {"username": username, "role": role, "created_at": utcnow(), "disabled": False,
               "password_hash": _HASHER.hash(password) if password is not None else None}
        with self.engine.begin() as c:
            exists = c.execute(sa.select(ACCOUNTS.c.username).where(ACCOUNTS.c.username == username)).first()
            if exists and not replace:
                raise SvocError(f"account {username} already exists (use --replace to reset it)")
            if exists:
                c.execute(ACCOUNTS.update().where(ACCOUNTS.c.username == username).values(**row))
                c.execute(SESSIONS.delete().where(SESSIONS.c.username == username))
            else:
                c.execute(ACCOUNTS.insert().values(**row))
        return User(username, role)

    def disable(self, username: str) -> None:
        with self.engine.begin() as c:
            n = c.execute(ACCOUNTS.update().where(ACCOUNTS.c.username == username).values(disabled=True)).rowcount
            c.execute(SESSIONS.delete().where(SESSIONS.c.username == username))
        if not n:
            raise SvocError(f"no account {username}")

    def list(self) -> list[dict[str, object]]:
        q = sa.select(ACCOUNTS.c.username, ACCOUNTS.c.role, ACCOUNTS.c.created_at, ACCOUNTS.c.disabled,
                      (ACCOUNTS.c.password_hash.is_not(None)).label("has_password")).order_by(ACCOUNTS.c.username)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings().all()]

    def get(self, username: str) -> User | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(ACCOUNTS.c.role, ACCOUNTS.c.disabled).where(
                ACCOUNTS.c.username == username)).first()
        return None if row is None or row.disabled else User(username, row.role)

    def verify(self, username: str, password: str) -> User | None:
        """The user when the password is right (and the account enabled), else None. Same cost either way."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(ACCOUNTS.c.role, ACCOUNTS.c.password_hash, ACCOUNTS.c.disabled).where(
                ACCOUNTS.c.username == username)).first()
        stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
        ok: bool
        try:
            ok = _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None or row.disabled or not row.password_hash:
            return None
        if _HASHER.check_needs_rehash(stored):
            with self.engine.begin() as c:
                c.execute(ACCOUNTS.update().where(ACCOUNTS.c.username == username).values(
                    password_hash=_HASHER.hash(password)))
        return User(username, row.role)

    # ------------------------------------------------------------------ sessions
    def start_session(self, user: User) -> tuple[str, Session]:
        """A new session: the cookie token (returned once, never stored) and the session."""
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
        with self.engine.begin() as c:
            c.execute(SESSIONS.insert().values(token_hash=_digest(token), username=user.username, role=user.role,
                                               csrf=csrf, created_at=now, last_seen=now))
        return token, Session(user, csrf)

    def session(self, token: str | None, *, idle: dt.timedelta, lifetime: dt.timedelta,
                now: dt.datetime | None = None) -> Session | None:
        """The live session for a cookie token (touching it), or None when unknown, idle too long or too old
        (an expired session is deleted)."""
        if not token:
            return None
        now = now or utcnow()
        key = _digest(token)
        with self.engine.begin() as c:
            row = c.execute(sa.select(SESSIONS).where(SESSIONS.c.token_hash == key)).mappings().first()
            if row is None:
                return None
            if now - row["last_seen"] > idle or now - row["created_at"] > lifetime:
                c.execute(SESSIONS.delete().where(SESSIONS.c.token_hash == key))
                return None
            c.execute(SESSIONS.update().where(SESSIONS.c.token_hash == key).values(last_seen=now))
        return Session(User(row["username"], row["role"]), row["csrf"])

    def end_session(self, token: str | None) -> None:
        if token:
            with self.engine.begin() as c:
                c.execute(SESSIONS.delete().where(SESSIONS.c.token_hash == _digest(token)))

    def purge_expired(self, *, idle: dt.timedelta, lifetime: dt.timedelta) -> int:
        now = utcnow()
        with self.engine.begin() as c:
            return int(c.execute(SESSIONS.delete().where(sa.or_(
                SESSIONS.c.last_seen < now - idle, SESSIONS.c.created_at < now - lifetime))).rowcount or 0)
