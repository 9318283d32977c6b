"""The Flux simulator: Flux's CRDs enforced by the Kubernetes simulator, and the controllers' behaviour.

Everything goes through real clients where a client is involved (lightkube against the Kubernetes simulator), and the
world runs on a ``FakeClock``: ``clock.advance`` steps the controllers' timer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType

from gitrollback.testing.cluster_state import StoreError
from gitrollback.testing.flux import FIELD_MANAGER
from tests.flux_world import APPS, URL, FluxWorld, flux_world, git, release

Kustomization = create_namespaced_resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations")


def _client(world: FluxWorld) -> Client:
    return Client(KubeConfig.from_dict(world.kube.kubeconfig()), trust_env=False)


def _ready(obj: dict) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def test_a_schema_invalid_kustomization_is_refused_as_an_api_server_with_flux_refuses_it(tmp_path: Path) -> None:
    """Create with a bad interval, a string prune, an unknown source kind and no sourceRef name: 422, nothing stored."""
    with flux_world(tmp_path) as world:
        client = _client(world)
        body = Kustomization.from_dict(
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": "broken", "namespace": "flux-system"},
                "spec": {"interval": "ten minutes", "prune": "yes", "sourceRef": {"kind": "HelmChart"}},
            }
        )
        with pytest.raises(ApiError) as info:
            client.create(body)
        status = info.value.status
        assert status.code == 422 and status.reason == "Invalid"
        message = str(status.message)
        assert message.startswith('Kustomization.kustomize.toolkit.fluxcd.io "broken" is invalid: [')
        assert "spec.sourceRef.name: Required value" in message
        assert 'spec.prune: Invalid value: "string": spec.prune in body must be of type boolean: "string"' in message
        assert "spec.interval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'" in message
        assert 'spec.sourceRef.kind: Unsupported value: "HelmChart": supported values: "OCIRepository"' in message
        with pytest.raises(ApiError) as missing:
            client.get(Kustomization, "broken", namespace="flux-system")
        assert missing.value.status.code == 404
        # a strategic merge patch is refused for custom resources; a merge patch is what Flux's clients send
        with pytest.raises(ApiError) as strategic:
            client.patch(Kustomization, "apps", {"spec": {"suspend": True}}, namespace="flux-system")
        assert strategic.value.status.code == 415
        client.patch(
            Kustomization, "apps", {"spec": {"suspend": True}}, namespace="flux-system", patch_type=PatchType.MERGE
        )
        stored = world.flux.kustomization("apps")
        assert stored["spec"]["suspend"] is True and stored["spec"]["force"] is False  # the CRD's default filled in
        client.close()


def test_the_source_artifact_and_the_kustomization_follow_the_real_repository(tmp_path: Path) -> None:
    """The artifact revision is main@sha1:<HEAD>; the objects land with the kustomize-controller manager and labels."""
    with flux_world(tmp_path) as world:
        head = git(world.repo, "rev-parse", "HEAD")
        source = world.flux.git_repository("gitops")
        assert source["status"]["artifact"]["revision"] == f"main@sha1:{head}"
        assert _ready(source)["message"] == f"stored artifact for revision 'main@sha1:{head}'"
        ks = world.flux.kustomization("apps")
        assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{head}"
        assert _ready(ks) | {"lastTransitionTime": ""} == {
            "type": "Ready",
            "status": "True",
            "observedGeneration": 1,
            "lastTransitionTime": "",
            "reason": "ReconciliationSucceeded",
            "message": f"Applied revision: main@sha1:{head}",
        }
        assert ks["status"]["observedGeneration"] == 1
        assert not any(c["type"] == "Reconciling" for c in ks["status"]["conditions"])
        ids = [e["id"] for e in ks["status"]["inventory"]["entries"]]
        assert ids == ["apps_settings__ConfigMap", "apps_build_tekton.dev_Task"]  # ssa ReconcileOrder: ConfigMap first
        rt = world.cluster.type_for("tekton.dev/v1", "Task")
        assert rt is not None
        assert FIELD_MANAGER in world.cluster.managers(rt, APPS, "build")
        task = world.cluster.get(rt, APPS, "build")
        assert task is not None and task["metadata"]["labels"] == {
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        }
        # a new commit reaches the cluster within the source interval (1m) without anyone asking
        new = world.commit(release(2, tasks=("build", "scan")), "release 2")
        world.clock.advance(70)
        assert world.flux.kustomization("apps")["status"]["lastAppliedRevision"] == f"main@sha1:{new}"
        assert world.task_names() == ["build", "scan"]


def test_prune_removes_what_the_new_inventory_lacks_and_a_request_is_recorded(tmp_path: Path) -> None:
    """Dropping a Task from git deletes it (prune: true); the requestedAt value becomes lastHandledReconcileAt."""
    with flux_world(tmp_path) as world:
        world.commit(release(2, tasks=("build", "scan")), "add scan")
        world.clock.advance(70)
        assert world.task_names() == ["build", "scan"]
        world.commit({"deploy/task-build.yaml": None, **release(3, tasks=("scan",))}, "drop build")
        world.clock.advance(70)
        assert world.task_names() == ["scan"]
        client = _client(world)
        client.patch(
            Kustomization,
            "apps",
            {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "2026-01-01T00:00:00.1Z"}}},
            namespace="flux-system",
            patch_type=PatchType.MERGE,
        )
        world.clock.advance(6)
        assert world.flux.kustomization("apps")["status"]["lastHandledReconcileAt"] == "2026-01-01T00:00:00.1Z"
        client.close()


def test_a_build_that_fails_retries_and_a_suspended_kustomization_only_records_the_request(tmp_path: Path) -> None:
    """A kustomization naming a missing file is BuildFailed with ProgressingWithRetry; suspended applies nothing."""
    with flux_world(tmp_path) as world:
        bad = world.commit({"deploy/kustomization.yaml": "resources:\n  - missing.yaml\n"}, "broken kustomization")
        world.clock.advance(70)
        ks = world.flux.kustomization("apps")
        ready = _ready(ks)
        assert ready["status"] == "False" and ready["reason"] == "BuildFailed"
        assert ready["message"].startswith("kustomize build failed: ")
        assert "missing.yaml" in ready["message"] and "/tmp/kustomization-" in ready["message"]
        reconciling = next(c for c in ks["status"]["conditions"] if c["type"] == "Reconciling")
        assert reconciling["reason"] == "ProgressingWithRetry"
        assert ks["status"]["lastAttemptedRevision"] == f"main@sha1:{bad}"
        assert ks["status"]["lastAppliedRevision"] != f"main@sha1:{bad}"
        assert world.task_names() == ["build"]  # nothing of the broken revision was applied
        world.flux.set_suspend("Kustomization", "apps", True)
        fixed = world.commit(release(4, tasks=("lint",)), "fixed")
        world.flux.controllers.tick()
        world.cluster.patch(
            world.flux.controllers.ks_type,
            "flux-system",
            "apps",
            lambda live: {
                **live,
                "metadata": {**live["metadata"], "annotations": {"reconcile.fluxcd.io/requestedAt": "now-1"}},
            },
            manager="test",
        )
        world.clock.advance(200)
        ks = world.flux.kustomization("apps")
        assert ks["status"]["lastHandledReconcileAt"] == "now-1"  # "handled" ...
        assert ks["status"]["lastAppliedRevision"] != f"main@sha1:{fixed}"  # ... but nothing applied
        assert world.task_names() == ["build"]
        world.flux.set_suspend("Kustomization", "apps", False)
        world.clock.advance(6)
        assert world.flux.kustomization("apps")["status"]["lastAppliedRevision"] == f"main@sha1:{fixed}"
        assert world.task_names() == ["lint"]


def test_dependencies_gate_the_apply_and_cross_namespace_sources_stall(tmp_path: Path) -> None:
    """A dependency that is not Ready holds a Kustomization at DependencyNotReady; a blocked source ref is Stalled."""
    with flux_world(tmp_path) as world:
        world.flux.add_kustomization("infra", source="gitops", path="./missing", target_namespace=APPS)
        world.flux.add_kustomization(
            "tekton", source="gitops", path="./deploy", target_namespace=APPS, depends_on=("infra",)
        )
        world.clock.advance(10)
        infra, tekton = world.flux.kustomization("infra"), world.flux.kustomization("tekton")
        assert _ready(infra)["reason"] == "ArtifactFailed"
        assert _ready(infra)["message"].startswith("kustomization path not found: stat /tmp/kustomization-")
        assert _ready(tekton) | {"lastTransitionTime": ""} == {
            "type": "Ready",
            "status": "False",
            "observedGeneration": 1,
            "lastTransitionTime": "",
            "reason": "DependencyNotReady",
            "message": "dependency 'flux-system/infra' is not ready",
        }
        assert "lastAppliedRevision" not in tekton["status"]
        world.flux.no_cross_namespace_refs = True
        world.cluster.ensure_namespace("team")
        world.flux.add_kustomization(
            "other",
            source="gitops",
            path="./deploy",
            namespace="team",
            extra_spec={"sourceRef": {"kind": "GitRepository", "name": "gitops", "namespace": "flux-system"}},
        )
        world.clock.advance(4)
        other = world.flux.kustomization("other", "team")
        stalled = next(c for c in other["status"]["conditions"] if c["type"] == "Stalled")
        assert stalled["status"] == "True" and stalled["reason"] == "AccessDenied"
        assert stalled["message"] == (
            "can't access 'GitRepository/flux-system/gitops', cross-namespace references have been blocked"
        )


def test_the_crds_cel_rules_are_enforced(tmp_path: Path) -> None:
    """x-kubernetes-validations: a GitRepository serviceAccountName needs provider azure or aws (evaluated CEL)."""
    with flux_world(tmp_path, kustomization=False) as world:
        body = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "sa", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": URL, "serviceAccountName": "reader"},
        }
        with pytest.raises(StoreError) as info:
            world.cluster.create(body, manager="test")
        assert info.value.code == 422 and info.value.message == (
            'GitRepository.source.toolkit.fluxcd.io "sa" is invalid: spec: Invalid value: "object": '
            "serviceAccountName can only be set when provider is 'azure' or 'aws'"
        )
        body["spec"]["provider"] = "aws"
        assert world.cluster.create(body, manager="test")["spec"]["timeout"] == "60s"  # and the default


def test_an_unknown_repository_url_fails_the_fetch(tmp_path: Path) -> None:
    """A GitRepository whose URL stands for no repository is FetchFailed and Ready=False with the clone error."""
    with flux_world(tmp_path, kustomization=False) as world:
        world.flux.add_git_repository("nowhere", url=URL.replace("gitops", "nowhere"))
        world.clock.advance(4)
        source = world.flux.git_repository("nowhere")
        ready = _ready(source)
        assert ready["status"] == "False" and ready["reason"] == "GitOperationFailed"
        assert "unable to clone 'https://git.example.test/acme/nowhere.git': repository not found" in ready["message"]
        assert "artifact" not in source["status"]


def test_a_missing_path_is_not_an_attempted_revision(tmp_path: Path) -> None:
    """lastAttemptedRevision is set only once the artifact is fetched and the path found (kustomize-controller
    reconcile, before the build): a missing path leaves it unset."""
    with flux_world(tmp_path) as world:
        world.flux.add_kustomization("infra", source="gitops", path="./missing", target_namespace=APPS)
        world.clock.advance(10)
        infra = world.flux.kustomization("infra")
        assert _ready(infra)["reason"] == "ArtifactFailed"
        assert "lastAttemptedRevision" not in infra["status"]
        assert "history" not in infra["status"]
