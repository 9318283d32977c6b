"""The Image Factory simulator's build routes and dispatcher, judged against the shared cluster contents.

The world's project has an active repository auth and its tenant a default registry auth, which is what a build
needs on a real server (``build_handler.go``'s preflight, ``service_create_preflight.go``); the refusal tests take
one of them away at a time.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitrollback.assets import expand_assets
from gitrollback.namespaces import tenant_namespace
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.repos import fixture_root

FIXTURES = fixture_root()
NOT_AVAILABLE = {"error": "selected infrastructure provider is not available for this tenant"}


@dataclass
class World:
    """A started simulator on a FakeClock: the dispatchers tick only when a test lets time pass."""

    clock: FakeClock
    sim: ImageFactorySimulator
    cluster: ClusterState
    client: httpx.Client
    tenant: str
    provider: str
    project: str
    headers: dict[str, str]

    @property
    def ns(self) -> str:
        return tenant_namespace(self.tenant)

    def create_manifest(self, method: str = "kaniko", **manifest: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "smoke",
            "type": "kaniko" if method == "kaniko" else "container",
            "infrastructure_type": "kubernetes",
            "infrastructure_provider_id": self.provider,
            "build_config": {
                "build_type": method,
                "dockerfile": "Dockerfile",
                "build_context": ".",
                "registry_repo": "registry.example.test/smoke",
            },
            **manifest,
        }
        return {k: v for k, v in body.items() if v is not None}

    def create(self, method: str = "kaniko", **manifest: Any) -> httpx.Response:
        body = self.create_manifest(method, **manifest)
        return self.client.post(
            "/api/v1/builds",
            headers=self.headers,
            json={"tenant_id": self.tenant, "project_id": self.project, "manifest": body},
        )

    def install(self) -> None:
        files = {p.relative_to(FIXTURES).as_posix(): p.read_bytes() for p in FIXTURES.rglob("*") if p.is_file()}
        self.cluster.ensure_namespace(self.ns)
        for manifest in expand_assets(files):
            self.cluster.apply(dict(manifest.body), namespace=self.ns, manager="test", force=True)


def make_world() -> Iterator[World]:
    clock = FakeClock()
    cluster = ClusterState(clock=clock)
    sim = ImageFactorySimulator(cluster, job_tick=5.0, build_tick=5.0, clock=clock)
    tenant = sim.add_tenant("acme")
    sim.add_user("dev@acme.test", "pw", tenant_id=tenant, role="Developer")
    provider = sim.add_provider(tenant, "k8s", target_namespace="if-tekton")
    project = sim.add_project(tenant, "app", repository_auth=True)
    sim.add_registry_auth(tenant)
    headers = {"Authorization": f"Bearer {sim.issue_token('dev@acme.test')}", "X-Tenant-ID": tenant}
    with sim, httpx.Client(base_url=sim.url, timeout=5) as client:
        yield World(clock, sim, cluster, client, tenant, provider, project, headers)


@pytest.fixture
def world() -> Iterator[World]:
    yield from make_world()


def test_create_is_201_queued_and_completes_when_the_pipeline_and_tasks_exist(world: World) -> None:
    """A build is created queued, then runs and completes when its v1 pipeline and tasks exist."""
    world.install()
    reply = world.create()
    assert reply.status_code == 201
    created = reply.json()
    assert set(created) == {"id", "tenant_id", "name", "type", "status", "created_at"}
    assert (created["status"], created["tenant_id"], created["name"]) == ("queued", world.tenant, "smoke")
    world.sim.run_build_tick()
    assert world.sim.build(created["id"])["status"] == "running"
    world.sim.run_build_tick()
    build = world.client.get(f"/api/v1/builds/{created['id']}", headers=world.headers).json()
    assert build["status"] == "completed"
    assert build["name"] == build["manifest"]["name"] == "Build #1", "a read does not know the name that was sent"
    assert build["result"]["pipeline"] == "image-factory-build-v1-kaniko"
    assert build["manifest"]["metadata"] == {"git_url": "https://git.example.test/acme/app.git", "git_branch": "main"}
    run_type = world.cluster.type_for("tekton.dev/v1", "PipelineRun")
    assert run_type is not None
    assert [r["metadata"]["name"] for r in world.cluster.list(run_type, world.ns)] == [build["result"]["pipeline_run"]]


def test_missing_pipeline_fails_the_build(world: World) -> None:
    """Without the pipeline in the tenant namespace the build fails naming it."""
    build_id = world.create("buildx").json()["id"]
    world.sim.run_build_tick()
    world.sim.run_build_tick()
    build = world.sim.build(build_id)
    assert build["status"] == "failed"
    assert build["error_message"] == f"tekton pipeline image-factory-build-v1-buildx not found in namespace {world.ns}"


def test_missing_task_fails_the_build_and_retry_reruns_the_same_id(world: World) -> None:
    """A missing task fails the build; once restored, retry re-runs the same build to completion."""
    world.install()
    task_type = world.cluster.type_for("tekton.dev/v1beta1", "Task")
    assert task_type is not None
    saved = world.cluster.get(task_type, world.ns, "sign-image")
    world.cluster.delete(task_type, world.ns, "sign-image")
    build_id = world.create("docker").json()["id"]
    world.sim.run_build_tick()
    world.sim.run_build_tick()
    failed = world.sim.build(build_id)
    assert failed["status"] == "failed"
    assert failed["error_message"] == (
        f"tekton task(s) referenced by image-factory-build-v1-docker not found in namespace {world.ns}: sign-image"
    )
    assert saved is not None
    world.cluster.put({k: v for k, v in saved.items() if k != "status"})
    reply = world.client.post(f"/api/v1/builds/{build_id}/retry", headers=world.headers)
    assert (reply.status_code, reply.json()) == (202, {"status": "build_retrying", "build_id": build_id})
    world.sim.run_build_tick()
    assert world.sim.build(build_id)["status"] == "completed"
    again = world.client.post(f"/api/v1/builds/{build_id}/retry", headers=world.headers)
    assert (again.status_code, again.json()) == (400, {"error": "Cannot retry build in completed state"})


def test_start_semantics(world: World) -> None:
    """start moves queued to running (202), is a no-op on running, and a 500 once completed."""
    world.install()
    build_id = world.create().json()["id"]
    url = f"/api/v1/builds/{build_id}/start"
    assert world.client.post(url, headers=world.headers).json() == {"status": "build_started"}
    assert world.sim.build(build_id)["status"] == "running"
    second = world.client.post(url, headers=world.headers)
    assert (second.status_code, second.json()) == (202, {"status": "build_started"})
    world.sim.run_build_tick()
    done = world.client.post(url, headers=world.headers)
    assert (done.status_code, done.json()) == (500, {"error": "Failed to start build"})


def test_status_route_shape(world: World) -> None:
    """GET status has the fixed progress block, plus timestamps and duration once finished."""
    world.install()
    build_id = world.create().json()["id"]
    queued = world.client.get(f"/api/v1/builds/{build_id}/status", headers=world.headers).json()
    assert queued == {
        "build_id": build_id,
        "status": "queued",
        "progress": {"current": 0, "total": 100, "stage": "queued"},
    }
    world.sim.run_build_tick()
    world.sim.run_build_tick()
    done = world.client.get(f"/api/v1/builds/{build_id}/status", headers=world.headers).json()
    assert done["status"] == "completed"
    assert set(done) == {"build_id", "status", "progress", "started_at", "completed_at", "duration"}
    assert isinstance(done["duration"], int)


def test_bad_and_unknown_build_ids(world: World) -> None:
    """A malformed build id is 400 JSON; an unknown one is 500 on GET /builds/{id} (unmapped) and 404 on /status."""
    bad = world.client.get("/api/v1/builds/nope", headers=world.headers)
    assert (bad.status_code, bad.text) == (400, '{"error":"Invalid build ID format"}\n')
    assert bad.headers["content-type"] == "application/json"
    unknown = "11111111-1111-1111-1111-111111111111"
    got = world.client.get(f"/api/v1/builds/{unknown}", headers=world.headers)
    assert (got.status_code, got.json()) == (500, {"error": "Failed to get build"})
    status = world.client.get(f"/api/v1/builds/{unknown}/status", headers=world.headers)
    assert (status.status_code, status.json()) == (404, {"error": "Build not found"})


def test_build_reads_are_not_tenant_scoped(world: World) -> None:
    """A user of another tenant reads a build by id (GetBuild has no tenant check)."""
    build_id = world.create().json()["id"]
    other = world.sim.add_tenant("globex")
    world.sim.add_user("viewer@globex.test", "pw", tenant_id=other, role="Viewer")
    headers = {"Authorization": f"Bearer {world.sim.issue_token('viewer@globex.test')}", "X-Tenant-ID": other}
    reply = world.client.get(f"/api/v1/builds/{build_id}", headers=headers)
    assert (reply.status_code, reply.json()["tenant_id"]) == (200, world.tenant)


def test_auth_errors_on_build_routes_are_plain_text(world: World) -> None:
    """The auth middleware answers build routes in plain text, unlike the build handlers."""
    reply = world.client.get("/api/v1/builds", headers={"X-Tenant-ID": world.tenant})
    assert (reply.status_code, reply.text) == (401, "Unauthorized\n")
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


def test_provider_preflight(world: World) -> None:
    """Unavailable providers are 403 JSON until granted; tekton_enabled must be JSON true (400)."""
    other = world.sim.add_tenant("globex")
    foreign = world.sim.add_provider(other, "theirs", target_namespace="if-theirs")
    reply = world.create(infrastructure_provider_id=foreign)
    assert (reply.status_code, reply.json()) == (403, NOT_AVAILABLE)
    world.sim.add_grant(foreign, world.tenant)
    assert world.create(infrastructure_provider_id=foreign).status_code == 201
    config = ImageFactorySimulator.default_provider_config(tekton_enabled="true")
    lax = world.sim.add_provider(world.tenant, "lax", config=config)
    reply = world.create(infrastructure_provider_id=lax)
    assert (reply.status_code, reply.json()) == (
        400,
        {"error": "selected infrastructure provider must have tekton_enabled=true"},
    )
    legacy = world.sim.add_provider(
        world.tenant, "legacy", config={"tekton_enabled": True, "runtime_auth": {"server": "https://k8s", "token": "t"}}
    )
    reply = world.create(infrastructure_provider_id=legacy)
    assert reply.json() == {"error": "selected infrastructure provider has invalid kubernetes configuration"}
    patch = world.client.patch(
        f"/api/v1/admin/infrastructure/providers/{world.provider}/status",
        headers=world.headers,
        json={"enabled": False},
    )
    assert (patch.status_code, patch.text) == (403, "Forbidden\n")  # Developers may select, not update
    world.sim.set_cluster_reachable(world.provider, False)
    world.client.get(f"/api/v1/admin/infrastructure/providers/{world.provider}/readiness", headers=world.headers)
    reply = world.create()
    assert (reply.status_code, reply.json()) == (403, NOT_AVAILABLE)


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"infrastructure_type": None}, 400, "infrastructure selection is required"),
        ({"infrastructure_type": "auto"}, 400, "infrastructure selection is required"),
        ({"infrastructure_provider_id": "not-a-uuid"}, 400, "Invalid request body"),
        ({"build_config": {"build_type": "kaniko"}}, 400, "dockerfile is required for kaniko builds"),
        ({"name": ""}, 400, "build name is required"),
    ],
)
def test_manifest_refusals(world: World, change: dict[str, Any], status: int, error: str) -> None:
    """The provider selection needs infrastructure_type (not auto); validateManifest's texts come back as 400."""
    reply = world.create(**change)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


