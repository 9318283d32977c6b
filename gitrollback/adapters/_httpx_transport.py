"""The httpx transport of the Image Factory and Argo CD clients: httpcore's pool on a deadline-aware network layer.

httpx's ``Timeout`` applies to each socket operation, so a server that sends a byte a second keeps a request alive
forever. ``DeadlineTransport`` is httpx's own ``HTTPTransport`` arrangement (an ``httpcore.ConnectionPool`` behind
httpx's request and response types) with one difference: the pool's ``network_backend`` (a public httpcore
extension point) wraps every connection so that each connect, TLS handshake, read and write gets the smaller of
httpx's per-operation timeout and what remains of the request's deadline (``_deadline.clamp``). A request that
outlives its deadline therefore fails with ``httpx.ReadTimeout`` (or ``ConnectTimeout``/``WriteTimeout``) at the
deadline, on real time, without a thread. Outside a ``request_deadline`` block it behaves as ``HTTPTransport``.

This module, ``imagefactory.py`` and ``argocd.py`` are the only ones that import httpx, and this one alone imports
httpcore (``tests/unit/test_architecture.py``).
"""

from __future__ import annotations

import contextlib
import ssl
import typing
from collections.abc import Iterable, Iterator

import httpcore
import httpx

from gitrollback.adapters._deadline import DeadlineExceeded, clamp

__all__ = ["DeadlineTransport"]

# httpcore exception -> httpx exception, most specific first (what httpx's HTTPTransport maps them to).
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions as httpx's, as ``httpx.HTTPTransport`` does (the first matching row wins)."""
    try:
        yield
    except Exception as exc:
        for ours, theirs in _EXCEPTIONS:
            if isinstance(exc, ours):
                raise theirs(str(exc)) from exc
        raise


def _limit(timeout: float | None, timeout_class: type[httpcore.TimeoutException]) -> float | None:
    try:
        return clamp(timeout)
    except DeadlineExceeded as exc:
        raise timeout_class(str(exc)) from exc


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _limit(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _limit(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._stream.start_tls(ssl_context, server_hostname, _limit(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous socket backend, each connection wrapped in ``_DeadlineStream``."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, limit, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, limit, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if callable(close):
            close()


class DeadlineTransport(httpx.BaseTransport):
    """HTTP/1.1 over httpcore whose requests end by their ``request_deadline`` (see the module docstring).

    Args:
        verify: True, False, or an ``SSLContext`` (``_tls.tls_verify`` builds one from a CA bundle).
    """

    def __init__(self, *, verify: bool | ssl.SSLContext = True) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
