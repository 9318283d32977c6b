"""The real clock: wall time, monotonic time and sleeping, behind ``gitrollback.ports.Clock``.

Everything in gitrollback that waits or measures time (adapter retries with backoff, polling for installer
jobs and builds, the runbook engine's step retries) takes a ``Clock`` so tests can inject a fake one and never
wait for real. ``SystemClock`` is the default used when nothing is injected; it is stateless and needs only
the standard library.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["SystemClock"]


class SystemClock:
    """``ports.Clock`` on the operating system's clocks.

    Usage::

        clock = SystemClock()
        start = clock.monotonic()
        clock.sleep(0.1)
        elapsed = clock.monotonic() - start
    """

    def now(self) -> datetime:
        """The current time in UTC, timezone-aware."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds on the monotonic clock (only differences are meaningful)."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` (nothing happens for zero or negative values)."""
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"