def test_body_needs_tenant_and_project_and_an_unknown_project_is_500(world: World) -> None:
    """tenant_id and project_id are required in the body; an unknown project fails the project lookup with a 500."""
    for missing, error in (("tenant_id", "tenant_id is required"), ("project_id", "project_id is required")):
        body = {"tenant_id": world.tenant, "project_id": world.project, "manifest": {"name": "x", "type": "kaniko"}}
        del body[missing]
        reply = world.client.post("/api/v1/builds", headers=world.headers, json=body)
        assert (reply.status_code, reply.json()) == (400, {"error": error})
    world.project = "11111111-1111-1111-1111-111111111111"
    reply = world.create()
    assert (reply.status_code, reply.json()) == (500, {"error": "failed to resolve project configuration"})


def test_body_tenant_is_not_compared_with_the_tenant_header(world: World) -> None:
    """The build goes to the body's tenant_id, whatever X-Tenant-ID says (the handler never compares them)."""
    other = world.sim.add_tenant("globex")
    world.sim.add_membership(next(iter(world.sim.state.users)), other, role="Developer")
    headers = {**world.headers, "X-Tenant-ID": other}
    body = {"tenant_id": world.tenant, "project_id": world.project, "manifest": world.create_manifest()}
    reply = world.client.post("/api/v1/builds", headers=headers, json=body)
    assert (reply.status_code, reply.json()["tenant_id"]) == (201, world.tenant)


