"""Runtime settings: the one settings object, from environment variables (prefix ``SVOC_``) and CLI flags.

Everything a stage needs reaches it through Dagster resources built from this object
(``pipelines.resources.resources_from``); nothing reads the environment behind the job's back.
Secrets (the pseudonymisation key, database URLs) are only ever read from the environment.

For one release the old prefix still works: a ``CHILDVIEW_<NAME>`` variable is read when ``SVOC_<NAME>`` is
unset, with a warning that names the new variable.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import SvocError

ENV_PREFIX = "SVOC_"
LEGACY_ENV_PREFIX = "CHILDVIEW_"


def default_key_file() -> Path:
    """The demo pseudonymisation key: in the user's config folder, outside the checkout and the warehouse."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "svoc" / "pseudonym.key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    profile: Literal["demo", "production"] = "demo"
    drop: Path = Path("sample_data/demo")
    warehouse: Path = Path("warehouse/svoc.duckdb")
    sources_file: Path | None = Field(default=None, description="sources.yaml; presets when unset")
    landing_dir: Path = Path("landing")
    pseudonym_key: SecretStr | None = None
    pseudonym_key_file: Path = Field(default_factory=default_key_file)
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    extract_workers: int = Field(default=1, ge=0, description="worker processes extracting sources ahead of their steps (0: none)")
    spill_dir: Path | None = None
    small_cell_threshold: int = Field(
        default=5, ge=2, description="analytics file: counts of 1 to this-1 children are suppressed")
    link_threshold: float | None = Field(
        default=None, description="override: link probability (default: set from the model, docs/matching.md)")
    review_lower: float | None = Field(default=None, description="override: lowest probability queued for review")
    dob_from: dt.date | None = Field(
        default=None, description="earliest plausible DOB; wins over sources.yaml matching.dob_from")
    retrain: bool = False
    full: bool = Field(default=False, description="re-link every record (svoc run --full); else an incremental "
                       "night re-links only new and changed records (docs/scale.md)")
    engine: Literal["duckdb", "spark"] = Field(default="duckdb", description="the matching engine (docs/scale.md)")
    spark_master: str = Field(default="local[*]", description="Spark master URL when engine is spark")
    spark_conf: dict[str, str] = Field(default_factory=dict, description="extra Spark configuration (JSON object)")
    parquet: bool | None = Field(default=None, description="also publish every table as Parquet beside the "
                                 "warehouse (<stem>_parquet/); default: when the engine is spark")
    chunk_size: int = 200_000
    dagster_log_level: str = "CRITICAL"
    # Operations (pipelines/defs/alerts.py, freshness.py): how old the published warehouse may get, and who
    # hears about a failed run. Secrets (the SMTP password, the webhook URL with its token) from the environment.
    freshness_hours: float = Field(default=26.0, gt=0, description="the published warehouse is stale after this")
    alert_email_from: str | None = None
    alert_email_to: str = Field(default="", description="comma-separated addresses for failed-run email")
    alert_email_smtp_host: str | None = None
    alert_email_smtp_port: int | None = None
    alert_email_smtp_type: Literal["SSL", "STARTTLS"] = "STARTTLS"
    alert_email_smtp_user: str | None = None
    alert_email_password: SecretStr | None = None
    alert_webhook_url: SecretStr | None = None
    alert_webhook_kind: Literal["teams", "slack"] = "teams"
    state_url: SecretStr | None = Field(default=None, description="IG state store (decisions, access log) as a "
                                        "SQLAlchemy URL; default: <stem>_state.sqlite beside the warehouse")

    def env_name(self, field: str) -> str:
        """The environment variable that set ``field`` (the legacy one when only that is set)."""
        new = f"{ENV_PREFIX}{field.upper()}"
        old = f"{LEGACY_ENV_PREFIX}{field.upper()}"
        return old if new not in os.environ and old in os.environ else new


def legacy_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Settings given only under the old ``CHILDVIEW_`` prefix: field -> value, with one warning each."""
    env = dict(os.environ if environ is None else environ)
    found: dict[str, str] = {}
    for name in Settings.model_fields:
        old, new = f"{LEGACY_ENV_PREFIX}{name.upper()}", f"{ENV_PREFIX}{name.upper()}"
        if old in env and new not in env:
            warnings.warn(f"{old} is the old name: set {new} instead (the old name is read this release only)",
                          FutureWarning, stacklevel=3)
            found[name] = env[old]
    return found


def get_settings(**overrides: Any) -> Settings:
    """The settings: explicit overrides, then ``SVOC_*``, then legacy ``CHILDVIEW_*``, then defaults."""
    given = {k: v for k, v in overrides.items() if v is not None}
    # Raw environment text, validated and converted by pydantic like any SVOC_* variable.
    legacy: dict[str, Any] = {k: v for k, v in legacy_environment().items() if k not in given}
    try:
        return Settings(**legacy, **given)
    except ValidationError as err:  # one line naming the setting; the value is not repeated (it may be secret)
        first = err.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        where = f"{field} ({Settings.model_construct().env_name(field)})" if field in Settings.model_fields else field
        raise SvocError(f"setting {where}: {first['msg']}; fix the environment variable or option") from None


def writes_parquet(settings: Settings) -> bool:
    """Whether the publish also writes the Parquet copy (``SVOC_PARQUET``; by default with the Spark engine)."""
    return settings.parquet if settings.parquet is not None else settings.engine == "spark"
