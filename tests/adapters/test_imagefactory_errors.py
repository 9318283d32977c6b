"""Unit-level tests of the Image Factory client over ``httpx.MockTransport``: errors, retries, auth, secrets.

These encode the server's exact bodies (``docs/imagefactory.md``, from imagefactoryoss/imagefactory's handlers)
without a simulator; the route-by-route behaviour against the real simulator is in ``test_imagefactory_client.py``
and ``test_imagefactory_strict.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from gitrollback.adapters import _imagefactory_wire as wire
from gitrollback.adapters.imagefactory import ImageFactoryClient
from gitrollback.errors import (
    AdapterError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    GitRollbackError,
    JobInProgressError,
    NotFoundError,
    PermissionDeniedError,
    RemoteHTTPError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    UnprocessableError,
)
from gitrollback.ports import ImageFactory
from gitrollback.testing.clock import FakeClock

TENANT = "6f1c2a9e-1111-4222-8333-444455556666"
PROVIDER = "0b7e4c1d-aaaa-4bbb-8ccc-dddddddddddd"
JOB = "9d8c7b6a-5555-4666-8777-888899990000"
TOKEN = "tok-SECRET-4f2a"
PASSWORD = "pw-SECRET-77aa"
IN_PROGRESS = "Another tekton install/upgrade/validate job is already in progress for this provider"


def text(status: int, message: str) -> httpx.Response:
    """A Go ``http.Error`` reply."""
    return httpx.Response(
        status,
        content=(message + "\n").encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


def jsonr(status: int, payload: Any) -> httpx.Response:
    """A ``json.NewEncoder`` reply (trailing newline included)."""
    return httpx.Response(
        status, content=(json.dumps(payload) + "\n").encode(), headers={"Content-Type": "application/json"}
    )


def assert_backoff(sleeps: list[float], count: int) -> None:
    """``count`` backoff waits, each within the policy's jitter band: half to all of 0.5 s, 1 s, 2 s, ..."""
    assert len(sleeps) == count
    for attempt, slept in enumerate(sleeps):
        full = 0.5 * 2**attempt
        assert full / 2 <= slept <= full, (attempt, slept)


def job_json(status: str = "pending", job_id: str = JOB) -> dict[str, Any]:
    return {
        "id": job_id,
        "provider_id": PROVIDER,
        "tenant_id": TENANT,
        "requested_by": TENANT,
        "install_mode": "image_factory_installer",
        "asset_version": "v1",
        "status": status,
        "created_at": "2026-03-28T10:00:00Z",
        "updated_at": "2026-03-28T10:00:05+02:00",
    }


def provider_json() -> dict[str, Any]:
    return {
        "id": PROVIDER,
        "tenant_id": TENANT,
        "is_global": False,
        "provider_type": "kubernetes",
        "name": "prod",
        "display_name": "Prod",
        "config": {"tekton_enabled": True},
        "status": "online",
        "capabilities": [],
        "created_by": TENANT,
        "created_at": "2026-03-01T00:00:00Z",
        "updated_at": "2026-03-01T00:00:00Z",
        "bootstrap_mode": "self_managed",
        "credential_scope": "cluster_admin",
        "target_namespace": "image-factory-6f1c2a9e",
        "is_schedulable": True,
    }


def make(
    handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock | None = None, **kwargs: Any
) -> ImageFactoryClient:
    options: dict[str, Any] = {"tenant_id": TENANT, "token": TOKEN}
    options.update(kwargs)
    return ImageFactoryClient(
        "http://imagefactory.test",
        transport=httpx.MockTransport(handler),
        clock=clock or FakeClock(),
        **options,
    )


# ----------------------------------------------------------------------------------------- error table

