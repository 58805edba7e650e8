"""``extract_source``: read every file of one source, quarantine bad lines, standardise the rest.

Per file, in chunks: the reader quarantines lines that are not records (undecodable, wrong field count,
broken quoting, blank); then rows with a missing record id, and later repeats of a record id (identity:
the record id; interactions: the event id), are quarantined with a reason naming the column or the
first line. The rest are standardised, but for lines unchanged since their rows were staged (``reuse``,
``connectors.reuse``): those are accounted for as records and listed as carried, their rows kept. A
``LineLedger`` proves every physical line went to exactly one of header / record / quarantine, else
``LineAccountingError``.

A file must lie inside the drop; every sheet of a workbook is a table accounted for on its own. What does
not stop the run but leaves data out (a mapped column missing from the file, an interaction file with no
rows) becomes an ``InputNotice``, which the extract stage records in ``audit.input_notices``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectors.accounting import FileAccount, InputNotice, LineLedger
from connectors.dates import blank_to_none, shared_factorize
from connectors.dedupe import DuplicateTracker, content_keys
from connectors.interactions import attendance_keys, standardise_interactions
from connectors.readers import RawStream, open_tables, resolve_file
from connectors.reuse import Carried, Reusable, digest_key, row_digests
from connectors.sql import open_sql
from connectors.standardise import IDENTIFIER_KEY, field_series, standardise_identity
from schemas.config import FileConfig, InteractionFileConfig, SourceConfig
from schemas.errors import UnusableInputError
from schemas.records import IDENTITY_COLUMNS, INTERACTION_COLUMNS, QUARANTINE_COLUMNS
from schemas.rules import DOB_FROM_DEFAULT

log = logging.getLogger(__name__)
MISSING_COLUMN_HINT = "map it in sources.yaml or fix the export"


@dataclass
class SourceExtract:
    source: str
    identity: pd.DataFrame
    interactions: pd.DataFrame
    quarantine: pd.DataFrame
    accounts: list[FileAccount]
    notices: list[InputNotice] = dc_field(default_factory=list)


# What is kept of each standardised chunk (a frame, and whether it is identity records): by default the frame;
# a caller staging the rows passes a conversion (to Arrow: a county's attendance as pandas objects is ~4x the size),
# so no more than one chunk of a file is ever held as pandas.
ChunkKeep = Callable[[pd.DataFrame, bool], Any]


def keep_frame(frame: pd.DataFrame, identity: bool) -> pd.DataFrame:
    return frame


@dataclass
class SourceParts:
    """One source's extract as the kept chunks (``ChunkKeep``) of its identity and interaction files."""

    source: str
    identity: list[Any]
    interactions: list[Any]
    quarantine: pd.DataFrame
    accounts: list[FileAccount]
    notices: list[InputNotice]
    carried: list[Carried] = dc_field(default_factory=list)  # lines whose staged rows are kept (connectors.reuse)


@dataclass
class FileExtract:
    """One configured file: its kept chunks, quarantine rows, an account per table in it, notices, and the
    lines whose staged rows are kept."""

    frames: list[Any]
    quarantine: list[dict]
    accounts: list[FileAccount]
    notices: list[InputNotice]
    carried: list[Carried] = dc_field(default_factory=list)


def open_inputs(source_dir: Path, cfg: FileConfig, source: str | None = None,
                drop: Path | None = None) -> list[RawStream]:
    """The readers for one configured file (one per sheet of a workbook) or SQL table.

    The file must lie inside ``drop`` (default: the source folder's parent, the drop folder).
    """
    if cfg.sql is not None:
        return [open_sql(cfg.sql, source=source)]
    if not source_dir.is_dir():
        raise UnusableInputError(source_dir, "source folder is missing",
                                 "check the drop is complete, or remove the source from sources.yaml")
    path = resolve_file(source_dir, cfg.file, drop if drop is not None else source_dir.parent)
    if path is None:
        raise UnusableInputError(source_dir / cfg.file, "file is missing (looked for .csv, .xlsx and .parquet)")
    return open_tables(path, path.name, cfg.encoding, cfg.fallback_encoding)


def missing_columns(cfg: FileConfig, colmap: dict[str, str]) -> dict[str, list[str]]:
    """Mapped source columns the file lacks (required ones already stopped the run) -> the fields they feed."""
    feeds: dict[str, list[str]] = {}
    for fld, col in cfg.columns.items():
        feeds.setdefault(col, []).append(fld)
    for fld, cols in cfg.concat.items():
        for col in cols:
            feeds.setdefault(col, []).append(fld)
    for name, col in cfg.identifiers.items():
        feeds.setdefault(col, []).append(name)
    return {col: sorted(set(fields)) for col, fields in sorted(feeds.items()) if col not in colmap}


