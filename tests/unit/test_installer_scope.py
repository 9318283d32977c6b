"""The pure rules of installer mode: scope, the dry-run table, prune selection and the apply waves."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gitrollback.apply_waves import apply_in_waves, waves
from gitrollback.change_plan import added_objects, changed_fields, conflict_fields, object_change
from gitrollback.errors import PreconditionFailedError, ServerError
from gitrollback.models import FieldManagerEntry, LiveObject, Manifest
from gitrollback.prune import select_prune
from gitrollback.scope import resolve_scope
from gitrollback.settings import DEFAULT_KINDS

NS = "image-factory-6f1c2a9e"
DISCOVERY = {
    "tekton.dev/v1": {"Task": True, "Pipeline": True},
    "v1": {"ConfigMap": True, "Service": True, "ServiceAccount": True, "Namespace": False},
    "rbac.authorization.k8s.io/v1": {"Role": True, "RoleBinding": True, "ClusterRoleBinding": False},
    "apps/v1": {"Deployment": True},
    "batch/v1": {"CronJob": True},
}


def m(api_version: str, kind: str, name: str, namespace: str | None = None, line: int = 1) -> Manifest:
    """A manifest from a file named after its kind."""
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    body = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    return Manifest(api_version, kind, name, body, source_file=f"{kind.lower()}.yaml", namespace=namespace, line=line)


def scope(*manifests: Manifest, cluster_scoped: tuple[str, ...] = ()) -> list[str | None]:
    """resolve_scope with the default kinds and the discovery above."""
    return resolve_scope(
        manifests,
        namespace=NS,
        kinds=DEFAULT_KINDS,
        cluster_scoped_kinds=cluster_scoped,
        scopes=lambda v: DISCOVERY.get(v, {}),
    )


def test_allowed_objects_go_to_the_target_namespace() -> None:
    """Objects without a namespace, or naming the target, are placed in the target namespace."""
    assert scope(m("tekton.dev/v1", "Task", "a"), m("v1", "Service", "s", NS)) == [NS, NS]


def test_every_offender_is_named_in_one_refusal() -> None:
    """Another namespace, a kind not allowed, a cluster-scoped kind and an unknown kind are all listed at once."""
    with pytest.raises(PreconditionFailedError) as info:
        scope(
            m("tekton.dev/v1", "Task", "ok"),
            m("tekton.dev/v1", "Task", "moved", "kube-system", line=7),
            m("v1", "ConfigMap", "cm", line=3),
            m("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "crb"),
            m("example.com/v1", "Widget", "w"),
        )
    text = str(info.value)
    assert info.value.kind == "out_of_scope" and "4 of 5 objects" in text
    assert "task.yaml:7: Task/moved: sets namespace 'kube-system'" in text
    assert "configmap.yaml:3: ConfigMap/cm: kind ConfigMap is not allowed" in text
    assert "ClusterRoleBinding.rbac.authorization.k8s.io is cluster-scoped" in text
    assert "unknown kind Widget.example.com" in text and "Task/ok" not in text


def test_a_cluster_scoped_kind_needs_explicit_permission() -> None:
    """A cluster-scoped kind listed in cluster_scoped_kinds is allowed and placed nowhere (None)."""
    crb = m("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "crb")
    assert scope(crb, cluster_scoped=("ClusterRoleBinding.rbac.authorization.k8s.io",)) == [None]


def test_changed_fields_ignore_bookkeeping() -> None:
    """Top-level fields and metadata keys that differ are named; resourceVersion, managedFields and status are not."""
    live = {"metadata": {"name": "a", "resourceVersion": "1", "labels": {"x": "1"}}, "spec": {"a": 1}, "status": {}}
    same = {"metadata": {"name": "a", "resourceVersion": "2", "managedFields": []}, "spec": {"a": 1}}
    assert changed_fields(live, {**same, "metadata": {**same["metadata"], "labels": {"x": "1"}}}) == ()
    assert changed_fields(live, {**same, "spec": {"a": 2}, "data": {}}) == ("data", "spec", "metadata.labels")


def test_conflict_fields_are_read_from_the_api_servers_message() -> None:
    """Single and multiple conflicts in the apiserver's wording give the field paths."""
    one = 'Apply failed with 1 conflict: conflict with "kubectl" using tekton.dev/v1: .spec.workspaces'
    two = 'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.a\n- .spec.b'
    assert conflict_fields(one) == (".spec.workspaces",)
    assert conflict_fields(two) == (".spec.a", ".spec.b")


