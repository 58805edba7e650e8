"""Runtime settings, from environment variables (prefix ``CHILDVIEW_``) and CLI flags.

Secrets (the pseudonymisation key, database URLs) are only ever read from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHILDVIEW_", extra="ignore")

    profile: Literal["demo", "production"] = "demo"
    drop: Path = Path("sample_data/demo")
    warehouse: Path = Path("warehouse/childview.duckdb")
    sources_file: Path | None = Field(default=None, description="sources.yaml; presets when unset")
    landing_dir: Path = Path("landing")
    pseudonym_key: SecretStr | None = None
    pseudonym_key_file: Path = Path(".secrets/pseudonym.key")
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    spill_dir: Path | None = None
    link_threshold: float = 0.95
    review_lower: float = 0.5
    retrain: bool = False
    chunk_size: int = 200_000


def get_settings(**overrides) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
