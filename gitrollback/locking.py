"""One rollback per provider at a time, across processes on the same machine.

A run holds an exclusive ``flock`` on ``<state_dir>/locks/<provider>.lock`` for its whole duration. The kernel drops
the lock when the process dies, so a crash never leaves a stale lock behind; the file records who holds it so a
refusal can say which run is in the way.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from gitrollback.errors import PreconditionFailedError

__all__ = ["FlockHeld", "ProviderLock"]


class FlockHeld:
    """What a lock file held with ``flock`` shares: ``release`` and the ``with`` block; subclasses ``acquire`` into
    ``_fd``."""

    _fd: int | None = None

    def acquire(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Drop the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class ProviderLock(FlockHeld):
    """Context manager holding the per-provider lock.

    Args:
        directory: the lock directory (created when missing).
        provider_id: which provider the lock is for.
    """

    def __init__(self, directory: Path, provider_id: str) -> None:
        self.path = directory / f"{provider_id}.lock"
        self.provider_id = provider_id
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or refuse with who holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
            os.close(fd)
            raise PreconditionFailedError(
                f"another gitrollback run is rolling back provider {self.provider_id} ({holder})",
                step="lock",
                hint="wait for it to finish; the lock is released automatically when that process exits",
            ) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat()}
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
