"""connectors: read agency exports (files or SQL) into canonical identity, interaction and quarantine frames.

Public API::

    from connectors import extract_source, load_source_configs, PRESETS
    configs = load_source_configs(None)          # or Path("sources.yaml")
    extract = extract_source(drop / "education", configs[0], run_id="r1", reference_date=drop_date)
"""

from connectors.accounting import FileAccount, LineLedger, check_line_accounting
from connectors.dates import parse_dates
from connectors.extract import SourceExtract, SourceParts, extract_source, extract_source_parts
from connectors.presets import PRESETS
from connectors.readers import RawChunk, RawStream, open_file, resolve_file
from connectors.sources import load_source_configs
from connectors.sql import read_sql
from connectors.standardise import harmonise_sex

__all__ = [
    "PRESETS",
    "FileAccount",
    "LineLedger",
    "RawChunk",
    "RawStream",
    "SourceExtract",
    "SourceParts",
    "check_line_accounting",
    "extract_source",
    "extract_source_parts",
    "harmonise_sex",
    "load_source_configs",
    "open_file",
    "parse_dates",
    "read_sql",
    "resolve_file",
]
