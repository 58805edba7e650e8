"""pyproject.toml declares only what the project uses: every runtime dependency is imported by our code, or is
a tool/driver we name with the reason it is needed."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "connectors", "quality", "matching", "svoc", "pipelines")
# Used without an import in our code: say why, or drop the dependency.
NOT_IMPORTED = {
    "dagster-webserver": "the UI that `make dev` (dg dev) serves",
    "dagster-dg-cli": "the `dg` command (`make dev`, `dg check defs`)",
    "duckdb-engine": "the duckdb:/// SQLAlchemy URL BI tools connect with (docs/warehouse.md)",
    "psycopg": "the driver a plain postgresql:// URL in a source's url_env loads",
    "python-multipart": "Starlette's request.form() in the web workspace",
    "itsdangerous": "Starlette's SessionMiddleware (the web workspace's sign-in)",
}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def imported_modules() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


def test_every_runtime_dependency_is_used():
    declared = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    by_dist: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    imported = imported_modules()
    unused = sorted(d for d in declared - set(NOT_IMPORTED) if not by_dist.get(d, set()) & imported)
    assert unused == [], f"declared but never imported: {unused}"