def resolve_columns(stream: RawStream, cfg: FileConfig, required: list[str]) -> dict[str, str]:
    """Source column name -> header name actually present (exact, else case/space-insensitive).

    Raises ``UnusableInputError`` naming the first missing column of a required field.
    """
    exact = set(stream.header)
    loose: dict[str, str] = {}
    for h in stream.header:
        loose.setdefault("".join(h.split()).lower(), h)
    wanted = ({c for cols in cfg.concat.values() for c in cols} | set(cfg.columns.values())
              | set(cfg.identifiers.values()))
    colmap: dict[str, str] = {}
    for col in sorted(wanted):
        found = col if col in exact else loose.get("".join(col.split()).lower())
        if found is not None:
            colmap[col] = found
    for field in required:
        cols = cfg.source_columns(field)
        if not cols and field not in cfg.constants:
            raise UnusableInputError(stream.path, f"no column is mapped to required field '{field}'",
                                     "add it to 'columns:' in sources.yaml")
        for col in cols:
            if col not in colmap:
                raise UnusableInputError(stream.path, f"required column '{col}' is missing", MISSING_COLUMN_HINT)
    return colmap


def _field_colmap(cfg: FileConfig, colmap: dict[str, str]) -> dict[str, str]:
    """canonical field -> header name, for singly-mapped fields that are present (concat parts keyed by column)."""
    out = {f: colmap[c] for f, c in cfg.columns.items() if c in colmap}
    out.update({"col:" + c: colmap[c] for cols in cfg.concat.values() for c in cols if c in colmap})
    out.update({IDENTIFIER_KEY + name: colmap[c] for name, c in cfg.identifiers.items() if c in colmap})
    return out


def _kept(data, keep: np.ndarray):
    """The rows of a Series or frame (RangeIndex) where ``keep``; the object itself when every row is kept."""
    return data if keep.all() else data[keep].reset_index(drop=True)


NUL_VALUE_REASON = "a value holds a NUL byte (0x00), which is not text (check the export)"


def _nul_rows(raw: pd.DataFrame) -> list[int]:
    """Rows of ``raw`` (string cells) where any cell holds a NUL character."""
    hit = np.zeros(len(raw), dtype=bool)
    for col in raw.columns:
        hit |= raw[col].str.contains("\x00", regex=False, na=False).to_numpy(dtype=bool)
    return np.flatnonzero(hit).tolist()


def _key_name(cfg: FileConfig, field: str) -> str:
    return cfg.columns.get(field, field)


def extract_file(source_dir: Path, source: str, cfg: FileConfig, *, identity: bool, run_id: str | None,
                 reference_date: dt.date, dob_from: dt.date = DOB_FROM_DEFAULT, drop: Path | None = None,
                 keep_chunk: ChunkKeep = keep_frame, reuse: Reusable | None = None) -> FileExtract | None:
    """Standardised chunks (as ``keep_chunk`` makes them), quarantine rows, accounts and notices for one file; None for a missing optional file.

    Every sheet of a workbook is read (and accounted for) on its own; a record id repeated on a later sheet
    is a duplicate. A file with a header but no rows stops the run when it is the identity file, and gives
    a notice otherwise. ``reuse``: the digests of the rows staged last time that may be kept (``connectors.reuse``):
    a line with one of them is accounted for but not standardised again (``FileExtract.carried``).
    """
    try:
        streams = open_inputs(source_dir, cfg, source, drop)
    except UnusableInputError as err:
        if cfg.optional and "is missing" in err.problem:
            log.info("source=%s optional file %s absent", source, cfg.file)
            return None
        raise
    out = FileExtract([], [], [], [])
    tracker = DuplicateTracker()
    labels = [s.label for s in streams]
    for k, stream in enumerate(streams):
        frames, quarantine, account, notices, carried = _extract_stream(
            stream, source, cfg, identity=identity, run_id=run_id, reference_date=reference_date,
            dob_from=dob_from, tracker=tracker, table=k, labels=labels, keep_chunk=keep_chunk, reuse=reuse)
        out.frames.extend(frames)
        out.carried.append(carried)
        out.quarantine.extend(quarantine)
        out.accounts.append(account)
        out.notices.extend(notices)
    if sum(a.records_out + a.quarantined for a in out.accounts) == 0:
        what = "table or query returned no rows" if cfg.sql else "file has a header line but no rows"
        if identity:
            raise UnusableInputError(streams[0].path, what, "check the export finished, then re-send it")
        out.notices.append(InputNotice(source, labels[0], "no_rows", "", f"{what}, so no interactions came from it"))
    return out


