"""IG state: steward decisions and the access log, in a store of their own beside the warehouse.

The published warehouse is only ever read by the review commands, lookup and the web workspace, so an
analyst's open connection never blocks them and their writes never lock analysts out. The store is a small
SQLite file (``<warehouse stem>_state.sqlite``, 0600, WAL mode) or PostgreSQL through ``SVOC_STATE_URL``.
The nightly build reads the store and carries the decisions in (``carry_state_into_build``); the warehouse's
``audit.review_decisions`` is the published copy.

    from svoc.state import open_store
    with open_store(warehouse, settings.state_url) as store:
        store.log_access(who, "explain", f"citizen {cid}", purpose)
"""

from svoc.state.store import (
    AccessEntry,
    StateStore,
    carry_state_into_build,
    default_state_path,
    open_store,
    state_url_for,
)

__all__ = ["AccessEntry", "StateStore", "carry_state_into_build", "default_state_path", "open_store",
           "state_url_for"]
