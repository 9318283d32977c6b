"""Whole-request deadlines of the Kubernetes and Flux adapters against a raw loopback API server that hangs or drips.

The server is a plain socket (no simulator): it reads one request, then either never answers or sends a valid
answer one byte every ``DRIP`` seconds, so no single read waits long and only a whole-request deadline ends it. The
answer is long enough that dripping it out takes far longer than ``DEADLINE + MARGIN``: a client bounded per read only
fails these tests. Real socket time by nature, so the deadline is short and the assertion is an upper bound with a
generous margin, never an exact duration.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gitrollback.adapters.flux import FluxEngine
from gitrollback.adapters.kube import LightkubeCluster
from gitrollback.errors import TransportError
from gitrollback.testing.clock import FakeClock

DEADLINE = 1.5
MARGIN = 15.0
DRIP = 0.05
NS = "image-factory-6f1c2a9e"
#: a valid answer that takes 0.05 s x ~1,000 bytes = 50 s to drip out
_BODY = json.dumps({"kind": "APIResourceList", "groupVersion": "v1", "resources": [], "pad": "x" * 900}).encode()
_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n"
) + _BODY


class _RawServer:
    """A loopback API server on a bare socket that hangs (``drip=None``) or drips its answer; counts requests."""

    def __init__(self, drip: float | None) -> None:
        self.drip = drip
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            self.requests += 1
            if self.drip is None:
                self._stop.wait()
                return
            for byte in _ANSWER:
                if self._stop.wait(self.drip):
                    return
                conn.sendall(bytes([byte]))

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        self._listener.close()
        for conn in self._conns:
            conn.close()
        self._thread.join(timeout=5)


@pytest.fixture(name="server", params=["hang", "drip"])
def _server(request: pytest.FixtureRequest) -> Iterator[_RawServer]:
    server = _RawServer(None if request.param == "hang" else DRIP)
    yield server
    server.close()


def _kubeconfig(url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "raw", "cluster": {"server": url}}],
        "users": [{"name": "raw", "user": {"token": "t0k3n"}}],
        "contexts": [{"name": "raw", "context": {"cluster": "raw", "user": "raw", "namespace": NS}}],
        "current-context": "raw",
    }


def test_the_cluster_adapter_gives_up_at_its_deadline(server: _RawServer) -> None:
    """A Kubernetes request that is never answered, or answered a byte at a time, ends as ``deadline_exceeded``
    within ``cluster.timeout_seconds``, sent once."""
    cluster = LightkubeCluster.from_kubeconfig(_kubeconfig(server.url), timeout=DEADLINE)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        cluster.resource_scopes("v1")
    took = time.monotonic() - started
    cluster.close()
    assert took < DEADLINE + MARGIN, took
    assert info.value.kind == "deadline_exceeded" and info.value.adapter == "kubernetes"
    assert f"no complete answer within {DEADLINE:g}s" in info.value.message and info.value.hint
    assert server.requests == 1


def test_the_flux_adapter_gives_up_at_its_deadline(server: _RawServer) -> None:
    """lightkube's typed client, as the Flux adapter builds it, ends a hung or dripping read of the Kustomization as
    ``deadline_exceeded`` within ``sync.request_timeout_seconds``."""
    engine = FluxEngine.from_kubeconfig(_kubeconfig(server.url), request_timeout=DEADLINE, clock=FakeClock())
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        engine.status("flux-system/apps")
    took = time.monotonic() - started
    engine.close()
    assert took < DEADLINE + MARGIN, took
    assert info.value.kind == "deadline_exceeded"
    assert "get Kustomization flux-system/apps: no complete answer within 1.5s" in info.value.message
    assert server.requests == 1


def test_a_read_ended_by_its_clamped_timeout_is_the_deadline_even_before_the_watchdog_fires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every socket operation is clamped to what is left of the deadline, so under load the read's own timeout can end
    a hung request before the watchdog thread runs. That is still the deadline (``deadline_exceeded``), not a
    transport error: here the watchdog never fires at all."""
    from gitrollback.adapters import _deadline

    monkeypatch.setattr(_deadline._WATCHDOG, "schedule", lambda deadline: None)
    server = _RawServer(None)  # hangs: only a timeout ends the read
    cluster = LightkubeCluster.from_kubeconfig(_kubeconfig(server.url), timeout=DEADLINE)
    try:
        with pytest.raises(TransportError) as info:
            cluster.resource_scopes("v1")
    finally:
        cluster.close()
        server.close()
    assert info.value.kind == "deadline_exceeded"
    assert server.requests == 1
