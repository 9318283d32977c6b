"""The Image Factory client against the parts of the real server that refuse: build preflight, 15-minute tokens,
the readiness watcher, the non-atomic idempotency, and smaller wire facts (docs/imagefactory.md).

Every test drives the real ``ImageFactoryClient`` over loopback against the simulator, on a ``FakeClock`` the
two share, and asserts on what the client raises (class, ``kind``, the setting the hint names) and on the
simulator's resulting state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from gitrollback.adapters.imagefactory import ImageFactoryClient
from gitrollback.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    PermissionDeniedError,
    RemoteHTTPError,
    ServerError,
)
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.repos import fixture_root

ADMIN = "admin@acme.test"
# validateBuildConfig (imagefactoryoss/imagefactory backend/internal/domain/build/build_validation.go) needs them.
TOOLS = {"sbom_tool": "syft", "scan_tool": "trivy", "registry_type": "harbor", "secret_manager_type": "vault"}
OWNER = "owner@acme.test"
PASSWORD = "correct horse"


@dataclass
class World:
    """A started simulator on a FakeClock with an installed provider and a buildable smoke project."""

    clock: FakeClock
    sim: ImageFactorySimulator
    tenant: str
    provider: str
    project: str

    def client(self, **kwargs: Any) -> ImageFactoryClient:
        options: dict[str, Any] = {"tenant_id": self.tenant, "email": ADMIN, "password": PASSWORD, "clock": self.clock}
        options.update(kwargs)
        return ImageFactoryClient(self.sim.url, **options)

    def build_body(self, **manifest: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "gitrollback-smoke",
            "type": "kaniko",
            "infrastructure_type": "kubernetes",
            "infrastructure_provider_id": self.provider,
            "build_config": {
                "build_type": "kaniko",
                **TOOLS,
                "dockerfile": "Dockerfile",
                "build_context": ".",
                "registry_repo": "reg.test/smoke",
            },
            **manifest,
        }
        manifest_body = {k: v for k, v in body.items() if v is not None}
        return {"tenant_id": self.tenant, "project_id": self.project, "manifest": manifest_body}


def _world(watcher: float | None = None) -> Iterator[World]:
    clock = FakeClock()
    sim = ImageFactorySimulator(
        ClusterState(clock=clock),
        job_tick=5.0,
        build_tick=5.0,
        asset_root=fixture_root(),
        readiness_watcher_interval=watcher,
        clock=clock,
    )
    tenant = sim.add_tenant("acme")
    sim.add_user(ADMIN, PASSWORD, tenant_id=tenant, role="System Administrator")
    sim.add_user(OWNER, PASSWORD, tenant_id=tenant, role="Owner")
    namespace = f"image-factory-{tenant[:8]}"
    provider = sim.add_provider(tenant, "prod", target_namespace=namespace)
    sim.cluster.ensure_namespace(namespace)
    sim.cluster.put(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "docker-config", "namespace": namespace}}
    )
    project = sim.add_project(tenant, "smoke", repository_auth=True)
    sim.add_registry_auth(tenant, project_id=project)
    with sim:
        with ImageFactoryClient(sim.url, tenant_id=tenant, email=ADMIN, password=PASSWORD, clock=clock) as setup:
            job = setup.install(provider)
            assert setup.wait_for_job(provider, job.id, timeout=60).status == "succeeded"
        sim.requests.clear()
        yield World(clock, sim, tenant, provider, project)


@pytest.fixture
def world() -> Iterator[World]:
    """An installed provider, a project with repository and registry auth; the watcher is off."""
    yield from _world()


# ----------------------------------------------------------------------------------------- build preflight


@pytest.mark.parametrize(
    ("breakage", "kind", "names"),
    [
        ("infrastructure_type", "build_infrastructure_type_missing", "smoke_build.manifest.infrastructure_type"),
        ("repository_auth", "build_repository_auth_missing", "repository auth"),
        ("registry_auth", "build_registry_auth_missing", "registry_auth_id"),
        ("tenant_tekton", "tenant_tekton_disabled", "tekton_enabled"),
        ("provider_config", "provider_config_invalid", "auth_method"),
        ("build_config", "build_config_invalid", "sbom_tool (syft, grype or trivy)"),
    ],
)
def test_smoke_build_refusals_name_the_missing_setting(world: World, breakage: str, kind: str, names: str) -> None:
    """Each preflight refusal of POST /builds is a BadRequestError whose kind and hint name what to set."""
    body = world.build_body()
    if breakage == "infrastructure_type":
        body = world.build_body(infrastructure_type="auto")
    elif breakage == "repository_auth":
        world.sim.state.projects[world.project].repository_auth = False
    elif breakage == "registry_auth":
        world.sim.state.registry_auths.clear()
    elif breakage == "tenant_tekton":
        world.sim.set_build_config(world.tenant, tekton_enabled=False)
    elif breakage == "build_config":  # the shape the docs showed before: validateBuildConfig wants the tools
        config = {k: v for k, v in body["manifest"]["build_config"].items() if k not in TOOLS}
        body = world.build_body(build_config=config)
    else:
        world.sim.state.providers[world.provider].config["runtime_auth"] = {"server": "https://k8s", "token": "t"}
    with world.client() as client, pytest.raises(BadRequestError) as info:
        client.create_build(body)
    assert (info.value.status, info.value.kind) == (400, kind)
    assert names in (info.value.hint or "")
    assert world.sim.builds() == []


def test_a_full_build_queue_is_waited_out_on_the_clock(world: World) -> None:
    """A limit-reached refusal is retried every poll until a build leaves the queue, within the deadline."""
    world.sim.set_build_config(world.tenant, max_queue_size=1)
    waits: list[tuple[str, str]] = []
    with world.client(on_wait=lambda what, _elapsed, state: waits.append((what, state))) as client:
        first = client.create_build(world.build_body())
        second = client.create_build(world.build_body(name="second"), limit_timeout=60)
    assert world.sim.build(first.id)["status"] == "running"  # the dispatcher took it out of the queue at 5 s
    assert world.sim.build(second.id)["status"] == "queued"
    assert waits[0] == (
        "build creation (tenant build limit reached)",
        "build limit validation failed: build queue limit reached (1/1)",
    )
    # the install, claimed at the 5 s tick, was seen at once; refused at 5 s, 7 s and 9 s, created at 11 s, after
    # the 10 s tick started the first build (the limit retries every poll_interval)
    assert len(waits) == 3 and world.clock.sleeps[-3:] == [2.0, 2.0, 2.0] and world.clock.monotonic() == 11


def test_a_build_limit_that_does_not_clear_fails_at_the_deadline(world: World) -> None:
    """When the limit stays full, create_build gives up after limit_timeout with kind build_limit_reached."""
    world.sim.set_build_config(world.tenant, max_concurrent_jobs=0)
    start = world.clock.monotonic()
    with world.client() as client, pytest.raises(BadRequestError) as info:
        client.create_build(world.build_body(), limit_timeout=10)
    assert info.value.kind == "build_limit_reached"
    assert "smoke_build.timeout_seconds" in (info.value.hint or "")
    assert world.clock.monotonic() - start == 10


def test_build_body_without_tenant_is_refused_before_sending(world: World) -> None:
    """The server requires tenant_id in the body (it never falls back to X-Tenant-ID); the client says so first."""
    body = world.build_body()
    del body["tenant_id"]
    with world.client() as client, pytest.raises(ConfigError) as info:
        client.create_build(body)
    assert info.value.key == "tenant_id"
    assert not any(q.path == "/api/v1/builds" for q, _ in world.sim.requests)


def test_unknown_project_is_a_500_named_as_such(world: World) -> None:
    """An unknown project answers 500 "failed to resolve project configuration"; the kind says what it means."""
    body = world.build_body()
    body["project_id"] = "11111111-2222-4333-8444-555555555555"
    with world.client() as client, pytest.raises(ServerError) as info:
        client.create_build(body)
    assert (info.value.status, info.value.kind) == (500, "build_project_unknown")
    assert "smoke_build.project_id" in (info.value.hint or "")


def test_unknown_build_reads_as_500_and_reads_are_not_tenant_scoped(world: World) -> None:
    """GET /builds/{unknown} is a 500 (kind build_not_found); another tenant's user reads a build by id."""
    with world.client() as client:
        build = client.create_build(world.build_body())
        with pytest.raises(ServerError) as info:
            client.get_build("11111111-2222-4333-8444-555555555555")
    assert (info.value.remote_message, info.value.kind) == ("Failed to get build", "build_not_found")
    other = world.sim.add_tenant("globex")
    world.sim.add_user("viewer@globex.test", PASSWORD, tenant_id=other, role="Viewer")
    with world.client(tenant_id=other, email="viewer@globex.test", all_tenants=False) as outsider:
        assert outsider.get_build(build.id).tenant_id == world.tenant


