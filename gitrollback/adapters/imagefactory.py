"""Image Factory's admin and build API over httpx: the ``gitrollback.ports.ImageFactory`` adapter.

``ImageFactoryClient`` covers every route the rollback runbook uses (providers, Tekton installer jobs and
status, readiness, permissions, builds) and returns ``gitrollback.models`` values. This module is the only one
that imports httpx for Image Factory and holds the HTTP mechanics: lazy login, headers, timeouts, retries with
backoff, and the boundary (``_translate_httpx``) where httpx exceptions become ``gitrollback.errors``. What
each route means lives in ``_imagefactory_routes``; payload parsing and the status→error table in
``_imagefactory_wire``. Both are free of third-party imports.

Remote behaviour assumed (``docs/imagefactory.md``; imagefactoryoss/imagefactory ``backend/internal/``): bearer
JWTs from ``POST /api/v1/auth/login`` that live 15 minutes (``domain/user/service.go``, ``DefaultAccessTokenTTL``)
and a mandatory ``X-Tenant-ID`` on every call, admins included (``infrastructure/middleware/auth.go``,
``Authenticate``); ``X-Tenant-Scope: all`` lets a system admin reach other tenants' providers
(``adapters/primary/rest/tenant_scope.go``). With email and password the client logs in again a minute before
its token expires; with a static token it reads the token's ``exp`` (``token_expiry``) and names the expiry when
a 401 comes after it. Every call follows the shared HTTP policy (``_http_policy``): a total deadline a slow-drip
server cannot stretch (``timeout``), retries with backoff and jitter on the injected clock after a transport error or
429/502/503/504, ``Retry-After`` honoured, and only for calls that are safe to repeat: GETs, and the installer POSTs,
which always carry an idempotency key that a replay answers with the same job (``StartTektonInstallerJob``,
``domain/infrastructure/service.go``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx

from gitrollback.adapters import _imagefactory_wire as wire
from gitrollback.adapters._http_policy import RETRY_STATUSES, CallBudget, HttpPolicy
from gitrollback.adapters._httpx_transport import DeadlineTransport
from gitrollback.adapters._imagefactory_routes import ImageFactoryRoutes
from gitrollback.adapters._tls import tls_verify
from gitrollback.clock import SystemClock
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    ConfigError,
    GitRollbackError,
    RemoteHTTPError,
    TransportError,
    UnexpectedResponseError,
)
from gitrollback.models import JobEvent
from gitrollback.ports import Clock

__all__ = ["ImageFactoryClient"]

logger = logging.getLogger(__name__)

_NIL_UUID = "00000000-0000-0000-0000-000000000000"
#: Log in again this many seconds before the access token's ``exp``, so no call goes out with a dying token.
_RELOGIN_MARGIN = 60.0

# httpx exception → (gitrollback class, what happened, hint). Checked in order, most specific first; the
# ``httpx.HTTPError`` row catches every request-time error httpx may add later.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[AdapterError], str, str], ...] = (
    (
        httpx.TimeoutException,
        TransportError,
        "timed out",
        "Image Factory did not answer in time; raise imagefactory.timeout_seconds or check the server's load",
    ),
    (
        httpx.ConnectError,
        TransportError,
        "could not connect",
        "check base_url, the TLS settings (verify) and that Image Factory is reachable",
    ),
    (
        httpx.UnsupportedProtocol,
        TransportError,
        "unsupported URL scheme",
        "base_url must start with http:// or https://",
    ),
    (httpx.TransportError, TransportError, "connection failed", "check the network path to Image Factory"),
    (
        httpx.DecodingError,
        UnexpectedResponseError,
        "undecodable response body",
        "something in front of Image Factory mangles responses; check what answers on base_url",
    ),
    (
        httpx.TooManyRedirects,
        UnexpectedResponseError,
        "too many redirects",
        "base_url should point at Image Factory itself, not at a login page",
    ),
    (httpx.HTTPError, TransportError, "HTTP failure", "check the network path to Image Factory"),
    (httpx.InvalidURL, TransportError, "invalid URL", "check base_url and the ids passed in"),
    (httpx.StreamError, TransportError, "stream misuse", "this is a gitrollback bug; please report it"),
)


@contextmanager
def _translate_httpx(operation: str) -> Iterator[None]:
    """Re-raise any httpx exception from the block as its gitrollback class, chained with ``from``."""
    try:
        yield
    except GitRollbackError:
        raise
    except Exception as exc:
        for vendor, ours, meaning, hint in _HTTPX_ERRORS:
            if isinstance(exc, vendor):
                detail = str(exc) or type(exc).__name__
                raise ours(
                    f"Image Factory {operation}: {meaning}: {detail}",
                    adapter=wire.ADAPTER,
                    operation=operation,
                    hint=hint,
                ) from exc
        raise


class ImageFactoryClient(ImageFactoryRoutes):
    """A synchronous client for Image Factory's provider, Tekton installer and build routes.

    The constructor does no I/O; the first call logs in (when given email/password) and connects.
    Route methods (``get_provider``, ``tekton_status``, ``upgrade``, ``wait_for_job``, ``create_build``, ...)
    are documented on ``ImageFactoryRoutes``.

    Args:
        base_url: the server root, e.g. ``https://imagefactory.example.com`` (routes add ``/api/v1``).
        tenant_id: sent as ``X-Tenant-ID`` on every call (the server requires it, admins included).
        token: a bearer access token (Image Factory's live 15 minutes; ``token_expiry()`` reads when). Or give
            ``email`` and ``password`` to log in lazily; with them the client logs in again shortly before the
            token expires, and a 401 triggers one fresh login and a repeat of the call.
        all_tenants: send ``X-Tenant-Scope: all`` (system admins reaching other tenants' providers).
        timeout: seconds one call may take in all: every attempt (each under a deadline that a slow answer cannot
            stretch), backoff and ``Retry-After`` waits (the config's ``timeout_seconds``).
        verify: TLS verification: True, False, or the path of a CA bundle.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        clock: for backoff sleeps and polling; ``SystemClock`` by default.
        poll_interval: seconds between polls in ``wait_for_job`` and ``wait_for_build``.
        retries: extra attempts for calls that are safe to repeat.
        on_wait: called as ``on_wait(what, elapsed_seconds, state)`` on every poll of a wait and before every retry.
        policy: the whole HTTP policy (``_http_policy.HttpPolicy``: connect timeout, backoff, jitter); it replaces
            ``timeout`` and ``retries`` when given.

    Usage::

        with ImageFactoryClient(url, tenant_id=tenant, token=token) as factory:
            job = factory.upgrade(provider_id, asset_version="v1")
            job = factory.wait_for_job(provider_id, job.id, timeout=600)
            print(job.status, factory.last_job_events(job.id))
    """

    def __init__(
        self,
        base_url: str,
        *,
        tenant_id: str,
        token: str | None = None,
        email: str | None = None,
        password: str | None = None,
        all_tenants: bool = True,
        timeout: float = 30.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        poll_interval: float = 2.0,
        retries: int = 3,
        on_wait: Callable[[str, float, str], None] | None = None,
        policy: HttpPolicy | None = None,
    ) -> None:
        try:
            tenant = str(uuid.UUID(tenant_id))
        except (ValueError, TypeError, AttributeError):
            tenant = _NIL_UUID
        if tenant == _NIL_UUID:
            raise ConfigError(
                f"not a tenant UUID: {tenant_id!r}",
                key="tenant_id",
                hint="use the id of your Image Factory tenant (a non-nil UUID)",
            )
        if token is None and not (email and password):
            raise ConfigError(
                "neither a token nor an email and password",
                key="token",
                hint="set the token env var named in the config, or an email and password",
            )
        if retries < 0 or poll_interval < 0 or timeout <= 0:
            raise ConfigError("retries and poll_interval must not be negative, and timeout must be positive")
        self._base_url = base_url.rstrip("/")
        self._tenant_id = tenant
        self._token = token
        self._token_expiry = wire.token_expiry(token) if token else None
        self._email = email
        self._password = password
        self._all_tenants = all_tenants
        self._policy = policy or HttpPolicy(timeout=timeout, attempts=retries + 1)
        self._verify = verify
        self._transport = transport
        self._clock = clock or SystemClock()
        self._poll_interval = poll_interval
        self._on_wait = on_wait
        self._http: httpx.Client | None = None
        self._lock = threading.RLock()
        self._events: dict[str, dict[str, JobEvent]] = {}
        self._operations: dict[str, str] = {}

    def __repr__(self) -> str:
        auth = "password" if self._email and self._password else "token"
        return (
            f"ImageFactoryClient(base_url={self._base_url!r}, tenant_id={self._tenant_id!r}, "
            f"auth={auth!r}, all_tenants={self._all_tenants!r})"
        )

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

    # ---------------------------------------------------------------------------------------- plumbing

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                verify = tls_verify(self._verify, service="Image Factory", where=self._base_url, key="verify")
                self._http = httpx.Client(
                    base_url=self._base_url,
                    transport=self._transport or DeadlineTransport(verify=verify),
                    headers={"Accept": "application/json"},
                    trust_env=False,
                )
            return self._http

    def _headers(self) -> dict[str, str]:
        headers = {"X-Tenant-ID": self._tenant_id, "Authorization": f"Bearer {self._token}"}
        if self._all_tenants:
            headers["X-Tenant-Scope"] = "all"
        return headers

    def _can_login(self) -> bool:
        return bool(self._email and self._password)

    def _token_due(self) -> bool:
        """True when a renewable token is missing or about to expire (log in before using it)."""
        if self._token is None:
            return True
        if not self._can_login() or self._token_expiry is None:
            return False
        return (self._token_expiry - self._clock.now()).total_seconds() <= _RELOGIN_MARGIN

    def token_expiry(self) -> datetime | None:
        """When the access token this client cannot renew expires: a static token's ``exp`` claim.

        None when the client logs in itself (email and password: it renews the token before it expires) or when
        the token carries no readable expiry (not a JWT). A credential preflight can compare this with how long
        a run may wait; no request is made.
        """
        with self._lock:
            return None if self._can_login() else self._token_expiry

    def _expired_token_error(self, error: RemoteHTTPError, what: str) -> RemoteHTTPError:
        """A 401 after a static token's expiry: say so, and when."""
        expiry = self._token_expiry
        if expiry is None or self._can_login() or self._clock.now() < expiry:
            return error
        stamp = expiry.strftime("%Y-%m-%d %H:%M:%SZ")
        return AuthenticationError(
            f"Image Factory {what} answered 401: the access token expired at {stamp}",
            adapter=wire.ADAPTER,
            operation=error.operation,
            status=401,
            remote_message=error.remote_message,
            hint=(
                "Image Factory access tokens live 15 minutes: issue a fresh token and rerun (the rerun resumes), or "
                "configure email and password so gitrollback logs in again by itself"
            ),
            kind="token_expired",
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        retry: bool | None = None,
        authenticated: bool = True,
        on_retry: Callable[[], None] | None = None,
    ) -> Any:
        """One API call with auth, the HTTP policy's deadline and retries, and error translation; the decoded JSON,
        or None for no body.

        ``on_retry`` is told each time the request is sent again after a transport error or 429/502/503/504.
        """
        safe = method == "GET" if retry is None else retry
        what = f"{method} {path}"
        budget = CallBudget(self._policy, clock=self._clock, what=f"Image Factory {what}", on_wait=self._on_wait)
        relogged = False
        while True:
            headers: dict[str, str] = {}
            if authenticated:
                if self._token_due():
                    self.login()
                headers = self._headers()
            try:
                with budget.attempt() as deadline, _translate_httpx(operation):
                    timeout = httpx.Timeout(deadline.seconds, connect=budget.connect_timeout(deadline.seconds))
                    response = self._client().request(
                        method, path, params=params, json=body, headers=headers, timeout=timeout
                    )
                    content = response.content
            except TransportError as exc:
                if budget.retry(exc.message, safe=safe):
                    if on_retry is not None:
                        on_retry()
                    continue
                raise self._gave_up(exc, what, budget) from exc.__cause__
            status = response.status_code
            logger.debug("Image Factory %s -> %d", what, status)
            if status == 401 and authenticated and not relogged and self._can_login():
                logger.info("Image Factory %s: token refused, logging in again", what)
                relogged = True
                with self._lock:
                    self._token = None
                continue
            if (
                status in RETRY_STATUSES
                and not wire.is_maintenance(content)
                and budget.retry(f"HTTP {status}", safe=safe, status=status, headers=response.headers)
            ):
                if on_retry is not None:
                    on_retry()
                continue
            if not 200 <= status < 300:
                error = wire.http_error(
                    status, content, response.headers.get("content-type", ""), operation=operation, what=what
                )
                if status == 401 and authenticated:
                    raise self._expired_token_error(error, what)
                raise error
            if not content.strip():
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise self._bad(operation, f"{what} answered {status} with a body that is not JSON") from exc

    def _gave_up(self, error: TransportError, what: str, budget: CallBudget) -> TransportError:
        """The transport error that ends a call, saying so when the call's time ran out."""
        if budget.remaining() > 0.001:
            return error
        return TransportError(
            f"Image Factory {what}: no complete answer within {self._policy.timeout:g}s "
            f"({budget.attempts} attempt{'s' if budget.attempts != 1 else ''}; last: {error.message})",
            adapter=wire.ADAPTER,
            operation=error.operation,
            hint="Image Factory (or something in front of it) accepted the request but did not answer in time; "
            "check its health, or raise imagefactory.timeout_seconds",
            kind="deadline_exceeded",
        )

    # ---------------------------------------------------------------------------------------- auth

    def login(self) -> None:
        """Exchange the email and password for an access token (``POST /api/v1/auth/login``, ``AuthHandler.Login``).

        The token's expiry is read from its ``exp`` claim (else the reply's ``access_token_expiry``), so later calls
        log in again shortly before it.

        Raises:
            ConfigError: the client was built with a token only.
            AuthenticationError: wrong credentials, or the account first needs MFA or a password change.
        """
        if not (self._email and self._password):
            raise ConfigError(
                "login needs an email and a password",
                key="email",
                hint="set email and password, or keep using the token",
            )
        with self._lock:
            try:
                data = self._call(
                    "POST",
                    "/api/v1/auth/login",
                    operation="login",
                    authenticated=False,
                    retry=False,
                    body={"email": self._email, "password": self._password},
                )
            except AuthenticationError as exc:
                exc.hint = "check the Image Factory email and password in the config"
                raise
            token = data.get("access_token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                flags = ("requires_mfa", "requires_password_change", "setup_required")
                needs = [f for f in flags if isinstance(data, dict) and data.get(f)]
                if needs:
                    raise AuthenticationError(
                        f"Image Factory login gave no token ({', '.join(needs)})",
                        adapter=wire.ADAPTER,
                        operation="login",
                        status=200,
                        remote_message=", ".join(needs),
                        hint="finish the account's MFA or password setup in Image Factory, or use a token",
                    )
                raise self._bad("login", "login answered without an access_token")
            self._token = token
            self._token_expiry = wire.token_expiry(token) or _reply_expiry(data)
        logger.info("logged in to Image Factory at %s", self._base_url)


def _reply_expiry(data: Any) -> datetime | None:
    """The login reply's ``access_token_expiry`` (unix seconds), when the token itself says nothing."""
    value = data.get("access_token_expiry") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, tz=UTC)
