"""The Image Factory client against the Image Factory simulator, route by route, over real loopback sockets.

Every test builds a fresh simulator on a ``FakeClock`` that the client shares: the installer and build dispatchers
tick every 5 s of simulated time, which passes only while the client sleeps between polls (every 2 s), so no test
waits for real. Where a job or build must stay put the ``frozen`` world ticks hourly and the test drives it with
``run_*_tick``. Tests assert on the simulator's resulting state and on the exact status codes and bodies of
Image Factory's handlers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gitrollback.adapters.imagefactory import ImageFactoryClient
from gitrollback.errors import (
    AuthenticationError,
    BadRequestError,
    JobInProgressError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    WaitTimeoutError,
)
from gitrollback.namespaces import tenant_namespace
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory.simulator import ImageFactorySimulator
from gitrollback.testing.repos import fixture_root

ASSETS = fixture_root()
ADMIN = "admin@acme.test"
OWNER = "owner@globex.test"
PASSWORD = "correct horse"
IN_PROGRESS = "Another tekton install/upgrade/validate job is already in progress for this provider"


@dataclass
class World:
    """A running simulator with two tenants: ``acme`` (system admin) and ``globex`` (a tenant owner)."""

    clock: FakeClock
    sim: ImageFactorySimulator
    acme: str
    globex: str
    provider: str

    def client(self, **kwargs: Any) -> ImageFactoryClient:
        options: dict[str, Any] = {
            "tenant_id": self.acme,
            "email": ADMIN,
            "password": PASSWORD,
            "poll_interval": 2.0,
            "clock": self.clock,
        }
        options.update(kwargs)
        return ImageFactoryClient(self.sim.url, **options)


def _world(job_tick: float = 5.0, build_tick: float = 5.0) -> Iterator[World]:
    clock = FakeClock()
    sim = ImageFactorySimulator(
        ClusterState(clock=clock), job_tick=job_tick, build_tick=build_tick, asset_root=ASSETS, clock=clock
    )
    acme = sim.add_tenant("acme")
    globex = sim.add_tenant("globex")
    sim.add_user(ADMIN, PASSWORD, tenant_id=acme, role="System Administrator")
    sim.add_user(OWNER, PASSWORD, tenant_id=globex, role="Owner")
    # The provider's target namespace is the tenant namespace builds run in, so an install feeds builds.
    provider = sim.add_provider(acme, "prod", target_namespace=tenant_namespace(acme))
    with sim:
        yield World(clock, sim, acme, globex, provider)


@pytest.fixture
def world() -> Iterator[World]:
    """A simulator whose installer and build dispatchers tick every 5 s of the shared simulated time."""
    yield from _world()


@pytest.fixture
def frozen() -> Iterator[World]:
    """A simulator whose dispatchers tick hourly, so within a test they never do (tests call ``run_*_tick``)."""
    yield from _world(job_tick=3600, build_tick=3600)


def paths(sim: ImageFactorySimulator) -> list[str]:
    return [f"{req.method} {req.path}" for req, _ in sim.requests]


# ----------------------------------------------------------------------------------------- auth


def test_login_with_good_credentials_then_calls_with_the_token(world: World) -> None:
    """Email/password log in lazily once, and later calls carry the bearer token and tenant headers."""
    with world.client() as client:
        assert world.sim.requests == []
        client.get_provider(world.provider)
        client.get_provider(world.provider)
    assert paths(world.sim)[0] == "POST /api/v1/auth/login"
    assert paths(world.sim).count("POST /api/v1/auth/login") == 1
    request, response = world.sim.requests[1]
    assert response.status == 200
    assert request.header("Authorization").startswith("Bearer ")
    assert request.header("X-Tenant-ID") == world.acme
    assert request.header("X-Tenant-Scope") == "all"


def test_login_with_a_wrong_password_is_authentication_error(world: World) -> None:
    """A wrong password gives AuthenticationError 401 with the server's text and an email/password hint."""
    with pytest.raises(AuthenticationError) as info, world.client(password="wrong") as client:
        client.login()
    assert info.value.status == 401
    assert info.value.remote_message == "invalid credentials"  # from the JSON {code, message} body
    assert "email and password" in (info.value.hint or "")
    assert "wrong" not in str(info.value)


