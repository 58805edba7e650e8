"""Give freed memory back to the operating system between the match stage's large steps.

A million records' identity rows and scored pairs are millions of small Python objects; once freed, the C
allocator keeps their pages for reuse, so the process's resident size stays at its high-water mark through the
steps after. ``return_free_memory`` collects garbage and asks glibc to release whole free pages
(``malloc_trim``): at 1M records about half a gigabyte after the features are built. Elsewhere it only collects.

Arrow allocates from its own pool (mimalloc), which keeps what Arrow freed as well: after a county's education
source was staged as Arrow, 1.0 GB of the process's 1.35 GB was such pages, returned by ``release_unused``
(``arrow=True``). Only the extract asks for that, and linking once scoring has loaded (and freed) the features'
Arrow copy, a few large blocks released in milliseconds; after scoring, when the pool holds the scores' many
small blocks, it cost the 1M night 10 s and lowered no peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def return_free_memory(arrow: bool = False) -> bool:
    """Collect garbage and release free heap pages (the C heap's; with ``arrow``, Arrow's pool's too); True when
    the C allocator was asked to release them."""
    gc.collect()
    if arrow:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Within the block, the objects alive at its start are left out of the cyclic collector's passes.

    A million records' features are millions of lists and strings that hold no reference cycles and live through
    the whole match stage, yet every full collection walked them all (8.5 s of the 1M night's match stage).
    Frozen, they are still freed as soon as nothing refers to them; only cycles among them would wait for the
    block's end, and a collection just before freezing leaves none."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class HandedOver:
    """One large object (the features as an Arrow table) passed down through steps that each read it, the last of
    which keeps it only until it has copied it: ``peek`` lends it, ``take`` hands over the holder's reference (the
    holder then lets go). Passed positionally to a Python function, the taken object is that call's alone, so
    the callee can free it by deleting its name."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def peek(self) -> Any:
        if self._value is None:
            raise RuntimeError("already handed over")
        return self._value

    def take(self) -> Any:
        value = self.peek()
        self._value = None
        return value
