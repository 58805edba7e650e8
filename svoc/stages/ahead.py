"""Extracting sources ahead: a worker process extracts the drop's sources, the last configured first, while the
pipeline stages the first ones in its own process, so on two cores two sources are read at once.

The worker writes each source it extracted as Arrow IPC files (created ``0600`` in a private ``0700`` folder: they
hold identifiable data) and then a marker. A source step asks ``ExtractAhead.take``: a source nobody has started is
claimed for the step (it extracts it in process, as without a worker); a source the worker holds is waited for and
its files are staged. A claim is a file created exclusively, so each source is extracted exactly once. A source the
worker fails on (or a worker that dies) is extracted again in process, where its error stops the run with the usual
one line. The worker stops, and removes the folder, when the pipeline's process is gone; ``close`` stops it and
removes the folder at the end of the run. Ctrl-C is the pipeline's to handle (its run is cancelled, one line): the
worker, in the same process group, ignores it from its first instruction on, so it never prints a traceback.
Nothing here logs personal data: source names, counts and seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import time
from dataclasses import dataclass
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from connectors.reuse import Reusable, carried_table
from matching.memory import return_free_memory
from schemas.config import SourceConfig
from schemas.tables import arrow_schema, to_arrow
from svoc.private_temp import private_temp_dir, sweep_dead

log = logging.getLogger(__name__)

FOLDER_PREFIX = "svoc-extract-"
_TABLES = (("identity", "staging.identity_records"), ("interactions", "staging.interactions"),
           ("quarantine", "quarantine.rows"))
_IDENTITY, _INTERACTIONS, _QUARANTINE = (table for _, table in _TABLES)
_PARTS = (*(name for name, _ in _TABLES), "carried")  # the Arrow files of one source


@dataclass
class StagedTables:
    """One source's extract, shaped for its staging tables (``run_id`` set): Arrow tables plus the file accounts
    and input notices; ``carried``: the unchanged lines whose staged rows are kept (``CARRIED_COLUMNS``)."""

    identity: pa.Table
    interactions: pa.Table
    quarantine: pa.Table
    carried: pa.Table
    accounts: list[Any]
    notices: list[Any]


def extract_staged(source_dir: Path, config: SourceConfig, run_id: str, *, reference_date: dt.date,
                   dob_from: dt.date, drop: Path, reuse: Reusable | None = None) -> StagedTables:
    """One source extracted (``connectors.extract_source_parts``) straight into its staging tables: each
    standardised chunk becomes Arrow as soon as it is made, so a source is never held whole as pandas objects
    (a county's attendance file: ~1.6 GB as pandas, ~0.4 GB as Arrow). ``reuse``: the staged rows' digests that
    unchanged lines keep (``connectors.reuse``)."""
    from connectors import extract_source_parts

    def to_table(frame: Any, identity: bool) -> pa.Table:  # the chunk carries its run_id already
        return to_arrow(frame, _IDENTITY if identity else _INTERACTIONS)

    parts = extract_source_parts(source_dir, config, run_id=run_id, reference_date=reference_date,
                                 dob_from=dob_from, drop=drop, keep_chunk=to_table, reuse=reuse)
    parts.quarantine["run_id"] = run_id
    tables = {name: _concat_tables(chunks, table) for (name, table), chunks in
              zip(_TABLES, (parts.identity, parts.interactions, [to_arrow(parts.quarantine, _QUARANTINE)]),
                  strict=True)}
    tables["carried"] = carried_table(parts.carried)
    accounts, notices = list(parts.accounts), list(parts.notices)
    del parts
    return_free_memory(arrow=True)  # the chunks' pandas rows and Arrow copies, freed but held by the allocators
    return StagedTables(**tables, accounts=accounts, notices=notices)


def _concat_tables(chunks: list[pa.Table], table: str) -> pa.Table:
    if not chunks:
        return arrow_schema(table).empty_table()
    return pa.concat_tables(chunks)  # no copy: a table of the chunks


def _claim(folder: Path, source: str) -> bool:
    try:
        os.close(os.open(folder / f"{source}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        return False


def _private_file(path: Path) -> BinaryIO:
    return open(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "wb")


def _save(folder: Path, source: str, staged: StagedTables) -> None:
    for name in _PARTS:
        table = getattr(staged, name)
        with _private_file(folder / f"{source}.{name}.arrow") as fh, pa.ipc.new_file(fh, table.schema) as writer:
            writer.write_table(table)
    with _private_file(folder / f"{source}.meta.part") as fh:
        pickle.dump((staged.accounts, staged.notices), fh)
    os.replace(folder / f"{source}.meta.part", folder / f"{source}.done")  # the marker: everything is written


def _load(folder: Path, source: str) -> StagedTables:
    tables = {name: pa.ipc.open_file(pa.memory_map(str(folder / f"{source}.{name}.arrow"))).read_all()
              for name in _PARTS}
    with open(folder / f"{source}.done", "rb") as fh:
        accounts, notices = pickle.load(fh)  # noqa: S301 - written by this run's own worker, in a 0700 folder
    return StagedTables(**tables, accounts=accounts, notices=notices)


def _work(folder: str, drop: str, configs: list[SourceConfig], run_id: str, reference_date: dt.date,
          dob_from: dt.date, parent: int, reuse: dict[str, Reusable]) -> None:
    """The worker: extract the sources, the last first, skipping those the pipeline claimed."""
    # Started with SIGINT blocked (``ExtractAhead``): a Ctrl-C pressed meanwhile is pending, dropped by SIG_IGN.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    where = Path(folder)
    for config in reversed(configs):
        if os.getppid() != parent:  # the pipeline is gone (killed): nobody will read or remove the files
            break
        if not _claim(where, config.name):
            continue
        started = time.perf_counter()
        try:
            _save(where, config.name, extract_staged(Path(drop) / config.name, config, run_id,
                                                     reference_date=reference_date, dob_from=dob_from, drop=Path(drop),
                                                     reuse=reuse.get(config.name)))
        except Exception:  # noqa: BLE001 - the pipeline extracts it again and reports the error itself
            (where / f"{config.name}.failed").touch()
            continue
        log.info("extracted ahead: source=%s in %.1f s", config.name, time.perf_counter() - started)
    if os.getppid() != parent:  # the pipeline was killed meanwhile; if it is killed later, the next run sweeps
        shutil.rmtree(where, ignore_errors=True)


class ExtractAhead:
    """A worker process extracting ``configs`` of ``drop`` for ``run_id``; see the module docstring."""

    def __init__(self, drop: Path, configs: list[SourceConfig], run_id: str, reference_date: dt.date,
                 dob_from: dt.date, reuse: dict[str, Reusable] | None = None) -> None:
        sweep_dead(FOLDER_PREFIX)  # left by a run killed with its worker
        self.folder = private_temp_dir(FOLDER_PREFIX)
        context = multiprocessing.get_context("spawn")  # not fork: the pipeline's process runs threads
        self.process = context.Process(
            target=_work, daemon=True, name="svoc-extract-ahead",
            args=(str(self.folder), str(drop), configs, run_id, reference_date, dob_from, os.getpid(), reuse or {}))
        # The new interpreter inherits this thread's signal mask: blocked, a Ctrl-C cannot interrupt its start-up
        # (imports, unpickling) and print a traceback before ``_work`` ignores it. This thread's own are delivered
        # once unblocked (in a step's thread, the main thread receives them anyway). multiprocessing's resource
        # tracker unblocks SIGINT after it starts, so it is started first.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.mine: set[str] = set()  # sources this process claimed (a retried step extracts them again)

    def take(self, source: str) -> StagedTables | None:
        """The worker's extract of ``source``; None when the caller is to extract it (claimed for it, or the
        worker failed on it)."""
        if source in self.mine or _claim(self.folder, source):
            self.mine.add(source)
            return None
        waited = time.perf_counter()
        while not (self.folder / f"{source}.done").exists():
            if (self.folder / f"{source}.failed").exists():
                return None
            if not self.process.is_alive():
                if (self.folder / f"{source}.done").exists():
                    break
                return None
            time.sleep(0.05)
        log.info("staging source=%s from the worker (waited %.1f s)", source, time.perf_counter() - waited)
        return _load(self.folder, source)

    def close(self) -> None:
        """Stop the worker and remove its files."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
