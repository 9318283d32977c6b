"""Whole-request deadlines for the Git hosts' clients (PyGithub and python-gitlab, both on requests and urllib3).

requests' ``timeout`` is urllib3's per-socket-operation timeout: it bounds a server that never answers, but a server
that answers a byte at a time (status line, headers or body) keeps a request alive forever, and neither library
offers a total. ``DeadlineAdapter`` is a requests ``HTTPAdapter`` that runs each request, its body included, under a
``request_deadline`` (``_deadline``): its urllib3 connections register their socket with the deadline, whose timer
shuts the socket down when the time is up, which wakes the blocked read at once. The request then fails with
``requests.Timeout`` ("no complete answer within N s"), which the hosts translate into ``TransportError``.

Mount it on the library's session for ``http://`` and ``https://`` (``bounded_session`` makes such a session):
python-gitlab takes a ``session``; PyGithub builds its own, so ``github.py`` mounts the adapter on the one it makes.
This is the only module that imports urllib3 (``tests/unit/test_architecture.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from gitrollback.adapters._deadline import current, request_deadline

__all__ = ["DeadlineAdapter", "bounded_session"]


class _WatchedHTTPConnection(HTTPConnection):
    """A urllib3 connection whose socket the current request's deadline may shut down."""

    def connect(self) -> None:
        super().connect()
        deadline = current()
        if deadline is not None:
            deadline.check_connected(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = current()
        if deadline is not None:
            deadline.watch(lambda: self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    """The TLS twin of ``_WatchedHTTPConnection``."""

    def connect(self) -> None:
        super().connect()
        deadline = current()
        if deadline is not None:
            deadline.check_connected(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = current()
        if deadline is not None:
            deadline.watch(lambda: self.sock)
        super().request(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: Mapping[str, type[HTTPConnectionPool]] = {"http": _Pool, "https": _TLSPool}


class DeadlineAdapter(HTTPAdapter):
    """A requests adapter whose every request (connect, send, headers, body) ends within ``deadline`` seconds.

    No retries (``max_retries=0``): the hosts decide themselves what to repeat.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(  # noqa: PLR0917 - requests' HTTPAdapter.send signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        with request_deadline(self.deadline) as deadline:
            try:
                response = super().send(
                    request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies
                )
                if not stream:
                    _ = response.content  # read the body under the deadline too
            except requests.RequestException as exc:
                if deadline.ran_out():
                    raise requests.Timeout(f"no complete answer within {self.deadline:g}s", request=request) from exc
                raise
            if deadline.expired:
                # http.client takes a status line cut short by the shutdown for a whole answer ("HTTP/1.1 404 Not
                # Fou" and no headers): whatever arrived once the deadline passed is not an answer
                response.close()
                raise requests.Timeout(f"no complete answer within {self.deadline:g}s", request=request)
        return response


def bounded_session(deadline: float) -> requests.Session:
    """A ``requests.Session`` whose every request ends within ``deadline`` seconds."""
    session = requests.Session()
    session.mount("http://", DeadlineAdapter(deadline))
    session.mount("https://", DeadlineAdapter(deadline))
    return session
