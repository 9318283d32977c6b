"""The Image Factory simulator's installer: jobs, events, locks, idempotency, retry, status view."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.repos import fixture_root

FIXTURES = fixture_root()
NS = "if-tekton"
IN_PROGRESS = "Another tekton install/upgrade/validate job is already in progress for this provider\n"
MANAGER = "image-factory-tekton-installer"


@dataclass
class World:
    """A started simulator on a FakeClock: timers fire only when a test lets time pass (``clock.sleep``)."""

    clock: FakeClock
    sim: ImageFactorySimulator
    cluster: ClusterState
    client: httpx.Client
    tenant: str
    provider: str
    headers: dict[str, str]

    def p(self, suffix: str, provider: str | None = None) -> str:
        return f"/api/v1/admin/infrastructure/providers/{provider or self.provider}{suffix}"

    def post(self, op: str, body: dict[str, Any] | None = None, provider: str | None = None) -> httpx.Response:
        return self.client.post(self.p(f"/tekton/{op}", provider), headers=self.headers, json=body)

    def status(self, **params: Any) -> httpx.Response:
        return self.client.get(self.p("/tekton/status"), headers=self.headers, params=params)

    def kinds(self) -> list[str]:
        found = []
        for rt in self.cluster.types:
            if rt.namespaced:
                found += [f"{rt.kind}/{o['metadata']['name']}" for o in self.cluster.list(rt, NS)]
        return found


def make_world(asset_root: Path | None = FIXTURES) -> Iterator[World]:
    clock = FakeClock()
    cluster = ClusterState(clock=clock)
    sim = ImageFactorySimulator(cluster, job_tick=5.0, build_tick=5.0, asset_root=asset_root, clock=clock)
    tenant = sim.add_tenant("acme")
    sim.add_user("owner@acme.test", "pw", tenant_id=tenant)
    provider = sim.add_provider(tenant, "k8s", target_namespace=NS)
    headers = {"Authorization": f"Bearer {sim.issue_token('owner@acme.test')}", "X-Tenant-ID": tenant}
    with sim, httpx.Client(base_url=sim.url, timeout=5) as client:
        yield World(clock, sim, cluster, client, tenant, provider, headers)


@pytest.fixture
def world() -> Iterator[World]:
    yield from make_world()


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tekton"
    shutil.copytree(FIXTURES, root)
    return root


def test_install_applies_the_real_tree_and_records_events(world: World) -> None:
    """An installer-mode install applies all 26 objects in order with the documented events."""
    reply = world.post("install", {})
    assert reply.status_code == 202
    body = reply.json()
    assert body["operation"] == "install"
    assert "operation" not in body["job"]
    assert body["job"]["status"] == "pending"
    assert body["job"]["tenant_id"] == world.tenant
    assert world.sim.run_installer_tick() == body["job"]["id"]

    job = world.sim.job(body["job"]["id"])
    assert job["status"] == "succeeded"
    types = [e["event_type"] for e in job["events"]]
    assert types == [
        "install.requested",
        "job.started",
        "install.preflight.started",
        "install.preflight.passed",
        "install.apply.started",
        *["install.apply.object"] * 26,
        "install.apply.completed",
        "job.readiness.summary",
        "job.succeeded",
    ]
    started = job["events"][4]["details"]
    assert started["target_namespace"] == NS
    assert started["resource_files"][0] == (FIXTURES / "tasks/v1/git-clone-task.yaml").as_posix()
    assert len(started["resource_files"]) == 23
    completed = job["events"][-3]["details"]["applied_objects"]
    assert completed[0] == "Task/git-clone" and completed[-1] == "Pipeline/image-factory-quarantine-release-promote-v1"
    assert job["events"][-2]["details"] == {"status": "ready", "missing_prereqs": []}
    assert len(world.kinds()) == 26
    task = world.cluster.get(world.cluster.type_for("tekton.dev/v1beta1", "Task"), NS, "git-clone")  # type: ignore[arg-type]
    assert task is not None
    assert MANAGER in [m["manager"] for m in task["metadata"]["managedFields"]]
    provider = world.sim.provider(world.provider)
    assert (provider["readiness_status"], provider["status"]) == ("ready", "online")


def test_preflight_events_and_the_namespace_are_as_the_installer_writes_them(world: World) -> None:
    """applyTektonAssetsToProvider's preflight events carry its message and a null core_install when Tekton was
    there; ensureNamespace creates the target namespace with Image Factory's labels."""
    job_id = world.post("install").json()["job"]["id"]
    world.sim.run_installer_tick()
    started, passed = world.sim.events(job_id)[2:4]
    assert started["message"] == "Running Tekton API preflight checks"
    assert passed["details"]["core_install"] is None
    namespace = world.cluster.get(world.cluster.type_for("v1", "Namespace"), None, NS)  # type: ignore[arg-type]
    assert namespace is not None
    assert namespace["metadata"]["labels"] == {"app": "image-factory", "managedBy": "image-factory"}


