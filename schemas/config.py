"""``sources.yaml`` models: how a source's files map onto the canonical schema, with no code change.

A *preset* (``connectors.presets``) is simply a ``SourceConfig`` built in code for one of the four
reference layouts. A council with different exports writes the same structure in YAML::

    sources:
      - name: police              # or a new name, e.g. youth_justice
        preset: police            # optional: start from a preset and override (deep merge)
        identity:
          file: people            # stem: people.csv | people.xlsx | people.parquet
          encoding: cp1252        # optional; detected when omitted
          date_formats: ["%d/%m/%Y"]
          columns:                # canonical field -> source column
            source_record_id: PersonRef
            last_name: FamilyName
          code_maps:
            sex: {Male: M, Female: F, Unknown: ""}   # "" maps to NULL
        interactions:
          - file: incidents
            columns: {source_record_id: PersonRef, event_id: IncidentRef, event_date: Date,
                      event_type: IncidentType}
            code_maps:
              event_type: {MISSING: missing_person}

Merging onto a preset: mappings are merged key by key. If ``interactions`` is given it replaces the
preset's list, and each item whose ``file`` names a preset interaction file is merged onto that item.

Every source ISO date (``YYYY-MM-DD``, optionally with a midnight time) is accepted in addition to
``date_formats``. Identity fields ``nhs_number``, ``upn``, ``former_upn``, ``pnc_id`` and ``postcode``
are validated by ``schemas.identifiers`` whatever the layout.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.errors import UnusableInputError
from schemas.records import EVENT_TYPES, IDENTITY_INPUT_FIELDS, INTERACTION_INPUT_FIELDS
from schemas.rules import DOB_FROM_DEFAULT
from schemas.source_rules import QualityRules, check_indicators, check_known_to, check_reliability

ReaderKind = Literal["file", "sql"]
_IDENTIFIER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def identifier_name(name: object) -> str:
    """A named identifier's canonical name: lower case letters, digits and ``_``, starting with a letter."""
    clean = str(name).strip().lower()
    if not _IDENTIFIER_NAME.match(clean):
        raise ValueError(f"identifier name {name!r} must be letters, digits and '_', starting with a letter")
    return clean


def _column_name(name: str, column: object) -> str:
    if not isinstance(column, str) or not column.strip():
        raise ValueError(f"identifier '{name}' must name a source column")
    return column