def test_provider_beyond_the_20_newest_online_ones_is_refused_and_explained(world: World) -> None:
    """Build creation checks the provider against GetAvailableProviders' 20 newest online providers only."""
    later = world.clock.now()
    for i in range(20):
        world.sim.add_provider(world.tenant, f"newer-{i}", created_at=later + timedelta(seconds=i + 1))
    with world.client() as client:
        assert world.provider not in {p.id for p in client.available_providers()}
        assert client.get_provider(world.provider).status == "online"  # it is fine, just not listed
        with pytest.raises(PermissionDeniedError) as info:
            client.create_build(world.build_body())
    assert info.value.kind == "provider_not_available"
    assert "20 newest online providers" in (info.value.hint or "")


# ----------------------------------------------------------------------------------------- tokens


def test_email_and_password_log_in_again_before_the_token_expires(world: World) -> None:
    """A client with email/password logs in again a minute before its 15-minute token expires: never a 401."""
    with world.client() as client:
        client.get_provider(world.provider)
        world.clock.sleep(14 * 60)  # 1 min before the token's exp
        client.get_provider(world.provider)
        world.clock.sleep(20 * 60)
        client.get_provider(world.provider)
        assert client.token_expiry() is None  # nothing to warn about: the client renews
    logins = [r.status for q, r in world.sim.requests if q.path == "/api/v1/auth/login"]
    assert logins == [200, 200, 200]  # the first call, 1 min before the exp, and 20 minutes later
    assert all(r.status != 401 for _, r in world.sim.requests)


