"""Bad input that used to be lost silently, read from outside the drop, or stop the run with no clear line.

Each test names the item of the "what users hit first" issue it pins.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import extract_source, load_source_configs, open_file, resolve_file
from connectors.readers import open_tables
from schemas.config import SOURCE_NAME_PATTERN, FileConfig, InteractionFileConfig, SourceConfig, SqlLocation
from schemas.errors import UnusableInputError
from svoc.drops import drop_notices, unconfigured_folders

REF = dt.date(2026, 3, 1)
HEADER = ["ID", "Name", "DOB", "Postcode"]
CONFIG = SourceConfig(
    name="people_src",
    identity=FileConfig(file="people", columns={"source_record_id": "ID", "first_name": "Name", "dob": "DOB",
                                                "postcode": "Postcode"}, required=["source_record_id", "dob"]),
    interactions=[InteractionFileConfig(file="events", event_type="sc_contact", optional=True,
                                        columns={"source_record_id": "ID", "event_date": "When"})],
)


def _drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop" / CONFIG.name
    folder.mkdir(parents=True)
    return folder


def _csv(folder: Path, name: str, rows: list[str], header: str = ",".join(HEADER)) -> Path:
    path = folder / name
    path.write_text("".join(f"{line}\n" for line in [header, *rows]), encoding="utf-8")
    return path


def _rows(n: int, start: int = 1) -> list[str]:
    return [f"A{i},Ann,2012-01-{1 + i % 28:02d},LS1 4AP" for i in range(start, start + n)]


def _extract(folder: Path, config: SourceConfig = CONFIG):
    return extract_source(folder, config, run_id="r1", reference_date=REF)


def _workbook(path: Path, sheets: dict[str, list[list]]) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)


# ------------------------------------------------------------------------------- workbooks with several sheets


def test_every_sheet_with_the_same_header_is_read_and_accounted_for(tmp_path: Path):
    folder = _drop(tmp_path)
    _workbook(folder / "people.xlsx", {
        "Jan": [HEADER, ["A1", "Ann", "2012-01-01", "LS1 4AP"], ["A2", "Bo", "2012-01-02", None]],
        "Feb": [HEADER, ["A3", "Cy", "2012-01-03", None], ["A1", "Ann", "2012-01-01", None], [None, "X", "2012"]],
        "Blank": [],
    })
    e = _extract(folder)
    assert sorted(e.identity["source_record_id"]) == ["A1", "A2", "A3"]
    assert set(e.identity["source_file"]) == {"people.xlsx[Jan]", "people.xlsx[Feb]"}
    files = {a.file: (a.lines_in, a.records_out, a.quarantined) for a in e.accounts}
    assert files == {"people.xlsx[Jan]": (3, 2, 0), "people.xlsx[Feb]": (4, 1, 2)}
    reasons = dict(zip(e.quarantine["line_number"], e.quarantine["reason"], strict=True))
    assert reasons == {3: "ID 'A1' already seen at line 2 of people.xlsx[Jan]", 4: "ID is missing"}
    assert set(e.quarantine["file"]) == {"people.xlsx[Feb]"}


def test_one_sheet_workbook_keeps_its_plain_label(tmp_path: Path):
    folder = _drop(tmp_path)
    _workbook(folder / "people.xlsx", {"Data": [HEADER, ["A1", "Ann", "2012-01-01", "LS1 4AP"]], "Empty": []})
    e = _extract(folder)
    assert e.identity["source_file"].tolist() == ["people.xlsx"] and e.identity["source_line"].tolist() == [2]


@pytest.mark.parametrize("second, problem", [
    ([["Notes"], ["sent by the MIS team"]], "sheet 'Notes' has a different header from sheet 'Data'"),
    ([[None], [None, "A9", "2012-01-01"]], "sheet 'Notes' holds rows but has no header in row 1"),
])
def test_a_sheet_that_would_not_be_read_stops_the_run_naming_file_and_sheet(tmp_path: Path, second, problem):
    folder = _drop(tmp_path)
    _workbook(folder / "people.xlsx", {"Data": [HEADER, ["A1", "Ann", "2012-01-01", None]], "Notes": second})
    with pytest.raises(UnusableInputError) as err:
        _extract(folder)
    assert str(err.value).startswith(f"{folder / 'people.xlsx'}: {problem}") and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------- one stem, two files


def test_two_files_with_one_stem_stop_the_run_naming_both(tmp_path: Path):
    folder = _drop(tmp_path)
    _csv(folder, "people.csv", _rows(2))
    _workbook(folder / "people.xlsx", {"Data": [HEADER, ["A1", "Ann", "2012-01-01", None]]})
    with pytest.raises(UnusableInputError) as err:
        _extract(folder)
    assert "people.csv and people.xlsx" in str(err.value) and "keep only one" in str(err.value)


def test_a_stem_given_with_its_extension_picks_that_file(tmp_path: Path):
    folder = _drop(tmp_path)
    _csv(folder, "people.csv", _rows(2))
    (folder / "people.parquet").write_bytes(b"not read")
    assert resolve_file(folder, "people.csv") == folder / "people.csv"


# ------------------------------------------------------------------------------------- paths that leave the drop


@pytest.mark.parametrize("file", ["../../outside/people.csv", "../../outside/people", "/OUTSIDE/people.csv"])
def test_a_configured_file_outside_the_drop_is_refused(tmp_path: Path, file: str):
    folder = _drop(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    _csv(outside, "people.csv", _rows(2))
    cfg = CONFIG.model_copy(deep=True)
    cfg.identity.file = file.replace("/OUTSIDE", str(outside))
    with pytest.raises(UnusableInputError, match="is outside the drop folder, so it is not read"):
        _extract(folder, cfg)


def test_a_link_that_leaves_the_drop_is_refused(tmp_path: Path):
    folder = _drop(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    _csv(outside, "people.csv", _rows(2))
    os.symlink(outside / "people.csv", folder / "people.csv")
    with pytest.raises(UnusableInputError, match="is a link to a file outside the drop folder"):
        _extract(folder)


def test_a_link_inside_the_drop_and_a_sibling_folder_are_fine(tmp_path: Path):
    folder = _drop(tmp_path)
    shared = folder.parent / "shared"
    shared.mkdir()
    _csv(shared, "people.csv", _rows(3))
    os.symlink(shared / "people.csv", folder / "people.csv")
    assert len(_extract(folder).identity) == 3


# ------------------------------------------------------------------------------------------------ NUL bytes


@pytest.mark.parametrize("line", [2, 3, 600, 1000, 1001])
def test_a_nul_byte_quarantines_its_line_wherever_it_is(tmp_path: Path, line: int):
    folder = _drop(tmp_path)
    rows = _rows(1000)
    rows[line - 2] = rows[line - 2].replace("Ann", "A\x00nn")
    _csv(folder, "people.csv", rows)
    e = _extract(folder)
    assert len(e.identity) == 999 and "\x00" not in "".join(e.identity["first_name"])
    [(number, reason, raw)] = e.quarantine[["line_number", "reason", "raw_line"]].values.tolist()
    assert number == line and reason.startswith("line holds a NUL byte (0x00)") and "\x00" not in raw
    [acc] = e.accounts
    assert (acc.lines_in, acc.records_out, acc.quarantined) == (1001, 999, 1)


def test_a_nul_byte_inside_a_multiline_field_quarantines_the_whole_record(tmp_path: Path):
    folder = _drop(tmp_path)
    rows = _rows(3)
    rows[1] = 'A2,"Ann\nBe\x00th",2012-01-02,LS1 4AP'
    _csv(folder, "people.csv", rows)
    e = _extract(folder)
    assert e.identity["source_record_id"].tolist() == ["A1", "A3"]
    assert e.quarantine["line_number"].tolist() == [3] and e.accounts[0].quarantined_lines == 2


def test_nul_bytes_in_the_header_mean_the_file_is_not_text(tmp_path: Path):
    folder = _drop(tmp_path)
    (folder / "people.csv").write_bytes("ID,Name,DOB,Postcode\n".encode("utf-16-le") + b"A\x001\x00\n\x00")
    with pytest.raises(UnusableInputError, match="the header line holds NUL bytes"):
        _extract(folder)


# --------------------------------------------------------------------------- empty, header-only, missing folder


def test_an_empty_file_says_so(tmp_path: Path):
    folder = _drop(tmp_path)
    (folder / "people.csv").write_bytes(b"")
    with pytest.raises(UnusableInputError, match=r"people\.csv: file is empty"):
        _extract(folder)


def test_a_header_only_identity_file_stops_with_one_line(tmp_path: Path):
    folder = _drop(tmp_path)
    _csv(folder, "people.csv", [])
    with pytest.raises(UnusableInputError) as err:
        _extract(folder)
    assert str(err.value) == (f"{folder / 'people.csv'}: file has a header line but no rows "
                              "(check the export finished, then re-send it)")


def test_a_header_only_interaction_file_is_a_notice(tmp_path: Path):
    folder = _drop(tmp_path)
    _csv(folder, "people.csv", _rows(2))
    _csv(folder, "events.csv", [], header="ID,When")
    e = _extract(folder)
    assert [(n.file, n.kind) for n in e.notices] == [("events.csv", "no_rows")]
    assert len(e.identity) == 2 and len(e.interactions) == 0


def test_a_missing_source_folder_says_what_to_do(tmp_path: Path):
    with pytest.raises(UnusableInputError) as err:
        _extract(tmp_path / "drop" / "people_src")
    assert "source folder is missing" in str(err.value) and "remove the source from sources.yaml" in str(err.value)


def test_a_folder_no_source_reads_gets_a_notice(tmp_path: Path):
    drop = tmp_path / "drop"
    for name in ("education", "health", "police", "social_care", "youth_justice", ".cache", "_tmp"):
        (drop / name).mkdir(parents=True)
    assert unconfigured_folders(drop, ["education", "health", "police", "social_care"]) == ["youth_justice"]
    [notice] = drop_notices(drop, None)
    assert "'youth_justice' is not a configured source" in notice and "sources.yaml" in notice


# ------------------------------------------------------------------------- renamed optional column, accounting


def test_a_renamed_optional_column_is_a_notice_naming_column_and_field(tmp_path: Path):
    folder = _drop(tmp_path)
    _csv(folder, "people.csv", _rows(3), header="ID,Name,DOB,Post_Code")
    e = _extract(folder)
    assert e.identity["postcode"].isna().all()
    [notice] = e.notices
    assert (notice.source, notice.file, notice.kind, notice.subject) == ("people_src", "people.csv",
                                                                         "missing_column", "Postcode")
    assert "column 'Postcode' is not in the file, so postcode is empty for every record" in notice.message


def test_rows_in_adds_up_where_quoted_fields_span_lines(tmp_path: Path):
    folder = _drop(tmp_path)
    rows = _rows(4)
    rows[0] = 'A1,"Ann\nMarie",2012-01-01,LS1 4AP'
    rows[2] = "A3,too,few"
    _csv(folder, "people.csv", rows)
    [acc] = _extract(folder).accounts
    assert (acc.lines_in, acc.rows_in, acc.records_out, acc.quarantined) == (6, 4, 3, 1)
    assert acc.lines_in == acc.header_lines + acc.record_lines + acc.quarantined_lines


# ------------------------------------------------------------------------------------------- source names


@pytest.mark.parametrize("name", ["../etc", "Health", "a b", "x" * 41, "health\n", "[bold]x", "1st", "", "é"])
def test_a_hostile_source_name_stops_with_one_line_that_does_not_echo_it(tmp_path: Path, name: str):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - preset: health\n    name: " + json.dumps(name) + "\n")
    with pytest.raises(UnusableInputError) as err:
        load_source_configs(path)
    message = str(err.value)
    assert "\n" not in message and "source 'sources[0]': name:" in message and "lower-case letter" in message


@given(st.text(max_size=45))
def test_source_name_pattern_admits_only_safe_names(name: str):
    if SOURCE_NAME_PATTERN.fullmatch(name):
        assert name.isascii() and name[0].isalpha() and name == name.lower() and len(name) <= 40
        assert all(c.isalnum() or c == "_" for c in name)


def test_a_drop_reached_through_a_link_is_read(tmp_path: Path):
    folder = _drop(tmp_path)
    _csv(folder, "people.csv", _rows(2))
    (tmp_path / "landing").mkdir()
    os.symlink(folder.parent, tmp_path / "landing" / "tonight")
    e = extract_source(tmp_path / "landing" / "tonight" / CONFIG.name, CONFIG, reference_date=REF)
    assert len(e.identity) == 2


@pytest.mark.parametrize("name, expected", [
    ("people.xlsx", "people.xlsx: not a readable .xlsx workbook (check the file is really an Excel workbook)"),
    ("people.parquet", "people.parquet: not a readable Parquet file (check the file is really Parquet)"),
])
def test_a_file_that_is_not_what_its_extension_says_gets_a_plain_line(tmp_path: Path, name: str, expected: str):
    folder = _drop(tmp_path)
    (folder / name).write_bytes(b"ID,Name\nA1,Ann\n")
    with pytest.raises(UnusableInputError) as err:
        _extract(folder)
    assert str(err.value).endswith(expected) and "Error" not in str(err.value)


def test_open_file_refuses_a_workbook_with_rows_on_several_sheets(tmp_path: Path):
    path = tmp_path / "two.xlsx"
    _workbook(path, {"A": [HEADER, ["A1", "Ann", "2012-01-01", None]], "B": [HEADER, ["A2", "Bo", "2012", None]]})
    with pytest.raises(UnusableInputError, match="holds rows on 2 sheets"):
        open_file(path)
    assert [s.label for s in open_tables(path)] == ["two.xlsx[A]", "two.xlsx[B]"]


def test_the_run_report_shows_input_warnings_and_rows_in(tmp_path: Path):
    import duckdb

    from svoc.report.render import write_report
    from svoc.warehouse.sql import ensure_tables

    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    ensure_tables(con)
    con.execute("INSERT INTO audit.runs (run_id, started_at, finished_at, status, drop) VALUES "
                "('r1', now(), now(), 'success', 'd')")
    con.execute("INSERT INTO audit.file_accounts VALUES ('r1', 'health', 'patients.csv', 2010, 1998, 2)")
    con.execute("INSERT INTO audit.input_notices VALUES ('r1', 'health', 'patients.csv', 'missing_column', "
                "'Postcode', 'column ''Postcode'' is not in the file, so postcode is empty for every record')")
    con.close()
    html = write_report(wh, "r1").read_text()
    notices = html.split('id="notices"')[1].split("</table>")[0]
    assert "patients.csv" in notices and "column &#39;Postcode&#39; is not in the file" in notices
    files = html.split('id="files"')[1].split("</table>")[0]
    assert "rows in" in files and "2,000" in files


@pytest.mark.parametrize("kind", ["parquet", "sql"])
def test_a_nul_in_a_typed_source_is_quarantined_too(tmp_path: Path, kind: str, monkeypatch):
    import pandas as pd
    import sqlalchemy as sa

    frame = pd.DataFrame({"ID": ["A1", "A2", "A3"], "Name": ["Ann", "B\x00o", None],
                          "DOB": ["2012-01-01", "2012-01-02", "2012-01-03"], "Postcode": [None, None, None]})
    folder = _drop(tmp_path)
    cfg = CONFIG.model_copy(deep=True)
    if kind == "parquet":
        frame.to_parquet(folder / "people.parquet")
        where = "people.parquet"
    else:
        url = f"sqlite:///{tmp_path / 'p.db'}"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            frame.to_sql("people", conn, index=False)
        engine.dispose()
        monkeypatch.setenv("SVOC_TEST_NUL_URL", url)
        cfg.identity.sql = SqlLocation(url_env="SVOC_TEST_NUL_URL", table="people")
        where = "people@sqlite"
    e = _extract(folder, cfg)
    assert e.identity["source_record_id"].tolist() == ["A1", "A3"]
    [(file, line, reason, raw)] = e.quarantine[["file", "line_number", "reason", "raw_line"]].values.tolist()
    assert (file, line) == (where, 2) and reason.startswith("a value holds a NUL byte") and "\x00" not in raw


_xlsx_row = st.one_of(
    st.tuples(st.sampled_from(["A1", "A2", "A3", "B1", None]), st.sampled_from(["Ann", None]),
              st.just("2012-01-01")).map(list),
    st.just([]),  # a blank row
    st.just(["A9", "Too", "2012-01-01", None, "extra"]),  # more cells than the header
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sheets=st.lists(st.lists(_xlsx_row, max_size=6), min_size=1, max_size=3))
def test_every_sheet_row_is_a_record_or_quarantined(tmp_path_factory, sheets):
    folder = _drop(tmp_path_factory.mktemp("xlsx"))
    cfg = CONFIG.model_copy(deep=True)
    cfg.identity.columns.pop("postcode")
    _workbook(folder / "people.xlsx", {f"S{k}": [HEADER[:3], *rows] for k, rows in enumerate(sheets)})
    data_rows = sum(1 for rows in sheets for row in rows if row)
    if not data_rows:
        with pytest.raises(UnusableInputError, match="header line but no rows"):
            _extract(folder, cfg)
        return
    e = _extract(folder, cfg)
    assert len(e.accounts) == len(sheets)
    for acc in e.accounts:
        assert acc.lines_in == acc.header_lines + acc.record_lines + acc.quarantined_lines
    assert sum(a.records_out for a in e.accounts) == len(e.identity)
    assert sum(a.quarantined for a in e.accounts) == len(e.quarantine)
    ids = [row[0] for rows in sheets for row in rows if row and len(row) <= 3 and row[0]]
    assert sorted(e.identity["source_record_id"]) == sorted(set(ids))