STATUS_CASES = [
    (400, "Invalid provider ID", BadRequestError),
    (400, "Tenant context required (set X-Tenant-ID)", BadRequestError),
    (401, "Unauthorized", AuthenticationError),
    (403, "Forbidden: No access to tenant", PermissionDeniedError),
    (403, "Access denied to this tenant", PermissionDeniedError),
    (403, "Permission denied", PermissionDeniedError),
    (404, "Provider not found", NotFoundError),
    (404, "Tekton installer job not found", NotFoundError),
    (409, IN_PROGRESS, JobInProgressError),
    (409, "Initial system setup is required before accessing this endpoint", ConflictError),
    (422, "unprocessable", UnprocessableError),
    (428, "Password change required before accessing this endpoint", RemoteHTTPError),
    (500, "Failed to revoke permission", ServerError),
    (500, "Internal server error", ServerError),
    (501, "Tenant namespace provisioning is not configured on this server", ServerError),
    (502, "Bad Gateway", ServerError),
    (503, "Service temporarily read-only for maintenance", ServerError),
    (504, "Gateway Timeout", ServerError),
    (418, "I'm a teapot", RemoteHTTPError),
]


@pytest.mark.parametrize(("status", "message", "cls"), STATUS_CASES)
def test_plain_text_status_maps_to_class(status: int, message: str, cls: type[RemoteHTTPError]) -> None:
    """Each plain-text error status becomes exactly its error class, with the newline stripped and a hint."""
    client = make(lambda request: text(status, message), retries=0)
    with pytest.raises(RemoteHTTPError) as info:
        client.get_provider(PROVIDER)
    exc = info.value
    assert type(exc) is cls
    assert exc.status == status
    assert exc.remote_message == message
    assert exc.adapter == "imagefactory"
    assert exc.operation == "get_provider"
    assert f"answered {status}: {message}" in str(exc)
    assert exc.hint


JSON_CASES = [
    (400, {"error": "Invalid build ID format"}, BadRequestError, "Invalid build ID format"),
    (
        403,
        {"error": "selected infrastructure provider is not available for this tenant"},
        PermissionDeniedError,
        "selected infrastructure provider is not available for this tenant",
    ),
    (
        403,
        {"error": "Tenant is suspended or deleted. Only read-only operations are allowed."},
        PermissionDeniedError,
        "Tenant is suspended or deleted. Only read-only operations are allowed.",
    ),
    (404, {"error": "Build not found"}, NotFoundError, "Build not found"),
    (
        409,
        {
            "error": "tenant namespace is not prepared",
            "code": "tenant_namespace_not_prepared",
            "details": {"provider_id": PROVIDER},
        },
        ConflictError,
        "tenant namespace is not prepared",
    ),
    (500, {"error": "Failed to start build"}, ServerError, "Failed to start build"),
    (422, {"message": "validation failed"}, UnprocessableError, "validation failed"),
]


@pytest.mark.parametrize(("status", "payload", "cls", "message"), JSON_CASES)
def test_json_error_body_maps_to_class(
    status: int, payload: dict[str, Any], cls: type[RemoteHTTPError], message: str
) -> None:
    """A build route's JSON ``{"error"}`` body gives the same classes, with the ``error`` text as message."""
    client = make(lambda request: jsonr(status, payload), retries=0)
    with pytest.raises(RemoteHTTPError) as info:
        client.get_build(JOB)
    assert type(info.value) is cls
    assert info.value.remote_message == message
    assert info.value.status == status


def test_table_covers_every_error_status() -> None:
    """Every status from 300 to 599 maps to a RemoteHTTPError class and gets a non-empty hint."""
    expected = {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        422: UnprocessableError,
    }
    for status in range(300, 600):
        cls = wire.error_class(status, "x")
        want = ServerError if status >= 500 else expected.get(status, RemoteHTTPError)
        assert cls is want, status
        assert wire.error_hint(status, "x"), status
    assert wire.error_class(409, IN_PROGRESS) is JobInProgressError


@pytest.mark.parametrize(
    ("status", "message", "code", "needle"),
    [
        (409, IN_PROGRESS, "", "wait for the active installer job"),
        (401, "Unauthorized", "", "env var named in the gitrollback config"),
        (403, "Forbidden: No access to tenant", "", "X-Tenant-Scope: all"),
        (403, "Access denied to this tenant", "", "X-Tenant-Scope: all"),
        (
            403,
            "selected infrastructure provider is not available for this tenant",
            "",
            "infrastructure:select",
        ),
        (409, "namespace", "tenant_namespace_not_prepared", "provision-namespace"),
        (500, "Failed to revoke permission", "", "no explicit grant"),
        (500, "Internal server error", "", "target_namespace"),
        (400, "Invalid limit (must be between 1 and 100)", "", "between 1 and 100"),
        (400, "unsupported build type: docker", "", "manifest.type to container"),
        (400, "invalid build config: invalid build type in config: docker", "", "build_type, sbom_tool"),
    ],
)
def test_hints_name_the_next_action(status: int, message: str, code: str, needle: str) -> None:
    """Specific messages get specific hints (job lock, token, tenant scope, grants, 500 caveats)."""
    assert needle in wire.error_hint(status, message, code)