def test_static_token_expiry_is_read_at_the_start_and_a_late_401_names_it(world: World) -> None:
    """A static token's exp is readable without a request; after it, the 401 says the token expired and when."""
    token = world.sim.issue_token(ADMIN)
    issued = world.clock.now()
    with world.client(email=None, password=None, token=token) as client:
        assert client.token_expiry() == (issued + timedelta(minutes=15)).replace(microsecond=0)
        client.get_provider(world.provider)
        world.clock.sleep(15 * 60)
        with pytest.raises(AuthenticationError) as info:
            client.get_provider(world.provider)
    assert info.value.kind == "token_expired"
    expected = (issued + timedelta(minutes=15)).strftime("%Y-%m-%d %H:%M:%SZ")
    assert f"the access token expired at {expected}" in str(info.value)
    assert "15 minutes" in (info.value.hint or "")


def test_a_static_token_refused_before_its_expiry_is_not_called_expired(world: World) -> None:
    """A 401 for a token that is still within its lifetime keeps the plain authentication kind."""
    token = world.sim.issue_token(ADMIN)
    world.sim.state.users.clear()  # the user is gone: the server refuses a well-formed, unexpired token
    with world.client(email=None, password=None, token=token) as client, pytest.raises(AuthenticationError) as info:
        client.get_provider(world.provider)
    assert info.value.kind == "authentication"


# ----------------------------------------------------------------------------------------- watcher


def test_watcher_flips_the_provider_between_readiness_and_a_build() -> None:
    """The background watcher requires the pipelines: after a drift it takes the provider offline on its own
    schedule, and the build the client then creates is refused as not available."""
    gen = _world(watcher=180.0)
    world = next(gen)
    try:
        with world.client() as client:
            assert client.readiness(world.provider).ready
            pipeline = world.sim.cluster.type_for("tekton.dev/v1", "Pipeline")
            assert pipeline is not None
            ns = f"image-factory-{world.tenant[:8]}"
            world.sim.cluster.delete(pipeline, ns, "image-factory-build-v1-docker")
            assert client.get_provider(world.provider).status == "online"
            world.clock.sleep(180)  # one watcher pass
            flipped = client.get_provider(world.provider)
            assert (flipped.status, flipped.is_schedulable) == ("offline", False)
            assert flipped.readiness_missing_prereqs == (
                f"missing tekton pipeline: image-factory-build-v1-docker in namespace {ns}",
            )
            with pytest.raises(PermissionDeniedError) as info:
                client.create_build(world.build_body())
        assert info.value.kind == "provider_not_available"
    finally:
        gen.close()


