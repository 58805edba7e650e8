"""Review: the queue of uncertain pairs, steward decisions, explaining a child's links, and the access log.

Library functions only (no printing): the ``svoc review`` / ``svoc explain`` commands and the run report
present what these return. Every look at a person's records goes through ``access.audited`` first.
"""