def test_job_in_progress_hint_names_the_active_job() -> None:
    """On 409 the client reads the status view and names the job that holds the lock in the hint."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return text(409, IN_PROGRESS)
        return jsonr(
            200,
            {
                "provider_id": PROVIDER,
                "recent_jobs": [job_json("running")],
                "active_job": job_json("running"),
            },
        )

    with pytest.raises(JobInProgressError) as info:
        make(handler).upgrade(PROVIDER, asset_version="v1")
    assert info.value.hint == (f"wait for job {JOB} (running) to finish (gitrollback assess shows it) and rerun")


# ----------------------------------------------------------------------------------------- transport errors

HTTPX_ERRORS: list[tuple[Callable[[httpx.Request], Exception], type[AdapterError]]] = [
    (lambda r: httpx.ConnectError("refused", request=r), TransportError),
    (lambda r: httpx.ConnectTimeout("slow connect", request=r), TransportError),
    (lambda r: httpx.ReadTimeout("slow read", request=r), TransportError),
    (lambda r: httpx.WriteTimeout("slow write", request=r), TransportError),
    (lambda r: httpx.PoolTimeout("pool", request=r), TransportError),
    (lambda r: httpx.ReadError("reset", request=r), TransportError),
    (lambda r: httpx.WriteError("broken pipe", request=r), TransportError),
    (lambda r: httpx.CloseError("close", request=r), TransportError),
    (lambda r: httpx.RemoteProtocolError("garbage", request=r), TransportError),
    (lambda r: httpx.LocalProtocolError("bad", request=r), TransportError),
    (lambda r: httpx.ProxyError("proxy", request=r), TransportError),
    (lambda r: httpx.UnsupportedProtocol("ftp", request=r), TransportError),
    (lambda r: httpx.DecodingError("gzip", request=r), UnexpectedResponseError),
    (lambda r: httpx.TooManyRedirects("loop", request=r), UnexpectedResponseError),
    (lambda r: httpx.StreamConsumed(), TransportError),
    (lambda r: httpx.InvalidURL("bad url"), TransportError),
]


@pytest.mark.parametrize(("make_exc", "cls"), HTTPX_ERRORS)
def test_no_httpx_exception_escapes(make_exc: Callable[[httpx.Request], Exception], cls: type[AdapterError]) -> None:
    """Every httpx exception becomes a gitrollback AdapterError chained to the original with ``from``."""
    raised: list[Exception] = []

    def handler(request: httpx.Request) -> httpx.Response:
        raised.append(make_exc(request))
        raise raised[-1]

    with pytest.raises(GitRollbackError) as info:
        make(handler, retries=0).tekton_status(PROVIDER)
    assert type(info.value) is cls
    assert info.value.__cause__ is raised[0]
    assert not isinstance(info.value, httpx.HTTPError)
    assert info.value.hint


def test_invalid_base_url_is_translated() -> None:
    """A base URL httpx cannot parse surfaces as TransportError on first use, not at construction."""
    client = ImageFactoryClient("http://exa mple.com:xx", tenant_id=TENANT, token=TOKEN, retries=0)
    with pytest.raises(TransportError) as info:
        client.get_provider(PROVIDER)
    assert isinstance(info.value.__cause__, httpx.InvalidURL)


def test_real_connection_refused_is_transport_error() -> None:
    """A real socket with nobody listening gives TransportError after the configured retries."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeClock()
    client = ImageFactoryClient(
        f"http://127.0.0.1:{port}", tenant_id=TENANT, token=TOKEN, retries=2, clock=clock, timeout=2.0
    )
    with pytest.raises(TransportError, match="could not connect"):
        client.get_provider(PROVIDER)
    assert_backoff(clock.sleeps, 2)


# ----------------------------------------------------------------------------------------- retries


