"""Write a drop: CSV (RFC 4180, per-file encoding and date format) or XLSX, broken lines, truth, manifest."""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

MONTHS = np.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
                  dtype=object)
# file -> (date columns and formats, encoding, line terminator, record-id column, name column)
FILES = {
    "education/pupils": ({"DOB": "dmy", "EntryDate": "dmy", "LeavingDate": "dmy"}, "utf-8", "\n", "PupilID",
                         "Forename"),
    "education/attendance": ({}, "utf-8", "\n", "PupilID", None),
    "education/exclusions": ({"StartDate": "dmy"}, "utf-8", "\n", "PupilID", None),
    "health/patients": ({"DateOfBirth": "iso", "DateOfDeath": "iso"}, "utf-8-sig", "\n", "PatientID",
                        "GivenName"),
    "health/encounters": ({"EncounterDate": "iso"}, "utf-8", "\n", "PatientID", None),
    "police/nominals": ({"DateOfBirth": "mon"}, "cp1252", "\r\n", "NominalID", "Forename1"),
    "police/occurrences": ({"OccurrenceDate": "mon_hm"}, "cp1252", "\r\n", "OccurrenceRef", None),
    "social_care/persons": ({"DOB": "iso"}, "utf-8", "\n", "PersonID", "FirstName"),
    "social_care/episodes": ({"StartDate": "iso", "EndDate": "iso"}, "utf-8", "\n", "EpisodeID", None),
}
IDENTITY_FILES = ("education/pupils", "health/patients", "police/nominals", "social_care/persons")
UNIQUE_ID_FILES = IDENTITY_FILES + ("police/occurrences", "social_care/episodes")
BROKEN_KINDS = ("wrong_field_count", "missing_record_id", "undecodable_bytes", "duplicate_record_id")
MOJIBAKE = ["Zoë", "Renée", "Chloë", "Seán", "Róisín", "Zoë"]


def format_dates(values: np.ndarray, fmt: str) -> np.ndarray:
    """datetime64 -> strings in a preset's format; NaT -> ''."""
    v = np.asarray(values)
    if v.dtype == object:
        v = pd.to_datetime(pd.Series(v)).to_numpy()
    unit: Literal["m", "D"] = "m" if fmt == "mon_hm" else "D"
    iso: pd.Series[str] = pd.Series(np.datetime_as_string(v.astype(f"datetime64[{unit}]"), unit=unit))
    nat = iso.str.startswith("NaT").to_numpy()
    y, m, d = iso.str[0:4], iso.str[5:7], iso.str[8:10]
    if fmt == "iso":
        out = iso.str[0:10]
    elif fmt == "dmy":
        out = d + "/" + m + "/" + y
    else:
        mon = pd.Series(MONTHS[np.clip(pd.to_numeric(m, errors="coerce").fillna(1).astype(int) - 1, 0, 11)])
        out = d + "-" + mon + "-" + y
        if fmt == "mon_hm":
            out = out + " " + iso.str[11:16]
    text = out.to_numpy(dtype=object)
    text[nat] = ""
    return text