def test_repository_auth_or_a_public_repository_is_required(world: World, tmp_path: Path) -> None:
    """Without repository auth the project's URL must answer an anonymous git ls-remote, which a real local
    repository does and an unreachable one does not."""
    private = world.sim.add_project(world.tenant, "private", "https://git.example.test/acme/private.git")
    world.project = private
    reply = world.create()
    assert (reply.status_code, reply.json()) == (
        400,
        {"error": "project repository authentication is required for private or inaccessible repositories"},
    )
    repo = tmp_path / "public.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    world.project = world.sim.add_project(world.tenant, "public", repo.as_uri())
    assert world.create().status_code == 201
    world.project = world.sim.add_project(world.tenant, "no-url", "")
    reply = world.create()
    assert reply.json() == {"error": "project git repository URL is required for Tekton builds"}


def test_pushing_builds_need_a_registry_auth(world: World) -> None:
    """Kaniko needs a registry auth: the selected one, else the project's default, else the tenant's."""
    world.sim.state.registry_auths.clear()
    reply = world.create()
    assert (reply.status_code, reply.json()) == (
        400,
        {"error": "registry authentication is required: no registry authentication found"},
    )
    own = world.sim.add_registry_auth(world.tenant, project_id=world.project, default=False)
    assert (
        world.create(build_config={**world.create_manifest()["build_config"], "registry_auth_id": own}).status_code
        == 201
    )
    world.sim.add_registry_auth(world.tenant, project_id=world.project)
    created = world.create().json()
    stored = world.sim.build(created["id"])["manifest"]["build_config"]
    assert stored["registry_auth_id"] != own