def test_get_retries_on_503_with_backoff_then_succeeds() -> None:
    """A GET answered 503, 504 then 200 succeeds after two backoff sleeps on the injected clock."""
    answers = [
        text(503, "Service Unavailable"),
        text(504, "Gateway Timeout"),
        jsonr(200, {"provider": provider_json()}),
    ]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return answers.pop(0)

    clock = FakeClock()
    provider = make(handler, clock).get_provider(PROVIDER)
    assert provider.id == PROVIDER
    assert_backoff(clock.sleeps, 2)
    assert seen == [f"GET /api/v1/admin/infrastructure/providers/{PROVIDER}"] * 3


def test_get_gives_up_after_retries() -> None:
    """A GET that keeps getting 502 raises ServerError after 1 + retries attempts."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return text(502, "Bad Gateway")

    clock = FakeClock()
    with pytest.raises(ServerError) as info:
        make(handler, clock, retries=2).get_provider(PROVIDER)
    assert info.value.status == 502
    assert len(calls) == 3
    assert_backoff(clock.sleeps, 2)


@pytest.mark.parametrize("status", [500, 400, 404, 409])
def test_get_is_not_retried_on_other_errors(status: int) -> None:
    """Only 429/502/503/504 and transport errors are retried; a 500 or 4xx fails on the first answer."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return text(status, "nope")

    with pytest.raises(RemoteHTTPError):
        make(handler).get_provider(PROVIDER)
    assert len(calls) == 1


def test_installer_post_retries_with_the_same_idempotency_key() -> None:
    """An install POST retried after a 502 and a dropped connection re-sends the same idempotency key."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if len(bodies) == 1:
            return text(502, "Bad Gateway")
        if len(bodies) == 2:
            raise httpx.ReadError("reset", request=request)
        return jsonr(202, {"job": job_json(), "operation": "install"})

    client = make(handler)
    job = client.install(PROVIDER, asset_version="v1")
    assert job.id == JOB
    assert len(bodies) == 3
    key = bodies[0]["idempotency_key"]
    assert key.startswith("gitrollback-install-") and len(key) == len("gitrollback-install-") + 32
    assert all(b == {"idempotency_key": key, "asset_version": "v1"} for b in bodies)
    assert client.job_operation(JOB) == "install"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.retry_job(PROVIDER, JOB),
        lambda c: c.set_provider_enabled(PROVIDER, False),
        lambda c: c.update_provider(PROVIDER, {"is_global": False}),
        lambda c: c.create_build({"tenant_id": TENANT}),
        lambda c: c.revoke_permission(PROVIDER, TENANT),
    ],
)
def test_unsafe_calls_are_not_retried(call: Callable[[ImageFactoryClient], Any]) -> None:
    """Calls without a replay guarantee (retry, PATCH, PUT, create build, DELETE) are sent exactly once."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return text(503, "Service Unavailable")

    with pytest.raises(ServerError):
        call(make(handler))
    assert len(calls) == 1


# ----------------------------------------------------------------------------------------- auth & headers


def test_headers_carry_token_tenant_and_scope() -> None:
    """Every call sends the bearer token, X-Tenant-ID and, by default, X-Tenant-Scope: all."""
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return jsonr(200, {"provider": provider_json()})

    make(handler).get_provider(PROVIDER)
    make(handler, all_tenants=False).get_provider(PROVIDER)
    assert seen[0]["authorization"] == f"Bearer {TOKEN}"
    assert seen[0]["x-tenant-id"] == TENANT
    assert seen[0]["x-tenant-scope"] == "all"
    assert "x-tenant-scope" not in seen[1]


