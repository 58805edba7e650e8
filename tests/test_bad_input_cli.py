"""Bad input through the real ``svoc run``: one ``error:`` line naming the file or source and saying what to
do, or (for what does not stop a run) a warning on the console that is also recorded in the warehouse."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.e2e import query, run_cli, sha256

pytestmark = pytest.mark.slow


def _run(drop: Path, warehouse: Path, tmp: Path, *extra: str, **env: str):
    return run_cli("run", "--drop", str(drop), "--warehouse", str(warehouse), *extra, tmp=tmp, check=False, **env)


def _one_error_line(proc) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "DagsterAssetCheckFailedError" not in proc.stderr
    return lines[0]


def _header_only(drop: Path) -> str:
    patients = drop / "health" / "patients.csv"
    patients.write_bytes(patients.read_bytes().split(b"\n", 1)[0] + b"\n")
    return "health/patients.csv: file has a header line but no rows (check the export finished"


def _empty(drop: Path) -> str:
    (drop / "health" / "patients.csv").write_bytes(b"")
    return "health/patients.csv: file is empty"


def _no_folder(drop: Path) -> str:
    shutil.rmtree(drop / "health")
    return "health: source folder is missing (check the drop is complete, or remove the source from sources.yaml)"


def _two_stems(drop: Path) -> str:
    shutil.copy(drop / "social_care" / "episodes.xlsx", drop / "education" / "pupils.xlsx")
    return "2 files could be meant: pupils.csv and pupils.xlsx"


def _link_out(drop: Path) -> str:
    outside = drop.parent / "outside"
    outside.mkdir()
    shutil.move(drop / "police" / "nominals.csv", outside / "nominals.csv")
    os.symlink(outside / "nominals.csv", drop / "police" / "nominals.csv")
    return "police/nominals.csv: is a link to a file outside the drop folder, so it is not read"


@pytest.mark.parametrize("damage", [_header_only, _empty, _no_folder, _two_stems, _link_out])
def test_unusable_input_stops_with_one_line_naming_it(demo_copy, tmp_path: Path, damage):
    expected = damage(demo_copy)
    line = _one_error_line(_run(demo_copy, tmp_path / "w.duckdb", tmp_path))
    assert expected in line, line
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("entry, expected", [
    ('  - preset: health\n    name: "../../etc\\n[bold]x"\n',
     "source 'sources[0]': name: a source name must be a lower-case letter"),
    ("  - preset: health\n    identity: {file: ../../outside/patients.csv}\n",
     "outside/patients.csv: is outside the drop folder, so it is not read"),
])
def test_sources_yaml_cannot_reach_outside_the_drop_or_inject_a_name(demo_copy, tmp_path: Path, entry, expected):
    outside = demo_copy.parent / "outside"
    outside.mkdir()
    shutil.copy(demo_copy / "health" / "patients.csv", outside / "patients.csv")
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n" + entry)
    line = _one_error_line(_run(demo_copy, tmp_path / "w.duckdb", tmp_path, "--sources", str(sources)))
    assert expected in line, line


def test_an_unreachable_database_stops_quickly_naming_source_and_variable(demo_copy, tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - preset: social_care\n    identity: {sql: {url_env: SC_DB_URL, table: persons}}\n")
    start = time.monotonic()
    proc = _run(demo_copy, tmp_path / "w.duckdb", tmp_path, "--sources", str(sources),
                SC_DB_URL=f"postgresql://svoc:n0t-this-Pa55@127.0.0.1:{port}/db")
    line = _one_error_line(proc)
    assert time.monotonic() - start < 120  # no retries: a person has to fix this
    assert line.startswith("error: run ") and "social_care/persons@postgresql: cannot connect to the database " \
        "in SC_DB_URL: the server refused the connection" in line
    assert "n0t-this-Pa55" not in proc.stdout + proc.stderr and "OperationalError" not in line


def test_a_halved_source_names_the_source_and_the_drop(demo_run: Path, demo_copy, tmp_path: Path):
    published = tmp_path / "published"
    shutil.copytree(demo_run.parent, published)
    warehouse = published / demo_run.name
    before = sha256(warehouse)
    patients = demo_copy / "health" / "patients.csv"
    lines = patients.read_bytes().split(b"\n")
    patients.write_bytes(b"\n".join(lines[:900]) + b"\n")
    line = _one_error_line(_run(demo_copy, warehouse, tmp_path))
    assert "source 'health' blocked by check 'row_count_not_collapsed'" in line, line
    assert f"in drop {demo_copy}" in line and "the published warehouse was left unchanged" in line
    assert sha256(warehouse) == before


def test_a_renamed_column_and_an_unread_folder_are_told_and_recorded(demo_copy, tmp_path: Path):
    patients = demo_copy / "health" / "patients.csv"
    header, rest = patients.read_bytes().split(b"\n", 1)
    patients.write_bytes(header.replace(b",Postcode,", b",Post_Code,") + b"\n" + rest)
    (demo_copy / "youth_justice").mkdir()
    (demo_copy / "youth_justice" / "cases.csv").write_text("CaseRef\nY1\n")
    warehouse = tmp_path / "w.duckdb"
    proc = _run(demo_copy, warehouse, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert (f"notice: {demo_copy}: folder 'youth_justice' is not a configured source, so its files are not read"
            in out)
    assert ("warning: health/patients.csv: column 'Postcode' is not in the file, so postcode is empty for every "
            "record from it (map the renamed column in sources.yaml, or fix the export)") in out
    assert query(warehouse, "SELECT source, file, kind, subject FROM audit.input_notices") == [
        ("health", "patients.csv", "missing_column", "Postcode")]
    assert "rows in" in out and "rows in = records + quarantined" in " ".join(out.split())
    accounts = query(warehouse, "SELECT lines_in, records_out, quarantined FROM audit.file_accounts "
                                "WHERE file = 'pupils.csv'")
    assert accounts == [(1510, 1478, 4)]
