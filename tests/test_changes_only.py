"""A changes-only drop replaces only the staged rows it holds (``svoc.stages.changes.write_changed``)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from svoc.stages.changes import write_changed
from svoc.warehouse.sql import ensure_tables


def _identity(source: str, ids: list[str], first: str) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "source_record_id": ids, "first_name": first, "run_id": "r1"})


def _interactions(source: str, events: list[tuple[str, str]], detail: str) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "source_record_id": [r for r, _ in events],
                         "event_id": [e for _, e in events], "detail": detail, "run_id": "r1"})


@pytest.fixture()
def con():
    c = duckdb.connect()
    ensure_tables(c)
    c.register("a", _identity("health", ["H1", "H2", "H3"], "old"))
    c.execute("INSERT INTO staging.identity_records BY NAME SELECT * FROM a")
    c.register("b", _identity("police", ["H1", "P2"], "old"))  # the same record id in another source
    c.execute("INSERT INTO staging.identity_records BY NAME SELECT * FROM b")
    c.register("c", _interactions("health", [("H1", "E1"), ("H2", "E2")], "old"))
    c.execute("INSERT INTO staging.interactions BY NAME SELECT * FROM c")
    yield c
    c.close()


def _rows(con, table: str, key: str) -> dict[tuple[str, str], str]:
    cols = "first_name" if table.endswith("records") else "detail"
    return {(s, k): v for s, k, v in con.execute(f"SELECT source, {key}, {cols} FROM {table}").fetchall()}


@pytest.mark.parametrize("changed,new_events,staged,written", [
    (["H2", "H9"], [("H9", "E9")], 4, 1),  # one changed record, one new, with a new event
    (["H1"], [("H1", "E1")], 3, 1),         # an event replaced in place
    ([], [], 3, 0),                         # nothing in the drop: nothing changes
])
def test_only_the_rows_the_drop_holds_are_replaced(con, changed, new_events, staged, written):
    before = _rows(con, "staging.identity_records", "source_record_id")
    n_id, n_ix = write_changed(con, "health", _identity("health", changed, "new"),
                               _interactions("health", new_events, "new"))
    assert (n_id, n_ix) == (staged, written)
    after = _rows(con, "staging.identity_records", "source_record_id")
    expected = {**before, **{("health", k): "new" for k in changed}}
    assert after == expected  # the police record H1 and unchanged health records keep their rows
    events = _rows(con, "staging.interactions", "event_id")
    assert events == {("health", "E1"): "old", ("health", "E2"): "old",
                      **{("health", e): "new" for _, e in new_events}}
