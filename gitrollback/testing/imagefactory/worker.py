"""Background loops that drive the simulator's asynchronous behaviour between requests.

The real server runs an installer dispatcher (poll interval, ``MaxJobsPerTick=1``), a build queue
dispatcher and a provider readiness watcher (contract ``imagefactory-api.md`` §4.2, §3.6, §5.4). Each is a
daemon thread here that calls one tick function every interval until ``stop()``; the ticks themselves are
public on ``ImageFactorySimulator`` so tests can drive them deterministically instead. Waiting uses
``threading.Event.wait``, so stopping is immediate and no loop sleeps blindly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["TickLoops"]

logger = logging.getLogger(__name__)


class TickLoops:
    """A set of named ``(interval, tick)`` loops run on daemon threads."""

    def __init__(self) -> None:
        self._loops: list[tuple[str, float, Callable[[], object]]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def add(self, name: str, interval: float, tick: Callable[[], object]) -> None:
        """Register a loop (before ``start``)."""
        self._loops.append((name, interval, tick))

    def start(self) -> None:
        """Start every loop once."""
        if self._threads:
            return
        self._stop.clear()
        for name, interval, tick in self._loops:
            thread = threading.Thread(target=self._run, args=(interval, tick), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Signal every loop and wait for it to finish its current tick."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _run(self, interval: float, tick: Callable[[], object]) -> None:
        while not self._stop.wait(interval):
            try:
                tick()
            except Exception:  # a simulator bug must not kill the loop silently
                logger.exception("simulator tick failed")