# Lines of table k (the k-th sheet of a workbook) are tracked for duplicates as k * _TABLE_STRIDE + line.
_TABLE_STRIDE = 1 << 40


def _seen_at(first: int, table: int, labels: list[str]) -> str:
    k, line = divmod(first, _TABLE_STRIDE)
    return f"line {line}" if k == table else f"line {line} of {labels[k]}"


def _extract_stream(stream: RawStream, source: str, cfg: FileConfig, *, identity: bool, run_id: str | None,
                    reference_date: dt.date, dob_from: dt.date, tracker: DuplicateTracker, table: int,
                    labels: list[str], keep_chunk: ChunkKeep, reuse: Reusable | None = None,
                    ) -> tuple[list[Any], list[dict], FileAccount, list[InputNotice], Carried]:
    """One table (a file, a sheet or a SQL table) of a configured file."""
    attendance = isinstance(cfg, InteractionFileConfig) and cfg.kind == "attendance"
    required = list(dict.fromkeys(["source_record_id", *cfg.required]))
    colmap = resolve_columns(stream, cfg, required)
    notices = [InputNotice(source, stream.label, "missing_column", col,
                           f"column '{col}' is not in the file, so {', '.join(fields)} "
                           f"{'is' if len(fields) == 1 else 'are'} empty for every record from it "
                           "(map the renamed column in sources.yaml, or fix the export)")
               for col, fields in missing_columns(cfg, colmap).items()]
    for notice in notices:
        log.info("source=%s file=%s notice=%s subject=%s", source, stream.label, notice.kind, notice.subject)
    stream.usecols = sorted(set(colmap.values()))
    fcol = _field_colmap(cfg, colmap)
    rid_name = _key_name(cfg, "source_record_id")
    ledger = LineLedger(stream.label, stream.header_lines)
    frames: list[Any] = []
    quarantine: list[dict] = []
    carried = Carried(identity, stream.label)
    dkey: str | None = None

    def q(line: int, reason: str, raw: str) -> None:
        quarantine.append({"run_id": run_id, "source": source, "file": stream.label, "line_number": int(line),
                           "reason": reason, "raw_line": raw.replace("\x00", "\\x00")})

    for chunk in stream.chunks():
        with shared_factorize():  # each raw column's distinct values are worked out once per chunk
            raw = chunk.frame
            for item in chunk.quarantined:
                q(item.line, item.reason, item.raw)
            keep = np.ones(len(raw), dtype=bool)
            reasons: dict[int, str] = {}
            if chunk.raw is None:  # typed readers (xlsx, Parquet, SQL); the CSV reader quarantines NUL lines itself
                for i in _nul_rows(raw):
                    keep[i], reasons[i] = False, NUL_VALUE_REASON
            rid = blank_to_none(field_series(raw, cfg, fcol, "source_record_id"))
            for i in np.flatnonzero(rid.isna().to_numpy()).tolist():
                keep[i], reasons[i] = False, f"{rid_name} is missing"
            if identity:
                key, key_name = rid, rid_name
            elif attendance:
                year, term = attendance_keys(raw, cfg, fcol)  # standardise_interactions reuses them
                key = (rid.fillna("") + "/" + year.fillna("") + "/" + term.fillna("")).astype(object)
                key_name = "/".join(_key_name(cfg, f) for f in ("source_record_id", "academic_year", "term"))
            elif "event_id" in fcol:
                key, key_name = blank_to_none(raw[fcol["event_id"]]), _key_name(cfg, "event_id")
                for i in np.flatnonzero((key.isna() & rid.notna()).to_numpy()).tolist():
                    keep[i], reasons[i] = False, f"{key_name} is missing"
            else:
                key, key_name = content_keys(raw, fcol, rid.fillna("")), None
            idx = np.flatnonzero(keep)
            keys = key.to_numpy(dtype=object)
            first = tracker.first_seen(keys if len(idx) == len(keys) else keys[idx],
                                       chunk.lines[idx] + table * _TABLE_STRIDE)
            for i, seen in zip(idx[first > 0].tolist(), first[first > 0].tolist(), strict=True):
                keep[i] = False
                at = _seen_at(seen, table, labels)
                reasons[i] = (f"{key_name} '{key.iat[i]}' already seen at {at}" if key_name
                              else f"exact repeat of the row at {at}")
            for i in sorted(reasons):
                q(chunk.lines[i], reasons[i], chunk.raw_text(i))
            gone = ~keep
            ledger.add(chunk.lines[keep], chunk.n_lines[keep],
                       np.concatenate([[it.line for it in chunk.quarantined], chunk.lines[gone]]).astype(np.int64),
                       np.concatenate([[it.n_lines for it in chunk.quarantined], chunk.n_lines[gone]]).astype(np.int64))
            if not keep.any():
                continue
            good = _kept(raw, keep)
            dkey = dkey or digest_key(source, cfg, identity=identity, dob_from=dob_from, header=stream.header,
                                      encoding=stream.encoding, colmap=colmap)
            digests = row_digests(good, dkey, None if chunk.raw is None else
                                  np.asarray(chunk.raw, dtype=object)[keep])
            if reuse:  # lines unchanged since they were staged: their rows are kept, not standardised again
                before = int(keep.sum())
                keep, digests = carried.take_unchanged(reuse, keep, digests, chunk.lines)
                if not keep.any():
                    continue
                if len(digests) < before:
                    good = _kept(raw, keep)
            common = dict(source=source, record_ids=_kept(rid, keep), lines=chunk.lines[keep],
                          file_label=stream.label, run_id=run_id)
            if identity:
                frame = standardise_identity(good, cfg, fcol, reference_date=reference_date, dob_from=dob_from,
                                             **common)
            else:
                assert isinstance(cfg, InteractionFileConfig), "identity=False only for interaction files"
                terms = (_kept(year, keep), _kept(term, keep)) if attendance else None
                frame = standardise_interactions(good, cfg, fcol, event_ids=_kept(key, keep), terms=terms, **common)
            frame["row_digest"] = digests
            frames.append(keep_chunk(frame, identity))
    account = ledger.close(stream.lines_in)
    quarantine.sort(key=lambda r: r["line_number"])
    log.info("source=%s file=%s lines_in=%d records_out=%d quarantined=%d kept_unchanged=%d", source, stream.label,
             account.lines_in, account.records_out, account.quarantined, len(carried))
    return frames, quarantine, account, notices, carried


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("source_line", "line_number") else object)
                             for c in columns})
    if len(frames) == 1:
        out = frames[0][list(columns)].reset_index(drop=True)
    else:  # column by column: pd.concat checks all-None object columns element by element
        out = pd.DataFrame({
            c: np.concatenate([f[c].to_numpy(dtype=object) for f in frames]) if frames[0][c].dtype == object
            else pd.concat([f[c] for f in frames], ignore_index=True)
            for c in columns
        }, copy=False)
    for col in out.columns:
        if out[col].dtype == object:
            values = out[col].to_numpy(dtype=object)
            nulls = pd.isna(values)
            if nulls.any():
                values[nulls] = None
                out[col] = values
    return out


