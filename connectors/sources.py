"""``load_source_configs``: the presets, or a ``sources.yaml`` whose entries may start from a preset."""

from __future__ import annotations

import copy
from pathlib import Path

from pydantic import ValidationError

from connectors.presets import PRESETS
from schemas.config import SOURCE_NAME_PATTERN, SourceConfig, read_sources_yaml
from schemas.errors import UnusableInputError


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` onto ``base``: mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_onto_preset(entry: dict, preset: SourceConfig) -> dict:
    """A sources.yaml entry merged onto its preset. A given ``interactions`` list replaces the preset's;
    each item whose ``file`` names a preset interaction file is merged onto that item."""
    base = preset.model_dump(exclude_defaults=True)
    base["name"] = preset.name
    merged = deep_merge(base, {k: v for k, v in entry.items() if k != "interactions"})
    if "interactions" in entry:
        by_file = {i["file"]: i for i in base.get("interactions", [])}
        merged["interactions"] = [
            deep_merge(by_file[item["file"]], item) if isinstance(item, dict) and item.get("file") in by_file
            else item
            for item in entry["interactions"] or []
        ]
    return merged


def _error_line(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" + (f" ({err.error_count() - 1} more)" if err.error_count() > 1 else "")


def load_source_configs(sources_yaml: Path | None) -> list[SourceConfig]:
    """The four presets when ``sources_yaml`` is None; else the file's sources (presets merged in)."""
    if sources_yaml is None:
        return [cfg.model_copy(deep=True) for cfg in PRESETS.values()]
    path = Path(sources_yaml)
    if not path.is_file():
        raise UnusableInputError(path, "sources file is missing")
    try:
        data = read_sources_yaml(path)
    except Exception as err:  # YAML syntax errors
        raise UnusableInputError(path, "cannot be parsed as YAML"
                                 + (f": {str(err).splitlines()[0]}" if str(err) else "")) from None
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise UnusableInputError(path, "expected a non-empty 'sources:' list")
    configs, names = [], set()
    flags: dict[str, str] = {}  # known_to column -> source
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise UnusableInputError(path, f"sources[{i}] is not a mapping")
        preset_name = entry.get("preset")
        if preset_name is not None and preset_name not in PRESETS:
            raise UnusableInputError(path, f"sources[{i}]: unknown preset '{preset_name}'",
                                     f"choose one of {', '.join(PRESETS)}")
        merged = merge_onto_preset(entry, PRESETS[preset_name]) if preset_name else entry
        if preset_name and "name" in entry:
            merged["name"] = entry["name"]
        try:
            cfg = SourceConfig.model_validate(merged)
        except ValidationError as err:
            name = entry.get("name")  # a hostile name is never echoed: it may hold newlines or markup
            label = name if isinstance(name, str) and SOURCE_NAME_PATTERN.fullmatch(name) else f"sources[{i}]"
            raise UnusableInputError(path, f"source '{label}': {_error_line(err)}") from None
        if cfg.name in names:
            raise UnusableInputError(path, f"source '{cfg.name}' is configured twice")
        flag = cfg.known_to_column()
        if flag is not None and flag in flags:
            raise UnusableInputError(path, f"source '{cfg.name}': known_to column '{flag}' is already the flag of "
                                     f"source '{flags[flag]}'", "give one of them another known_to name")
        if flag is not None:
            flags[flag] = cfg.name
        names.add(cfg.name)
        configs.append(cfg)
    return configs