def test_a_job_without_install_mode_runs_the_installer(world: World) -> None:
    """executeInstallOrUpgradeInstallerJob treats an empty install_mode as image_factory_installer."""
    job_id = world.sim.seed_job(world.provider, operation="install", status="pending", install_mode="")
    world.sim.run_installer_tick()
    assert world.sim.job(job_id)["status"] == "succeeded"
    assert len(world.kinds()) == 26


def test_events_are_visible_only_while_the_job_is_active(world: World) -> None:
    """The status view shows active_job and its events while pending, and neither once the job finished."""
    job_id = world.post("upgrade").json()["job"]["id"]
    pending = world.status().json()
    assert pending["active_job"]["id"] == job_id
    assert [e["event_type"] for e in pending["active_job_events"]] == ["upgrade.requested"]
    assert pending["active_job_events"][0]["details"] == {"operation": "upgrade"}
    assert pending["active_job_events"][0]["message"] == "Tekton upgrade requested for provider"
    world.sim.run_installer_tick()
    done = world.status().json()
    assert "active_job" not in done and "active_job_events" not in done
    assert [j["id"] for j in done["recent_jobs"]] == [job_id]
    assert "operation" not in done["recent_jobs"][0]


def test_second_job_while_one_is_active_is_409(world: World) -> None:
    """Install, upgrade and validate share one lock: a pending job makes the others 409 plain text."""
    world.post("install")
    for op in ("install", "upgrade", "validate"):
        reply = world.post(op)
        assert (reply.status_code, reply.text) == (409, IN_PROGRESS)
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(world.sim.jobs()) == 1


def test_a_stuck_running_job_blocks_forever(world: World) -> None:
    """A seeded running job is never claimed and keeps the provider locked (no reaper)."""
    world.sim.seed_job(world.provider, operation="upgrade", status="running")
    assert world.sim.run_installer_tick() is None
    assert world.post("upgrade").status_code == 409


def test_idempotency_replay_returns_the_existing_job_before_the_lock(world: World) -> None:
    """A replayed key returns 202 with the same job even while it is active, and after it finished."""
    first = world.post("upgrade", {"idempotency_key": "rb-1", "asset_version": "v1"}).json()["job"]
    replay = world.post("upgrade", {"idempotency_key": "rb-1", "asset_version": "v9"})
    assert replay.status_code == 202
    assert replay.json()["job"] == first
    world.sim.run_installer_tick()
    after = world.post("upgrade", {"idempotency_key": "rb-1"}).json()["job"]
    assert (after["id"], after["status"]) == (first["id"], "succeeded")
    # scope is (provider, operation, key): the same key for validate is a new job
    other_op = world.post("validate", {"idempotency_key": "rb-1"}).json()["job"]
    assert other_op["id"] != first["id"]


def test_request_validation(world: World) -> None:
    """Malformed JSON and an unknown install_mode are 400s; values resolve request → config → default."""
    bad = world.client.post(world.p("/tekton/install"), headers=world.headers, content=b"{nope")
    assert (bad.status_code, bad.text) == (400, "Invalid request body\n")
    mode = world.post("install", {"install_mode": "helm"})
    assert (mode.status_code, mode.text) == (400, "Invalid install_mode\n")
    config = ImageFactorySimulator.default_provider_config(tekton_install_mode="gitops", tekton_profile_version=" V1 ")
    pid = world.sim.add_provider(world.tenant, "p2", config=config, target_namespace=NS)
    job = world.post("install", provider=pid).json()["job"]
    assert (job["install_mode"], job["asset_version"]) == ("gitops", "v1")
    job2 = world.post("install", {"install_mode": "image_factory_installer", "asset_version": " V2 "}).json()["job"]
    assert (job2["install_mode"], job2["asset_version"]) == ("image_factory_installer", "v2")