def test_tekton_disabled_for_the_tenant(world: World) -> None:
    """A kubernetes build of a tenant whose build config turns Tekton off is refused with 400."""
    world.sim.set_build_config(world.tenant, tekton_enabled=False)
    reply = world.create()
    assert (reply.status_code, reply.json()) == (400, {"error": "tekton is disabled for this tenant"})


def test_tenant_limits_are_reached_and_clear(world: World) -> None:
    """The concurrent-build and queue limits refuse new builds until a build leaves the counted state."""
    world.install()
    world.sim.set_build_config(world.tenant, max_concurrent_jobs=1, max_queue_size=1)
    first = world.create().json()["id"]
    reply = world.create()
    assert (reply.status_code, reply.json()) == (
        400,
        {"error": "build limit validation failed: build queue limit reached (1/1)"},
    )
    world.sim.run_build_tick()  # first is running now
    reply = world.create()
    assert reply.json() == {"error": "build limit validation failed: maximum concurrent builds limit reached (1/1)"}
    world.sim.run_build_tick()
    assert world.sim.build(first)["status"] == "completed"
    assert world.create().status_code == 201


def test_kaniko_validation_and_project_of_another_tenant(world: World) -> None:
    """Kaniko needs dockerfile, build_context and registry_repo; a project of another tenant is 403."""
    reply = world.create(build_config={"build_type": "kaniko", "dockerfile": "Dockerfile"})
    assert (reply.status_code, reply.json()) == (400, {"error": "build context is required for kaniko builds"})
    other = world.sim.add_tenant("globex")
    world.project = world.sim.add_project(other, "theirs")
    reply = world.create()
    assert (reply.status_code, reply.json()) == (
        403,
        {"error": "Permission denied: project belongs to a different tenant"},
    )


