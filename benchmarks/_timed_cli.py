"""``svoc`` CLI with time-stamped INFO logs on stderr, so the benchmark can split the match stage.

Same entry point as the installed ``svoc`` script (``svoc.cli.main``); the only difference is a
logging format with a wall-clock timestamp. The libraries log counts and record keys only, never values.
"""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

MARK = "@@t"


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=MARK + " %(created).3f %(name)s %(message)s")
    from svoc.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
