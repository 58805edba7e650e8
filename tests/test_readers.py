"""Reader layer: RFC 4180 line tracking, quarantine reasons, encodings, line accounting (incl. a property test)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import FileAccount, LineLedger, check_line_accounting, extract_source, open_file, raw
from connectors.dedupe import DuplicateTracker
from connectors.encoding import detect_encoding
from schemas.config import FileConfig, SourceConfig
from schemas.errors import LineAccountingError, UnusableInputError

REF = dt.date(2026, 3, 1)
HEADER = "ID,Name,DOB,Town\n"
CONFIG = SourceConfig(name="test", identity=FileConfig(
    file="people", columns={"source_record_id": "ID", "first_name": "Name", "dob": "DOB", "town": "Town"},
    required=["source_record_id", "dob"]))


def _extract(tmp_path: Path, content: bytes, **file_overrides):
    folder = tmp_path / "test"
    folder.mkdir(exist_ok=True)
    (folder / "people.csv").write_bytes(content)
    cfg = CONFIG.model_copy(deep=True)
    cfg.identity = FileConfig.model_validate({**cfg.identity.model_dump(), **file_overrides})
    return extract_source(folder, cfg, run_id="r", reference_date=REF)


def _reasons(extract) -> dict[int, str]:
    return dict(zip(extract.quarantine["line_number"], extract.quarantine["reason"], strict=True))


def test_embedded_newline_is_one_record_numbered_by_its_first_line(tmp_path: Path):
    e = _extract(tmp_path, (HEADER + 'A1,Ann,2012-01-01,"Leeds\nWest"\nA2,Bo,2012-01-01,York\n').encode())
    assert e.identity["source_line"].tolist() == [2, 4]
    assert e.identity["town"].tolist() == ["Leeds West", "York"]
    [acc] = e.accounts
    assert (acc.lines_in, acc.records_out, acc.record_lines, acc.quarantined) == (4, 2, 3, 0)


def test_broken_lines_are_quarantined_with_readable_reasons(tmp_path: Path):
    content = (HEADER
               + "A1,Ann,2012-01-01,Leeds\n"          # 2 ok
               + "A2,Bo,2012-01-01\n"                 # 3 wrong field count
               + ",Cy,2012-01-01,Leeds\n"             # 4 missing id
               + "NULL,Di,2012-01-01,Leeds\n"         # 5 missing id token
               + "A1,Ed,2012-01-01,Leeds\n"           # 6 duplicate of line 2
               + 'A3,"Fay,2012-01-01,Leeds\n'         # 7 unterminated quote ...
               + "A4,Gus,2012-01-01,Leeds\n"          # 8 ... must not swallow this line
               + "\n"                                 # 9 blank
               + 'A5,"Hal"x,2012-01-01,Leeds\n'       # 10 stray quote
               + "A6,Ida,2012-01-01,Leeds\n")         # 11 ok
    e = _extract(tmp_path, content.encode())
    assert e.identity["source_record_id"].tolist() == ["A1", "A4", "A6"]
    assert e.identity["source_line"].tolist() == [2, 8, 11]
    reasons = _reasons(e)
    assert reasons[3] == "expected 4 fields, found 3"
    assert reasons[4] == reasons[5] == "ID is missing"
    assert reasons[6] == "ID 'A1' already seen at line 2"
    assert "quoted field" in reasons[7] and "not closed" in reasons[7]
    assert reasons[9] == "line is blank"
    assert "stray quote" in reasons[10]
    assert sorted(reasons) == [3, 4, 5, 6, 7, 9, 10]
    assert e.quarantine.set_index("line_number").loc[6, "raw_line"] == "A1,Ed,2012-01-01,Leeds"


def test_unterminated_quote_at_end_of_file(tmp_path: Path):
    e = _extract(tmp_path, (HEADER + "A1,Ann,2012-01-01,Leeds\n" + 'A2,"Bo,2012-01-01,York\nA3,Cy,x,y').encode())
    assert e.identity["source_record_id"].tolist() == ["A1", "A3"]
    assert "end of file" in _reasons(e)[3]
    assert e.accounts[0].lines_in == 4


def test_runaway_quote_is_cut_after_max_lines(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(raw, "MAX_RECORD_LINES", 50)
    body = 'A0,"Ann,2012-01-01,Leeds\n' + "".join(f"A{i},N,2012-01-01,T\n" for i in range(1, 80))
    e = _extract(tmp_path, (HEADER + body).encode())
    assert len(e.identity) == 79 and _reasons(e).keys() == {2}


def test_utf8_file_with_one_bad_line(tmp_path: Path):
    lines = [f"A{i},Zoë,2012-01-01,Léeds\n".encode() for i in range(5)]
    lines[2] = b"A2,Zo\xeb,2012-01-01,Leeds\n"
    e = _extract(tmp_path, HEADER.encode() + b"".join(lines))
    assert e.identity["first_name"].tolist() == ["Zoë"] * 4
    reason = _reasons(e)[4]
    assert "utf-8" in reason and "0xEB" in reason and "position 5" in reason
    assert e.quarantine["raw_line"].iat[0] == "A2,Zo\\xeb,2012-01-01,Leeds"


def test_cp1252_detected_and_forced_encodings(tmp_path: Path):
    content = (HEADER + "A1,ZOË,2012-01-01,Leeds\n" + "A2,Bob,2012-01-01,York\n").encode("cp1252")
    e = _extract(tmp_path, content)
    assert e.identity["first_name"].tolist() == ["ZOË", "Bob"]
    e = _extract(tmp_path, content, encoding="latin-1")
    assert e.identity["first_name"].tolist() == ["ZOË", "Bob"]
    every_line_bad = (HEADER + "A1,ZOË,2012-01-01,Leeds\n" + "A2,Bé,2012-01-01,York\n").encode("cp1252")
    with pytest.raises(UnusableInputError, match=r"no line after the header can be decoded as utf-8.*encoding:"):
        _extract(tmp_path, every_line_bad, encoding="utf-8")


def test_cp1252_undefined_byte_is_quarantined(tmp_path: Path):
    content = (HEADER + "A1,ZOË,2012-01-01,Leeds\n").encode("cp1252") + b"A2,B\x81,2012-01-01,York\n"
    e = _extract(tmp_path, content)
    assert e.identity["source_record_id"].tolist() == ["A1"]
    assert "cp1252" in _reasons(e)[3] and "0x81" in _reasons(e)[3]


@pytest.mark.parametrize("content, expected", [
    (b"a,b\nc,d\n", ("utf-8", False)),
    (b"\xef\xbb\xbfa,b\nZo\xc3\xab,d\n", ("utf-8", True)),
    (b"a,b\nZo\xeb,d\nx,y\n", ("cp1252", False)),
    (b"a,b\n" + b"Zo\xc3\xab,d\n" * 5 + b"Zo\xeb,d\n", ("utf-8", False)),
])
def test_detect_encoding(tmp_path: Path, content: bytes, expected):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    choice = detect_encoding(path)
    assert (choice.encoding, choice.bom) == expected


def test_empty_and_binary_files_are_unusable(tmp_path: Path):
    with pytest.raises(UnusableInputError, match="empty"):
        _extract(tmp_path, b"")
    with pytest.raises(UnusableInputError, match="NUL bytes"):
        _extract(tmp_path, b"ID,Name\x00\x00\n")


def test_chunks_keep_duplicates_and_accounting_across_boundaries(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(raw, "CHUNK_ROWS", 3)
    rows = [f"A{i % 7},N,2012-01-01,T\n" for i in range(20)] + ['A99,"multi\nline",2012-01-01,T\n']
    e = _extract(tmp_path, (HEADER + "".join(rows)).encode())
    assert e.identity["source_record_id"].tolist() == [f"A{i}" for i in range(7)] + ["A99"]
    assert _reasons(e)[9] == "ID 'A0' already seen at line 2"
    [acc] = e.accounts
    assert acc.lines_in == 23 and acc.records_out == 8 and acc.quarantined == 13


def test_xlsx_blank_and_overlong_rows(tmp_path: Path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ID", "Name", "DOB", "Town"])
    ws.append(["A1", "Ann", dt.date(2012, 1, 1), "Leeds"])
    ws.append([])
    ws.append(["A2", "Bo", "2012-01-01", "York", "extra"])
    ws.append([3, "Cy", "2012-01-01", None])
    ws.cell(row=9, column=1).number_format = "0"  # formatting only: not data
    path = tmp_path / "p.xlsx"
    wb.save(path)
    stream = open_file(path)
    frame, quarantined = stream.to_frame()
    assert frame["ID"].tolist() == ["A1", "3"] and frame["__line__"].tolist() == [2, 5]
    assert frame["DOB"].tolist() == ["2012-01-01", "2012-01-01"]
    assert [(q.line, q.reason) for q in quarantined] == [(3, "row is blank"), (4, "expected 4 fields, found 5")]
    assert stream.lines_in == 5


# ------------------------------------------------------------------------------------- accounting


def test_check_line_accounting_raises_on_mismatch():
    check_line_accounting(FileAccount("f.csv", 10, 7, 1, header_lines=1, record_lines=8, quarantined_lines=1))
    with pytest.raises(LineAccountingError, match="10 lines in"):
        check_line_accounting(FileAccount("f.csv", 10, 7, 1, header_lines=1, record_lines=7, quarantined_lines=1))
    with pytest.raises(LineAccountingError):
        check_line_accounting(FileAccount("f.csv", 3, 3, 0, header_lines=1, record_lines=2, quarantined_lines=0))


def test_ledger_detects_gaps_overlaps_and_short_files():
    ledger = LineLedger("f.csv", 1)
    ledger.add([2, 4], [2, 1], [5], [1])
    assert ledger.close(5).records_out == 2
    with pytest.raises(LineAccountingError, match="gap"):
        LineLedger("f.csv", 1).add([2, 5], [1, 1], [], [])
    with pytest.raises(LineAccountingError, match="overlap"):
        LineLedger("f.csv", 1).add([2, 3], [2, 1], [], [])
    with pytest.raises(LineAccountingError):
        short = LineLedger("f.csv", 1)
        short.add([2], [1], [], [])
        short.close(3)


def test_duplicate_tracker_across_chunks():
    t = DuplicateTracker()
    assert t.first_seen(["a", "b", "a"], [2, 3, 4]).tolist() == [0, 0, 2]
    assert t.first_seen(["c", "b", "c"], [5, 6, 7]).tolist() == [0, 3, 5]
    assert t.first_seen([], []).tolist() == []


# keys never hold NUL: a line with one is quarantined before its key is read (pandas hashes up to a NUL)
@given(st.lists(st.one_of(st.sampled_from(["a", "b", "c", "", "a "]),
                          st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=3)), max_size=80),
       st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_duplicate_tracker_equals_a_dictionary_over_any_chunking(keys, sizes):
    seen: dict[str, int] = {}
    expected = []
    for line, key in enumerate(keys, start=2):
        expected.append(seen.get(key, 0))
        seen.setdefault(key, line)
    t, got, at, k = DuplicateTracker(), [], 0, 0
    while at < len(keys):
        size = sizes[k % len(sizes)]
        got += t.first_seen(keys[at:at + size], list(range(at + 2, at + 2 + len(keys[at:at + size])))).tolist()
        at, k = at + size, k + 1
    assert got == expected


_ids = st.sampled_from(["A1", "A2", "A3", "B7", "", "NULL", "N/A", " Unknown "])
_cells = st.text(alphabet="abcXYZ éË,\"\n'", max_size=6)


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell


_good_row = st.tuples(_ids, _cells, _cells).map(lambda t: ",".join([t[0], _quote(t[1]), "2012-01-01", _quote(t[2])])
                                                + "\n")
_broken = st.one_of(
    st.just("A9,too,few\n"),
    st.just("A9,x,2012-01-01,y,too many\n"),
    st.just('A8,"never closed,2012-01-01,x\n'),
    st.just('A8,"stray"q,2012-01-01,x\n'),
    st.just("\n"),
    st.just("A7,\udcff,2012-01-01,x\n"),  # a lone byte 0xFF: not valid UTF-8
    st.just("A6,nul\x00byte,2012-01-01,x\n"),  # a NUL byte: quarantined wherever it is
)
_line = st.one_of(_good_row, _good_row, _broken)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=25), chunk=st.integers(1, 5), final_newline=st.booleans())
def test_line_accounting_property(tmp_path: Path, monkeypatch, lines, chunk, final_newline):
    monkeypatch.setattr(raw, "CHUNK_ROWS", chunk)
    text = (HEADER + "".join(lines)) if final_newline else (HEADER + "".join(lines)).rstrip("\n")
    content = text.encode("utf-8", "surrogateescape")
    body = text[len(HEADER):]
    physical_lines = body.split("\n")[:-1] if body.endswith("\n") else body.split("\n")
    if not body:
        with pytest.raises(UnusableInputError, match="header line but no rows"):
            _extract(tmp_path, content, encoding="utf-8")
        return
    if all(line.startswith("A7") for line in physical_lines):
        with pytest.raises(UnusableInputError, match="no line after the header can be decoded"):
            _extract(tmp_path, content, encoding="utf-8")
        return
    e = _extract(tmp_path, content, encoding="utf-8")
    [acc] = e.accounts
    physical = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
    assert acc.lines_in == physical
    assert acc.lines_in == acc.header_lines + acc.record_lines + acc.quarantined_lines
    assert acc.records_out == len(e.identity) and acc.quarantined == len(e.quarantine)
    starts = np.concatenate([e.identity["source_line"].to_numpy(), e.quarantine["line_number"].to_numpy()])
    assert len(set(starts.tolist())) == len(starts)  # no line is both a record and a quarantined row
    assert ((starts > acc.header_lines) & (starts <= physical)).all()
    ids = e.identity["source_record_id"]
    assert ids.is_unique and not ids.isin(["", "NULL", "N/A", "Unknown"]).any()
    if not any(line.startswith(('A8,"never', "A8,\"stray")) for line in lines):
        good = [ln for ln in lines if ln.startswith(("A", "B", "N", " ", ",", '"'))
                and not ln.startswith(("A9", "A7", "A6"))]
        expected_ids = {ln.split(",")[0] for ln in good} - {"", "NULL", "N/A", " Unknown "}
        assert set(ids) == expected_ids


# ------------------------------------------------------------------ bulk fast path == sequential == careful

_raw_lines = st.lists(st.one_of(
    st.sampled_from([b"A1,Ann,2012-01-01,Leeds", b"A2,Bo,,York", b"B3,  ,2012-01-01,", b"A1,Ann,2012-01-01,Leeds",
                     b'A4,"Smith, J",2012-01-01,"York"', b'A5,"say ""hi""",x,y', b'A6,"multi', b'line",d,t',
                     b'A7,"stray"q,d,t', b"A8,ab\"c,d,t", b"A9,few", b"A9,a,b,c,d", b"", b"   ", b"C1,\xc3\xa9l\xc3\xa9,d,t",
                     b"C2,\xe9,d,t", b"C3,\x81,d,t", b"C4,a\rb,d,t", b'C5,"a\rb",d,t', b"C6,\x00,d,t"]),
    st.text(alphabet='ab ,"\xe9', max_size=12).map(lambda t: t.encode("utf-8"))), max_size=30)


