"""One clone or fetch at a time per cached repository, across threads and processes on the same machine.

The cached bare clones (``GitAssetSource``: ``<cache_dir>/<hash>.git``; ``GitWorkspace``:
``<cache_dir>/workspaces/<hash>``) are shared by every provider whose repository URL is the same, and a fleet runs
providers in parallel threads (``docs/fleet.md``). Two clones of one URL at once would fill the same staging
directory (its name carries the process id, which threads share); a fetch while another fetch or the first clone
runs would race git's own ref locks and fail. ``CacheLock`` serialises them with an exclusive ``flock`` on the file
``<clone>.lock`` beside the clone.

``flock`` locks belong to an open file description (flock(2)), and every ``CacheLock`` opens the file itself, so two
threads of one process exclude each other as two processes do. The kernel drops the lock when the holder exits, so a
crash never leaves a stale lock. The wait is bounded: after ``timeout`` seconds a ``GitError`` (kind
``cache_busy``) says which clone is busy. Standard library only (``fcntl``, ``os``, ``time``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

from gitrollback.errors import GitError
from gitrollback.locking import FlockHeld

__all__ = ["DEFAULT_TIMEOUT", "CacheLock"]

logger = logging.getLogger(__name__)

#: how long a clone or fetch waits for another one of the same repository (a first clone of a big repository takes
#: minutes)
DEFAULT_TIMEOUT = 900.0
#: how often a waiting clone or fetch tries the lock again
POLL_SECONDS = 0.05


class CacheLock(FlockHeld):
    """Context manager holding the exclusive lock of the cached clone at ``clone``.

    Args:
        clone: the cached clone's directory; the lock file is ``<clone>.lock`` beside it (its parent is created).
        timeout: give up after waiting this many seconds (0: do not wait).
        what: the repository, for the error message (already masked of credentials).
    """

    def __init__(self, clone: Path, *, timeout: float = DEFAULT_TIMEOUT, what: str = "") -> None:
        self.path = clone.with_name(clone.name + ".lock")
        self.timeout = max(timeout, 0.0)
        self.what = what or str(clone)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, waiting at most ``timeout`` seconds.

        Raises:
            GitError: (kind ``cache_busy``) another clone or fetch held it for the whole wait.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        logged = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise GitError(
                        f"the cached clone of {self.what} is busy: another clone or fetch of it held {self.path} "
                        f"for more than {self.timeout:.0f}s",
                        adapter="git",
                        operation="lock",
                        kind="cache_busy",
                        hint="let the other gitrollback run finish and retry (the lock goes with the process that "
                        "holds it)",
                    ) from None
                if not logged:
                    logger.info("waiting for %s: another clone or fetch of %s holds it", self.path, self.what)
                    logged = True
                time.sleep(POLL_SECONDS)
                continue
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return