def extract_source(source_dir: Path, config: SourceConfig, run_id: str | None = None,
                   reference_date: dt.date | None = None, dob_from: dt.date = DOB_FROM_DEFAULT,
                   drop: Path | None = None) -> SourceExtract:
    """Read one source folder (``DROP/<source>``) with its config into canonical frames.

    Every file read must lie inside ``drop`` (default: the source folder's parent).

    ``reference_date`` (default today; the pipeline passes the drop date) decides what "in the future" means;
    a DOB before ``dob_from`` (the earliest plausible DOB) is flagged too early.
    """
    parts = extract_source_parts(source_dir, config, run_id, reference_date, dob_from, drop)
    return SourceExtract(config.name, _concat(parts.identity, IDENTITY_COLUMNS),
                         _concat(parts.interactions, INTERACTION_COLUMNS), parts.quarantine, parts.accounts,
                         parts.notices)


def extract_source_parts(source_dir: Path, config: SourceConfig, run_id: str | None = None,
                         reference_date: dt.date | None = None, dob_from: dt.date = DOB_FROM_DEFAULT,
                         drop: Path | None = None, keep_chunk: ChunkKeep = keep_frame,
                         reuse: Reusable | None = None) -> SourceParts:
    """``extract_source`` with each standardised chunk passed through ``keep_chunk`` as soon as it is made and
    the results kept in file order, not concatenated; ``reuse``: see ``extract_file``."""
    source_dir = Path(source_dir)
    reference_date = reference_date or dt.date.today()
    parts = SourceParts(config.name, [], [], pd.DataFrame(), [], [])
    quarantine: list[dict] = []
    for cfg, is_identity in [(config.identity, True), *((c, False) for c in config.interactions)]:
        result = extract_file(source_dir, config.name, cfg, identity=is_identity, run_id=run_id,
                              reference_date=reference_date, dob_from=dob_from, drop=drop, keep_chunk=keep_chunk,
                              reuse=reuse)
        if result is None:
            continue
        parts.carried.extend(result.carried)
        (parts.identity if is_identity else parts.interactions).extend(result.frames)
        quarantine.extend(result.quarantine)
        parts.accounts.extend(result.accounts)
        parts.notices.extend(result.notices)
    parts.quarantine = pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS))
    parts.quarantine["line_number"] = parts.quarantine["line_number"].astype("int64")
    return parts