def test_missing_profile_fails_the_job_and_takes_the_provider_offline(world: World) -> None:
    """An asset_version without a profile folder fails the job and forces the provider offline."""
    job_id = world.post("upgrade", {"asset_version": "v2"}).json()["job"]["id"]
    world.sim.run_installer_tick()
    job = world.sim.job(job_id)
    missing = (FIXTURES / "tasks/v2/git-clone-task.yaml").as_posix()
    error = f"tekton profile version v2 requested but resource does not exist: {missing}"
    assert (job["status"], job["error_message"]) == ("failed", error)
    assert job["events"][-1] == {
        **job["events"][-1],
        "event_type": "job.failed",
        "details": {"operation": "upgrade", "error": error},
    }
    provider = world.sim.provider(world.provider)
    assert provider["readiness_missing_prereqs"] == [f"tekton upgrade failed: {error}"]
    assert (provider["status"], provider["is_schedulable"]) == ("offline", False)
    assert world.kinds() == []


def test_failing_apply_stops_at_the_first_bad_object(world: World, tmp_path: Path) -> None:
    """A Deployment without spec.selector fails with `failed to apply Kind/name from <file>: ...`."""
    root = copy_tree(tmp_path)
    deployment = root / "jobs/v1/internal-registry-deployment.yaml"
    text = deployment.read_text()
    start = text.index("  selector:")
    end = text.index("  template:")
    deployment.write_text(text[:start] + text[end:])
    world.sim.asset_root = root
    job_id = world.post("upgrade").json()["job"]["id"]
    world.sim.run_installer_tick()
    job = world.sim.job(job_id)
    prefix = f"failed to apply Deployment/image-factory-registry from {deployment.resolve().as_posix()}: "
    assert job["status"] == "failed"
    assert job["error_message"].startswith(prefix)
    assert "spec.selector" in job["error_message"]
    failed = [e for e in job["events"] if e["event_type"] == "upgrade.apply.failed"]
    assert failed[0]["message"] == "Failed to apply manifest object"
    assert failed[0]["details"]["kind"] == "Deployment"
    assert [e["event_type"] for e in job["events"]][-2:] == ["upgrade.apply.failed", "job.failed"]
    applied = world.kinds()
    assert len(applied) == 14  # 12 tasks, the warmup CronJob and the registry PVC
    assert not any(ref.startswith("Pipeline/") for ref in applied)


def test_unmapped_kind_fails_with_the_map_message(world: World, tmp_path: Path) -> None:
    """An object of a kind the cluster does not serve fails with `failed to map resource`."""
    root = copy_tree(tmp_path)
    (root / "jobs/v1/trivy-db-warmup-cronjob.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
    )
    world.sim.asset_root = root
    job_id = world.post("install").json()["job"]["id"]
    world.sim.run_installer_tick()
    assert (
        world.sim.job(job_id)["error_message"]
        == 'failed to map resource Widget/w: no matches for kind "Widget" in version "example.com/v1"'
    )


def test_objects_go_in_as_go_decodes_and_places_them(world: World, tmp_path: Path) -> None:
    """YAML 1.1 values land as Go decodes them, and an object with its own namespace is applied there."""
    root = copy_tree(tmp_path)
    (root / "jobs/v1/extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: platform\ndata:\n  a: b\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\nspec:\n  containers:\n"
        "    - name: c\n      image: busybox\n      tty: yes\n  volumes:\n    - name: s\n"
        "      secret:\n        secretName: s\n        defaultMode: 0755\n"
    )
    kustomization = root / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - jobs/v1/extra.yaml\n")
    world.cluster.ensure_namespace("platform")
    world.sim.asset_root = root
    job_id = world.post("install").json()["job"]["id"]
    world.sim.run_installer_tick()
    job = world.sim.job(job_id)
    assert job["status"] == "succeeded", job["error_message"]
    placed = {
        e["details"]["name"]: e["details"]["namespace"] for e in job["events"] if e["event_type"].endswith(".object")
    }
    assert (placed["shared"], placed["probe"]) == ("platform", NS)
    pod = world.cluster.get(world.cluster.type_for("v1", "Pod"), NS, "probe")
    assert pod is not None
    assert pod["spec"]["containers"][0]["tty"] is True
    assert pod["spec"]["volumes"][0]["secret"]["defaultMode"] == 0o755


def test_upgrade_never_prunes(world: World, tmp_path: Path) -> None:
    """Objects dropped from the asset set stay in the cluster after an upgrade (no pruning)."""
    world.post("install")
    world.sim.run_installer_tick()
    root = copy_tree(tmp_path)
    kustomization = root / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - tasks/v1/kaniko-task.yaml\n", ""))
    world.sim.asset_root = root
    job_id = world.post("upgrade").json()["job"]["id"]
    world.sim.run_installer_tick()
    job = world.sim.job(job_id)
    assert job["status"] == "succeeded"
    assert sum(e["event_type"] == "upgrade.apply.object" for e in job["events"]) == 25
    assert "Task/kaniko" in world.kinds()