def test_object_change_rows() -> None:
    """create without a live object, update/unchanged from the dry-run answer, conflict with its message."""
    task = m("tekton.dev/v1", "Task", "a")
    live = LiveObject("tekton.dev/v1", "Task", "a", NS, "u", "1", body={"metadata": {"name": "a"}, "spec": {"x": 1}})
    assert object_change(task, NS, live=None, proposed={}).action == "create"
    assert (
        object_change(task, NS, live=live, proposed={"metadata": {"name": "a"}, "spec": {"x": 1}}).action == "unchanged"
    )
    row = object_change(task, NS, live=live, proposed={"metadata": {"name": "a"}, "spec": {"x": 2}})
    assert (row.action, row.fields) == ("update", ("spec",))
    assert object_change(task, NS, live=live, proposed=None, conflict="x: .spec.x").fields == (".spec.x",)


def _live(kind: str, name: str, *managers: str, owned: bool = False) -> LiveObject:
    api = "tekton.dev/v1" if kind == "Task" else "v1"
    entries = tuple(FieldManagerEntry(mgr, "Apply") for mgr in managers)
    return LiveObject(api, kind, name, NS, f"uid-{name}", "7", entries, owned)


def test_prune_selects_only_our_own_additions_in_the_target_namespace() -> None:
    """Only a live, allowed, namespaced addition written by our managers and not owned by a controller is pruned."""
    good = [m("tekton.dev/v1", "Task", "kept")]
    bad = [
        *good,
        m("tekton.dev/v1", "Task", "ours"),
        m("tekton.dev/v1", "Task", "theirs"),
        m("tekton.dev/v1", "Task", "gone"),
        m("tekton.dev/v1", "Task", "owned"),
        m("tekton.dev/v1", "Task", "elsewhere", "team-b"),
        m("v1", "ConfigMap", "not-allowed"),
        m("v1", "Namespace", "cluster"),
    ]
    added = added_objects(bad, good)
    assert [a.name for a in added] == [b.name for b in bad[1:]]
    live = {
        ("tekton.dev", "Task", "ours"): _live("Task", "ours", "image-factory-tekton-installer", "kubectl"),
        ("tekton.dev", "Task", "theirs"): _live("Task", "theirs", "kubectl"),
        ("tekton.dev", "Task", "owned"): _live("Task", "owned", "gitrollback", owned=True),
        ("", "ConfigMap", "not-allowed"): _live("ConfigMap", "not-allowed", "image-factory-tekton-installer"),
    }
    scopes = {("tekton.dev", "Task"): True, ("", "ConfigMap"): True, ("", "Namespace"): False}
    rows = select_prune(
        added,
        live,
        namespace=NS,
        namespaced=scopes,
        kinds=DEFAULT_KINDS,
        managers={"image-factory-tekton-installer", "gitrollback"},
        enabled=True,
    )
    assert {r.name: r.action for r in rows} == {
        "ours": "prune",
        "theirs": "keep",
        "gone": "absent",
        "owned": "keep",
        "elsewhere": "keep",
        "not-allowed": "keep",
        "cluster": "keep",
    }
    assert "also by kubectl" in rows[0].detail
    off = select_prune(
        added, live, namespace=NS, namespaced=scopes, kinds=DEFAULT_KINDS, managers={"gitrollback"}, enabled=False
    )
    assert "prune" not in {r.action for r in off}


def _tree() -> list[Manifest]:
    return [
        m("tekton.dev/v1", "Task", "t1"),
        m("batch/v1", "CronJob", "c"),
        m("tekton.dev/v1", "Pipeline", "p"),
        m("v1", "ServiceAccount", "sa"),
        m("rbac.authorization.k8s.io/v1", "RoleBinding", "rb"),
        m("tekton.dev/v1", "Task", "t2"),
    ]


def test_waves_put_rbac_first_and_pipelines_after_tasks() -> None:
    """Service accounts, then bindings, then Tasks, then Pipelines and workloads; list order within a wave."""
    assert waves(_tree()) == [[3], [4], [0, 5], [1, 2]]


def test_apply_in_waves_runs_in_parallel_and_in_order() -> None:
    """Every object is applied once, no wave starts before the previous one finished, results in list order."""
    tree = _tree()
    seen: list[str] = []
    lock = threading.Lock()

    def apply(manifest: Manifest) -> str:
        with lock:
            seen.append(manifest.name)
        return manifest.name.upper()

    done, failure = apply_in_waves(tree, apply, parallelism=4)
    assert failure is None and [r for _, r in done] == ["T1", "C", "P", "SA", "RB", "T2"]
    assert seen.index("sa") < seen.index("rb") < min(seen.index("t1"), seen.index("t2")) < seen.index("p")


def test_apply_in_waves_stops_at_the_first_failure() -> None:
    """A failure in a wave stops the later waves; what went in is returned with the failure."""
    tree = _tree()

    def apply(manifest: Manifest) -> str:
        if manifest.name == "t1":
            raise ServerError("boom", adapter="kubernetes", operation="apply", status=500)
        return manifest.name

    done, failure = apply_in_waves(tree, apply, parallelism=1)
    assert failure is not None and failure[0] == 0 and "boom" in str(failure[1])
    assert [r for _, r in done] == ["sa", "rb"]
