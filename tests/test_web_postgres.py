"""Workspace accounts and sessions in a PostgreSQL state store (SVOC_STATE_URL), on a real server."""

from __future__ import annotations

import datetime as dt

import pytest

from svoc.state import open_store
from svoc.web.accounts import Accounts, User
from tests.pg import postgres_url  # noqa: F401  (fixture)


@pytest.mark.postgres
def test_accounts_and_sessions_in_postgresql(postgres_url, tmp_path):  # noqa: F811
    with open_store(tmp_path / "w.duckdb", postgres_url) as store:
        accounts = Accounts(store.engine)
        accounts.add("ann.ig", "ig_officer", "a long password 1", replace=True)
        assert accounts.verify("ann.ig", "a long password 1") == User("ann.ig", "ig_officer")
        assert accounts.verify("ann.ig", "wrong password 12") is None
        token, session = accounts.start_session(User("ann.ig", "ig_officer"))
        idle, life = dt.timedelta(minutes=30), dt.timedelta(hours=10)
        assert accounts.session(token, idle=idle, lifetime=life).csrf == session.csrf
        accounts.end_session(token)
        assert accounts.session(token, idle=idle, lifetime=life) is None
    assert not (tmp_path / "w_state.sqlite").exists()  # nothing was written beside the warehouse
