"""svoc: a single view of a child across agencies."""

__version__ = "0.1.0"