def test_no_asset_root_fails_the_job(tmp_path: Path) -> None:
    """Without a resolvable asset root the installer job fails before applying anything."""
    for world in make_world(asset_root=None):
        job_id = world.post("install").json()["job"]["id"]
        world.sim.run_installer_tick()
        job = world.sim.job(job_id)
        assert job["error_message"] == (
            "failed to resolve tekton asset root directory (checked backend/tekton, tekton, /app/tekton)"
        )
        assert world.kinds() == []
        world.sim.asset_root = tmp_path  # a directory without kustomization.yaml
        job_id = world.post("install").json()["job"]["id"]
        world.sim.run_installer_tick()
        assert (
            world.sim.job(job_id)["error_message"]
            == f"IF_TEKTON_ASSETS_DIR is set but kustomization.yaml not found in {tmp_path.as_posix()}"
        )


def test_a_failure_naming_cluster_capacity_blocks_on_capacity(world: World, tmp_path: Path) -> None:
    """UpdateProviderReadiness adds cluster_capacity to blocked_by for any prereq naming it, between
    provider_not_ready and provider_status_<s>, and the reason then speaks of capacity (schedulableReasonFromBlockedBy):
    here the failed job's message carries it through the asset root's path."""
    world.sim.asset_root = tmp_path / "cluster_capacity"
    world.sim.asset_root.mkdir()
    world.post("install")
    world.sim.run_installer_tick()
    provider = world.sim.provider(world.provider)
    assert provider["blocked_by"] == ["provider_not_ready", "cluster_capacity", "provider_status_offline"]
    assert provider["schedulable_reason"] == "cluster capacity is not ready"


def test_gitops_mode_only_delegates(world: World) -> None:
    """A gitops upgrade applies nothing, records `<op>.delegated`, refreshes readiness and succeeds anyway."""
    job_id = world.post("upgrade", {"install_mode": "gitops"}).json()["job"]["id"]
    world.sim.run_installer_tick()
    job = world.sim.job(job_id)
    assert [e["event_type"] for e in job["events"]] == [
        "upgrade.requested",
        "job.started",
        "upgrade.delegated",
        "job.readiness.summary",
        "job.succeeded",
    ]
    assert job["events"][2]["details"]["manual_action"] == "sync assets via GitOps controller"
    assert job["status"] == "succeeded"  # even though post-op readiness is not_ready
    assert world.kinds() == []
    provider = world.sim.provider(world.provider)
    assert provider["readiness_status"] == "not_ready"
    assert provider["readiness_missing_prereqs"][0] == f"missing tekton task: git-clone in namespace {NS}"
    assert (
        f"missing tekton pipeline: image-factory-build-v1-docker in namespace {NS}"
        in provider["readiness_missing_prereqs"]
    )


def test_validate_succeeds_for_kubernetes_and_fails_for_other_types(world: World) -> None:
    """Validate succeeds for kubernetes and fails with `unsupported provider type` for aws-eks."""
    job_id = world.post("validate").json()["job"]["id"]
    world.sim.run_installer_tick()
    events = world.sim.events(job_id)
    assert events[2]["event_type"] == "validate.completed"
    assert events[2]["details"]["message"] == "Successfully connected to Kubernetes cluster"
    nodes = events[2]["details"]["details"]["nodes"]  # getNodeSummary: name and readiness of each node
    assert nodes and all(set(n) == {"name", "ready"} for n in nodes)
    nodes_provider = world.sim.add_provider(
        world.tenant, "nodes", provider_type="build_nodes", config={"endpoint": "https://nodes.test", "token": "t"}
    )
    job_id = world.post("validate", provider=nodes_provider).json()["job"]["id"]
    world.sim.run_installer_tick()
    assert world.sim.events(job_id)[2]["details"] == {
        "message": "Successfully connected to build nodes",
        "details": {"endpoint": "https://nodes.test", "auth_method": "token"},
    }
    eks = world.sim.add_provider(world.tenant, "eks", provider_type="aws-eks", target_namespace=NS)
    job_id = world.post("validate", provider=eks).json()["job"]["id"]
    world.sim.run_installer_tick()
    assert (
        world.sim.job(job_id)["error_message"]
        == "failed to create provider connector: unsupported provider type: aws-eks"
    )
    assert world.sim.provider(eks)["status"] == "offline"


