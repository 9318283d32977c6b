"""The shared HTTP policy and the whole-request deadlines: Retry-After, jitter, safe-only retries, hangs and drips.

Waits between attempts run on a ``FakeClock`` and are asserted exactly. Hangs and slow drips are real socket time by
nature: they use a short deadline (``DEADLINE``) and assert only that the client gave up within it plus a generous
margin, with the right error, never an exact duration.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gitrollback.adapters._http_policy import CallBudget, HttpPolicy, parse_retry_after
from gitrollback.adapters.argocd import ArgoCDEngine
from gitrollback.adapters.github import GitHubHost
from gitrollback.adapters.gitlab import GitLabHost
from gitrollback.adapters.imagefactory import ImageFactoryClient
from gitrollback.errors import ConfigError, ServerError, TransportError, UnexpectedResponseError
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.server import Request, Response, SimulatorServer

TENANT = "6f1c2a9e-1111-4222-8333-444455556666"
PROVIDER = "0b7e4c1d-aaaa-4bbb-8ccc-dddddddddddd"
DEADLINE = 1.5
MARGIN = 15.0


class _Echo(SimulatorServer):
    """Answers every request 200 with a small JSON body (the fault rules do the rest)."""

    def handle(self, request: Request) -> Response:
        return Response.json(200, {"provider": {"id": PROVIDER}, "path": request.path})


_OPEN: list[ImageFactoryClient | ArgoCDEngine] = []


@pytest.fixture(name="echo")
def _echo() -> Iterator[_Echo]:
    with _Echo() as server:
        yield server
        while _OPEN:
            _OPEN.pop().close()


def _factory(url: str, clock: FakeClock, **kwargs: object) -> ImageFactoryClient:
    """An Image Factory client the ``echo`` fixture closes."""
    client = ImageFactoryClient(url, tenant_id=TENANT, token="t", clock=clock, **kwargs)  # type: ignore[arg-type]
    _OPEN.append(client)
    return client


def _mock(answers: list[httpx.Response], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return answers.pop(0)

    return httpx.MockTransport(handler)


# ------------------------------------------------------------------------------------------ the policy itself


def test_retry_after_is_parsed_as_seconds_or_an_http_date() -> None:
    """Delay-seconds and IMF-fixdate both work; garbage and absence give None."""
    now = datetime(2026, 3, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Sat, 28 Mar 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sat, 28 Mar 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_backoff_doubles_with_jitter_inside_its_band() -> None:
    """Each wait is between half and all of 0.5 s, 1 s, 2 s (jitter 0.5), and on_wait hears of it first."""
    clock = FakeClock()
    heard: list[tuple[str, float, str]] = []
    budget = CallBudget(
        HttpPolicy(timeout=60), clock=clock, what="GET /x", on_wait=lambda *a: heard.append(a), rng=random.Random(7)
    )
    for _ in range(3):
        with budget.attempt():
            pass
        assert budget.retry("HTTP 503", safe=True, status=503)
    with budget.attempt():
        pass
    assert not budget.retry("HTTP 503", safe=True, status=503) and budget.gave_up == "4 attempts made"
    for attempt, slept in enumerate(clock.sleeps):
        assert 0.25 * 2**attempt <= slept <= 0.5 * 2**attempt
    assert [h[0] for h in heard] == ["GET /x"] * 3 and heard[0][2].startswith("HTTP 503; attempt 2 of 4 in ")


def test_policy_refuses_nonsense() -> None:
    """A zero timeout, no attempts or a jitter above 1 is a ConfigError."""
    for bad in ({"timeout": 0}, {"attempts": 0}, {"jitter": 1.5}):
        with pytest.raises(ConfigError):
            HttpPolicy(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ through the clients


def test_retry_after_on_429_is_waited_exactly() -> None:
    """A GET answered 429 with Retry-After: 3 waits exactly 3 s on the clock, then succeeds."""
    seen: list[str] = []
    answers = [httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json={"provider": {}})]
    clock = FakeClock()
    client = _factory("http://if.example", clock, transport=_mock(answers, seen))
    with pytest.raises(UnexpectedResponseError):  # the empty provider does not parse; only the wait matters here
        client.get_provider(PROVIDER)
    assert clock.sleeps == [3.0] and seen == ["GET", "GET"]


def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    """A 503 asking for 120 s when the call may take 10 s is reported at once, without waiting."""
    seen: list[str] = []
    answers = [httpx.Response(503, headers={"Retry-After": "120"}, text="Service Unavailable\n")]
    clock = FakeClock()
    client = _factory("http://if.example", clock, transport=_mock(answers, seen), timeout=10.0)
    with pytest.raises(ServerError) as info:
        client.get_provider(PROVIDER)
    assert info.value.status == 503 and clock.sleeps == [] and seen == ["GET"]


def test_a_write_without_an_idempotency_key_is_sent_once_even_after_a_reset(echo: _Echo) -> None:
    """A reset connection under a PATCH is reported, not repeated: the server may have acted on it."""
    fault = echo.reset(method="PATCH", times=None)
    client = _factory(echo.url, FakeClock())
    with pytest.raises(TransportError):
        client.set_provider_enabled(PROVIDER, True)
    assert fault.hits == 1


def test_a_transient_reset_under_a_get_is_retried(echo: _Echo) -> None:
    """A GET whose connection is reset once gets the answer on the next attempt (here a body that is no provider)."""
    fault = echo.reset(method="GET", times=1)
    clock = FakeClock()
    seen: list[str] = []
    client = _factory(echo.url, clock, on_wait=lambda what, elapsed, state: seen.append(state))
    with pytest.raises(UnexpectedResponseError, match="tenant_id"):
        client.get_provider(PROVIDER)
    assert fault.hits == 1 and len(clock.sleeps) == 1 and "attempt 2 of 4" in seen[0]
    assert [r.method for r, _ in echo.requests] == ["GET"]


@pytest.mark.parametrize("kind", ["hang", "drip"])
def test_image_factory_gives_up_on_a_silent_or_dripping_server_at_its_timeout(echo: _Echo, kind: str) -> None:
    """A server that never answers, or sends a byte every 0.1 s, costs about ``timeout`` seconds, once."""
    fault = echo.hang() if kind == "hang" else echo.slow_drip(seconds=0.1)
    client = _factory(echo.url, FakeClock(), timeout=DEADLINE)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        client.get_provider(PROVIDER)
    assert time.monotonic() - started < DEADLINE + MARGIN
    assert info.value.kind == "deadline_exceeded" and f"within {DEADLINE:g}s" in info.value.message
    assert fault.hits == 1


@pytest.mark.parametrize("kind", ["hang", "drip"])
def test_argocd_gives_up_on_a_silent_or_dripping_server_at_its_timeout(echo: _Echo, kind: str) -> None:
    """The Argo CD client follows the same policy: one deadline for the whole call."""
    fault = echo.hang() if kind == "hang" else echo.slow_drip(seconds=0.1)
    engine = ArgoCDEngine(echo.url, token="t", clock=FakeClock(), timeout=DEADLINE)
    _OPEN.append(engine)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        engine.wait_for_revision("app", "0" * 40, timeout=60)
    assert time.monotonic() - started < DEADLINE + MARGIN
    assert info.value.kind == "deadline_exceeded"
    assert fault.hits == 1


@pytest.mark.parametrize("kind", ["hang", "drip"])
def test_github_host_gives_up_on_a_silent_or_dripping_server(tmp_path: Path, kind: str) -> None:
    """PyGithub's requests under the host's deadline: a hang or a drip ends as TransportError within it."""
    with GitHubSimulator(tmp_path / "gh") as gh:
        gh.create_repo("acme", "gitops")
        fault = gh.hang(r"/pulls") if kind == "hang" else gh.slow_drip(r"/pulls", seconds=0.1)
        with GitHubHost("acme/gitops", token=gh.token, base_url=gh.api_url, timeout=DEADLINE) as host:
            started = time.monotonic()
            with pytest.raises(TransportError, match="timed out"):
                host.get_change_request(1)
            assert time.monotonic() - started < DEADLINE + MARGIN
        assert fault.hits == 1


@pytest.mark.parametrize("kind", ["hang", "drip"])
def test_gitlab_host_gives_up_on_a_silent_or_dripping_server(tmp_path: Path, kind: str) -> None:
    """python-gitlab's requests under the host's deadline: a hang or a drip ends as TransportError within it."""
    with GitLabSimulator(tmp_path / "gl") as gl:
        gl.create_project("acme/gitops")
        fault = gl.hang(r"/merge_requests") if kind == "hang" else gl.slow_drip(r"/merge_requests", seconds=0.1)
        with GitLabHost("acme/gitops", token=gl.token, base_url=gl.url, timeout=DEADLINE) as host:
            started = time.monotonic()
            with pytest.raises(TransportError, match="timed out"):
                host.get_change_request(1)
            assert time.monotonic() - started < DEADLINE + MARGIN
        assert fault.hits == 1
