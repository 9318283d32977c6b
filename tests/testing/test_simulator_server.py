"""The simulators' HTTP server: it queues as many pending connections as a real server does."""

from __future__ import annotations

import socket

from gitrollback.testing.server import Request, Response, SimulatorServer, _Server


class _Echo(SimulatorServer):
    def handle(self, request: Request) -> Response:
        return Response.json(200, {"path": request.path})


def test_many_simultaneous_connections_wait_in_the_backlog() -> None:
    """With nobody accepting yet, 64 connections still complete their handshake (socketserver's default backlog of
    5 would drop the rest; a real API server listens with the system's maximum, as Go's net.Listen does)."""
    server = _Server(_Echo())  # listening, but no accept loop
    port = server.server_address[1]
    clients: list[socket.socket] = []
    try:
        for _ in range(64):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert len(clients) == 64
    finally:
        for client in clients:
            client.close()
        server.server_close()


def test_the_server_still_answers() -> None:
    """Nothing else changed: a started server answers a request."""
    with _Echo() as echo, socket.create_connection(("127.0.0.1", echo.port), timeout=5) as conn:
        conn.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.") and b'"path": "/x"' in data.replace(b'":"', b'": "')
