"""SQL sources through the URL a council would write (``postgresql://``), and the line a failure gives.

A failure must come within seconds, name the source and the ``url_env`` variable, say what to check, and
never show the URL (it may carry a password).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import extract_source
from connectors.presets import PRESETS
from connectors.sql import connect_failure
from schemas.config import SqlLocation
from schemas.errors import UnusableInputError
from tests.pg import postgres_url  # noqa: F401  (fixture)

PASSWORD = "s3cret-Pa55"


def _config(monkeypatch, url: str, env: str = "SVOC_TEST_SC_URL"):
    monkeypatch.setenv(env, url)
    cfg = PRESETS["social_care"].model_copy(deep=True)
    cfg.identity.sql = SqlLocation(url_env=env, table="persons")
    cfg.interactions = []
    return cfg


def _fails(cfg, within: float) -> str:
    start = time.monotonic()
    with pytest.raises(UnusableInputError) as err:
        extract_source(Path("/nonexistent/social_care"), cfg)
    assert time.monotonic() - start < within
    message = str(err.value)
    assert "\n" not in message and PASSWORD not in message and "OperationalError" not in message
    assert message.startswith("social_care/persons@") and "SVOC_TEST_SC_URL" in message
    return message


@pytest.mark.postgres
def test_a_plain_postgresql_url_reads_the_table(postgres_url, monkeypatch):  # noqa: F811
    plain = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    assert sa.make_url(plain).drivername == "postgresql"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        pd.DataFrame({"PersonID": ["S1", "S2"], "FirstName": ["Ann", "Bo"], "LastName": ["Lee", "Ng"],
                      "DOB": ["2012-01-03", "2013-02-04"]}).to_sql("persons", conn, index=False, if_exists="replace")
    engine.dispose()
    extract = extract_source(Path("/nonexistent/social_care"), _config(monkeypatch, plain))
    assert extract.identity["source_record_id"].tolist() == ["S1", "S2"]
    assert set(extract.identity["source_file"]) == {"persons@postgresql"}


@pytest.mark.postgres
def test_a_wrong_password_names_source_and_variable_never_the_url(postgres_url, monkeypatch):  # noqa: F811
    url = sa.make_url(postgres_url.replace("postgresql+psycopg2://", "postgresql://")).set(password=PASSWORD)
    message = _fails(_config(monkeypatch, url.render_as_string(hide_password=False)), within=10)
    assert "the server refused the user name or password" in message
    assert str(url.port) not in message


def test_a_refused_connection_stops_at_once(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    message = _fails(_config(monkeypatch, f"postgresql://svoc:{PASSWORD}@127.0.0.1:{port}/db"), within=5)
    assert "cannot connect to the database in SVOC_TEST_SC_URL: the server refused the connection" in message
    assert "check the server is running and reachable" in message


def test_a_server_that_never_answers_stops_within_the_connect_timeout(monkeypatch):
    monkeypatch.setattr("connectors.sql.CONNECT_TIMEOUT_S", 2)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel accepts the TCP connection; nobody ever speaks
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        message = _fails(_config(monkeypatch, f"postgresql://svoc:{PASSWORD}@127.0.0.1:{port}/db"), within=8)
        assert "did not answer within the connect timeout" in message
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("scheme", ["postgresql+pg8000", "mysql", "mssql+pymssql"])
def test_a_missing_driver_stops_at_once_with_one_line(monkeypatch, scheme: str):
    message = _fails(_config(monkeypatch, f"{scheme}://svoc:{PASSWORD}@db.example:5432/x"), within=3)
    assert "the database driver for the URL in SVOC_TEST_SC_URL is not installed" in message


def test_an_unparseable_url_names_the_variable(monkeypatch):
    message = _fails(_config(monkeypatch, f"not a url {PASSWORD}"), within=3)
    assert "the database URL in SVOC_TEST_SC_URL cannot be parsed" in message


@pytest.mark.parametrize("driver_message, cause", [
    ('connection to server at "h", port 5432 failed: FATAL:  password authentication failed for user "u"',
     "refused the user name or password"),
    ("connection failed: timeout expired", "did not answer"),
    ('could not translate host name "nowhere" to address', "host name cannot be resolved"),
    ("connection refused", "refused the connection"),
    ('FATAL:  database "x" does not exist', "does not exist"),
    ("something new", "the connection failed"),
])
def test_connect_failures_are_described_without_the_driver_text(driver_message: str, cause: str):
    assert cause in connect_failure(driver_message)