def test_managed_provider_needs_a_prepared_tenant_namespace(world: World) -> None:
    """A managed provider answers 409 tenant_namespace_not_prepared until the tenant namespace exists."""
    managed = world.sim.add_provider(world.tenant, "managed", bootstrap_mode="image_factory_managed")
    reply = world.create(infrastructure_provider_id=managed)
    assert reply.status_code == 409
    assert reply.json()["code"] == "tenant_namespace_not_prepared"
    assert reply.json()["details"]["namespace"] == world.ns
    assert reply.json()["error"].startswith("selected infrastructure provider is not prepared for this tenant")
    world.cluster.ensure_namespace(world.ns)
    assert world.create(infrastructure_provider_id=managed).status_code == 201


def test_a_kubernetes_build_without_provider_takes_the_oldest_global_one(world: World) -> None:
    """With no provider id, the oldest global Tekton-ready available provider is chosen; none is a 400."""
    reply = world.create(infrastructure_provider_id=None)
    assert reply.json() == {
        "error": "infrastructure_provider_id is required for kubernetes builds "
        "(no global tekton-ready provider available)"
    }
    shared = world.sim.add_provider(world.sim.add_tenant("platform"), "shared", is_global=True)
    created = world.create(infrastructure_provider_id=None).json()
    assert world.sim.build(created["id"])["manifest"]["infrastructure_provider_id"] == shared


def test_background_dispatcher_completes_builds(world: World) -> None:
    """The dispatcher timer starts a queued build on one 5 s tick and completes it on the next."""
    world.install()
    build_id = world.create().json()["id"]

    def status() -> str:
        return str(world.client.get(f"/api/v1/builds/{build_id}/status", headers=world.headers).json()["status"])

    world.clock.sleep(4.9)
    assert status() == "queued"
    world.clock.sleep(0.1)
    assert status() == "running"
    world.clock.sleep(5)
    assert status() == "completed"
    build = world.sim.build(build_id)
    assert (build["started_at"], build["completed_at"]) == ("2026-03-28T00:00:05Z", "2026-03-28T00:00:10Z")


def test_cancel_stops_a_queued_build(world: World) -> None:
    """Cancelling a queued build makes it cancelled and the dispatcher leaves it alone; twice is a 409."""
    build_id = world.create().json()["id"]
    reply = world.client.post(f"/api/v1/builds/{build_id}/cancel", headers=world.headers)
    assert (reply.status_code, reply.json()) == (200, {"status": "build_cancelled"})
    again = world.client.post(f"/api/v1/builds/{build_id}/cancel", headers=world.headers)
    assert (again.status_code, again.json()) == (409, {"error": "Cannot cancel build in current state"})
    world.sim.run_build_tick()
    assert world.sim.build(build_id)["status"] == "cancelled"
