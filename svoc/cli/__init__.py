"""The ``svoc`` command line: ``run``, ``demo``, ``generate``, ``evaluate``, ``review …`` and ``explain``."""

from svoc.cli.app import app, main

__all__ = ["app", "main"]
