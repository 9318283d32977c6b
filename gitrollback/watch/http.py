"""``GET /healthz`` and ``GET /metrics`` on a standard-library HTTP server, on its own thread.

``/healthz`` answers 200 with a small JSON document while the loop is alive, and 503 when the loop has not reported
progress for ``stuck_after`` seconds (the Deployment's liveness probe then restarts the pod). A follower is healthy:
it is passive by design. ``/metrics`` is the Prometheus text of ``Metrics.render``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gitrollback.watch.metrics import CONTENT_TYPE

__all__ = ["HealthServer", "split_listen"]

logger = logging.getLogger(__name__)


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (the host may be empty or bracketed IPv6) as ``(host, port)``; ``ValueError`` otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{listen!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


class _IPv6Server(ThreadingHTTPServer):
    """For an IPv6 ``listen`` (``[::]:8080``): the standard server binds IPv4 sockets only."""

    address_family = socket.AF_INET6


class HealthServer:
    """Serves ``health()`` (``(healthy, document)``) at ``/healthz`` and ``metrics()`` at ``/metrics``.

    ``start()`` binds and serves on a daemon thread; ``stop()`` shuts it down and joins it. Port 0 picks a free port
    (``address`` says which).
    """

    def __init__(
        self, listen: str, *, health: Callable[[], tuple[bool, Mapping[str, Any]]], metrics: Callable[[], str]
    ) -> None:
        self.listen = listen
        self.health = health
        self.metrics = metrics
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (after ``start``)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> HealthServer:
        """Bind and start serving."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    healthy, document = owner.health()
                    self._send(200 if healthy else 503, "application/json", json.dumps(document) + "\n")
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE, owner.metrics())
                else:
                    self._send(404, "text/plain; charset=utf-8", "not found: try /healthz or /metrics\n")

            def _send(self, status: int, content_type: str, text: str) -> None:
                body = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("http: " + format, *args)

        host, port = split_listen(self.listen)
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="gitrollback-watch-http", daemon=True)
        self._thread.start()
        logger.info("watch: serving /healthz and /metrics on %s:%d", *self.address)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