def test_retry_rules(world: World) -> None:
    """Retry needs a body, a UUID, a known job of this provider and a failed source; it copies op/version."""
    url = world.p("/tekton/retry")
    assert world.client.post(url, headers=world.headers).text == "Invalid request body\n"
    assert world.client.post(url, headers=world.headers, json={"job_id": "x"}).text == "Invalid job_id\n"
    unknown = world.client.post(url, headers=world.headers, json={"job_id": "11111111-1111-1111-1111-111111111111"})
    assert (unknown.status_code, unknown.text) == (404, "Tekton installer job not found\n")
    ok = world.sim.seed_job(world.provider, operation="upgrade", status="succeeded")
    refused = world.client.post(url, headers=world.headers, json={"job_id": ok})
    assert (refused.status_code, refused.text) == (
        400,
        "Tekton installer job is not retryable (only failed jobs can be retried)\n",
    )
    failed = world.sim.seed_job(
        world.provider, operation="upgrade", status="failed", asset_version="v1", error_message="boom"
    )
    reply = world.client.post(url, headers=world.headers, json={"job_id": failed})
    assert reply.status_code == 202
    assert reply.json()["operation"] == "retry"
    new = reply.json()["job"]
    assert (new["status"], new["asset_version"]) == ("pending", "v1")
    again = world.client.post(url, headers=world.headers, json={"job_id": failed})
    assert (again.status_code, again.text) == (409, IN_PROGRESS)
    world.sim.run_installer_tick()
    job = world.sim.job(new["id"])
    assert job["operation"] == "upgrade" and job["status"] == "succeeded"
    # RetryTektonInstallerJob goes through StartTektonInstallerJob: <op>.requested first, then job.retry.requested
    assert [e["event_type"] for e in job["events"][:3]] == ["upgrade.requested", "job.retry.requested", "job.started"]
    assert job["events"][0]["details"] == {"operation": "upgrade"}
    assert job["events"][1]["details"] == {"source_job_id": failed, "operation": "upgrade"}
    assert world.sim.events(failed)[-1]["details"] == {"retry_job_id": new["id"]}
    assert any(e["event_type"] == "upgrade.apply.completed" for e in job["events"])


def test_a_replay_before_the_request_event_lands_gets_409_for_its_own_job(world: World) -> None:
    """The job row and its request event are separate inserts: a replay in between finds no job for its key and
    runs into the lock its own job holds; once the event lands, the same replay answers 202 with that job."""
    world.sim.defer_next_request_event(1.0)
    first = world.post("validate", {"idempotency_key": "k1"})
    assert first.status_code == 202
    replay = world.post("validate", {"idempotency_key": "k1"})
    assert (replay.status_code, replay.text) == (409, IN_PROGRESS)
    assert world.status().json()["active_job"]["id"] == first.json()["job"]["id"]
    assert "active_job_events" not in world.status().json()
    world.clock.sleep(1)
    again = world.post("validate", {"idempotency_key": "k1"})
    assert (again.status_code, again.json()["job"]["id"]) == (202, first.json()["job"]["id"])
    events = world.status().json()["active_job_events"]
    assert [e["event_type"] for e in events] == ["validate.requested"]
    assert events[0]["details"]["idempotency_key"] == "k1"


def test_a_job_whose_request_event_was_lost_fails_when_it_runs(world: World) -> None:
    """A lost request event leaves job.started as the first event, so the operation cannot be resolved."""
    world.sim.defer_next_request_event(None)
    job_id = world.post("upgrade", {"idempotency_key": "k2"}).json()["job"]["id"]
    assert world.post("upgrade", {"idempotency_key": "k2"}).status_code == 409
    world.sim.run_installer_tick()
    job = world.sim.job(job_id)
    assert (job["status"], job["error_message"]) == (
        "failed",
        'unsupported installer job operation from event type "job.started"',
    )
    assert [e["event_type"] for e in job["events"]] == ["job.started", "job.failed"]
    # RetryTektonInstallerJob resolves the source's operation the same way, before anything else: a 500
    retry = world.client.post(world.p("/tekton/retry"), headers=world.headers, json={"job_id": job_id})
    assert (retry.status_code, retry.text) == (500, "Internal server error\n")
    assert [j["id"] for j in world.sim.jobs(world.provider)] == [job_id]


