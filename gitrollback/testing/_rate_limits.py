"""Rate-limit bookkeeping on simulated time, shared by the GitHub and GitLab simulators.

Both hosts count requests per identity in a fixed window and refuse requests until a moment in time; they
differ only in the replies (GitHub: ``X-RateLimit-*`` headers on every reply, 403 or 429 refusals with a JSON
body; GitLab: ``RateLimit-*`` headers and a plain-text 429), which each simulator renders itself. Every time
comes from the simulator's clock, so a client that waits on the same ``FakeClock`` sees the limit lift exactly
when the headers said it would.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Refusal", "Window"]


@dataclass(frozen=True)
class Refusal:
    """A refusal in force: answer ``status`` until ``until`` (epoch seconds); ``primary`` names the kind."""

    status: int
    until: float
    primary: bool

    def retry_after(self, now: float) -> int:
        """Whole seconds until the refusal lifts (at least 1, as the hosts never send 0)."""
        return max(1, math.ceil(self.until - now))


class Window:
    """A fixed window of ``limit`` requests per ``period`` seconds, plus refusals switched on by tests.

    ``count()`` records one request and returns the refusal in force, if any. ``exhaust(seconds)`` spends the
    rest of the window and moves its reset ``seconds`` ahead (a primary limit); ``refuse(seconds)`` refuses
    every request for ``seconds`` without touching the count (GitHub's secondary limits; GitLab's throttles).
    """

    def __init__(self, now: Callable[[], datetime], *, limit: int, period: float) -> None:
        self._now = now
        self.limit = limit
        self.period = period
        self._lock = threading.Lock()
        self._start: float | None = None
        self.used = 0
        self._refusal: Refusal | None = None

    def _epoch(self) -> float:
        return self._now().timestamp()

    def _roll(self, now: float) -> None:
        if self._start is None or now >= self._start + self.period:
            self._start, self.used = now, 0

    @property
    def reset(self) -> int:
        """Epoch second at which the current window ends."""
        with self._lock:
            now = self._epoch()
            self._roll(now)
            assert self._start is not None
            return math.ceil(self._start + self.period)

    @property
    def remaining(self) -> int:
        """Requests left in the current window."""
        with self._lock:
            self._roll(self._epoch())
            return max(self.limit - self.used, 0)

    def refusal(self) -> Refusal | None:
        """The refusal in force now, if any (expired ones are dropped)."""
        with self._lock:
            if self._refusal is not None and self._epoch() >= self._refusal.until:
                self._refusal = None
            return self._refusal

    def count(self) -> Refusal | None:
        """Record one request; return the refusal it gets, if any (a refused request is not counted)."""
        refused = self.refusal()
        if refused is not None:
            return refused
        with self._lock:
            now = self._epoch()
            self._roll(now)
            self.used += 1
        return None

    def exhaust(self, seconds: float, *, status: int) -> None:
        """Spend the window: requests get ``status`` until ``seconds`` from now, when a fresh window starts."""
        with self._lock:
            now = self._epoch()
            self._start, self.used = now + seconds - self.period, self.limit
            self._refusal = Refusal(status, now + seconds, primary=True)

    def refuse(self, seconds: float, *, status: int) -> None:
        """Refuse every request with ``status`` for ``seconds`` (the count is left alone)."""
        with self._lock:
            self._refusal = Refusal(status, self._epoch() + seconds, primary=False)
