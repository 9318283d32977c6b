"""FluxEngine against the Flux simulator over the Kubernetes simulator's sockets, on one ``FakeClock``.

The controllers tick every 3 s of simulated time and the engine polls every 5 s, so waits of minutes cost nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitrollback.errors import AdapterError, PreconditionFailedError, WaitTimeoutError
from gitrollback.models import DeployedObject
from gitrollback.ports import DeploymentHistory, SyncEngine
from tests.flux_world import APPS, flux_world, git, release


def test_reconciles_source_then_kustomization_to_exactly_the_commit(tmp_path: Path) -> None:
    """sync + wait_for_revision: both objects handled our requests, the new commit is applied and Ready."""
    with flux_world(tmp_path) as world:
        engine = world.engine()
        assert isinstance(engine, SyncEngine) and isinstance(engine, DeploymentHistory)
        world.flux.controllers.tick()
        new = world.commit(release(2, tasks=("build", "scan")), "release 2")
        before = world.clock.monotonic()
        engine.sync("apps", revision=new)
        source = world.flux.git_repository("gitops")
        requested = source["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        status = engine.wait_for_revision("apps", new, timeout=300)
        assert world.clock.monotonic() - before < 60  # well before the 1m source interval would have found it
        assert status.engine == "flux" and status.revision == new
        assert (status.sync_status, status.health) == ("Synced", "Healthy")
        assert status.operation_message == f"Applied revision: main@sha1:{new}"
        assert world.flux.git_repository("gitops")["status"]["lastHandledReconcileAt"] == requested
        ks = world.flux.kustomization("apps")
        assert (
            ks["status"]["lastHandledReconcileAt"] == ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        )
        assert world.task_names() == ["build", "scan"]
        assert engine.deployed("flux-system/apps") == [
            DeployedObject("v1", "ConfigMap", "settings", APPS),
            DeployedObject("tekton.dev/v1", "Task", "build", APPS),
            DeployedObject("tekton.dev/v1", "Task", "scan", APPS),
        ]
        at = world.clock.monotonic()
        assert world.engine().wait_for_revision("apps", new, timeout=5).revision == new  # a rerun: already there
        assert world.clock.monotonic() == at
        first = git(world.repo, "rev-parse", "HEAD~1")
        assert [(r.revision, r.controller) for r in engine.history("apps")] == [(first, "Flux"), (new, "Flux")]


def test_stalled_fails_at_once(tmp_path: Path) -> None:
    """A Kustomization Flux will not retry (Stalled, AccessDenied) fails the wait on the first poll that sees it."""
    with flux_world(tmp_path) as world:
        world.flux.no_cross_namespace_refs = True
        world.cluster.ensure_namespace("team")
        world.flux.add_kustomization(
            "team-apps",
            source="gitops",
            path="./deploy",
            namespace="team",
            target_namespace=APPS,
            extra_spec={"sourceRef": {"kind": "GitRepository", "name": "gitops", "namespace": "flux-system"}},
        )
        head = git(world.repo, "rev-parse", "HEAD")
        engine = world.engine()
        engine.sync("team/team-apps", revision=head)
        start = world.clock.monotonic()
        with pytest.raises(AdapterError) as info:
            engine.wait_for_revision("team/team-apps", head, timeout=600)
        assert info.value.kind == "flux_stalled"
        assert "Stalled (AccessDenied): can't access 'GitRepository/flux-system/gitops'" in str(info.value)
        assert world.clock.monotonic() - start <= 15  # not the 600 s timeout


def test_endless_retrying_is_reported_while_waiting_and_at_the_timeout(tmp_path: Path) -> None:
    """A revision Flux cannot apply keeps it retrying; the wait reports Flux's message and times out with it."""
    with flux_world(tmp_path) as world:
        bad_deployment = (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: registry\nspec:\n  template:\n"
            "    metadata:\n      labels: {app: registry}\n    spec:\n      containers:\n"
            "        - {name: registry, image: registry:2}\n"
        )
        files = release(2)
        files["deploy/registry.yaml"] = bad_deployment
        files["deploy/kustomization.yaml"] += "  - registry.yaml\n"
        bad = world.commit(files, "registry without a selector")
        seen: list[str] = []
        engine = world.engine(on_wait=lambda what, elapsed, state: seen.append(state))
        engine.sync("apps", revision=bad)
        with pytest.raises(WaitTimeoutError) as info:
            engine.wait_for_revision("apps", bad, timeout=120)
        expected = (
            'Deployment/apps/registry dry-run failed (Invalid): Deployment.apps "registry" is invalid: spec.selector: '
            "Required value"
        )
        assert expected in str(info.value) and expected in info.value.last_state
        assert "Flux is retrying" in info.value.last_state
        assert any(expected in state for state in seen)
        assert 120 <= info.value.waited <= 130
        assert world.task_names() == ["build"]  # Flux's dry run kept the whole revision out