def test_issued_token_authenticates(world: World) -> None:
    """A bearer token alone (no login) reaches the API."""
    token = world.sim.issue_token(ADMIN)
    with world.client(email=None, password=None, token=token) as client:
        assert client.get_provider(world.provider).name == "prod"
    assert "POST /api/v1/auth/login" not in paths(world.sim)


def test_expired_token_is_authentication_error(world: World) -> None:
    """An expired token gets 401 Unauthorized, which a token-only client raises without retrying."""
    token = world.sim.issue_token(ADMIN, ttl=-60)
    with (
        world.client(email=None, password=None, token=token) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.get_provider(world.provider)
    assert (info.value.status, info.value.remote_message) == (401, "Unauthorized")
    assert len(world.sim.requests) == 1


def test_expired_token_with_credentials_logs_in_before_using_it(world: World) -> None:
    """With email/password too, a token already past its exp is replaced by a login before any call uses it."""
    token = world.sim.issue_token(ADMIN, ttl=-60)
    with world.client(token=token) as client:
        assert client.get_provider(world.provider).id == world.provider
    provider_path = f"GET /api/v1/admin/infrastructure/providers/{world.provider}"
    assert paths(world.sim) == ["POST /api/v1/auth/login", provider_path]
    assert [r.status for _, r in world.sim.requests] == [200, 200]


def test_refused_token_with_credentials_logs_in_again(world: World) -> None:
    """A token the server refuses although the client cannot tell it expired gets one login and a repeat."""
    with world.client(token="not-a-jwt") as client:
        assert client.get_provider(world.provider).id == world.provider
    provider_path = f"GET /api/v1/admin/infrastructure/providers/{world.provider}"
    assert paths(world.sim) == [provider_path, "POST /api/v1/auth/login", provider_path]
    assert [r.status for _, r in world.sim.requests] == [401, 200, 200]


# ----------------------------------------------------------------------------------------- providers


def test_get_and_list_providers(world: World) -> None:
    """A provider reads back with its fields, and listing follows pagination across pages."""
    other = world.sim.add_provider(world.globex, "edge", provider_type="openshift", status="offline")
    with world.client() as client:
        provider = client.get_provider(world.provider)
        assert (provider.tenant_id, provider.provider_type, provider.status) == (
            world.acme,
            "kubernetes",
            "online",
        )
        assert provider.target_namespace == tenant_namespace(world.acme)
        assert provider.config["tekton_enabled"] is True
        assert {p.id for p in client.list_providers()} == {world.provider, other}
        assert [p.id for p in client.list_providers(provider_type="openshift")] == [other]
        assert [p.id for p in client.list_providers(status="online")] == [world.provider]
        assert {p.id for p in client.iter_providers(page_size=1)} == {world.provider, other}
    list_requests = [req for req, _ in world.sim.requests if req.path.endswith("/providers")]
    assert [req.query_value("page") for req in list_requests[-2:]] == ["1", "2"]


def test_unknown_provider_is_not_found(world: World) -> None:
    """A well-formed but unknown provider id gives NotFoundError with the exact plain-text body."""
    with world.client() as client, pytest.raises(NotFoundError) as info:
        client.get_provider("11111111-2222-4333-8444-555555555555")
    assert (info.value.status, info.value.remote_message) == (404, "Provider not found")


def test_bad_provider_id_is_bad_request(world: World) -> None:
    """A provider id that is not a UUID gives 400 Invalid provider ID."""
    with world.client() as client, pytest.raises(BadRequestError) as info:
        client.get_provider("not-a-uuid")
    assert info.value.remote_message == "Invalid provider ID"


def test_other_tenants_provider_needs_all_tenant_scope(world: World) -> None:
    """Without X-Tenant-Scope: all an admin gets 403 on another tenant's provider; with it, the provider."""
    theirs = world.sim.add_provider(world.globex, "globex-prod")
    with world.client(all_tenants=False) as client, pytest.raises(PermissionDeniedError) as info:
        client.get_provider(theirs)
    assert (info.value.status, info.value.remote_message) == (403, "Access denied to this tenant")
    assert "X-Tenant-Scope: all" in (info.value.hint or "")
    with world.client() as client:
        assert client.get_provider(theirs).tenant_id == world.globex


def test_non_member_tenant_header_is_forbidden(world: World) -> None:
    """A tenant owner naming a tenant it does not belong to gets 403 Forbidden: No access to tenant."""
    with (
        world.client(email=OWNER, tenant_id=world.acme) as client,
        pytest.raises(PermissionDeniedError) as info,
    ):
        client.get_provider(world.provider)
    assert info.value.remote_message == "Forbidden: No access to tenant"


def test_status_patch_turns_provider_offline_and_online(world: World) -> None:
    """PATCH status false/true sets the provider offline/online in the simulator."""
    with world.client() as client:
        assert client.set_provider_enabled(world.provider, False).status == "offline"
        assert world.sim.provider(world.provider)["status"] == "offline"
        assert client.set_provider_enabled(world.provider, True).status == "online"
    assert world.sim.provider(world.provider)["status"] == "online"


def test_update_provider_puts_fields(world: World) -> None:
    """PUT with ``is_global`` changes only that field (config is left alone when omitted)."""
    with world.client() as client:
        updated = client.update_provider(world.provider, {"is_global": True})
    assert updated.is_global is True
    assert world.sim.provider(world.provider)["is_global"] is True
    assert world.sim.provider(world.provider)["config"]["tekton_enabled"] is True


def test_permissions_grant_list_revoke_and_500_on_missing(world: World) -> None:
    """Grant shows up in the list and in the available providers; revoking a missing grant is a 500."""
    with world.client() as client:
        client.grant_permission(world.provider, world.globex)
        grants = client.list_permissions(world.provider)
        assert [(g.tenant_id, g.permission) for g in grants] == [(world.globex, "infrastructure:select")]
        assert grants[0].granted_at is not None
        with world.client(email=OWNER, tenant_id=world.globex) as owner:
            assert [p.id for p in owner.available_providers()] == [world.provider]
        client.revoke_permission(world.provider, world.globex)
        assert client.list_permissions(world.provider) == []
        assert world.sim.grants(world.provider) == []
        with pytest.raises(ServerError) as info:
            client.revoke_permission(world.provider, world.globex)
    assert (info.value.status, info.value.remote_message) == (500, "Failed to revoke permission")
    assert "no explicit grant" in (info.value.hint or "")
    deletes = [r.status for q, r in world.sim.requests if q.method == "DELETE"]
    assert deletes == [204, 500]


# ----------------------------------------------------------------------------------------- tekton


def test_tekton_status_lists_jobs_newest_first(world: World) -> None:
    """Seeded jobs come back newest first with parsed times, and ``limit`` caps the list."""
    base = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    old = world.sim.seed_job(world.provider, status="succeeded", created_at=base)
    bad = world.sim.seed_job(
        world.provider, status="failed", error_message="boom", created_at=base + timedelta(hours=1)
    )
    with world.client() as client:
        status = client.tekton_status(world.provider)
        assert [j.id for j in status.recent_jobs] == [bad, old]
        assert status.recent_jobs[0].error_message == "boom"
        assert status.recent_jobs[1].created_at == base
        assert status.active_job is None and status.active_job_events == ()
        assert "kaniko-no-push" in status.required_tasks
        assert status.required_pipelines[0] == "image-factory-build-v1-docker"
        assert [j.id for j in client.tekton_status(world.provider, limit=1).recent_jobs] == [bad]


def test_readiness_reports_missing_prereqs_and_probes(world: World) -> None:
    """Readiness on an empty cluster is not_ready naming missing tasks, and runs only the PVC probe."""
    with world.client() as client:
        readiness = client.readiness(world.provider, probe_pvc=True)
    ns = tenant_namespace(world.acme)
    assert readiness.status == "not_ready" and not readiness.ready
    assert readiness.tenant_namespace == ns
    assert f"missing tekton task: git-clone in namespace {ns}" in readiness.missing_prereqs
    assert {c.name: c.ok for c in readiness.checks}["task.git-clone"] is False
    assert "storage.pvc_probe" in {c.name for c in readiness.checks}
    assert "namespace_rbac_probe" not in {c.name for c in readiness.checks}
    request = world.sim.requests[-1][0]
    assert (request.query_value("probe_pvc"), request.query_value("probe_rbac")) == ("true", None)
    assert world.sim.provider(world.provider)["readiness_status"] == "not_ready"


def test_install_upgrade_validate_run_to_success(world: World) -> None:
    """Each installer operation returns 202 with a pending job that the simulator then runs to success."""
    with world.client() as client:
        for start in (client.install, client.upgrade, client.validate):
            job = start(world.provider)
            assert job.status == "pending"
            done = client.wait_for_job(world.provider, job.id, timeout=60)
            assert done.status == "succeeded"
            assert done.completed_at is not None
    ops = [j["operation"] for j in world.sim.jobs(world.provider)]
    assert ops == ["validate", "upgrade", "install"]
    starts = [r.status for q, r in world.sim.requests if q.method == "POST" and "/tekton/" in q.path]
    assert starts == [202, 202, 202]


def test_second_job_while_one_runs_is_409_naming_the_active_job(frozen: World) -> None:
    """With a job holding the lock, upgrade and validate get 409 and the hint names the active job."""
    stuck = frozen.sim.seed_job(frozen.provider, status="running")
    with frozen.client() as client:
        for start in (client.upgrade, client.validate):
            with pytest.raises(JobInProgressError) as info:
                start(frozen.provider)
            assert (info.value.status, info.value.remote_message) == (409, IN_PROGRESS)
            assert (
                info.value.hint == f"wait for job {stuck} (running) to finish (gitrollback assess shows it) and rerun"
            )
    assert len(frozen.sim.jobs(frozen.provider)) == 1


def test_idempotency_key_replay_returns_the_same_job(frozen: World) -> None:
    """Replaying a key returns the first job, even while that job holds the lock (202, not 409)."""
    with frozen.client() as client:
        first = client.upgrade(frozen.provider, asset_version="v1", idempotency_key="rollback-inc42-1")
        again = client.upgrade(frozen.provider, asset_version="v2", idempotency_key="rollback-inc42-1")
        assert again.id == first.id and again.asset_version == "v1"
        with pytest.raises(JobInProgressError):
            client.upgrade(frozen.provider, idempotency_key="rollback-inc42-2")
    assert len(frozen.sim.jobs(frozen.provider)) == 1
    event = frozen.sim.events(first.id)[0]
    assert event["details"] == {"operation": "upgrade", "idempotency_key": "rollback-inc42-1"}


def test_generated_keys_are_fresh_per_call(world: World) -> None:
    """Without a key each call sends a fresh ``gitrollback-<op>-<hex>`` key, so two validates are two jobs."""
    with world.client() as client:
        a = client.validate(world.provider)
        client.wait_for_job(world.provider, a.id, timeout=60)
        b = client.validate(world.provider)
        client.wait_for_job(world.provider, b.id, timeout=60)
    assert a.id != b.id
    keys = [e["details"]["idempotency_key"] for j in world.sim.jobs(world.provider) for e in j["events"][:1]]
    assert len(set(keys)) == 2 and all(k.startswith("gitrollback-validate-") for k in keys)


def test_failed_job_is_retried_as_a_new_job(world: World) -> None:
    """A failed upgrade (missing profile) is retried as a new job with the same asset version."""
    with world.client() as client:
        job = client.upgrade(world.provider, asset_version="v2")
        failed = client.wait_for_job(world.provider, job.id, timeout=60)
        assert failed.status == "failed"
        assert (failed.error_message or "").startswith("tekton profile version v2 requested but resource does not")
        retry = client.retry_job(world.provider, job.id)
        assert retry.id != job.id and retry.asset_version == "v2" and retry.status == "pending"
        assert client.job_operation(retry.id) == "upgrade"
        client.wait_for_job(world.provider, retry.id, timeout=60)
    assert [j["operation"] for j in world.sim.jobs(world.provider)] == ["upgrade", "upgrade"]


def test_retry_errors_have_exact_bodies(world: World) -> None:
    """Retrying a succeeded job is 400 not retryable; an unknown job id is 404 job not found."""
    done = world.sim.seed_job(world.provider, status="succeeded")
    with world.client() as client:
        with pytest.raises(BadRequestError) as info:
            client.retry_job(world.provider, done)
        assert info.value.remote_message == ("Tekton installer job is not retryable (only failed jobs can be retried)")
        with pytest.raises(NotFoundError) as info2:
            client.retry_job(world.provider, "11111111-2222-4333-8444-555555555555")
    assert info2.value.remote_message == "Tekton installer job not found"


def test_wait_for_job_keeps_events_that_the_server_forgets(frozen: World) -> None:
    """Events read while the job is active stay available from the client after the job has finished."""
    seen: list[tuple[str, str]] = []
    with frozen.client(on_wait=lambda what, elapsed, state: seen.append((what, state))) as client:
        job = client.upgrade(frozen.provider)
        assert client.tekton_status(frozen.provider).active_job_events[0].event_type == "upgrade.requested"
        frozen.sim.run_installer_tick()
        done = client.wait_for_job(frozen.provider, job.id, timeout=5)
        assert done.status == "succeeded"
        assert client.tekton_status(frozen.provider).active_job_events == ()
        assert [e.event_type for e in client.last_job_events(job.id)] == ["upgrade.requested"]
    assert seen == []  # terminal on the first poll: no progress callback, no sleep


def test_wait_for_job_times_out_with_last_state(frozen: World) -> None:
    """A job that never leaves pending raises WaitTimeoutError with last_state, after polling on the clock: an
    eighth of the interval at first, then a share of the time waited, the last pause cut to the timeout."""
    clock = frozen.clock
    progress: list[tuple[str, float, str]] = []
    with frozen.client(poll_interval=4.0, on_wait=lambda *a: progress.append(a)) as client:
        job = client.upgrade(frozen.provider)
        with pytest.raises(WaitTimeoutError) as info:
            client.wait_for_job(frozen.provider, job.id, timeout=12)
    assert info.value.last_state == "pending"
    assert info.value.waited == 12.0
    assert clock.sleeps[:20] == [0.5] * 20  # until the wait is 10 s old (5% of it is 0.5 s)
    assert clock.sleeps[20:] == pytest.approx([0.5, 0.525, 0.55125, 0.42375])
    assert [t for _, t, _ in progress] == pytest.approx([0.0, *itertools.accumulate(clock.sleeps)])
    assert {(what, state) for what, _, state in progress} == {(f"installer job {job.id}", "pending")}
    assert frozen.sim.job(job.id)["status"] == "pending"


def test_wait_for_unknown_job_is_not_found(world: World) -> None:
    """Waiting for a job the provider does not have raises NotFoundError instead of polling forever."""
    with world.client() as client, pytest.raises(NotFoundError):
        client.wait_for_job(world.provider, "11111111-2222-4333-8444-555555555555", timeout=5)


# ----------------------------------------------------------------------------------------- builds


def _build_payload(world: World, project: str) -> dict[str, Any]:
    return {
        "tenant_id": world.acme,
        "project_id": project,
        "manifest": {
            "name": "smoke",
            "type": "container",
            "infrastructure_type": "kubernetes",
            "infrastructure_provider_id": world.provider,
            "build_config": {
                "build_type": "container",
                "sbom_tool": "syft",
                "scan_tool": "trivy",
                "registry_type": "harbor",
                "secret_manager_type": "vault",
                "dockerfile": "Dockerfile",
                "build_context": ".",
                "registry_repo": "registry.example.test/acme/app",
            },
        },
    }


def _project(world: World) -> str:
    """A project a real server builds: an active repository auth and a default registry auth."""
    project = world.sim.add_project(world.acme, "app", repository_auth=True)
    world.sim.add_registry_auth(world.acme, project_id=project)
    return project


def test_build_create_start_status_get(frozen: World) -> None:
    """A build is created queued (201, with the name sent), started (202), and status/get report it running; a read
    names it as Image Factory stores it (``Build #1``), not as it was sent."""
    project = _project(frozen)
    with frozen.client() as client:
        build = client.create_build(_build_payload(frozen, project))
        assert (build.status, build.name, build.tenant_id) == ("queued", "smoke", frozen.acme)
        client.start_build(build.id)
        assert client.build_status(build.id).status == "running"
        full = client.get_build(build.id)
        assert (full.id, full.status, full.name) == (build.id, "running", "Build #1")
        assert full.started_at is not None
    statuses = [(q.method, q.path.rsplit("/", 1)[-1], r.status) for q, r in frozen.sim.requests if "builds" in q.path]
    assert statuses[:2] == [("POST", "builds", 201), ("POST", "start", 202)]


def test_unknown_build_is_json_404(world: World) -> None:
    """A missing build answers JSON ``{"error":"Build not found"}``, mapped to NotFoundError."""
    with world.client() as client, pytest.raises(NotFoundError) as info:
        client.build_status("11111111-2222-4333-8444-555555555555")
    assert info.value.remote_message == "Build not found"


def test_wait_for_build_completes_after_install(world: World) -> None:
    """After the assets are installed a smoke build runs to completed on the dispatcher's ticks, on the clock."""
    project = _project(world)
    with world.client() as client:
        job = client.install(world.provider)
        assert client.wait_for_job(world.provider, job.id, timeout=60).status == "succeeded"
        build = client.create_build(_build_payload(world, project))
        done = client.wait_for_build(build.id, timeout=60)
    assert done.status == "completed" and done.completed_at is not None
    assert world.sim.build(build.id)["status"] == "completed"
    # job claimed at the 5 s tick and seen at once (polls every 0.25 s at first); the build, created at 5 s, started
    # at the 10 s tick and finished at the 15 s one: seen within 5% of its 10 s wait, where a fixed 2 s interval
    # saw both a second late (at 6 s and 16 s)
    assert world.sim.job(job.id)["status"] == "succeeded"
    job_polls = 20  # 5 s of 0.25 s pauses
    assert world.clock.sleeps[:job_polls] == [0.25] * job_polls
    assert 15.0 <= world.clock.monotonic() <= 15.0 + 0.05 * 10
    assert len(world.clock.sleeps) - job_polls <= 20 + 15  # the build's wait: 5 s at 0.25 s, then 5 s at 5% growth


def test_wait_for_build_reports_failure_message(world: World) -> None:
    """Without the assets the build fails, and the returned build carries the server's error message."""
    project = _project(world)
    with world.client() as client:
        build = client.create_build(_build_payload(world, project))
        done = client.wait_for_build(build.id, timeout=60)
    assert done.status == "failed"
    assert done.error_message == world.sim.build(build.id)["error_message"]
    assert "image-factory-build-v1-docker" in (done.error_message or "")


def test_wait_for_build_times_out(frozen: World) -> None:
    """A build the dispatcher never picks up raises WaitTimeoutError with last_state queued."""
    project = _project(frozen)
    clock = frozen.clock
    with frozen.client(poll_interval=1.0) as client:
        build = client.create_build(_build_payload(frozen, project))
        with pytest.raises(WaitTimeoutError) as info:
            client.wait_for_build(build.id, timeout=3)
    assert (info.value.last_state, info.value.waited) == ("queued", 3.0)
    # an eighth of the interval until the wait is 2.5 s old, then 5% of it, the last pause cut to the timeout
    assert clock.sleeps[:21] == [0.125] * 21 and clock.sleeps[21:-1] == pytest.approx([0.13125, 0.1378125])
    assert sum(clock.sleeps) == pytest.approx(3.0)
