"""Simulated time: one clock that a whole simulated world and the client under test share.

Two implementations of one small interface (``SimClock``):

* ``FakeClock`` is stepped. Nothing happens until someone calls ``sleep``/``advance``: time then jumps forward
  instantly, and every timer registered with ``every``/``after`` that falls due on the way runs in the calling
  thread, at its own due time, in due-time order. Hand the same ``FakeClock`` to the client (it satisfies
  ``gitrollback.ports.Clock``) and to the simulators: when the client's poll loop sleeps, the simulators'
  controllers, dispatchers and watchers tick, so a test that waits through hours of simulated time finishes in
  milliseconds and never depends on how fast the machine is.
* ``WallClock`` runs on the operating system's clocks and fires timers on daemon threads. The sandbox and
  ``sandbox serve`` use it, where a person is watching in real time.

Simulator code that must block a request until the world moves on (Argo CD's ``?refresh`` waits for the
controller, for example) calls ``wait_until(predicate, timeout=...)``: the stepped clock advances through due
timers until the predicate holds, the wall clock polls. Never call it while holding a lock that a timer callback
takes, and never block a timer callback on another thread that steps the same clock (an HTTP request to a
simulator that waits on it): one thread at a time steps a ``FakeClock``, the others wait for it. Reading the
time and registering or cancelling timers never waits for a running callback.

Ownership: a simulator built without a clock makes its own ``WallClock`` and stops it in ``stop()``; one given a
clock only cancels its own timers there, and whoever made the clock stops it (``WallClock.stop()``).

Example::

    clock = FakeClock()
    argo = ArgoCDSimulator(cluster, clock=clock)        # controller ticks are timers on the clock
    engine = ArgoCDEngine(argo.url, token=argo.token, clock=clock)
    engine.wait_for_revision("tekton", sha, timeout=300)   # each poll's sleep steps the controller
    assert clock.monotonic() <= 300
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["FakeClock", "SimClock", "Timer", "TimerSet", "WallClock"]

logger = logging.getLogger(__name__)


class Timer:
    """A handle on a registered timer; ``cancel()`` stops it (idempotent)."""

    def __init__(self, name: str, interval: float, callback: Callable[[], object], *, repeat: bool) -> None:
        self.name = name
        self.interval = interval
        self.callback = callback
        self.repeat = repeat
        self.fired = 0
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once ``cancel()`` was called."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the timer; a callback already running finishes (a wall-clock timer's thread wakes at once)."""
        self._cancelled.set()

    def wait_cancelled(self, seconds: float) -> bool:
        """Block up to ``seconds`` real seconds; True as soon as the timer is cancelled (for ``WallClock``)."""
        return self._cancelled.wait(seconds)

    def __repr__(self) -> str:
        return f"Timer({self.name!r}, every={self.interval if self.repeat else None}, fired={self.fired})"


class SimClock(Protocol):
    """What a simulator needs from time: read it, wait on it, and be called back as it passes."""

    def now(self) -> datetime:
        """Timezone-aware current (simulated) time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...

    def every(self, interval: float, callback: Callable[[], object], *, name: str = "") -> Timer:
        """Call ``callback`` every ``interval`` seconds, first after one interval."""
        ...

    def after(self, delay: float, callback: Callable[[], object], *, name: str = "") -> Timer:
        """Call ``callback`` once, ``delay`` seconds from now."""
        ...

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float, poll: float = 0.01) -> bool:
        """Let time pass until ``predicate()`` is true (True) or ``timeout`` seconds went by (False)."""
        ...


def _run(timer: Timer) -> None:
    timer.fired += 1
    try:
        timer.callback()
    except Exception:  # a simulator bug must not stop time for every other timer
        logger.exception("timer %s failed", timer.name)


class FakeClock:
    """Stepped virtual time starting at ``start`` (default 2026-03-28T00:00:00Z).

    ``sleeps`` records every ``sleep`` request, so a test can check how a client waited. One thread at a time
    steps the clock (``sleep``/``advance``/``wait_until``); reading it and registering timers never blocks.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2026, 3, 28, tzinfo=UTC)
        self.t = 0.0
        self.sleeps: list[float] = []
        self._queue: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._queue_lock = threading.Lock()
        self._step_lock = threading.RLock()

    def now(self) -> datetime:
        """The virtual wall time."""
        return self.start + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        """Virtual seconds since creation."""
        return self.t

    def sleep(self, seconds: float) -> None:
        """Record the request, then advance virtual time by it (running the timers that fall due)."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running each due timer at its own due time, earliest first."""
        with self._step_lock:
            target = self.t + max(0.0, seconds)
            while True:
                with self._queue_lock:
                    if not self._queue or self._queue[0][0] > target:
                        break
                    due, _, timer = heapq.heappop(self._queue)
                    if timer.cancelled:
                        continue
                    self.t = max(self.t, due)
                    if timer.repeat:
                        heapq.heappush(self._queue, (due + timer.interval, next(self._seq), timer))
                _run(timer)  # outside the queue lock: a callback may register or cancel timers
            self.t = max(self.t, target)

    def every(self, interval: float, callback: Callable[[], object], *, name: str = "") -> Timer:
        """Call ``callback`` every ``interval`` virtual seconds, first one interval from now."""
        if interval <= 0:
            raise ValueError(f"timer interval must be positive, got {interval}")
        return self._schedule(Timer(name, interval, callback, repeat=True), interval)

    def after(self, delay: float, callback: Callable[[], object], *, name: str = "") -> Timer:
        """Call ``callback`` once, ``delay`` virtual seconds from now."""
        return self._schedule(Timer(name, max(0.0, delay), callback, repeat=False), max(0.0, delay))

    def _schedule(self, timer: Timer, delay: float) -> Timer:
        with self._queue_lock:
            heapq.heappush(self._queue, (self.t + delay, next(self._seq), timer))
        return timer

    def next_due(self) -> float | None:
        """Seconds until the next live timer, or None when none is registered."""
        with self._queue_lock:
            live = [due for due, _, timer in self._queue if not timer.cancelled]
            return max(0.0, min(live) - self.t) if live else None

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float, poll: float = 0.01) -> bool:
        """Advance timer by timer until ``predicate()`` holds; False once ``timeout`` virtual seconds passed.

        Without a timer due before the deadline nothing can change, so time jumps straight to the deadline.
        ``poll`` is ignored: stepped time only changes at timers.
        """
        deadline = self.t + timeout
        while not predicate():
            with self._step_lock:
                if self.t >= deadline:
                    return False
                due = self.next_due()
                step = deadline - self.t if due is None else min(max(due, 1e-9), deadline - self.t)
                self.advance(step)
        return True

    def __repr__(self) -> str:
        return f"FakeClock(t={self.t:g})"