def _stream_dump(path: Path, encoding: str, chunk: int) -> tuple:
    stream = open_file(path, "p.csv", encoding, chunk_rows=chunk)
    stream.usecols = ["ID", "Name", "Town"]
    out = []
    for c in stream.chunks():
        out.append((c.frame.columns.tolist(), [tuple(r) for r in c.frame.itertuples(index=False)],
                    c.lines.tolist(), c.n_lines.tolist(), [c.raw_text(i) for i in range(len(c.frame))],
                    [(q.line, q.n_lines, q.reason, q.raw, q.decode_failure) for q in c.quarantined],
                    [type(v).__name__ for v in c.frame.to_numpy().ravel()]))
    return stream.lines_in, out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_raw_lines, chunk=st.integers(1, 6), crlf=st.booleans(), final_newline=st.booleans(),
       encoding=st.sampled_from(["utf-8", "cp1252"]))
def test_bulk_fast_path_agrees_with_sequential_and_careful_paths(tmp_path: Path, monkeypatch, lines, chunk, crlf,
                                                                 final_newline, encoding):
    """The bulk path (plain lines split at commas, single-line records parsed in batches) gives exactly the
    records, line numbers, raw text and quarantine of the record-by-record csv path and of the careful path."""
    from connectors.csv_reader import CsvStream

    eol = b"\r\n" if crlf else b"\n"
    content = eol.join([b"ID,Name,DOB,Town", *lines]) + (eol if final_newline else b"")
    path = tmp_path / "p.csv"
    path.write_bytes(content)

    def dump():
        try:
            return _stream_dump(path, encoding, chunk)
        except UnusableInputError as err:
            return str(err)

    bulk = dump()
    with monkeypatch.context() as m:
        m.setattr(CsvStream, "_screen", lambda self, block: (np.zeros(len(block), bool),) * 2)
        sequential = dump()
    with monkeypatch.context() as m:
        m.setattr(CsvStream, "_fast", lambda self, block, plain, single: None)
        careful = dump()
    assert bulk == sequential  # chunk by chunk

    def flat(dump):  # the careful path cuts chunks per record, not per block
        if isinstance(dump, str):
            return dump
        return dump[0], [[x for c in dump[1] for x in c[k]] for k in range(1, 7)]

    assert flat(bulk) == flat(careful)
