"""The process entry point: ``python -m gitrollback`` and the ``gitrollback`` script.

Part of the CLI layer (it reads argv and the environment). A plain ``known-good`` question is answered by
``gitrollback.fast_known_good`` without importing the rest of gitrollback; everything else, and every case that
path declines, goes to ``gitrollback.cli.main``. Both print the same answer (``tests/unit/test_fast_known_good.py``).
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main() -> int:
    """Run the command in ``sys.argv``; returns the exit code."""
    if sys.argv[1:2] == ["known-good"]:
        from gitrollback import fast_known_good

        code = fast_known_good.main(sys.argv[1:], os.environ)
        if code is not None:
            return code
    from gitrollback.cli import main as cli_main

    return cli_main()