def test_constructor_does_no_io() -> None:
    """Building a client (even with email/password) sends nothing; the first call logs in, then calls."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/api/v1/auth/login":
            assert json.loads(request.content) == {"email": "admin@example.com", "password": PASSWORD}
            assert "authorization" not in request.headers
            return jsonr(200, {"access_token": "fresh", "refresh_token": "r", "access_token_ttl": 900})
        assert request.headers["authorization"] == "Bearer fresh"
        return jsonr(200, {"provider": provider_json()})

    client = make(handler, token=None, email="admin@example.com", password=PASSWORD)
    assert seen == []
    client.get_provider(PROVIDER)
    assert seen == ["POST /api/v1/auth/login", f"GET /api/v1/admin/infrastructure/providers/{PROVIDER}"]


def test_401_after_login_logs_in_again_once() -> None:
    """A 401 on a call made with a login token triggers one fresh login and one repeat of the call."""
    tokens = iter(["first", "second"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/login":
            seen.append("login")
            return jsonr(200, {"access_token": next(tokens)})
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer first":
            return text(401, "Unauthorized")
        return jsonr(200, {"provider": provider_json()})

    make(handler, token=None, email="a@b.c", password=PASSWORD).get_provider(PROVIDER)
    assert seen == ["login", "Bearer first", "login", "Bearer second"]


def test_second_401_is_raised() -> None:
    """When the fresh token is refused too, AuthenticationError surfaces after exactly two logins."""
    logins: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/login":
            logins.append(1)
            return jsonr(200, {"access_token": "t"})
        return text(401, "Unauthorized")

    with pytest.raises(AuthenticationError) as info:
        make(handler, token=None, email="a@b.c", password=PASSWORD).get_provider(PROVIDER)
    assert len(logins) == 2
    assert "token" in (info.value.hint or "")


def test_token_only_client_does_not_log_in_on_401() -> None:
    """With a token and no credentials a 401 is raised at once, naming the token env var in the hint."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return text(401, "Unauthorized")

    with pytest.raises(AuthenticationError) as info:
        make(handler).tekton_status(PROVIDER)
    assert seen == [f"/api/v1/admin/infrastructure/providers/{PROVIDER}/tekton/status"]
    assert "env var" in (info.value.hint or "")


def test_login_requiring_mfa_is_an_authentication_error() -> None:
    """A login answer without a token but with requires_mfa raises AuthenticationError, not a crash."""
    client = make(lambda r: jsonr(200, {"requires_mfa": True}), token=None, email="a@b.c", password=PASSWORD)
    with pytest.raises(AuthenticationError, match="requires_mfa"):
        client.login()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"tenant_id": "not-a-uuid", "token": TOKEN}, "tenant_id"),
        ({"tenant_id": "00000000-0000-0000-0000-000000000000", "token": TOKEN}, "tenant_id"),
        ({"tenant_id": TENANT}, "token"),
        ({"tenant_id": TENANT, "email": "a@b.c"}, "token"),
    ],
)
def test_constructor_rejects_unusable_settings(kwargs: dict[str, Any], key: str) -> None:
    """A bad tenant id or missing credentials is a ConfigError naming the key, raised before any I/O."""
    with pytest.raises(ConfigError) as info:
        ImageFactoryClient("http://imagefactory.test", **kwargs)
    assert info.value.key == key


def test_secrets_never_appear_in_repr_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    """The token and password are absent from repr, every log record and every error's text and hint."""
    caplog.set_level(logging.DEBUG)
    answers = iter([text(401, "Unauthorized"), text(503, "Service Unavailable"), text(404, "Provider not found")])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/login":
            return jsonr(200, {"access_token": TOKEN})
        return next(answers)

    client = make(handler, token=None, email="a@b.c", password=PASSWORD)
    errors: list[GitRollbackError] = []
    with pytest.raises(NotFoundError) as info:
        client.get_provider(PROVIDER)
    errors.append(info.value)
    failing = make(lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)), retries=1)
    with pytest.raises(TransportError) as info2:
        failing.get_provider(PROVIDER)
    errors.append(info2.value)
    texts = [repr(client), repr(failing), caplog.text]
    texts += [f"{e} {e!r} {e.hint} {e.message}" for e in errors]
    assert caplog.records
    for blob in texts:
        assert TOKEN not in blob
        assert PASSWORD not in blob


# ----------------------------------------------------------------------------------------- payloads