def to_text(name: str, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """All columns as strings in the file's formats (internal ``_`` columns dropped)."""
    dates = FILES[name][0]
    out = frame[[c for c in frame.columns if not c.startswith("_")]].copy()
    for col in out.columns:
        if col in dates:
            out[col] = format_dates(out[col].to_numpy(), dates[col])
        else:
            out[col] = out[col].astype(object).where(out[col].notna(), "").astype(str)
    if name == "education/pupils":  # the preset also accepts ISO and a trailing midnight time
        # chosen per record id, so a record keeps its formatting from one night to the next
        key = np.array([zlib.crc32(f"{x}".encode()) for x in out["PupilID"]], dtype=np.int64)
        for n, col in enumerate(("DOB", "EntryDate")):
            vals = out[col].to_numpy(dtype=object)
            u = ((key >> (8 * n)) % 1000) / 1000.0
            iso = (u < 0.004) & (vals != "")
            vals[iso] = format_dates(frame[col].to_numpy()[iso], "iso")
            mid = (u > 0.996) & (vals != "")
            vals[mid] = vals[mid] + " 00:00:00"
            out[col] = vals
    return out


def _csv_text(rows: pd.DataFrame, lt: str, header: bool) -> str:
    return rows.to_csv(index=False, header=header, lineterminator=lt, quoting=csv.QUOTE_MINIMAL)


def _line(values: list[str], lt: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=lt, quoting=csv.QUOTE_MINIMAL).writerow(values)
    return buf.getvalue()


def plan_broken(sizes: dict[str, int], rng: np.random.Generator, xlsx: set[str]) -> list[dict]:
    """A handful of broken lines (~0.05% of rows, at least one of each kind)."""
    csv_files = [f for f in sizes if f not in xlsx and sizes[f]]
    total = sum(sizes[f] for f in csv_files)
    n = max(len(BROKEN_KINDS) + 2, round(0.0005 * total))
    plan = []
    for i in range(n):
        kind = BROKEN_KINDS[i] if i < len(BROKEN_KINDS) else BROKEN_KINDS[int(rng.integers(len(BROKEN_KINDS)))]
        if kind == "wrong_field_count":
            elig = csv_files
        elif kind == "undecodable_bytes":
            elig = [f for f in csv_files if f in IDENTITY_FILES and FILES[f][1].startswith("utf-8")]
        else:
            elig = [f for f in csv_files if f in IDENTITY_FILES]
        if not elig:
            continue
        f = elig[int(rng.integers(len(elig)))]
        plan.append({"file": f, "kind": kind, "src": int(rng.integers(sizes[f]))})
    return plan


def write_csv(path: Path, name: str, text: pd.DataFrame, broken: list[dict], rng, fresh_id) -> list[dict]:
    """Write ``text`` with its broken lines inserted; returns the manifest entries (with line numbers)."""
    _, enc, lt, id_col, name_col = FILES[name]
    base_enc = "utf-8" if enc == "utf-8-sig" else enc
    cols = list(text.columns)
    inserts: list[tuple[int, bytes, dict]] = []
    for b in broken:
        vals = text.iloc[b["src"]].tolist()
        pos = int(rng.integers(0, len(text) + 1))
        id_i = cols.index(id_col)
        if b["kind"] == "duplicate_record_id":
            pos = int(rng.integers(b["src"] + 1, len(text) + 1))
            raw = _line(vals, lt).encode(base_enc)
        elif b["kind"] == "missing_record_id":
            vals[id_i] = ""
            raw = _line(vals, lt).encode(base_enc)
        elif b["kind"] == "wrong_field_count":
            if name in UNIQUE_ID_FILES:  # an extra record; a bad attendance/encounter line keeps its key
                vals[id_i] = fresh_id(name, vals[id_i])
            vals = vals[:-1] if rng.random() < 0.5 else vals + ["x"]
            raw = _line(vals, lt).encode(base_enc)
        else:
            vals[id_i] = fresh_id(name, vals[id_i])
            assert name_col is not None, "undecodable bytes go only into identity files, which have a name column"
            vals[cols.index(name_col)] = "\x00MOJIBAKE\x00"
            bad = MOJIBAKE[int(rng.integers(len(MOJIBAKE)))].encode("cp1252")
            raw = _line(vals, lt).encode(base_enc).replace(b"\x00MOJIBAKE\x00", bad)
        inserts.append((pos, raw, {"file": f"{name}.csv", "kind": b["kind"]}))
    inserts.sort(key=lambda t: t[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = []
    with open(path, "wb") as fh:
        head = _csv_text(text.iloc[:0], lt, True).encode(enc)
        fh.write(head)
        line = head.count(b"\n") + 1
        prev = 0
        for pos, raw, entry in inserts:
            line += _write_rows(fh, text, prev, pos, lt, base_enc)
            entries.append({**entry, "line": line})
            fh.write(raw)
            line += raw.count(b"\n")
            prev = pos
        _write_rows(fh, text, prev, len(text), lt, base_enc)
    return entries


def _write_rows(fh, text: pd.DataFrame, lo: int, hi: int, lt: str, enc: str, step: int = 100_000) -> int:
    """Write rows lo..hi in slices (bounded memory); returns the number of physical lines written."""
    lines = 0
    for a in range(lo, hi, step):
        chunk = _csv_text(text.iloc[a:min(hi, a + step)], lt, False).encode(enc)
        fh.write(chunk)
        lines += chunk.count(b"\n")
    return lines


def write_xlsx(path: Path, text: pd.DataFrame, stamp: str) -> None:
    """Header in row 1 of the first sheet; byte-identical for identical input (fixed zip times and core props)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append(list(text.columns))
    for row in text.itertuples(index=False):
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data)
            info = zipfile.ZipInfo(item.filename, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)
