"""A full drop's unchanged lines keep last night's staged rows (connectors.reuse, svoc.stages.reuse): staging
after a night that reused rows equals staging the same drop from scratch, whatever moved in the files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from connectors import load_source_configs
from connectors.reuse import DATE_DEPENDENT_FLAGS, Reusable, _code_only, digest_key, row_digests
from svoc.stages.ahead import extract_staged
from svoc.stages.extract import _write_staged, stage_source
from svoc.stages.reuse import reusable_digests, write_reusing
from svoc.warehouse.sql import ensure_tables

REF = dt.date(2026, 12, 1)
DOB_FROM = dt.date(1990, 1, 1)
TABLES = ("staging.identity_records", "staging.interactions", "quarantine.rows")


def _stage(con: duckdb.DuckDBPyConnection, drop: Path, run_id: str, ref: dt.date = REF) -> None:
    for config in load_source_configs(None):
        stage_source(con, drop, config, run_id, ref, dob_from=DOB_FROM)


def _table(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    order = "source, file, line_number" if table.startswith("quarantine") else "source, source_file, source_line"
    frame = con.execute(f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY {order}").df()  # noqa: S608 - fixed names
    return frame.astype(str)


def _edit(drop: Path) -> None:
    """Tonight's export: a line edited, a line added near the top (every later line moves), a line removed, an
    interaction removed and one added."""
    pupils = drop / "education" / "pupils.csv"
    lines = pupils.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(lines[5].split(b",")[4], b"Zebedee", 1)
    new = lines[7].split(b",")
    new[0] = b"P9999999"
    lines.insert(2, b",".join(new))
    del lines[40]
    pupils.write_bytes(b"".join(lines))
    encounters = drop / "health" / "encounters.csv"
    rows = encounters.read_bytes().splitlines(keepends=True)
    del rows[3]
    rows.append(rows[-1])  # an exact repeat: quarantined, as in a fresh run
    encounters.write_bytes(b"".join(rows))


@pytest.fixture
def nights(demo_copy, tmp_path):
    """(warehouse staged last night then tonight, warehouse staged tonight only)."""
    reused = duckdb.connect(str(tmp_path / "reused.duckdb"))
    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    for con in (reused, fresh):
        ensure_tables(con)
    _stage(reused, demo_copy, "night1")
    _edit(demo_copy)
    yield reused, fresh, demo_copy
    reused.close()
    fresh.close()


def test_a_night_that_keeps_unchanged_rows_stages_what_a_fresh_night_stages(nights):
    reused, fresh, drop = nights
    _stage(reused, drop, "night2")
    _stage(fresh, drop, "night2")
    for table in TABLES:
        pd.testing.assert_frame_equal(_table(reused, table), _table(fresh, table), obj=table)
    kept, new = reused.execute("SELECT count(*) FILTER (run_id = 'night1'), count(*) FILTER (run_id = 'night2') "
                               "FROM staging.identity_records").fetchall()[0]
    # the edited and the added pupil are standardised again, and the rows that depend on the drop date (an age,
    # a DOB in the future); every other record is kept
    dated = reused.execute("SELECT count(*) FROM staging.identity_records WHERE age IS NOT NULL OR "
                           "list_has_any(quality_flags, ?::VARCHAR[])", [list(DATE_DEPENDENT_FLAGS)]).fetchall()[0][0]
    assert new == 2 + dated and kept > 3000
    moved = reused.execute("SELECT count(*) FROM staging.identity_records WHERE source = 'education' "
                           "AND run_id = 'night1' AND source_line > 3").fetchall()[0][0]
    assert moved > 1000  # rows kept after the inserted line took their new line numbers


def test_kept_rows_not_as_the_extract_saw_them_mean_the_source_is_extracted_in_full(nights):
    reused, fresh, drop = nights
    health = next(c for c in load_source_configs(None) if c.name == "health")

    def extract(reuse):
        return extract_staged(drop / "health", health, "night2", reference_date=REF, dob_from=DOB_FROM, drop=drop,
                              reuse=reuse)

    staged = extract(reusable_digests(reused, "health", REF))
    assert staged.carried.num_rows > 1900
    reused.execute("DELETE FROM staging.identity_records WHERE source = 'health' AND source_line = 10")
    before = _table(reused, "staging.identity_records")
    assert write_reusing(reused, "health", staged.identity, staged.interactions, staged.carried) is None
    pd.testing.assert_frame_equal(_table(reused, "staging.identity_records"), before)  # nothing written
    _write_staged(reused, health, staged, lambda: extract(None))
    stage_source(fresh, drop, health, "night2", REF, dob_from=DOB_FROM)
    for table in TABLES[:2]:
        ours = _table(reused, table)
        pd.testing.assert_frame_equal(ours[ours["source"] == "health"].reset_index(drop=True), _table(fresh, table),
                                      obj=table)
    assert reused.execute("SELECT count(*) FROM staging.identity_records WHERE source = 'health' "
                          "AND run_id = 'night1'").fetchall()[0][0] == 0


def test_rows_that_depend_on_the_drop_date_are_not_reused(nights):
    reused, _, _ = nights
    reused.execute("UPDATE staging.identity_records SET dob = DATE '2026-11-30' WHERE source = 'health' "
                   "AND source_line = 2")
    before = len(reusable_digests(reused, "health", REF).digests[(True, "patients.csv")])
    earlier = len(reusable_digests(reused, "health", dt.date(2026, 11, 1)).digests[(True, "patients.csv")])
    assert earlier == before - 1  # a DOB after an earlier drop date is in the future there
    assert (False, "encounters.csv") in reusable_digests(reused, "health", REF).digests


@pytest.mark.parametrize(("a", "b", "same"), [
    ({"x": ["1"], "y": ["a"]}, {"x": ["1"], "y": ["a"]}, True),
    ({"x": ["1"], "y": ["a"]}, {"x": ["1"], "y": ["b"]}, False),
    ({"x": ["1"], "y": [None]}, {"x": ["1"], "y": [""]}, False),
    ({"x": ["ab"], "y": ["c"]}, {"x": ["a"], "y": ["bc"]}, False),
])
def test_a_digest_changes_with_any_value(a, b, same):
    da = row_digests(pd.DataFrame(a, dtype=object), "0123456789abcdef")
    db = row_digests(pd.DataFrame(b, dtype=object)[["y", "x"]], "0123456789abcdef")  # by name, not position
    assert bool(da[0] == db[0]) is same
    assert da[0] != row_digests(pd.DataFrame(a, dtype=object), "fedcba9876543210")[0]


@pytest.mark.parametrize(("a", "b", "same"), [
    (b"P1,Ann,Lee\n", b"P1,Ann,Lee\n", True),
    (b"P1,Ann,Lee\n", b"P1,Anne,Lee\n", False),
    (b"P1,Ann,Lee\n", "P1,Ann,Lee\n", True),  # a line as text or bytes: the same UTF-8
])
def test_a_line_digest_is_of_the_line_as_read(a, b, same):
    frame = pd.DataFrame({"x": ["?"]}, dtype=object)  # the values are not read when the lines are given
    assert bool(row_digests(frame, "0123456789abcdef", [a])[0] == row_digests(frame, "0123456789abcdef", [b])[0]) \
        is same


@pytest.mark.parametrize("header", [["PupilID", "Forename", "Surname"], ["PupilID", "Surname", "Forename"]])
def test_the_digest_key_covers_the_header_order(header):
    config = next(c for c in load_source_configs(None) if c.name == "education")
    keys = {digest_key("education", config.identity, identity=True, dob_from=DOB_FROM, header=h, encoding="utf-8",
                       colmap={}) for h in (["PupilID", "Forename", "Surname"], header)}
    assert len(keys) == (1 if header[1] == "Forename" else 2)


def test_reusable_finds_exactly_the_known_digests():
    reuse = Reusable({(True, "f.csv"): np.array([-5, 3, 9], dtype=np.int64)})
    assert reuse.unchanged(True, "f.csv", np.array([3, 4, 9, -5, 10], dtype=np.int64)).tolist() == [
        True, False, True, True, False]
    assert not reuse.unchanged(False, "f.csv", np.array([3], dtype=np.int64)).any()
    assert not Reusable() and reuse


@pytest.mark.parametrize(("a", "b", "same"), [
    ('def f(x):\n    """Old words."""\n    return x + 1\n', 'def f(x):\n    """New words."""\n    return x + 1  # a note\n',
     True),
    ('def f(x):\n    return x + 1\n', 'def f(x):\n    return x + 2\n', False),
    ('X = "text"\n', 'X = "other"\n', False),  # a string that is not a docstring is code
])
def test_the_code_fingerprint_ignores_docstrings_and_comments_only(a, b, same):
    assert (_code_only(a) == _code_only(b)) is same