def test_a_readiness_check_that_cannot_run_saves_nothing_and_says_so(world: World) -> None:
    """A gitops upgrade (which does not touch the cluster) whose post-operation check cannot reach the cluster
    succeeds with a job.readiness.failed event, and the persisted readiness stays as it was."""
    world.sim.state.providers[world.provider].config["tekton_install_mode"] = "gitops"
    with world.client() as client:
        before = client.tekton_status(world.provider)
        world.sim.set_cluster_reachable(world.provider, False)
        world.clock.sleep(1)
        job = client.upgrade(world.provider)
        done = client.wait_for_job(world.provider, job.id, timeout=60)
        after = client.tekton_status(world.provider)
        events = [e.event_type for e in client.last_job_events(job.id)]
    assert done.status == "succeeded"
    assert world.sim.events(job.id)[-2]["event_type"] == "job.readiness.failed"
    assert events[0] == "upgrade.requested"
    assert (after.readiness_status, after.readiness_last_checked) == (
        before.readiness_status,
        before.readiness_last_checked,
    )


# ----------------------------------------------------------------------------------------- idempotency


def test_a_replay_that_meets_its_own_job_returns_it(world: World) -> None:
    """The first answer is lost (504) and the replay comes before the job's request event: the 409 is for our
    own job, which the client recognises by its key once the event lands, instead of failing or duplicating."""
    world.sim.fail_next_response("POST", r"/tekton/validate$", 504)
    world.sim.defer_next_request_event(1.0)
    with world.client() as client:
        job = client.validate(world.provider, idempotency_key="gitrollback-run1-validate")
        assert client.job_operation(job.id) == "validate"
        done = client.wait_for_job(world.provider, job.id, timeout=60)
    assert done.status == "succeeded"
    validates = [j for j in world.sim.jobs(world.provider) if j["operation"] == "validate"]
    assert [j["id"] for j in validates] == [job.id]
    statuses = [r.status for q, r in world.sim.requests if q.path.endswith("/tekton/validate")]
    assert statuses == [504, 409]


def test_a_replay_whose_job_lost_its_request_event_is_reported(world: World) -> None:
    """When the request event never lands, the client names the job that will fail instead of a bare 409."""
    world.sim.fail_next_response("POST", r"/tekton/validate$", 504)
    world.sim.defer_next_request_event(None)
    with world.client() as client, pytest.raises(ConflictError) as info:
        client.validate(world.provider, idempotency_key="gitrollback-run2-validate")
    job = world.sim.jobs(world.provider)[0]
    assert info.value.kind == "installer_request_event_lost"
    assert job["id"] in str(info.value) and job["id"] in (info.value.hint or "")
    world.clock.sleep(10)
    assert (
        world.sim.job(job["id"])["error_message"] == 'unsupported installer job operation from event type "job.started"'
    )
    # such a job cannot be retried either: RetryTektonInstallerJob resolves the source's operation the same way
    before = len(world.sim.jobs(world.provider))
    with world.client() as client, pytest.raises(ServerError) as retry:
        client.retry_job(world.provider, job["id"])
    assert (retry.value.status, retry.value.kind) == (500, "installer_retry_unresolvable")
    assert "start a new" in (retry.value.hint or "")
    assert len(world.sim.jobs(world.provider)) == before


def test_a_409_for_someone_elses_job_stays_a_job_in_progress_error(world: World) -> None:
    """A retried request whose 409 comes from another request's job does not adopt that job."""
    with world.client() as other:
        theirs = other.upgrade(world.provider, idempotency_key="someone-else")
    world.sim.fail_next_response("POST", r"/tekton/validate$", 502)
    with world.client() as client, pytest.raises(RemoteHTTPError) as info:
        client.validate(world.provider, idempotency_key="mine")
    assert info.value.kind == "job_in_progress"
    assert theirs.id in (info.value.hint or "")


