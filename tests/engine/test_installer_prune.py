"""Installer mode's dry-run table and prune, end to end against the sandbox world."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from gitrollback import Rollback, parse_config
from gitrollback.models import StepStatus
from gitrollback.settings import Settings
from gitrollback.testing.sandbox import SandboxWorld

INSTALLER = "image-factory-tekton-installer"


def _settings(world: SandboxWorld, **cluster: Any) -> Settings:
    settings = parse_config(world.config_text, source=str(world.config_path))
    p = settings.providers[0]
    return dataclasses.replace(
        settings, providers=(dataclasses.replace(p, cluster=dataclasses.replace(p.cluster, **cluster)),)
    )


def _rollback(world: SandboxWorld, **cluster: Any) -> Rollback:
    return Rollback.from_settings(
        _settings(world, **cluster),
        env=world.env,
        read_file=lambda p: Path(p).read_text(encoding="utf-8"),
        clock=world.clock,
    )


def _task(name: str, namespace: str, description: str = "someone else's") -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"description": description, "steps": [{"name": "s", "image": "alpine"}]},
    }


def _hand_edit(world: SandboxWorld) -> dict[str, Any]:
    """Someone trims Task/git-clone's workspaces by hand (their manager now owns that field)."""
    return {
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "Task",
        "metadata": {"name": "git-clone", "namespace": world.namespace},
        "spec": {"workspaces": [{"name": "output"}]},
    }


