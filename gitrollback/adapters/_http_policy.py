"""One HTTP retry policy for the Image Factory and Argo CD clients: bounded time, bounded attempts. Stdlib only.

Both clients send every request through ``CallBudget``, so they behave alike:

- **Total time.** ``timeout`` bounds one call, every attempt, backoff and ``Retry-After`` wait included (the config's
  ``imagefactory.timeout_seconds`` and ``sync.request_timeout_seconds``). Each attempt runs under a real-time
  deadline of what remains (``_deadline``), which a server that never answers, or answers a byte at a time, cannot
  stretch; so a server that accepts and never answers costs ``timeout`` seconds, once.
- **Connect timeout.** ``connect_timeout`` (at most what remains) bounds each connection attempt.
- **Which calls repeat.** Only calls that are safe to repeat: GETs, and POSTs that carry an idempotency key (the
  caller says which). Everything else is sent once: a lost answer to a write is reported, not guessed at.
- **When.** After a transport error (no complete answer), and after 429, 502, 503 or 504. A 429 or 503 with
  ``Retry-After`` waits exactly that long when it ends within the budget, else the call gives up at once; otherwise
  the wait doubles from ``backoff`` up to ``backoff_cap`` with ``jitter`` (a random share of each wait, so clients
  that failed together do not come back together).
- **How many.** At most ``attempts`` in all.

Time is kept in two parts on purpose: real time spent sending and receiving (a socket does not run on a simulated
clock), and the waits between attempts, slept on the injected ``Clock`` (so tests on a ``FakeClock`` never wait for
real, and the production ``SystemClock`` is not counted twice). Every wait is reported to ``on_wait`` first (the
``ProgressSink.waiting`` callback: what, elapsed seconds, state) and logged as a WARNING.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from gitrollback.adapters._deadline import RequestDeadline, request_deadline
from gitrollback.errors import ConfigError
from gitrollback.ports import Clock

__all__ = ["RETRY_AFTER_STATUSES", "RETRY_STATUSES", "CallBudget", "HttpPolicy", "parse_retry_after"]

logger = logging.getLogger(__name__)

#: Answers that say "not now" rather than "no": the request was not carried out, or a proxy gave up on it.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Answers whose ``Retry-After`` is honoured (RFC 9110 section 10.2.3 names 503; RFC 6585 adds 429).
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class HttpPolicy:
    """How long one call may take and how it is repeated.

    Args:
        timeout: seconds one call may take in all: attempts, backoff and ``Retry-After`` waits.
        connect_timeout: seconds one connection attempt may take (never more than what remains of ``timeout``).
        attempts: the most attempts of a call that is safe to repeat (other calls get one).
        backoff: the first wait between attempts; it doubles each time.
        backoff_cap: the longest backoff wait.
        jitter: the share of each backoff wait drawn at random (0 for exact waits, 1 for "full jitter").
    """

    timeout: float = 30.0
    connect_timeout: float = 10.0
    attempts: int = 4
    backoff: float = 0.5
    backoff_cap: float = 8.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (self.timeout > 0 and self.connect_timeout > 0):
            raise ConfigError("timeout and connect_timeout must be positive", key="timeout_seconds")
        if self.attempts < 1 or self.backoff < 0 or self.backoff_cap < 0 or not 0 <= self.jitter <= 1:
            raise ConfigError("attempts must be at least 1, backoff not negative and jitter between 0 and 1")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` value asks for: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3); None
    when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class CallBudget:
    """One call's attempts against a policy: ``attempt()`` around each try, ``retry()`` to decide and wait.

    Usage::

        budget = CallBudget(policy, clock=clock, what="Image Factory GET /x", on_wait=on_wait)
        while True:
            try:
                with budget.attempt() as deadline:
                    response = send(timeout=deadline.seconds)
            except TransportError as exc:
                if budget.retry(exc.message, safe=True):
                    continue
                raise
            if response.status in RETRY_STATUSES and budget.retry(f"HTTP {response.status}", safe=True,
                                                                   status=response.status, headers=response.headers):
                continue
            return response
    """

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        clock: Clock,
        what: str,
        on_wait: Callable[[str, float, str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.what = what
        self.attempts = 0
        self.used = 0.0
        self.gave_up = ""
        self._clock = clock
        self._on_wait = on_wait
        self._rng = rng or random.Random()

    def remaining(self) -> float:
        """Seconds left of the call's ``timeout``."""
        return self.policy.timeout - self.used

    def connect_timeout(self, limit: float) -> float:
        """The connect timeout for an attempt whose whole deadline is ``limit`` seconds."""
        return min(self.policy.connect_timeout, limit)

    @contextlib.contextmanager
    def attempt(self) -> Iterator[RequestDeadline]:
        """One try, under a real-time deadline of what remains; its real duration counts against the budget."""
        start = time.monotonic()
        try:
            with request_deadline(max(self.remaining(), 0.001)) as deadline:
                yield deadline
        finally:
            self.attempts += 1
            self.used += time.monotonic() - start

    def retry(
        self,
        reason: str,
        *,
        safe: bool,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """Wait before the next attempt and return True; or return False (``gave_up`` says why) to stop here.

        Args:
            reason: what went wrong, for the progress line and the log (``HTTP 503``, a transport error's message).
            safe: the call may be repeated (a GET, or a POST with an idempotency key).
            status: the HTTP status, when there was an answer (``Retry-After`` counts only for 429 and 503).
            headers: the answer's headers (``Retry-After`` is looked up case-insensitively).
        """
        if not safe:
            self.gave_up = "the call is not safe to repeat"
            return False
        if self.attempts >= self.policy.attempts:
            self.gave_up = f"{self.attempts} attempts made"
            return False
        retry_after = None
        if status in RETRY_AFTER_STATUSES and headers is not None:
            value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
            retry_after = parse_retry_after(value, self._clock.now())
        delay = retry_after if retry_after is not None else self._backoff()
        if delay >= self.remaining():
            asked = f"Retry-After {delay:g}s" if retry_after is not None else f"the next wait ({delay:.1f}s)"
            self.gave_up = f"{asked} would end after the call's {self.policy.timeout:g}s budget"
            return False
        state = f"{reason}; attempt {self.attempts + 1} of {self.policy.attempts} in {delay:.1f}s"
        if self._on_wait is not None:
            self._on_wait(self.what, self.used, state)
        logger.warning("%s: %s", self.what, state)
        self._clock.sleep(delay)
        self.used += delay
        return True

    def _backoff(self) -> float:
        full: float = min(self.policy.backoff * 2.0 ** (self.attempts - 1), self.policy.backoff_cap)
        return full * (1 - self.policy.jitter) + full * self.policy.jitter * self._rng.random()
