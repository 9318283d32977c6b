"""Argo CD over httpx: the ``gitrollback.ports.SyncEngine`` and ``DeploymentHistory`` adapter.

``ArgoCDEngine`` drives Argo CD's REST API (argoproj/argo-cd ``server/application/application.go``, shapes from
``assets/swagger.json``): a hard refresh, a sync to the exact rollback revision, and a wait that returns only when
*that* revision is applied, synced and healthy, which ``argocd app wait`` does not guarantee (it compares no
revision: ``cmd/argocd/commands/app.go``). This module is the only one importing httpx for Argo CD and holds the
HTTP mechanics: lazy session login, headers, the shared HTTP policy (``_http_policy``: a total deadline per call that
a slow-drip server cannot stretch, retries of GETs with backoff, jitter and ``Retry-After``, on the injected clock)
and the boundary where httpx exceptions become ``gitrollback.errors``. What the routes mean and the waiting policy
live in ``_argocd_ops``; payload parsing, the "done" verdict and the error table in ``_argocd_wire``; both are free
of third-party imports.

Remote behaviour assumed: bearer tokens (``ARGOCD_AUTH_TOKEN`` by default, read by the CLI) or a session from
``POST /api/v1/session`` (``server/session/session.go``); ``application/json`` on every non-GET including DELETE,
else a plain-text 415 (``server/server.go``, enforceContentTypes); the runtimeError envelope and the
403-for-missing-app rule. A transport error, 429, 502, 503 or 504 on a GET (a proxy in front of Argo CD) is retried
within the call's budget; writes are sent once. Argo CD's
own 500 ``application refresh deadline exceeded`` is not an HTTP failure to retry but a refresh that has not
landed yet (``_argocd_ops``). TLS verification is on unless turned off; ``verify`` may name a CA bundle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import httpx

from gitrollback.adapters import _argocd_wire as wire
from gitrollback.adapters._argocd_ops import ArgoCDOperations
from gitrollback.adapters._http_policy import RETRY_STATUSES, CallBudget, HttpPolicy
from gitrollback.adapters._httpx_transport import DeadlineTransport
from gitrollback.adapters._tls import tls_verify
from gitrollback.clock import SystemClock
from gitrollback.errors import (
    AuthenticationError,
    ConfigError,
    GitRollbackError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UnexpectedResponseError,
)
from gitrollback.models import AccessNeeds, AccessProblem
from gitrollback.ports import Clock

__all__ = ["ArgoCDEngine"]

logger = logging.getLogger(__name__)

_JSON = "application/json"


@contextmanager
def _translate_httpx(operation: str) -> Iterator[None]:
    """Re-raise httpx exceptions as gitrollback errors, chained; the message never carries a header or token."""
    try:
        yield
    except GitRollbackError:
        raise
    except httpx.TimeoutException as exc:
        raise TransportError(
            f"Argo CD {operation}: timed out",
            adapter=wire.ADAPTER,
            operation=operation,
            hint="Argo CD did not answer in time; raise sync.request_timeout_seconds or check its load",
        ) from exc
    except (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise TransportError(
            f"Argo CD {operation}: could not connect: {type(exc).__name__}",
            adapter=wire.ADAPTER,
            operation=operation,
            hint="check the Argo CD URL, the TLS settings (verify / CA file) and the network",
        ) from exc
    except httpx.HTTPError as exc:
        raise TransportError(
            f"Argo CD {operation}: {type(exc).__name__}",
            adapter=wire.ADAPTER,
            operation=operation,
            hint="check the network path to Argo CD",
        ) from exc


def _safe_url(url: str) -> str:
    """The URL without user-info, for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


