"""A private matching connection spills only into a folder no other user can open, never ``.tmp`` in the
working folder (identifiable feature rows would otherwise land in the checkout with default permissions)."""

from __future__ import annotations

import os
import stat

from matching.model import matching_connection, spill_folder


def test_matching_spills_into_a_private_folder_outside_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    con = matching_connection(threads=1, memory_limit="40MB")
    try:
        folder = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
        assert folder == str(spill_folder())
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        con.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(2000000)")
        assert con.execute("SELECT count(DISTINCT s) FROM t").fetchone()[0] == 2_000_000
    finally:
        con.close()
    assert not (tmp_path / ".tmp").exists()
