"""A small threaded HTTP/1.1 server on 127.0.0.1 that every simulator is built on.

Why stdlib ``ThreadingHTTPServer`` (see ``docs/testing.md``): no dependencies, the raw request path is kept
(GitLab sends ``grp%2Fapp``), and it works with git, httpx, lightkube, requests and kubectl alike. Two traps
are handled here once: ``TCP_NODELAY`` (without it every keep-alive request costs ~40 ms of Nagle plus
delayed ACK) and chunked request bodies (git sends large pushes chunked; the stdlib does not de-chunk).

Usage::

    class Hello(SimulatorServer):
        def handle(self, request: Request) -> Response:
            return Response.json(200, {"hello": request.path})

    with Hello() as sim:
        httpx.get(sim.url + "/x")
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

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
        try:
            response = owner.handle(request)
        except Exception as exc:  # a simulator bug must show up as a 500, not a hung client
            response = Response.text(500, f"simulator error: {type(exc).__name__}: {exc}")
        owner._log(request, response)
        if response.status >= 200 and response.status not in (204, 304):
            response.headers.setdefault("Content-Length", str(len(response.body)))
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

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
        self.requests: list[tuple[Request, Response]] = []

    def handle(self, request: Request) -> Response:
        """Answer one request; override in subclasses."""
        raise NotImplementedError  # pragma: no cover

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