def _everything(world: SandboxWorld) -> set[tuple[str, str, str]]:
    return {
        (rt.kind, o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for rt in world.cluster.types
        for o in world.cluster.list(rt, None)
    }


def test_prune_deletes_exactly_the_bad_versions_additions(world: SandboxWorld) -> None:
    """With --prune the bad revision's Task/kaniko-build goes; a look-alike elsewhere and others' objects stay."""
    world.cluster.ensure_namespace("team-b")
    world.cluster.apply(_task("kaniko-build", "team-b"), namespace="team-b", manager=INSTALLER, force=True)
    world.cluster.apply(_task("team-lint", world.namespace), namespace=world.namespace, manager="kubectl", force=True)
    with _rollback(world) as rb:
        plan = rb.plan(prune=True)
        assert plan.changes is not None
        assert [(c.ref, c.action) for c in plan.changes.added] == [("Task/kaniko-build", "prune")]
        before = _everything(world)
        report = rb.run(prune=True, run_id="prune-test")
    assert report.status == "rolled_back", report.error
    assert report.pruned == ("Task/kaniko-build",)
    prune = next(r for r in report.steps if r.name == "prune")
    assert prune.status is StepStatus.SUCCEEDED and "Task/kaniko-build" in prune.detail
    after = _everything(world)
    assert before - after == {("Task", world.namespace, "kaniko-build")}
    assert ("Task", "team-b", "kaniko-build") in after and ("Task", world.namespace, "team-lint") in after
    objects = next(r for r in report.steps if r.name == "verify-objects")
    assert "kaniko-build" not in objects.detail


def test_prune_from_the_config_and_the_journal_keeps_the_table(world: SandboxWorld) -> None:
    """cluster.prune: true prunes without --prune; the dry-run result in the journal carries the whole table, and
    the prune's result what it deleted."""
    settings = _settings(world, prune=True)
    assert settings.state_dir is not None
    with _rollback(world, prune=True) as rb:
        report = rb.run(run_id="journal-table")
    assert report.pruned == ("Task/kaniko-build",)
    journal = Path(settings.state_dir) / "runs" / world.provider_id / "journal-table.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    results = {e["step"]: e["result"] for e in events if e["event"] == "result"}
    assert results["dry-run"]["type"] == "ChangesPlanned" and results["prune"]["type"] == "Pruned"
    table = results["dry-run"]["value"]["changes"]
    assert len(table["objects"]) == 26 and table["added"][0]["action"] == "prune"
    assert results["prune"]["value"]["deleted"] == ["Task/kaniko-build"]
    checkpoints = [e["result"]["value"] for e in events if e["event"] == "checkpoint" and e["step"] == "prune"]
    assert checkpoints == [{"deleted": [], "deleting": "Task/kaniko-build", "detail": "deleting Task/kaniko-build"}]
    assert report.changes is not None and report.changes.count("create") == 13


def test_an_object_another_manager_changed_is_a_conflict_that_force_takes_over(world: SandboxWorld) -> None:
    """A field someone else owns shows as a conflict naming it; the run (force) takes it over."""
    world.cluster.apply(_hand_edit(world), manager="kubectl", force=True)
    with _rollback(world) as rb:
        plan = rb.plan()
        assert plan.changes is not None
        row = next(c for c in plan.changes.objects if c.ref == "Task/git-clone")
        assert row.action == "conflict" and row.fields == (".spec.workspaces",) and '"kubectl"' in row.detail
        report = rb.run()
    assert report.status == "rolled_back", report.error
    rt = world.cluster.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    live = world.cluster.get(rt, world.namespace, "git-clone")
    assert live is not None and [w["name"] for w in live["spec"]["workspaces"]] == ["output", "auth"]


def test_without_force_a_conflict_refuses_before_anything_is_written(world: SandboxWorld) -> None:
    """cluster.force: false turns a conflict into a refusal at the dry run, and nothing is applied."""
    world.cluster.apply(_hand_edit(world), manager="kubectl", force=True)
    before = {(k, n): v for k, n, v in _versions(world)}
    with _rollback(world, force=False) as rb:
        report = rb.run()
    assert report.status == "refused" and report.error_kind == "apply_conflict"
    assert report.error is not None and "Task/git-clone" in report.error and ".spec.workspaces" in report.error
    assert {(k, n): v for k, n, v in _versions(world)} == before


def _versions(world: SandboxWorld) -> list[tuple[str, str, str]]:
    """Every object with its resourceVersion, except the run lock's own Lease (every run writes it)."""
    return [
        (rt.kind, o["metadata"]["name"], o["metadata"]["resourceVersion"])
        for rt in world.cluster.types
        if rt.kind != "Lease"
        for o in world.cluster.list(rt, None)
    ]


def test_an_allowed_cluster_scoped_kind_is_applied_cluster_wide(world: SandboxWorld) -> None:
    """cluster_scoped_kinds naming ClusterRole lets a known-good ClusterRole be planned and applied cluster-wide."""
    from gitrollback.testing.repos import CommitSpec, make_repo

    role = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: tekton-reader\n"
        "rules: [{apiGroups: [tekton.dev], resources: [tasks], verbs: [get]}]\n"
    )
    service = "backend/tekton/jobs/v1/internal-registry-service.yaml"
    text = (world.repo.path / service).read_text()
    sha = make_repo(
        world.repo.path,
        [CommitSpec("cluster role", files={service: text + "---\n" + role})],
        branch="side",
        start=world.repo.good,
    )["c1"]
    with _rollback(world, cluster_scoped_kinds=("ClusterRole.rbac.authorization.k8s.io",)) as rb:
        plan = rb.plan(to=sha)
        assert plan.changes is not None
        row = next(c for c in plan.changes.objects if c.kind == "ClusterRole")
        assert (row.action, row.namespace) == ("create", None)
        report = rb.run(to=sha)
    assert report.status == "rolled_back", report.error
    rt = world.cluster.type_for("rbac.authorization.k8s.io/v1", "ClusterRole")
    assert rt is not None and world.cluster.get(rt, None, "tekton-reader") is not None


def test_the_preflight_asks_for_delete_rights_only_when_prune_is_on(world: SandboxWorld) -> None:
    """A token that may not delete Tasks plans and runs without prune; with prune the pre-flight names the missing
    delete right before the dry run, and nothing is applied or deleted."""
    world.kube.deny("delete", "tasks", group="tekton.dev", namespace=world.namespace)
    with _rollback(world) as rb:
        plan = rb.plan()
    assert plan.changes is not None and [c.action for c in plan.changes.added] == ["keep"]
    before = {(k, n): v for k, n, v in _versions(world)}
    with _rollback(world) as rb:
        report = rb.run(prune=True)
    assert report.error_kind == "preflight_failed", report.error
    preflight = next(r for r in report.steps if r.name == "preflight")
    assert f'kubernetes: may not delete tasks.tekton.dev in namespace "{world.namespace}"' in preflight.detail
    assert all(r.status is StepStatus.SKIPPED for r in report.steps if r.name in ("dry-run", "apply", "prune"))
    assert {(k, n): v for k, n, v in _versions(world)} == before
