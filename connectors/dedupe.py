"""Duplicate record ids within one file, across chunks, in bounded memory.

Keys seen so far are kept as three aligned arrays sorted by a 64-bit hash: the hash, the first line the
key was seen at, and a reference to the key itself (so a hash collision is never taken for a duplicate).
That is 24 bytes per distinct key, against ~100 for a Python dict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.dates import blank_to_none, factorize


class DuplicateTracker:
    def __init__(self) -> None:
        self._hashes = np.zeros(0, dtype=np.uint64)
        self._lines = np.zeros(0, dtype=np.int64)
        self._keys = np.zeros(0, dtype=object)

    def first_seen(self, keys, lines) -> np.ndarray:
        """For each key: the line it was first seen at if this is a repeat, else 0. Remembers the new keys."""
        keys = np.asarray(keys, dtype=object)
        lines = np.asarray(lines, dtype=np.int64)
        n = len(keys)
        first = np.zeros(n, dtype=np.int64)
        if n == 0:
            return first
        codes, uniques = factorize(keys)  # shared with the caller's own factorizing of the same array
        _, first_idx = np.unique(codes, return_index=True)
        repeat = first_idx[codes] != np.arange(n)
        first[repeat] = lines[first_idx[codes[repeat]]]

        hashes = pd.util.hash_array(uniques, categorize=False)  # distinct already: nothing to categorize
        # looked up and merged in hash order: sorted queries walk the kept arrays once, and the chunk's new keys
        # go in with one copy of them (sorting everything again each chunk grew with the file)
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        hit = np.zeros(len(uniques), dtype=bool)  # in hash order
        if len(self._hashes):
            pos = np.minimum(np.searchsorted(self._hashes, ordered), len(self._hashes) - 1)
            hit = self._hashes[pos] == ordered
            if hit.any():
                same = self._keys[pos[hit]] == uniques[order[hit]]
                hit[np.flatnonzero(hit)[~same]] = False
            prev_line = np.zeros(len(uniques), dtype=np.int64)
            prev_line[order[hit]] = self._lines[pos[hit]]
            from_prev = np.zeros(len(uniques), dtype=bool)
            from_prev[order[hit]] = True
            seen = from_prev[codes]
            first[seen] = prev_line[codes[seen]]
        new = order[~hit]
        at = np.searchsorted(self._hashes, ordered[~hit], side="right")  # after equal hashes already kept
        self._hashes = np.insert(self._hashes, at, hashes[new])
        self._lines = np.insert(self._lines, at, lines[first_idx[new]])
        self._keys = np.insert(self._keys, at, uniques[new])
        return first


def content_keys(raw: pd.DataFrame, fcol: dict[str, str], record_ids: pd.Series) -> pd.Series:
    """``RECORDID/<16 hex digits>``: the key of an interaction row with no event id, from its record id and every
    other mapped value, so only an exact repeat of a row is a duplicate."""
    cols = [fcol[f] for f in sorted(fcol) if f not in ("event_id", "source_record_id")]
    values = pd.DataFrame({f"c{i}": blank_to_none(raw[c]).fillna("") for i, c in enumerate(cols)})
    values["rid"] = record_ids.to_numpy()
    hashes = pd.util.hash_pandas_object(values, index=False).to_numpy(dtype=np.uint64)
    return pd.Series(record_ids.to_numpy(dtype=object) + "/" + _hex16(hashes), index=raw.index, dtype=object)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex16(values: np.ndarray) -> np.ndarray:
    """Object array of 16-digit lower-case hex strings of uint64 values (vectorised ``f"{v:016x}"``)."""
    octets = np.ascontiguousarray(values, dtype=">u8").view(np.uint8).reshape(-1, 8)
    chars = np.empty((len(values), 16), dtype=np.uint8)
    chars[:, 0::2], chars[:, 1::2] = _HEX[octets >> 4], _HEX[octets & 15]
    return chars.view("S16").ravel().astype("U16").astype(object)
