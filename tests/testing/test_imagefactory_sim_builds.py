"""The Image Factory simulator's build routes and dispatcher, judged against the shared cluster contents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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

    def create(self, method: str = "kaniko", **manifest: Any) -> httpx.Response:
        body = {
            "name": "smoke",
            "type": "container",
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
    project = sim.add_project(tenant, "app")
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
    assert build["result"]["pipeline"] == "image-factory-build-v1-kaniko"
    assert build["manifest"]["git_url"] == "https://git.example.test/acme/app.git"
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
    """A malformed build id is 400 JSON and an unknown one is 404 JSON."""
    bad = world.client.get("/api/v1/builds/nope", headers=world.headers)
    assert (bad.status_code, bad.text) == (400, '{"error":"Invalid build ID format"}\n')
    assert bad.headers["content-type"] == "application/json"
    unknown = world.client.get("/api/v1/builds/11111111-1111-1111-1111-111111111111/status", headers=world.headers)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Build not found"})


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
        {"error": "tekton is not enabled for the selected infrastructure provider"},
    )
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


def test_kaniko_validation_and_unknown_project(world: World) -> None:
    """Kaniko needs dockerfile, build_context and registry_repo; an unknown project is 404."""
    reply = world.create(build_config={"build_type": "kaniko"})
    assert (reply.status_code, reply.json()) == (
        400,
        {"error": "kaniko builds require dockerfile, build_context and registry_repo"},
    )
    world.project = "11111111-1111-1111-1111-111111111111"
    assert world.create().json() == {"error": "Project not found"}


def test_managed_provider_needs_a_prepared_tenant_namespace(world: World) -> None:
    """A managed provider answers 409 tenant_namespace_not_prepared until the tenant namespace exists."""
    managed = world.sim.add_provider(world.tenant, "managed", bootstrap_mode="image_factory_managed")
    reply = world.create(infrastructure_provider_id=managed)
    assert reply.status_code == 409
    assert reply.json()["code"] == "tenant_namespace_not_prepared"
    assert reply.json()["details"]["namespace"] == world.ns
    world.cluster.ensure_namespace(world.ns)
    assert world.create(infrastructure_provider_id=managed).status_code == 201


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
    """Cancelling a queued build makes it cancelled and the dispatcher leaves it alone."""
    build_id = world.create().json()["id"]
    reply = world.client.post(f"/api/v1/builds/{build_id}/cancel", headers=world.headers)
    assert reply.status_code == 200
    world.sim.run_build_tick()
    assert world.sim.build(build_id)["status"] == "cancelled"
