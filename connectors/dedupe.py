"""Duplicate record ids within one file, across chunks, in bounded memory.

Keys seen so far are kept as three aligned arrays sorted by a 64-bit hash: the hash, the first line the
key was seen at, and a reference to the key itself (so a hash collision is never taken for a duplicate).
That is 24 bytes per distinct key, against ~100 for a Python dict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.dates import factorize


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
        hit = np.zeros(len(uniques), dtype=bool)
        prev_line = np.zeros(len(uniques), dtype=np.int64)
        if len(self._hashes):
            pos = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
            hit = self._hashes[pos] == hashes
            if hit.any():
                same = self._keys[pos[hit]] == uniques[hit]
                hit[np.flatnonzero(hit)[~same]] = False
            prev_line[hit] = self._lines[pos[hit]]
        from_prev = hit[codes]
        first[from_prev] = prev_line[codes[from_prev]]

        new = ~hit
        all_hashes = np.concatenate([self._hashes, hashes[new]])
        order = np.argsort(all_hashes, kind="stable")
        self._hashes = all_hashes[order]
        self._lines = np.concatenate([self._lines, lines[first_idx[new]]])[order]
        self._keys = np.concatenate([self._keys, uniques[new]])[order]
        return first
