import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Tests check correctness, never timings: no per-example deadline (a busy CI machine once took 294 ms for a
# Spark-vs-DuckDB example and failed on hypothesis' default 200 ms).
settings.register_profile("svoc", deadline=None)
settings.load_profile("svoc")

from tests.e2e import DEMO, run_cli  # noqa: E402


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """One real ``svoc run`` of the sample drop, shared by the end-to-end tests (read-only!)."""
    tmp = tmp_path_factory.mktemp("demo_run")
    warehouse = tmp / "warehouse" / "svoc.duckdb"
    proc = run_cli("run", "--drop", str(DEMO), "--warehouse", str(warehouse), tmp=tmp)
    (tmp / "stdout.txt").write_text(proc.stdout)
    return warehouse


@pytest.fixture()
def demo_copy(tmp_path) -> Path:
    """A private copy of the sample drop that a test may damage."""
    dst = tmp_path / "drop"
    shutil.copytree(DEMO, dst)
    return dst
