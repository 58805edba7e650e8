"""A warehouse's fingerprint: row counts per table and the partition of records into children.

``tests/data/demo_golden.json`` holds the fingerprint of the demo drop as published by ``childview run``
before the move to svoc (commit 86a43dc). Citizen ids are random, so "the same ids" means the same
partition of records into children; ids then carry over through the registry. A deliberate change to
matching or extraction regenerates it:

    .venv/bin/python -m tests.golden WAREHOUSE > tests/data/demo_golden.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import duckdb


def fingerprint(path: Path) -> dict[str, Any]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2").fetchall()
        counts = {f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in names}
        groups = con.execute(
            "SELECT list(source || ':' || source_record_id ORDER BY source, source_record_id) "
            "FROM linked.record_citizen GROUP BY citizen_id").fetchall()
    finally:
        con.close()
    part = sorted("|".join(g[0]) for g in groups)
    return {"table_counts": counts, "children": len(part),
            "partition_sha256": hashlib.sha256("\n".join(part).encode()).hexdigest()}


if __name__ == "__main__":
    print(json.dumps(fingerprint(Path(sys.argv[1])), indent=1, sort_keys=True))