def test_retry_writes_the_operation_request_before_the_retry_event(world: World) -> None:
    """RetryTektonInstallerJob goes through StartTektonInstallerJob: <op>.requested, then job.retry.requested."""
    failed = world.sim.seed_job(world.provider, operation="upgrade", status="failed", error_message="boom")
    with world.client() as client:
        job = client.retry_job(world.provider, failed)
        assert client.job_operation(job.id) == "upgrade"
    events = [e["event_type"] for e in world.sim.events(job.id)]
    assert events[:2] == ["upgrade.requested", "job.retry.requested"]


# ----------------------------------------------------------------------------------------- smaller wire facts


def test_blank_asset_version_is_refused_because_it_would_be_stored_empty(world: World) -> None:
    """Image Factory stores a whitespace-only asset_version as "" rather than the provider's profile."""
    with world.client() as client, pytest.raises(ConfigError) as info:
        client.validate(world.provider, asset_version="   ")
    assert info.value.key == "asset_version"
    assert not any(q.path.endswith("/tekton/validate") for q, _ in world.sim.requests)


def test_maintenance_503_comes_before_the_permission_check(world: World) -> None:
    """In maintenance mode a non-admin write is a 503 (kind maintenance), not retried as a passing outage."""
    world.sim.set_maintenance_mode(True)
    with world.client(email=OWNER) as client, pytest.raises(ServerError) as info:
        client.set_provider_enabled(world.provider, False)
    assert (info.value.status, info.value.kind) == (503, "maintenance")


def test_password_change_and_first_setup_gates(world: World) -> None:
    """The 428 password-change gate and the 409 first-setup gate come back with kinds that say what to do."""
    world.sim.add_user("new@acme.test", PASSWORD, tenant_id=world.tenant, must_change_password=True)
    with world.client(email="new@acme.test") as client, pytest.raises(RemoteHTTPError) as info:
        client.get_provider(world.provider)
    assert (info.value.status, info.value.kind) == (428, "password_change_required")
    world.sim.set_setup_required(True)
    with world.client() as admin, pytest.raises(ConflictError) as setup:
        admin.get_provider(world.provider)
    assert (setup.value.status, setup.value.kind) == (409, "setup_required")


def test_login_error_is_read_from_the_json_code_and_message(world: World) -> None:
    """A refused login's JSON {code, message} body becomes the error's remote message."""
    with world.client(password="wrong") as client, pytest.raises(AuthenticationError) as info:
        client.login()
    assert info.value.remote_message == "invalid credentials"


def test_a_cluster_without_tekton_lists_missing_tasks_not_a_detection_failure() -> None:
    """A Tekton API that answers NotFound is v1 to Image Factory, so readiness reports the tasks as missing."""
    from gitrollback.testing._kube_catalog import CATALOG

    clock = FakeClock()
    sim = ImageFactorySimulator(ClusterState([t for t in CATALOG if t.group != "tekton.dev"], clock=clock), clock=clock)
    tenant = sim.add_tenant("acme")
    sim.add_user(ADMIN, PASSWORD, tenant_id=tenant, role="System Administrator")
    provider = sim.add_provider(tenant, "bare")
    with sim, ImageFactoryClient(sim.url, tenant_id=tenant, email=ADMIN, password=PASSWORD, clock=clock) as client:
        readiness = client.readiness(provider)
    assert not any("detect tekton api version" in m for m in readiness.missing_prereqs)
    assert "missing tekton task: git-clone in namespace image-factory-tekton" in readiness.missing_prereqs


def test_listing_providers_sends_a_summary_flag_the_server_accepts(world: World) -> None:
    """include_prepare_summary=false is one of the spellings the list route accepts (1/yes/0/no too)."""
    with world.client() as client:
        assert world.provider in {p.id for p in client.list_providers()}
    sent = [q.query_value("include_prepare_summary") for q, _ in world.sim.requests if q.path.endswith("/providers")]
    assert sent == ["false"]


def test_token_expiry_of_a_token_without_exp_is_unknown() -> None:
    """A token that is not a JWT has no readable expiry, so nothing is claimed about it."""
    client = ImageFactoryClient(
        "http://127.0.0.1:9", tenant_id="6f1c2a9e-1111-4222-8333-444455556666", token="opaque", clock=FakeClock()
    )
    assert client.token_expiry() is None