class WallClock:
    """Real time; timers run on daemon threads until cancelled or until ``stop()``."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[tuple[threading.Thread, Timer]] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """The operating system's monotonic clock."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` (returns early once the clock is stopped)."""
        if seconds > 0:
            self._stop.wait(seconds)

    def every(self, interval: float, callback: Callable[[], object], *, name: str = "") -> Timer:
        """Call ``callback`` every ``interval`` seconds on a daemon thread."""
        if interval <= 0:
            raise ValueError(f"timer interval must be positive, got {interval}")
        return self._start(Timer(name, interval, callback, repeat=True))

    def after(self, delay: float, callback: Callable[[], object], *, name: str = "") -> Timer:
        """Call ``callback`` once after ``delay`` seconds on a daemon thread."""
        return self._start(Timer(name, max(0.0, delay), callback, repeat=False))

    def _start(self, timer: Timer) -> Timer:
        thread = threading.Thread(target=self._loop, args=(timer,), name=timer.name or "sim-timer", daemon=True)
        with self._lock:
            if self._stop.is_set():
                timer.cancel()
                return timer
            self._threads = [(t, tm) for t, tm in self._threads if t.is_alive()]
            self._threads.append((thread, timer))
        thread.start()
        return timer

    def _loop(self, timer: Timer) -> None:
        while not timer.wait_cancelled(timer.interval):
            _run(timer)
            if not timer.repeat:
                return

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float, poll: float = 0.01) -> bool:
        """Poll ``predicate`` every ``poll`` seconds for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                return False
            self._stop.wait(min(poll, left))
        return True

    def stop(self) -> None:
        """Cancel every timer, wake every sleeper, and wait for running callbacks to finish."""
        with self._lock:
            self._stop.set()
            threads, self._threads = self._threads, []
        for _, timer in threads:
            timer.cancel()
        for thread, _ in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=30)

    def __repr__(self) -> str:
        return "WallClock()"


class TimerSet:
    """The repeating timers of one simulator: registered when it starts, cancelled when it stops.

    Built without a clock it makes its own ``WallClock`` and stops it in ``stop()``; given one (shared by a whole
    world) it only cancels its own timers and leaves the clock to whoever made it.

    Example::

        timers = TimerSet(clock)
        timers.add("imagefactory-installer", 5.0, sim.run_installer_tick)
        timers.start()      # every 5 s of the clock's time from now
        timers.stop()
    """

    def __init__(self, clock: SimClock | None = None) -> None:
        self._owned = WallClock() if clock is None else None
        self.clock: SimClock = clock if clock is not None else self._owned  # type: ignore[assignment]
        self._specs: list[tuple[str, float, Callable[[], object]]] = []
        self._running: list[Timer] = []

    def add(self, name: str, interval: float, callback: Callable[[], object]) -> None:
        """Register a repeating timer to start with ``start()``."""
        if interval <= 0:
            raise ValueError(f"timer interval must be positive, got {interval}")
        self._specs.append((name, interval, callback))

    def start(self) -> None:
        """Start every registered timer (once; a second call does nothing)."""
        if self._running:
            return
        self._running = [self.clock.every(interval, callback, name=name) for name, interval, callback in self._specs]

    def stop(self) -> None:
        """Cancel the timers; stop the clock too when this set made it."""
        for timer in self._running:
            timer.cancel()
        self._running = []
        if self._owned is not None:
            self._owned.stop()