def test_suspended_objects_are_refused_by_default_and_awaited_when_warned(tmp_path: Path) -> None:
    """A suspended Kustomization is refused before anything is annotated; with warn the wait goes on until resume."""
    with flux_world(tmp_path) as world:
        new = world.commit(release(2, tasks=("scan",)), "release 2")
        world.flux.set_suspend("Kustomization", "apps", True)
        engine = world.engine()
        with pytest.raises(PreconditionFailedError) as info:
            engine.sync("apps", revision=new)
        assert info.value.kind == "flux_suspended" and "Kustomization flux-system/apps is suspended" in str(info.value)
        assert "reconcile.fluxcd.io/requestedAt" not in (
            world.flux.git_repository("gitops")["metadata"].get("annotations") or {}
        )
        world.flux.set_suspend("Kustomization", "apps", False)
        world.flux.set_suspend("GitRepository", "gitops", True)
        with pytest.raises(PreconditionFailedError, match="GitRepository flux-system/gitops is suspended"):
            engine.sync("apps", revision=new)
        world.flux.set_suspend("GitRepository", "gitops", False)
        world.flux.set_suspend("Kustomization", "apps", True)
        states: list[str] = []
        warned = world.engine(on_suspended="warn", on_wait=lambda what, elapsed, state: states.append(state))
        status = warned.sync("apps", revision=new)
        assert status.warnings == (
            "Kustomization flux-system/apps is suspended; gitrollback waits for it to be resumed",
        )
        world.clock.after(60, lambda: world.flux.set_suspend("Kustomization", "apps", False))
        done = warned.wait_for_revision("apps", new, timeout=300)
        assert done.revision == new and any(s.startswith("suspended") for s in states)
        assert world.task_names() == ["scan"]


def test_a_failed_dependency_is_named_and_a_stalled_one_fails_at_once(tmp_path: Path) -> None:
    """DependsOn: a retrying dependency is reported at the timeout; a Stalled one ends the wait at once."""
    with flux_world(tmp_path) as world:
        world.flux.add_kustomization("infra", source="gitops", path="./missing", target_namespace=APPS)
        world.flux.add_kustomization(
            "tekton", source="gitops", path="./deploy", target_namespace=APPS, depends_on=("infra",)
        )
        new = world.commit(release(2), "release 2")
        engine = world.engine()
        engine.sync("tekton", revision=new)
        with pytest.raises(WaitTimeoutError) as info:
            engine.wait_for_revision("tekton", new, timeout=90)
        assert "dependency 'flux-system/infra' is not ready" in info.value.last_state
        assert "dependency flux-system/infra: " in info.value.last_state
        assert "kustomization path not found" in info.value.last_state
        world.flux.no_cross_namespace_refs = True
        world.cluster.patch(
            world.flux.controllers.ks_type,
            "flux-system",
            "infra",
            lambda live: {
                **live,
                "spec": {**live["spec"], "sourceRef": {**live["spec"]["sourceRef"], "namespace": "elsewhere"}},
            },
            manager="test",
        )
        world.clock.advance(10)
        start = world.clock.monotonic()
        with pytest.raises(AdapterError) as failed:
            engine.wait_for_revision("tekton", new, timeout=600)
        assert failed.value.kind == "flux_dependency_failed"
        assert "depends on Kustomization flux-system/infra, which failed: Stalled (AccessDenied)" in str(failed.value)
        assert world.clock.monotonic() - start <= 40


def test_dependents_are_reconciled_and_awaited_when_configured(tmp_path: Path) -> None:
    """With wait_for_dependents the Kustomizations depending on this one reach the revision before the wait ends."""
    with flux_world(tmp_path) as world:
        world.cluster.ensure_namespace("smoke")
        world.flux.add_kustomization(
            "smoke", source="gitops", path="./deploy", target_namespace="smoke", depends_on=("apps",), interval="1h"
        )
        world.flux.reconcile_all()
        world.flux.pause()
        new = world.commit(release(2, tasks=("build", "scan")), "release 2")
        world.flux.resume()
        engine = world.engine(wait_for_dependents=True)
        engine.sync("apps", revision=new)
        engine.wait_for_revision("apps", new, timeout=300)
        smoke = world.flux.kustomization("smoke")
        assert smoke["status"]["lastAppliedRevision"] == f"main@sha1:{new}"
        assert (
            smoke["status"]["lastHandledReconcileAt"]
            == smoke["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        )


def test_prune_asked_of_a_kustomization_that_does_not_prune_is_a_warning(tmp_path: Path) -> None:
    """Flux prunes by spec.prune only: sync(prune=True) on a non-pruning Kustomization says what stays."""
    with flux_world(tmp_path) as world:
        world.cluster.patch(
            world.flux.controllers.ks_type,
            "flux-system",
            "apps",
            lambda live: {**live, "spec": {**live["spec"], "prune": False}},
            manager="test",
        )
        new = world.commit(release(2, tasks=("scan",)), "replace build with scan")
        engine = world.engine()
        status = engine.sync("apps", revision=new, prune=True)
        warning = "Kustomization flux-system/apps has spec.prune false: objects the bad release added stay"
        assert status.warnings == (warning,)
        assert engine.wait_for_revision("apps", new, timeout=300).warnings == (warning,)
        assert world.task_names() == ["build", "scan"]  # nothing was pruned, as the warning said


def test_preflight_reads_both_objects_and_asks_for_patch_rights(tmp_path: Path) -> None:
    """check_access: fine as is; a denied patch on GitRepositories and a missing Kustomization are named."""
    from gitrollback.models import AccessNeeds

    with flux_world(tmp_path) as world:
        engine = world.engine()
        assert engine.kind == "flux"
        assert engine.check_access(AccessNeeds(provider_id="p", app="apps")) == []
        world.kube.deny("patch", "gitrepositories", group="source.toolkit.fluxcd.io", namespace="flux-system")
        problems = engine.check_access(AccessNeeds(provider_id="p", app="apps"))
        assert [p.problem for p in problems] == [
            'the token may not patch gitrepositories.source.toolkit.fluxcd.io in namespace "flux-system"'
        ]
        missing = engine.check_access(AccessNeeds(provider_id="p", app="nope"))
        assert len(missing) == 1 and "cannot read Flux's objects (404)" in missing[0].problem
        assert "reconcile.fluxcd.io/requestedAt" not in (
            world.flux.git_repository("gitops")["metadata"].get("annotations") or {}
        )
