"""List matching: a CSV or xlsx list (an absence list, a referral batch) with any column names, mapped like the
``columns:`` of ``sources.yaml`` (search field -> the list's header), matched row by row against the warehouse.

Each row comes back with its citizen id, probability, band (matched / possible / none), the evidence and the
agencies involved: nothing else about the child is pulled in. The whole list is scored in one pass
(``Finder.rank``), and one access-log line records who matched which list, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from schemas.errors import SvocError
from svoc.find.lookup import Band, FindSession
from svoc.find.query import Query

SEARCH_FIELDS = tuple(f.name for f in fields(Query))


@dataclass
class ListMatch:
    """One list row's answer (``line``: the row's line in the file, the header being line 1)."""

    line: int
    citizen_id: str | None
    probability: float | None
    band: Band
    note: str
    agencies: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    exact: str | None = None


def parse_mapping(text: str) -> dict[str, str]:
    """``first_name=Forename,dob=Date of birth`` (or a YAML/JSON file of the same) -> {field: header}."""
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.exists():
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        data = data.get("columns", data) if isinstance(data, dict) else data
        if not isinstance(data, dict):
            raise SvocError(f"{path}: expected 'field: column header' pairs")
        mapping = {str(k): str(v) for k, v in data.items()}
    else:
        mapping = {}
        for part in (p for p in text.split(",") if p.strip()):
            key, sep, header = part.partition("=")
            if not sep:
                raise SvocError(f"--map: {part.strip()!r} is not field=header (for example first_name=Forename)")
            mapping[key.strip()] = header.strip()
    unknown = sorted(set(mapping) - set(SEARCH_FIELDS))
    if unknown:
        raise SvocError(f"--map: unknown field(s) {unknown}; use {list(SEARCH_FIELDS)}")
    if not mapping:
        raise SvocError("--map: map at least one field to a column of the list")
    return mapping


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise SvocError(f"{path}: no such list file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
        sheets = {n: df for n, df in sheets.items() if not df.empty}
        if not sheets:
            raise SvocError(f"{path}: the workbook has no rows")
        headers = {tuple(df.columns) for df in sheets.values()}
        if len(headers) > 1:
            raise SvocError(f"{path}: sheets {sorted(sheets)} have different headers; put the list on one sheet "
                            "(or give each sheet the same header)")
        return pd.concat(sheets.values(), ignore_index=True)
    if suffix in (".csv", ".txt"):
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
            except UnicodeDecodeError:
                continue
            except pd.errors.EmptyDataError:
                raise SvocError(f"{path}: the file is empty") from None
    raise SvocError(f"{path}: a list must be .csv or .xlsx")


def read_list(path: Path, mapping: dict[str, str]) -> tuple[list[int], list[Query]]:
    """``(line numbers, queries)`` of a list file, using ``mapping`` (search field -> the list's column header)."""
    df = _read_frame(path)
    missing = [h for h in mapping.values() if h not in df.columns]
    if missing:
        raise SvocError(f"{path}: no column {missing[0]!r} in the list (its columns: {', '.join(map(str, df.columns))});"
                        " fix --map")
    lines, queries = [], []
    for i, row in enumerate(df.to_dict("records")):
        try:
            queries.append(Query.of(**{f: row[h] for f, h in mapping.items()}))
        except SvocError as exc:
            raise SvocError(f"{path}, line {i + 2}: {exc}") from None
        lines.append(i + 2)
    return lines, queries


def match_list(session: FindSession, path: Path, mapping: dict[str, str], *, who: str, purpose: str
               ) -> list[ListMatch]:
    """Match every row of the list. One access-log line (list file name, rows, how many matched) is written
    before the answers are returned."""
    if not purpose or not purpose.strip():
        raise SvocError("a purpose is required: say why you are matching this list (it is written to the access log)")
    lines, queries = read_list(path, mapping)
    results = session.finder.rank(session.w, queries)
    out = []
    for line, res in zip(lines, results, strict=True):
        best = res.candidates[0] if res.status == "found" and res.candidates else None
        if best is None:
            out.append(ListMatch(line, None, None, "none", res.message))
            continue
        others = len(res.candidates) - 1
        note = res.message if not others else f"{res.message}; best of {others + 1}"
        out.append(ListMatch(line, best.citizen_id, best.probability, best.band, note, best.agencies,
                             best.evidence, best.exact))
    matched = sum(m.band == "matched" for m in out)
    session.store.log_access(who, "match-list", f"list {path.name}: {len(out)} rows, {matched} matched, "
                             f"fields [{','.join(mapping)}]", purpose)
    return out
