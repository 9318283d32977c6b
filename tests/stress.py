"""Run the whole test suite several times in a row while CPU-bound processes compete for the cores.

It shows that no test depends on how fast the machine is: the simulated worlds run on a ``FakeClock``, so a
loaded machine only makes the suite slower, never red. Stops at the first failing run and exits 1.
Not collected by pytest and not part of CI's default run; ``nox -s stress`` runs it.

Usage::

    python tests/stress.py                             # 5 runs, 2 CPU hogs, the whole suite
    python tests/stress.py --runs 3 --hogs 4 -k sandbox   # other arguments go to pytest
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Spins until its parent (this script) is gone, so an interrupted stress run leaves no hog behind.
HOG = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    sum(range(100_000))\n"


def _arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our two options; everything else goes to pytest."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="how many full runs (default 5)")
    parser.add_argument("--hogs", type=int, default=2, help="how many CPU-bound processes beside it (default 2)")
    return parser.parse_known_args(argv)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    """Start the hogs, run the suite ``--runs`` times, stop the hogs; 0 when every run passed."""
    args, pytest_args = _arguments(argv)
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, str(os.getpid())], cwd=ROOT) for _ in range(args.hogs)]
    _say(f"stress: {args.hogs} CPU-bound processes started (pids {[h.pid for h in hogs]})")
    failed = 0
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args], cwd=ROOT, check=False
            )
            took = time.monotonic() - started
            verdict = "passed" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
            _say(f"stress: run {run}/{args.runs} {verdict} in {took:.0f}s")
            if done.returncode != 0:
                failed = run
                break
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            hog.wait(timeout=30)
    if failed:
        _say(f"stress: run {failed} failed; stopped")
        return 1
    _say(f"stress: all {args.runs} runs passed beside {args.hogs} CPU-bound processes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
