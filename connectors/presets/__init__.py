"""Built-in presets for the four reference export layouts (see docs/spec reference-exports)."""

from schemas.config import SourceConfig

from .education import EDUCATION
from .health import HEALTH
from .police import POLICE
from .social_care import SOCIAL_CARE

PRESETS: dict[str, SourceConfig] = {c.name: c for c in (EDUCATION, HEALTH, POLICE, SOCIAL_CARE)}

__all__ = ["EDUCATION", "HEALTH", "POLICE", "PRESETS", "SOCIAL_CARE"]