def test_timestamps_parse_to_aware_datetimes() -> None:
    """RFC 3339 with ``Z`` and with ``+02:00`` both parse to aware datetimes with the right offset."""
    client = make(lambda r: jsonr(200, {"provider_id": PROVIDER, "recent_jobs": [job_json()]}))
    job = client.tekton_status(PROVIDER).recent_jobs[0]
    assert job.created_at == datetime(2026, 3, 28, 10, 0, 0, tzinfo=UTC)
    assert job.updated_at.utcoffset() == timedelta(hours=2)
    assert job.updated_at == datetime(2026, 3, 28, 10, 0, 5, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<html>login</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, content=b"[1, 2]\n"),
        httpx.Response(200, content=json.dumps({"provider": {"id": PROVIDER}}).encode()),
        httpx.Response(200, content=json.dumps({"provider": {**provider_json(), "is_global": "no"}}).encode()),
    ],
)
def test_broken_success_bodies_are_unexpected_response(response: httpx.Response) -> None:
    """A 2xx body that is not JSON or lacks required fields raises UnexpectedResponseError."""
    with pytest.raises(UnexpectedResponseError):
        make(lambda r: response).get_provider(PROVIDER)


def test_naive_timestamp_is_refused() -> None:
    """A timestamp without an offset breaks the contract and raises UnexpectedResponseError."""
    bad = {**job_json(), "created_at": "2026-03-28T10:00:00"}
    client = make(lambda r: jsonr(200, {"provider_id": PROVIDER, "recent_jobs": [bad]}))
    with pytest.raises(UnexpectedResponseError, match="created_at"):
        client.tekton_status(PROVIDER)


@pytest.mark.parametrize("limit", [0, 101, -5])
def test_tekton_status_limit_is_checked_client_side(limit: int) -> None:
    """A limit outside 1..100 is refused before any request is sent."""
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        return text(500, "x")

    client = make(handler)
    with pytest.raises(ConfigError):
        client.tekton_status(PROVIDER, limit=limit)
    assert seen == []


def test_client_satisfies_the_port() -> None:
    """ImageFactoryClient is an ImageFactory as far as the runtime-checkable Protocol can tell."""
    assert isinstance(make(lambda r: text(500, "x")), ImageFactory)


def test_path_ids_are_escaped() -> None:
    """An id with slashes stays one path segment, so it cannot reach another route."""
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return text(400, "Invalid provider ID")

    with pytest.raises(BadRequestError):
        make(handler).get_provider("../../builds/x")
    assert seen == [b"/api/v1/admin/infrastructure/providers/..%2F..%2Fbuilds%2Fx"]


def test_missing_ca_bundle_is_config_error() -> None:
    """A CA bundle path that cannot be read is a ConfigError naming ``verify``, raised on first use."""
    client = ImageFactoryClient("https://imagefactory.test", tenant_id=TENANT, token=TOKEN, verify="/nonexistent.pem")
    with pytest.raises(ConfigError) as info:
        client.get_provider(PROVIDER)
    assert info.value.key == "verify"


def test_system_clock_is_aware_and_monotonic() -> None:
    """SystemClock gives aware UTC time, a non-decreasing monotonic clock, and sleep(0) returns at once."""
    from gitrollback.clock import SystemClock

    clock = SystemClock()
    first = clock.monotonic()
    clock.sleep(0)
    clock.sleep(-1)
    assert clock.monotonic() >= first
    assert clock.now().utcoffset() == timedelta(0)


def test_maintenance_503_is_not_retried() -> None:
    """The maintenance-mode 503 is reported at once (it does not clear within a retry budget), other 503s retry."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503, text="Service temporarily read-only for maintenance\n")

    clock = FakeClock()
    client = ImageFactoryClient(
        "http://if.test", tenant_id=TENANT, token="t0k3n", transport=httpx.MockTransport(handler), clock=clock
    )
    with pytest.raises(ServerError, match="read-only for maintenance") as err:
        client.upgrade(PROVIDER, idempotency_key="k")
    assert len(calls) == 1 and clock.sleeps == []
    assert err.value.hint is not None and "maintenance" in err.value.hint
    client.close()


def test_over_long_asset_version_is_refused_before_sending() -> None:
    """An asset_version Image Factory cannot store (over 128 characters) is a ConfigError and sends nothing."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(500, text="Internal server error\n")

    client = ImageFactoryClient(
        "http://if.test", tenant_id=TENANT, token="t0k3n", transport=httpx.MockTransport(handler)
    )
    with pytest.raises(ConfigError, match="at most 128"):
        client.upgrade(PROVIDER, asset_version="v" * 129)
    assert calls == []
    client.close()