class SqlLocation(BaseModel):
    """Read a table from a database instead of a file. The URL comes from an environment variable."""

    model_config = ConfigDict(extra="forbid")

    url_env: str = Field(description="Name of the environment variable that holds the SQLAlchemy URL")
    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_of_table_or_query(self) -> SqlLocation:
        if bool(self.table) == bool(self.query):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class FileConfig(BaseModel):
    """One file (or table) of a source and how its columns map onto canonical fields."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="File stem inside the source folder; the extension picks the reader")
    sql: SqlLocation | None = None
    optional: bool = Field(default=False, description="a missing file is skipped instead of an error")
    encoding: str | None = Field(default=None, description="Force an encoding; detected when omitted")
    fallback_encoding: str = Field(
        default="cp1252", description="encoding used when detection finds the file is not UTF-8"
    )
    date_formats: list[str] = Field(
        default_factory=list, description="strptime formats tried before ISO YYYY-MM-DD"
    )
    future_dob: Literal["impossible", "expected"] = Field(
        default="impossible", description="'expected': a future DOB is an unborn child's expected date"
    )
    columns: dict[str, str] = Field(default_factory=dict, description="canonical field -> source column")
    required: list[str] = Field(default_factory=list, description="canonical fields whose column must exist")
    code_maps: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="canonical field -> {source code: canonical code}; '' means NULL"
    )
    split: dict[str, str] = Field(
        default_factory=dict, description="canonical list field -> separator, e.g. alternative_names: ';'"
    )
    concat: dict[str, list[str]] = Field(
        default_factory=dict, description="canonical field -> source columns joined with ', '"
    )
    constants: dict[str, str] = Field(default_factory=dict, description="canonical field -> fixed value")
    identifiers: dict[str, str] = Field(
        default_factory=dict,
        description="identity files only: identifier name -> source column, e.g. {soc_sec_id: SSN}; "
                    "values land in identity_records.identifiers as 'NAME=VALUE'",
    )
    cannot_link_identifiers: list[str] = Field(
        default_factory=list,
        description="identity files only: names from 'identifiers' whose two different values mean two people",
    )

    @field_validator("identifiers")
    @classmethod
    def _identifier_names(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, column in value.items():
            clean = identifier_name(name)
            if clean in out:
                raise ValueError(f"identifier name '{clean}' is given twice")
            out[clean] = _column_name(clean, column)
        return out

    @field_validator("cannot_link_identifiers")
    @classmethod
    def _cannot_link_names(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(identifier_name(name) for name in value))

    @model_validator(mode="after")
    def _known_fields(self) -> FileConfig:
        """Every key naming a canonical field is one svoc reads from this kind of file (a typo such as
        ``frist_name`` would otherwise leave the field empty on every record, silently)."""
        known = self.input_fields()
        keyed: dict[str, Any] = {"columns": self.columns, "concat": self.concat, "constants": self.constants,
                 "code_maps": self.code_maps, "split": self.split, "required": dict.fromkeys(self.required)}
        for section, fields in keyed.items():
            for field in fields:
                if field not in known:
                    near = difflib.get_close_matches(field, known, n=1)
                    hint = f"did you mean '{near[0]}'? " if near else ""
                    raise ValueError(f"{section}: '{field}' is not a field svoc reads from {self.kind_label()}; "
                                     f"{hint}the fields are {', '.join(known)}")
        return self

    def input_fields(self) -> tuple[str, ...]:
        return IDENTITY_INPUT_FIELDS

    def kind_label(self) -> str:
        return "an identity file"

    @model_validator(mode="after")
    def _cannot_link_declared(self) -> FileConfig:
        undeclared = [n for n in self.cannot_link_identifiers if n not in self.identifiers]
        if undeclared:
            raise ValueError(f"cannot_link_identifiers {undeclared} are not names under 'identifiers:'")
        return self

    @field_validator("encoding", "fallback_encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None

    def source_column(self, field: str) -> str | None:
        return self.columns.get(field)

    def source_columns(self, field: str) -> list[str]:
        """Every source column that feeds ``field`` (a mapped column, or the columns it concatenates)."""
        if field in self.concat:
            return list(self.concat[field])
        col = self.columns.get(field)
        return [col] if col else []


class InteractionFileConfig(FileConfig):
    """An interaction file. ``kind`` selects the row shape: plain events, or attendance terms.

    The event type comes from the column mapped to ``event_type`` (through ``code_maps.event_type``),
    or is the fixed ``event_type``. When no ``event_id`` column is mapped (and ``kind`` is ``events``),
    the event id is ``<source_record_id>/<16 hex digits>``, a hash of the row's mapped values, so it
    is stable across drops; an exact repeat of a row is quarantined as a duplicate.
    """

    kind: Literal["events", "attendance"] = "events"
    event_type: str | None = Field(default=None, description="fixed event_type when the file has no type column")

    def input_fields(self) -> tuple[str, ...]:
        return INTERACTION_INPUT_FIELDS

    def kind_label(self) -> str:
        return "an interaction file"

    @model_validator(mode="after")
    def _event_types_in_vocabulary(self) -> InteractionFileConfig:
        targets = list(self.code_maps.get("event_type", {}).values())
        if self.event_type:
            targets.append(self.event_type)
        bad = sorted({t for t in targets if t and t not in EVENT_TYPES})
        if bad:
            raise ValueError(f"event types {bad} are not in the shared vocabulary {list(EVENT_TYPES)}")
        if self.identifiers or self.cannot_link_identifiers:
            raise ValueError("'identifiers' and 'cannot_link_identifiers' belong in the source's identity section")
        return self


# A source name becomes a folder name in the drop, a Dagster asset key and part of column names.
SOURCE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    preset: str | None = None
    reliability: dict[str, int] = Field(
        default_factory=dict, description="field (name, dob, sex, postcode) -> survivorship rank (higher wins)"
    )
    identity: FileConfig
    interactions: list[InteractionFileConfig] = Field(default_factory=list)
    quality: QualityRules = Field(default_factory=QualityRules, description="quality thresholds (generic defaults)")
    known_to: bool | str = Field(
        default=True, description="the linked.single_view flag: true known_to_<name>, a column name, or false")
    indicators: list[str] = Field(default_factory=list, description="indicators this source feeds (catalogue names)")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not SOURCE_NAME_PATTERN.fullmatch(value):
            raise ValueError("a source name must be a lower-case letter followed by up to 39 lower-case letters, "
                             "digits or underscores (it names the source's folder in the drop)")
        return value

    @field_validator("reliability")
    @classmethod
    def _reliability_fields(cls, value: dict[str, int]) -> dict[str, int]:
        return check_reliability(value)

    @field_validator("known_to")
    @classmethod
    def _known_to_column(cls, value: bool | str) -> bool | str:
        return check_known_to(value)

    @field_validator("indicators")
    @classmethod
    def _indicators_in_catalogue(cls, value: list[str]) -> list[str]:
        return check_indicators(value)

    def known_to_column(self) -> str | None:
        """The ``known_to_<source>`` column of ``linked.single_view`` (None when switched off)."""
        if self.known_to is False:
            return None
        return self.known_to if isinstance(self.known_to, str) else f"known_to_{self.name}"


class MatchingOptions(BaseModel):
    """The top-level ``matching:`` key of sources.yaml."""

    model_config = ConfigDict(extra="forbid")

    dob_from: dt.date | None = Field(
        default=None, description="earliest plausible DOB (any date); default: the present children's range"
    )


class SourcesOptions(BaseModel):
    """The top-level keys of sources.yaml other than the sources themselves."""

    model_config = ConfigDict(extra="forbid")

    sources: list[Any] = Field(default_factory=list)
    matching: MatchingOptions = Field(default_factory=MatchingOptions)
    cannot_link_identifiers: list[str] = Field(
        default_factory=list, description="identifier names that are a cannot-link in every source that maps them"
    )

    @field_validator("cannot_link_identifiers")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(identifier_name(name) for name in value))


class SourcesFile(SourcesOptions):
    sources: list[SourceConfig]


def read_sources_yaml(path: Path) -> dict:
    """The raw mapping in a ``sources.yaml`` (before presets are merged in)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with a 'sources' list")
    return data


