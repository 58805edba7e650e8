"""Pausing Python's cyclic garbage collector while code builds one small object per row.

Row lists and strings hold no reference cycles, but allocating a million of them triggers full collections
that walk every object alive, again and again as the heap grows: that cost as much as the rest of a chunk's
quality flags (``connectors.standardise``), and 3.2 of the 15 s that building the features of a county's million
records took (``matching.features``). Nothing is kept longer: plain objects are freed by reference counting as
before, and the collector runs as usual once the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Within the block the cyclic collector does not run (a block inside another pauses nothing more)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
