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
  PyGithub and python-gitlab, ``_requests_deadline``): when the deadline passes, a timer thread shuts the watched
  socket down, which wakes a blocked read at once.

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
        self._timer: threading.Timer | None = None
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
            if self._timer is None:
                self._timer = threading.Timer(max(self.remaining(), 0.0), self._fire)
                self._timer.daemon = True
                self._timer.name = "gitrollback-request-deadline"
                self._timer.start()

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

    def close(self) -> None:
        """The request is over: stop the timer (nothing is shut down after this)."""
        with self._lock:
            self._done = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        # the plain socket's shutdown even for an SSLSocket: its own drops the TLS object under the blocked reader
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


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
