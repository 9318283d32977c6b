"""A virtual clock for tests: ``sleep`` advances time instantly and records how long was asked for.

It satisfies ``gitrollback.ports.Clock``, so anything that waits (the Image Factory client's polling and retry
backoff, the runbook engine's step retries) can be driven through hours of virtual time in microseconds.

Example::

    clock = FakeClock()
    client = ImageFactoryClient(url, tenant_id=t, token=tok, clock=clock, poll_interval=5)
    client.wait_for_job(provider, job, timeout=600)
    assert sum(clock.sleeps) <= 600
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["FakeClock"]


class FakeClock:
    """Virtual time starting at ``start`` (default 2026-03-28T00:00:00Z)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2026, 3, 28, tzinfo=UTC)
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """The virtual wall time."""
        return self.start + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        """Virtual seconds since creation."""
        return self.t

    def sleep(self, seconds: float) -> None:
        """Advance virtual time and record the request."""
        self.sleeps.append(seconds)
        self.t += seconds
