"""``<stem>_analytics.duckdb``: the analysts' file, with no direct identifiers.

It holds no names, addresses, NHS numbers, UPNs, record ids, free text or full dates of birth. Each
citizen id is replaced by ``HMAC-SHA256(key, citizen_id)`` (hex); the key comes from
``SVOC_PSEUDONYM_KEY`` and never sits in either warehouse. Dates of birth are cut to the month,
postcodes to the district. The marts have the same names and columns (citizen_id → citizen_pseudonym),
so dashboards run unchanged against either file.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import duckdb
import pandas as pd

from schemas.errors import SvocError

log = logging.getLogger(__name__)

SINGLE_VIEW_COLUMNS = """
    p.citizen_pseudonym, strftime(s.dob, '%Y-%m') AS dob_month, s.sex,
    CASE WHEN s.postcode IS NOT NULL THEN split_part(s.postcode, ' ', 1) END AS postcode_district,
    s.known_to_education, s.known_to_health, s.known_to_police, s.known_to_social_care, s.sources,
    s.record_count, s.first_seen, s.last_seen, s.ethnicity, s.unborn,
    s.persistent_absence, s.attendance_rate, s.suspensions_12m, s.permanent_exclusion, s.sen_provision,
    s.fsm_eligible, s.ed_attendances_12m, s.camhs_referral_12m, s.police_missing_episodes_12m,
    s.police_domestic_abuse_12m, s.police_incidents_12m, s.open_social_care_episode, s.cp_plan_active,
    s.lac_active, s.conflicting_nhs_numbers, s.multiple_upns, s.as_of_date"""

INTERACTION_COLUMNS = """
    p.citizen_pseudonym, x.source, x.event_type, x.event_code, x.event_date, x.end_date, x.role,
    x.academic_year, x.term, x.sessions_possible, x.sessions_authorised_absence, x.sessions_unauthorised_absence,
    x.sessions"""


def resolve_pseudonym_key(profile: str, key: str | None, key_file: Path) -> bytes:
    """The HMAC key: from the environment; in the demo profile, generated once into a file outside the warehouse."""
    if key:
        return key.encode("utf-8")
    if profile == "production":
        raise SvocError(
            "SVOC_PSEUDONYM_KEY is not set; the production profile will not publish an analytics file "
            "without it (set it from your secrets store)"
        )
    key_file = Path(key_file)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        os.chmod(key_file, 0o600)
        log.info("demo profile: generated a pseudonymisation key at %s (set SVOC_PSEUDONYM_KEY in "
                    "production)", key_file)
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")


def pseudonym(key: bytes, citizen_id: str) -> str:
    return hmac.new(key, citizen_id.encode("utf-8"), hashlib.sha256).hexdigest()


def analytics_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}_analytics.duckdb")


def build_analytics(con: duckdb.DuckDBPyConnection, out: Path, key: bytes) -> dict[str, int]:
    """Write the analytics file to ``out`` (a build path; the caller swaps it in)."""
    ids = [r[0] for r in con.execute("SELECT citizen_id FROM linked.single_view").fetchall()]
    mapping = pd.DataFrame({"citizen_id": ids, "citizen_pseudonym": [pseudonym(key, c) for c in ids]})
    out.unlink(missing_ok=True)
    con.register("_pseudonyms", mapping)
    con.execute("ATTACH ? AS analytics", [str(out)])  # the path as a parameter: "St John's" is fine
    try:
        for schema in ("linked", "marts"):
            con.execute(f"CREATE SCHEMA analytics.{schema}")
        con.execute(f"""CREATE TABLE analytics.linked.single_view AS
            SELECT {SINGLE_VIEW_COLUMNS} FROM linked.single_view s JOIN _pseudonyms p USING (citizen_id)
            ORDER BY p.citizen_pseudonym""")
        con.execute(f"""CREATE TABLE analytics.linked.interactions AS
            SELECT {INTERACTION_COLUMNS} FROM linked.interactions x JOIN _pseudonyms p USING (citizen_id)
            ORDER BY p.citizen_pseudonym, x.event_date""")
        marts = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'marts'"
        ).fetchall()]
        for name in marts:
            cols = [r[0] for r in con.execute(f"DESCRIBE marts.{name}").fetchall()]
            if "citizen_id" in cols:
                select = ", ".join("p.citizen_pseudonym" if c == "citizen_id" else f"m.{c}" for c in cols)
                con.execute(f"""CREATE TABLE analytics.marts.{name} AS SELECT {select}
                    FROM marts.{name} m JOIN _pseudonyms p USING (citizen_id)""")
            else:
                con.execute(f"CREATE TABLE analytics.marts.{name} AS SELECT * FROM marts.{name}")
        counts = {
            f"{s}.{t}": con.execute(f"SELECT count(*) FROM analytics.{s}.{t}").fetchone()[0]
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'analytics'").fetchall()
        }
    finally:
        con.execute("DETACH analytics")
        con.unregister("_pseudonyms")
    return counts
