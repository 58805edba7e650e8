"""The old ``childview`` command, kept for one release: says the command is now ``svoc``, then runs it."""

from __future__ import annotations

import sys


def main() -> None:
    print("childview is now svoc: run 'svoc' instead (this alias goes in the next release)", file=sys.stderr)
    from svoc.cli.app import main as svoc_main

    svoc_main()