def load_sources_yaml(path: Path) -> SourcesFile:
    """Parse and validate a ``sources.yaml`` without presets (see ``connectors.load_source_configs``)."""
    return SourcesFile.model_validate(read_sources_yaml(path))


def load_sources_options(path: Path | None) -> SourcesOptions:
    """The top-level options of a ``sources.yaml`` (defaults when ``path`` is None). An invalid or unknown
    top-level key stops the run with one line naming the file."""
    if path is None:
        return SourcesOptions()
    try:
        data = read_sources_yaml(Path(path))
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise UnusableInputError(Path(path), f"cannot be read: {str(err).splitlines()[0] if str(err) else ''}",
                                 "fix the file") from None
    try:
        return SourcesOptions.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UnusableInputError(Path(path), f"{where}: {first['msg']}", "fix the top-level key") from None


def resolve_dob_from(setting: dt.date | None, options: SourcesOptions) -> dt.date:
    """The earliest plausible DOB: the ``SVOC_DOB_FROM`` setting, else ``matching.dob_from`` in sources.yaml,
    else ``schemas.rules.DOB_FROM_DEFAULT``."""
    return setting or options.matching.dob_from or DOB_FROM_DEFAULT


def cannot_link_names(options: SourcesOptions, configs: list[SourceConfig] | tuple[SourceConfig, ...],
                      path: Path | None = None) -> list[str]:
    """Every identifier name that is a cannot-link: the top-level list and each source's own, in order.
    A top-level name no source maps stops the run (most likely a typo)."""
    mapped = {name for cfg in configs for name in cfg.identity.identifiers}
    unknown = [name for name in options.cannot_link_identifiers if name not in mapped]
    if unknown:
        raise UnusableInputError(path or "sources.yaml",
                                 f"cannot_link_identifiers {unknown} are not mapped under any source's 'identifiers:'",
                                 "map them or remove them")
    names = [*options.cannot_link_identifiers, *(n for cfg in configs for n in cfg.identity.cannot_link_identifiers)]
    return list(dict.fromkeys(names))
