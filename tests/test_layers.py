"""No import runs up a layer. The order is stated in docs/architecture.md; this test is its enforcement.

Each module belongs to the layer of its longest matching package prefix below. A module may import its own
layer's packages and any lower layer, never a higher one. Layers with two packages are peers that must not
import each other (``connectors``, ``quality`` and ``matching`` only share ``schemas``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (rank, package prefix). Lowest first.
LAYERS: list[tuple[int, str]] = [
    (0, "schemas"),
    (1, "connectors"), (1, "quality"), (1, "matching"),
    (2, "svoc"), (2, "svoc.settings"), (2, "svoc.drops"), (2, "svoc.synth"),
    (3, "svoc.warehouse"), (3, "svoc.state"),
    (4, "svoc.report"),
    (5, "svoc.review"), (5, "svoc.stages"), (5, "svoc.find"),
    (6, "pipelines"),
    (7, "svoc.web"),
    (8, "svoc.cli"),
]
PACKAGES = ("schemas", "connectors", "quality", "matching", "svoc", "pipelines")


def layer_of(module: str) -> tuple[int, str]:
    best = max((p for _, p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict((p, r) for r, p in LAYERS)[best], best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def project_modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def upward_imports(path: Path) -> list[str]:
    me = module_name(path)
    rank, home = layer_of(me)
    bad = []
    for line, target in imports_of(path):
        t_rank, t_home = layer_of(target)
        peer = t_rank == rank and t_home.split(".")[0] != home.split(".")[0] and rank == 1
        if t_rank > rank or peer:
            bad.append(f"{path.relative_to(ROOT)}:{line}: {me} (layer {rank}) imports {target} (layer {t_rank})")
    return bad


def test_no_module_imports_a_higher_layer():
    bad = [b for p in project_modules() for b in upward_imports(p)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(("source", "expected_bad"), [
    ("from pipelines.runner import run_pipeline\n", True),
    ("import svoc.cli\n", True),
    ("from matching.features import build_features\n", False),
    ("from schemas.errors import SvocError\n", False),
])
def test_the_check_catches_an_upward_import(tmp_path, monkeypatch, source, expected_bad):
    fake = ROOT / "svoc" / "warehouse" / "_layer_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, **_: source if self == fake else Path.read_bytes(self).decode())
    assert bool(upward_imports(fake)) is expected_bad
