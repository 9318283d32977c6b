"""A small threaded HTTP/1.1 server on 127.0.0.1 that every simulator is built on.

Why stdlib ``ThreadingHTTPServer`` (see ``docs/testing.md``): no dependencies, the raw request path is kept
(GitLab sends ``grp%2Fapp``), and it works with git, httpx, lightkube, requests and kubectl alike. Two traps
are handled here once: ``TCP_NODELAY`` (without it every keep-alive request costs ~40 ms of Nagle plus
delayed ACK) and chunked request bodies (git sends large pushes chunked; the stdlib does not de-chunk).

Every simulator takes fault rules per route (``add_fault`` and its shorthands ``delay``, ``fail``, ``reset``, ``hang``
and ``slow_drip``; ``gitrollback.testing.faults`` says what each does), so a test can make any remote slow, failing,
dropped, silent or dripping for the real clients.

Usage::

    class Hello(SimulatorServer):
        def handle(self, request: Request) -> Response:
            return Response.json(200, {"hello": request.path})

    with Hello() as sim:
        httpx.get(sim.url + "/x")
"""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from gitrollback.testing.faults import Fault, FaultKind

__all__ = ["Request", "Response", "SimulatorServer"]


@dataclass
class Request:
    """One HTTP request as a simulator sees it."""

    method: str
    raw_path: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    host: str

    def header(self, name: str, default: str = "") -> str:
        """A header value, case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not)."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    """What a simulator answers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON body followed by a newline, as Go's ``json.NewEncoder(w).Encode`` writes it."""
        body = (json.dumps(payload, separators=(",", ":")) + "\n").encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status: int, message: str) -> Response:
        """A Go ``http.Error`` reply: plain text plus a trailing newline, and ``nosniff``."""
        return cls(
            status,
            (message + "\n").encode("utf-8"),
            {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
        )

    @classmethod
    def empty(cls, status: int) -> Response:
        """No body (204 and friends)."""
        return cls(status)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # simulators keep a request log instead of writing to stderr

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";", 1)[0] or b"0", 16)
                if size == 0:
                    # trailer section ends with an empty line
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The client went away mid-body (a killed process). Go's net/http hands the handler a body whose Read
            # ends in io.ErrUnexpectedEOF (net/http/transfer.go, body.Read), so the JSON decode fails and nothing
            # is created; a simulator must not act on the truncated request either (None: drop it).
            return None
        return body

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return
        request = Request(
            method=self.command,
            raw_path=split.path,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
            host=self.headers.get("Host", f"127.0.0.1:{self.server.server_address[1]}"),
        )
        owner = self.server.owner
        fault = owner._fault_for(request)
        if fault is not None and fault.kind in ("fail", "reset", "hang"):
            self._inject(fault)
            return
        if fault is not None and fault.kind == "delay":
            owner._fault_wait(fault.seconds)
        try:
            response = owner.handle(request)
        except Exception as exc:  # a simulator bug must show up as a 500, not a hung client
            response = Response.text(500, f"simulator error: {type(exc).__name__}: {exc}")
        owner._log(request, response)
        if response.status >= 200 and response.status not in (204, 304):
            response.headers.setdefault("Content-Length", str(len(response.body)))
        if fault is not None and fault.kind == "drip":
            self._drip(response, fault.seconds)
            return
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    # -- faults ---------------------------------------------------------------------------------------------

    def _inject(self, fault: Fault) -> None:
        if fault.kind == "fail":
            body = fault.answer_body()
            self.send_response(fault.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if fault.retry_after is not None:
                self.send_header("Retry-After", fault.retry_after)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        self.close_connection = True
        if fault.kind == "reset":
            # SO_LINGER with a zero timeout: closing sends RST instead of FIN, so the client sees a reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        self._hang()

    def _hang(self) -> None:
        """Send nothing until the client goes away or the simulator stops."""
        stopping = self.server.owner._stopping
        while not stopping.wait(0.05):
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client closed its end
                except OSError:
                    return

    def _drip(self, response: Response, seconds: float) -> None:
        """Send the whole answer (status line, headers, body) one byte every ``seconds`` of real time."""
        self.close_connection = True
        reason = self.responses.get(response.status, ("",))[0]
        head = f"HTTP/1.1 {response.status} {reason}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in response.headers.items() if k.lower() != "connection")
        data = (head + "Connection: close\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += response.body
        stopping = self.server.owner._stopping
        for index in range(len(data)):
            try:
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up
            if stopping.wait(seconds):
                return

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: the listen backlog; socketserver's default is 5, where the servers simulated here listen with the system's
    #: maximum (Go's net.Listen: net.core.somaxconn). With 5, a fleet's dozens of simultaneous connections to one
    #: simulated API server saw "connection reset by peer" no real server gives.
    request_queue_size = socket.SOMAXCONN

    def __init__(self, owner: SimulatorServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


class SimulatorServer:
    """Base class: subclasses implement ``handle(request) -> Response``.

    Start and stop with ``start()``/``stop()`` or use the object as a context manager. ``url`` is the base
    URL (``http://127.0.0.1:<port>``); ``requests`` is the log of ``(Request, Response)`` pairs.
    """

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[tuple[Request, Response]] = []
        self.faults: list[Fault] = []

    def handle(self, request: Request) -> Response:
        """Answer one request; override in subclasses."""
        raise NotImplementedError  # pragma: no cover

    # -- fault rules ----------------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Add a fault rule (``gitrollback.testing.faults.Fault``); the first rule that applies to a request wins."""
        with self._log_lock:
            self.faults.append(fault)
        return fault

    def _rule(self, kind: FaultKind, path: str, method: str | None, times: int | None, skip: int, **kw: Any) -> Fault:
        return self.add_fault(Fault(kind, path=path, method=method, times=times, skip=skip, **kw))

    def delay(
        self,
        path: str = "",
        seconds: float = 1.0,
        *,
        method: str | None = None,
        times: int | None = None,
        skip: int = 0,
    ) -> Fault:
        """Handle matching requests ``seconds`` later on the simulator's clock."""
        return self._rule("delay", path, method, times, skip, seconds=seconds)

    def fail(
        self,
        path: str = "",
        status: int = 503,
        *,
        body: str | None = None,
        retry_after: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        skip: int = 0,
    ) -> Fault:
        """Answer matching requests ``status`` (with ``body`` and ``Retry-After``) without handling them."""
        return self._rule("fail", path, method, times, skip, status=status, body=body, retry_after=retry_after)

    def reset(self, path: str = "", *, method: str | None = None, times: int | None = 1, skip: int = 0) -> Fault:
        """Reset the connection of matching requests without answering."""
        return self._rule("reset", path, method, times, skip)

    def hang(self, path: str = "", *, method: str | None = None, times: int | None = None, skip: int = 0) -> Fault:
        """Read matching requests and never answer (until the client gives up or the simulator stops)."""
        return self._rule("hang", path, method, times, skip)

    def slow_drip(
        self,
        path: str = "",
        seconds: float = 1.0,
        *,
        method: str | None = None,
        times: int | None = None,
        skip: int = 0,
    ) -> Fault:
        """Send the answers to matching requests one byte every ``seconds`` of real time."""
        return self._rule("drip", path, method, times, skip, seconds=seconds)

    def clear_faults(self) -> None:
        """Remove every fault rule (their ``hits`` stay readable on the ``Fault`` objects)."""
        with self._log_lock:
            self.faults = []

    @property
    def fault_clock(self) -> Any:
        """The clock ``delay`` waits on: the simulator's ``clock`` when it has one, else None (real time)."""
        return getattr(self, "clock", None)

    def _fault_for(self, request: Request) -> Fault | None:
        with self._log_lock:
            rules = list(self.faults)
        for rule in rules:
            if rule.take(request.method, request.raw_path):
                return rule
        return None

    def _fault_wait(self, seconds: float) -> None:
        clock = self.fault_clock
        if clock is None:
            time.sleep(seconds)
        else:
            clock.wait_until(lambda: False, timeout=seconds)

    def _log(self, request: Request, response: Response) -> None:
        with self._log_lock:
            self.requests.append((request, response))

    @property
    def port(self) -> int:
        """The port the server listens on (only after ``start``)."""
        if self._server is None:
            raise RuntimeError("simulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Bind a random loopback port and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._stopping.set()  # hanging and dripping handlers let go
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