class ArgoCDEngine(ArgoCDOperations):
    """Refresh, sync and revision-exact waits on Argo CD applications.

    The constructor does no I/O. Attributes ``operation_wait_timeout`` (seconds to wait for someone else's
    operation before a sync, default 600) and ``auto_sync_grace`` (seconds without an operation for the awaited
    revision before ``wait_for_revision`` triggers one, default ``max(5 * poll_interval, 10)``) may be changed.

    Args:
        base_url: the Argo CD server, e.g. ``https://argocd.example.com``.
        token: a bearer token (the CLI reads ``ARGOCD_AUTH_TOKEN``). Or give ``username`` and ``password`` to
            log in lazily (``POST /api/v1/session``); then a 401 triggers one fresh login.
        project: sent with every app call, so a missing app is a 404 instead of Argo CD's 403.
        verify: TLS verification: True, False, or the path of a CA bundle.
        timeout: seconds one call may take in all, retries included, each attempt under a deadline a slow answer
            cannot stretch (a ``?refresh=`` GET blocks server-side until the refresh is done).
        transport: an httpx transport (tests may pass ``httpx.MockTransport``).
        clock: for polling and backoff; ``SystemClock`` by default.
        poll_interval: seconds between polls while waiting.
        on_operation_in_progress: when a sync meets a running operation: ``"wait"`` for it, or ``"terminate"`` it.
        on_wait: called as ``on_wait(what, elapsed_seconds, state)`` on every poll and before every retry.
        policy: the whole HTTP policy (``_http_policy.HttpPolicy``); it replaces ``timeout`` when given.

    Usage::

        with ArgoCDEngine("https://argocd.example.com", token=token, project="platform") as argo:
            argo.sync("image-factory-tekton", revision=sha)
            status = argo.wait_for_revision("image-factory-tekton", sha, timeout=600)
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        project: str | None = None,
        verify: bool | str = True,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        poll_interval: float = 2.0,
        on_operation_in_progress: Literal["wait", "terminate"] = "wait",
        on_wait: Callable[[str, float, str], None] | None = None,
        policy: HttpPolicy | None = None,
    ) -> None:
        if not base_url:
            raise ConfigError("no Argo CD URL", key="sync.url", hint="set sync.url to the Argo CD server's URL")
        if not token and not (username and password):
            raise ConfigError(
                "neither a token nor a username and password for Argo CD",
                key="sync.token",
                hint="set ARGOCD_AUTH_TOKEN (or the variable named in the config)",
            )
        if on_operation_in_progress not in ("wait", "terminate"):
            raise ConfigError(
                f"must be 'wait' or 'terminate', not {on_operation_in_progress!r}", key="sync.on_operation_in_progress"
            )
        if timeout <= 0 or poll_interval < 0:
            raise ConfigError("timeout must be positive and poll_interval not negative", key="sync")
        self._base_url = base_url.rstrip("/")
        self._token = token or None
        self._username = username
        self._password = password
        self._project = project or None
        self._verify = verify
        self._policy = policy or HttpPolicy(timeout=timeout)
        self._transport = transport
        self._clock = clock or SystemClock()
        self._poll_interval = poll_interval
        self._on_op = on_operation_in_progress
        self._on_wait = on_wait
        self._http: httpx.Client | None = None
        self._lock = threading.RLock()
        self.operation_wait_timeout = 600.0
        self.auto_sync_grace = max(5 * poll_interval, 10.0)

    def __repr__(self) -> str:
        auth = "token" if self._token and not self._username else "password"
        return f"ArgoCDEngine(base_url={_safe_url(self._base_url)!r}, project={self._project!r}, auth={auth!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections; a later call opens new ones."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    # ------------------------------------------------------------------------------------------- plumbing

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                verify = tls_verify(
                    self._verify, service="Argo CD", where=_safe_url(self._base_url), key="sync.ca_file"
                )
                self._http = httpx.Client(
                    base_url=self._base_url,
                    transport=self._transport or DeadlineTransport(verify=verify),
                    trust_env=False,
                    headers={"Accept": _JSON},
                )
            return self._http

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        app: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        authenticated: bool = True,
    ) -> Any:
        """One API call: auth, JSON content type on writes, the HTTP policy (GETs retried), error translation."""
        safe = method == "GET"
        budget = CallBudget(self._policy, clock=self._clock, what=f"Argo CD {method} {path}", on_wait=self._on_wait)
        relogged = False
        while True:
            headers: dict[str, str] = {}
            if method != "GET":
                headers["Content-Type"] = _JSON  # Argo CD answers 415 to any write without it, DELETE too
            if authenticated:
                if self._token is None:
                    self.login()
                headers["Authorization"] = f"Bearer {self._token}"
            try:
                with budget.attempt() as deadline, _translate_httpx(operation):
                    timeout = httpx.Timeout(deadline.seconds, connect=budget.connect_timeout(deadline.seconds))
                    response = self._client().request(
                        method,
                        path,
                        params=params,
                        headers=headers,
                        json=dict(body) if body is not None else None,
                        timeout=timeout,
                    )
                    content = response.content
            except TransportError as exc:
                if budget.retry(exc.message, safe=safe):
                    continue
                if budget.remaining() > 0.001:
                    raise
                raise TransportError(
                    f"Argo CD {operation}: no complete answer within {self._policy.timeout:g}s "
                    f"({budget.attempts} attempt{'s' if budget.attempts != 1 else ''}; last: {exc.message})",
                    adapter=wire.ADAPTER,
                    operation=operation,
                    hint="Argo CD (or something in front of it) accepted the request but did not answer in time; "
                    "check its health, or raise sync.request_timeout_seconds",
                    kind="deadline_exceeded",
                ) from exc.__cause__
            status = response.status_code
            logger.debug("Argo CD %s %s -> %d", method, path, status)
            if status == 401 and authenticated and not relogged and self._username and self._password:
                relogged = True
                with self._lock:
                    self._token = None
                continue
            if status in RETRY_STATUSES and budget.retry(
                f"HTTP {status}", safe=safe, status=status, headers=response.headers
            ):
                continue
            if not 200 <= status < 300:
                raise wire.http_error(
                    status,
                    content,
                    response.headers.get("content-type", ""),
                    operation=operation,
                    app=app,
                    project=self._project,
                )
            try:
                return response.json() if content.strip() else {}
            except ValueError as exc:
                raise UnexpectedResponseError(
                    f"Argo CD {operation}: HTTP {status} with a body that is not JSON",
                    adapter=wire.ADAPTER,
                    operation=operation,
                    hint="check that the URL points at the Argo CD API server",
                ) from exc

    # ------------------------------------------------------------------------------------------- auth

    def login(self) -> None:
        """Exchange the username and password for a session token (``POST /api/v1/session``).

        Raises:
            ConfigError: built with a token only.
            AuthenticationError: wrong credentials.
        """
        if not (self._username and self._password):
            raise ConfigError(
                "Argo CD login needs a username and password; this client was given a token only",
                key="sync.token_env",
                hint="use the API token (sync.token_env) instead of calling login()",
            )
        with self._lock:
            try:
                data = self._call(
                    "POST",
                    "/api/v1/session",
                    operation="login",
                    authenticated=False,
                    body={"username": self._username, "password": self._password},
                )
            except AuthenticationError as exc:
                exc.hint = "check the Argo CD username and password in the config"
                raise
            token = data.get("token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                raise UnexpectedResponseError(
                    "Argo CD login answered without a token", adapter=wire.ADAPTER, operation="login"
                )
            self._token = token
        logger.info("logged in to Argo CD at %s", _safe_url(self._base_url))

    # ------------------------------------------------------------------------------------------- pre-flight

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """Can the token read the application (``GET /api/v1/applications/{name}``)? Docs/safety.md."""
        if not needs.app:
            return []
        try:
            self.status(needs.app)
        except AuthenticationError as exc:
            return [
                AccessProblem(
                    "argocd",
                    f"Argo CD refuses the token (401): {exc.remote_message or exc.message}",
                    "set ARGOCD_AUTH_TOKEN (or sync.token_env) to a valid, unexpired API token",
                )
            ]
        except (PermissionDeniedError, NotFoundError) as exc:
            return [
                AccessProblem(
                    "argocd",
                    f"application {needs.app!r} is not visible to the token ({exc.status}): {exc.remote_message}",
                    "check sync.app and sync.project, and that the token's role may get (and sync) the application",
                )
            ]
        return []
