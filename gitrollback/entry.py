"""The process entry point: ``python -m gitrollback`` and the ``gitrollback`` script.

Part of the CLI layer (it reads argv and the environment). A plain ``known-good`` question is answered by
``gitrollback.fast_known_good`` without importing the rest of gitrollback; everything else, and every case that
path declines, goes to ``gitrollback.cli.main``. Both print the same answer (``tests/unit/test_fast_known_good.py``).
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


#: the exit status a shell shows for a process that SIGPIPE ended (128 + 13), as ``git log | head`` gives
EXIT_BROKEN_PIPE = 141


def main() -> int:
    """Run the command in ``sys.argv``; returns the exit code.

    A reader that goes away before the output is written (``… --json | head -c 100``) is exit 141 with nothing more
    said, not a traceback: Python ignores SIGPIPE, so the write raises ``BrokenPipeError``. Standard output is then
    pointed at ``/dev/null`` so that the interpreter's last flush does not raise again (the recipe of Python's
    ``signal`` documentation, "Note on SIGPIPE"). What the command did before is done; its journal has it.
    """
    try:
        return _dispatch()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _dispatch() -> int:
    if sys.argv[1:2] == ["known-good"]:
        from gitrollback import fast_known_good

        code = fast_known_good.main(sys.argv[1:], os.environ)
        if code is not None:
            return code
    from gitrollback.cli import main as cli_main

    return cli_main()
