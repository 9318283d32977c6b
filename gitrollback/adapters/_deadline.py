"""Whole-request deadlines on real time, which a slow-drip server cannot stretch. Stdlib only.

A socket timeout bounds one read, not a request: a server that sends a byte a second never lets a 30 s read timeout
expire, and httpx, requests and ``http.client`` all set their timeout per read (or per chunk). gitrollback therefore
gives every HTTP request a deadline for the whole exchange (connect, send, headers and body) and enforces it below
the client library:

- ``clamp(timeout)`` is the timeout for the next socket operation: the smaller of the library's per-operation timeout
  and what remains of the deadline, or ``DeadlineExceeded`` when nothing remains. The httpx transport
  (``_httpx_transport``) calls it before every connect, read and write, so a request ends at its deadline to the
  millisecond, with no thread.
- ``RequestDeadline.watch(get_socket)`` is for clients whose reads cannot be intercepted (requests and urllib3 under
  PyGithub and python-gitlab, ``_requests_deadline``; ``http.client`` under the Kubernetes and Flux adapters,
  ``kube.py``): when the deadline passes, the watchdog shuts the watched socket down, which wakes a blocked read at
  once. One daemon thread (``_Watchdog``) serves every watched deadline of the process, earliest first, so a watch
  costs a heap push, not a thread (a thread per request would cost about 0.1 ms of CPU, a third of a Kubernetes
  request's).

The deadline is real time (``time.monotonic``) on purpose, unlike every wait in gitrollback, which runs on the
injected ``Clock``: a simulated clock (``FakeClock`` in tests) moves only when someone sleeps on it, and nobody does
while a socket read blocks, so a hang measured on it would never end. Waiting between attempts, by contrast, is the
policy's business (``_http_policy``) and happens on the injected clock.

Usage::

    with request_deadline(10.0) as deadline:
        response = client.get(url)           # the transport clamps every socket operation to the deadline
    deadline.expired                         # True when it ran out
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

__all__ = ["DeadlineExceeded", "RequestDeadline", "clamp", "current", "request_deadline"]


class DeadlineExceeded(TimeoutError):
    """The request's whole-exchange deadline passed (translated by the adapters into ``TransportError``)."""


class RequestDeadline:
    """A point in real (monotonic) time by which one request must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._watched: list[Callable[[], socket.socket | None]] = []
        self._scheduled = False
        self._lock = threading.Lock()
        self._done = False

    def remaining(self) -> float:
        """Seconds left (zero or negative once passed)."""
        return self.at - time.monotonic()

    def watch(self, get_socket: Callable[[], socket.socket | None]) -> None:
        """Shut down ``get_socket()`` when the deadline passes (at once when it already has).

        ``get_socket`` is called at that moment, so a connection that connects later is still reached; one with no
        socket yet is looked at again by ``check_connected``.
        """
        with self._lock:
            if self._done:
                return
            self._watched.append(get_socket)
            schedule, self._scheduled = not self._scheduled, True
        if schedule:
            _WATCHDOG.schedule(self)

    def ran_out(self) -> bool:
        """Whether the deadline has passed, fired or not: a socket timeout clamped to it can end a read before the
        watchdog thread gets to run, and that read ended because of the deadline all the same."""
        if not self.expired and self.remaining() <= 0:
            self.expired = True
        return self.expired

    def check_connected(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down when the deadline passed while it was connecting."""
        if sock is not None and (self.expired or self.remaining() <= 0):
            self.expired = True
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            watched = list(self._watched)
        for get_socket in watched:
            _shutdown(get_socket())

    @property
    def done(self) -> bool:
        """The request is over (``close`` was called)."""
        return self._done

    def close(self) -> None:
        """The request is over: nothing is shut down after this (the watchdog forgets it when its time comes)."""
        with self._lock:
            self._done = True


class _Watchdog:
    """One daemon thread that fires watched deadlines when they pass, earliest first.

    Deadlines wait in a heap ordered by ``at``; a closed one is dropped when it reaches the top. The thread sleeps until
    the earliest open deadline and is woken only when a new one becomes the earliest. It starts with the first watch.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, RequestDeadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, deadline: RequestDeadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gitrollback-request-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        due = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            due._fire()  # outside the lock: shutting sockets down holds up no new watch


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        # the plain socket's shutdown even for an SSLSocket: its own drops the TLS object under the blocked reader
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()

_CURRENT: ContextVar[RequestDeadline | None] = ContextVar("gitrollback_request_deadline", default=None)


@contextlib.contextmanager
def request_deadline(seconds: float) -> Iterator[RequestDeadline]:
    """Run the block's request under a deadline ``seconds`` from now (nested blocks: the innermost applies)."""
    deadline = RequestDeadline(seconds)
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)
        deadline.close()


def current() -> RequestDeadline | None:
    """The deadline of the request running in this context, if any."""
    return _CURRENT.get()


def clamp(timeout: float | None) -> float | None:
    """The timeout for the next socket operation under the current deadline (``timeout`` itself when there is none).

    Raises:
        DeadlineExceeded: nothing remains of the deadline.
    """
    deadline = _CURRENT.get()
    if deadline is None:
        return timeout
    remaining = deadline.remaining()
    if remaining <= 0:
        deadline.expired = True
        raise DeadlineExceeded(f"no complete answer within {deadline.seconds:g}s")
    return remaining if timeout is None else min(timeout, remaining)