def test_a_retry_resolves_a_blank_asset_version_again(world: World) -> None:
    """Retry passes the source's asset_version through StartTektonInstallerJob, whose resolveTektonAssetVersion
    turns the "" a blank request stored into the provider's profile (else v1)."""
    failed = world.sim.seed_job(world.provider, operation="upgrade", status="failed", asset_version="")
    reply = world.client.post(world.p("/tekton/retry"), headers=world.headers, json={"job_id": failed})
    assert (reply.status_code, reply.json()["job"]["asset_version"]) == (202, "v1")


def test_a_blank_asset_version_is_stored_empty(world: World) -> None:
    """resolveTektonAssetVersion trims a non-empty request value, so "  " is stored as "" (not the default)."""
    body = world.post("validate", {"asset_version": "  "}).json()
    assert body["job"]["asset_version"] == ""
    assert world.post("validate", {"asset_version": " V2 "}).status_code == 409
    world.sim.run_installer_tick()
    assert world.post("validate", {"asset_version": " V2 "}).json()["job"]["asset_version"] == "v2"


def test_post_operation_check_that_cannot_run_saves_nothing_and_emits_readiness_failed(world: World) -> None:
    """A post-operation check that cannot run (a gitops upgrade, cluster unreachable) saves nothing, records
    job.readiness.failed, and the job still succeeds."""
    world.post("install", {})
    world.sim.run_installer_tick()
    before = world.sim.provider(world.provider)
    assert before["readiness_status"] == "ready"
    gitops = ImageFactorySimulator.default_provider_config(tekton_install_mode="gitops")
    world.sim.state.providers[world.provider].config = gitops
    world.sim.set_cluster_reachable(world.provider, False)
    world.clock.sleep(1)
    job_id = world.post("upgrade", {}).json()["job"]["id"]
    world.sim.run_installer_tick()
    job = world.sim.job(job_id)
    assert job["status"] == "succeeded"  # RunNextTektonInstallerJob never fails a job for its readiness check
    failed = next(e for e in job["events"] if e["event_type"] == "job.readiness.failed")
    assert failed["message"] == "Post-operation readiness check failed"
    assert failed["details"]["error"].startswith("failed to detect tekton api version: no supported Tekton API")
    after = world.sim.provider(world.provider)
    assert (after["readiness_status"], after["readiness_last_checked"]) == (
        "ready",
        before["readiness_last_checked"],
    )


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
def test_status_limit_bounds(world: World, limit: str) -> None:
    """limit outside 1..100 is a plain-text 400."""
    reply = world.status(limit=limit)
    assert (reply.status_code, reply.text) == (400, "Invalid limit (must be between 1 and 100)\n")
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_status_lists_newest_first_with_limit_and_raw_profile(world: World) -> None:
    """recent_jobs is newest first and cut at limit; required_pipelines uses the raw config profile."""
    ids = [world.sim.seed_job(world.provider, status="succeeded") for _ in range(3)]
    body = world.status(limit=2).json()
    assert [j["id"] for j in body["recent_jobs"]] == ids[::-1][:2]
    assert body["required_pipelines"][0] == "image-factory-build-v1-docker"
    assert "readiness_status" not in body
    config = ImageFactorySimulator.default_provider_config(tekton_profile_version="V2")
    pid = world.sim.add_provider(world.tenant, "p2", config=config, target_namespace=NS)
    other = world.client.get(world.p("/tekton/status", pid), headers=world.headers).json()
    assert other["required_pipelines"] == [
        f"image-factory-build-V2-{m}" for m in ("docker", "buildx", "kaniko", "packer")
    ]
    assert other["recent_jobs"] == []


def test_background_worker_runs_jobs_fifo(world: World) -> None:
    """The dispatcher timer claims one job per 5 s tick, oldest first, as simulated time passes."""
    second = world.sim.add_provider(world.tenant, "p2", target_namespace="if-two")
    a = world.post("install").json()["job"]["id"]
    world.clock.sleep(1)
    b = world.post("install", provider=second).json()["job"]["id"]
    world.clock.sleep(4)  # first tick (t=5): the older job only
    assert (world.sim.job(a)["status"], world.sim.job(b)["status"]) == ("succeeded", "pending")
    world.sim.wait_idle(60)  # the next tick (t=10) runs the other one
    first, last = world.sim.job(a), world.sim.job(b)
    assert first["status"] == last["status"] == "succeeded"
    assert (first["started_at"], last["started_at"]) == ("2026-03-28T00:00:05Z", "2026-03-28T00:00:10Z")
    assert world.clock.monotonic() == 10
