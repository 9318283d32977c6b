"""ClusterState: the object store's Kubernetes bookkeeping and server-side apply ownership, in-process."""

from __future__ import annotations

from typing import Any

import pytest

from gitrollback.testing.cluster_state import CATALOG, ClusterState, ResourceType, StoreError


def _rt(state: ClusterState, api_version: str, kind: str) -> ResourceType:
    rt = state.type_for(api_version, kind)
    assert rt is not None
    return rt


def _cm(name: str = "cfg", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


def _task(name: str = "build", api_version: str = "tekton.dev/v1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "Task", "metadata": {"name": name}, "spec": spec}


@pytest.fixture(name="state")
def _state() -> ClusterState:
    return ClusterState(namespaces=["ci"])


def test_defaults_seed_namespace_and_ready_node() -> None:
    """A fresh store has the default namespace, one Ready node and the standard catalogue."""
    state = ClusterState(ready_nodes=2)
    assert state.namespace_exists("default")
    assert not state.namespace_exists("ci")
    nodes = state.list(_rt(state, "v1", "Node"))
    assert [n["metadata"]["name"] for n in nodes] == ["node-1", "node-2"]
    assert nodes[0]["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert state.types == CATALOG


def test_apply_creates_then_updates_with_bookkeeping(state: ClusterState) -> None:
    """Apply creates (created=True, generation 1) and a spec change bumps generation and resourceVersion."""
    first = state.apply(_task(steps=[{"name": "a"}]), namespace="ci", manager="m")
    assert first.created
    meta = first.object["metadata"]
    assert (meta["generation"], meta["namespace"]) == (1, "ci")
    second = state.apply(_task(steps=[{"name": "b"}]), namespace="ci", manager="m")
    assert not second.created
    assert second.object["metadata"]["generation"] == 2
    assert int(second.object["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert second.object["metadata"]["uid"] == meta["uid"]
    assert second.object["spec"] == {"steps": [{"name": "b"}]}
    assert state.resource_version() == second.object["metadata"]["resourceVersion"]


def test_metadata_change_bumps_resource_version_not_generation(state: ClusterState) -> None:
    """A label-only apply keeps generation but still gets a new resourceVersion."""
    first = state.apply(_task(steps=[]), namespace="ci", manager="m").object
    task = _task(steps=[])
    task["metadata"]["labels"] = {"a": "b"}
    second = state.apply(task, namespace="ci", manager="m").object
    assert second["metadata"]["generation"] == first["metadata"]["generation"] == 1
    assert second["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]


def test_apply_records_manager_and_fields_v1(state: ClusterState) -> None:
    """managedFields carries an Apply entry with the real f: trie for what the manager sent."""
    task = _task(steps=[{"name": "a"}])
    task["metadata"]["labels"] = {"app": "x"}
    obj = state.apply(task, namespace="ci", manager="gitrollback").object
    [entry] = obj["metadata"]["managedFields"]
    assert entry["manager"] == "gitrollback"
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "tekton.dev/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:steps": {}}}


def test_objects_are_readable_through_every_served_version(state: ClusterState) -> None:
    """A Task written via v1beta1 is stored once and read back as v1 or v1beta1."""
    state.apply(_task(api_version="tekton.dev/v1beta1", steps=[]), namespace="ci", manager="m")
    rt = _rt(state, "tekton.dev/v1", "Task")
    assert state.get(rt, "ci", "build")["apiVersion"] == "tekton.dev/v1"  # type: ignore[index]
    assert state.get(rt, "ci", "build", version="v1beta1")["apiVersion"] == "tekton.dev/v1beta1"  # type: ignore[index]
    assert len(state.list(rt)) == 1


def test_apply_drops_fields_the_manager_stopped_sending(state: ClusterState) -> None:
    """Fields a manager applied before and no longer sends are removed."""
    state.apply(_cm(a="1", b="2"), namespace="ci", manager="m")
    obj = state.apply(_cm(a="1"), namespace="ci", manager="m").object
    assert obj["data"] == {"a": "1"}


def test_apply_keeps_dropped_fields_another_manager_owns(state: ClusterState) -> None:
    """A dropped field that another manager also owns (same value) stays."""
    state.apply(_cm(a="1", b="2"), namespace="ci", manager="m1")
    state.apply(_cm(b="2"), namespace="ci", manager="m2")
    obj = state.apply(_cm(a="1"), namespace="ci", manager="m1").object
    assert obj["data"] == {"a": "1", "b": "2"}
    rt = _rt(state, "v1", "ConfigMap")
    assert state.managers(rt, "ci", "cfg") == {"m1": {".data.a"}, "m2": {".data.b"}}


def test_conflict_between_managers_has_real_message_and_causes(state: ClusterState) -> None:
    """Changing a field another Apply manager owns gives 409 Conflict naming the manager and the path."""
    state.apply(_cm(a="1"), namespace="ci", manager="owner")
    with pytest.raises(StoreError) as caught:
        state.apply(_cm(a="2"), namespace="ci", manager="intruder")
    err = caught.value
    assert (err.code, err.reason) == (409, "Conflict")
    assert err.message == 'Apply failed with 1 conflict: conflict with "owner": .data.a'
    assert err.details == {
        "causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "owner"', "field": ".data.a"}]
    }
    assert state.get(_rt(state, "v1", "ConfigMap"), "ci", "cfg")["data"] == {"a": "1"}  # type: ignore[index]


def test_conflict_with_update_manager_names_version_and_time(state: ClusterState) -> None:
    """An Update manager is printed with 'using <apiVersion> at <time>', and several paths are listed."""
    rt = _rt(state, "v1", "ConfigMap")
    state.create(_cm(a="1", b="1"), namespace="ci", manager="kubectl-create")
    with pytest.raises(StoreError) as caught:
        state.apply(_cm(a="2", b="2"), namespace="ci", manager="gitrollback")
    when = state.get(rt, "ci", "cfg")["metadata"]["managedFields"][0]["time"]  # type: ignore[index]
    assert caught.value.message == (
        f'Apply failed with 2 conflicts: conflicts with "kubectl-create" using v1 at {when}:\n- .data.a\n- .data.b'
    )
    assert [c["field"] for c in caught.value.details["causes"]] == [".data.a", ".data.b"]


def test_same_value_is_shared_without_conflict(state: ClusterState) -> None:
    """Applying the value another manager already set shares ownership instead of conflicting."""
    state.apply(_cm(a="1"), namespace="ci", manager="m1")
    state.apply(_cm(a="1"), namespace="ci", manager="m2")
    assert state.managers(_rt(state, "v1", "ConfigMap"), "ci", "cfg") == {"m1": {".data.a"}, "m2": {".data.a"}}


def test_force_takes_ownership(state: ClusterState) -> None:
    """force=True applies the value and moves the field to the forcing manager."""
    state.apply(_cm(a="1", b="1"), namespace="ci", manager="owner")
    obj = state.apply(_cm(a="2"), namespace="ci", manager="taker", force=True).object
    assert obj["data"] == {"a": "2", "b": "1"}
    assert state.managers(_rt(state, "v1", "ConfigMap"), "ci", "cfg") == {"owner": {".data.b"}, "taker": {".data.a"}}


def test_update_takes_fields_without_conflict(state: ClusterState) -> None:
    """A merge patch (Update) never conflicts and takes the fields it changed away from the applier."""
    state.apply(_cm(a="1"), namespace="ci", manager="applier")
    rt = _rt(state, "v1", "ConfigMap")
    state.patch(rt, "ci", "cfg", lambda o: {**o, "data": {"a": "9"}}, manager="editor")
    assert state.managers(rt, "ci", "cfg") == {"editor": {".data.a"}}
    with pytest.raises(StoreError) as caught:
        state.apply(_cm(a="1"), namespace="ci", manager="applier")
    assert caught.value.message.startswith('Apply failed with 1 conflict: conflict with "editor" using v1 at ')


def test_field_manager_rules(state: ClusterState) -> None:
    """Apply needs a fieldManager, and any manager longer than 128 characters is refused, both 422."""
    with pytest.raises(StoreError) as missing:
        state.apply(_cm(), namespace="ci", manager="")
    assert (missing.value.code, missing.value.message) == (
        422,
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    )
    with pytest.raises(StoreError) as long:
        state.apply(_cm(), namespace="ci", manager="m" * 129)
    assert long.value.code == 422
    assert long.value.message.endswith("fieldManager: Too long: may not be more than 128 bytes")
    assert state.apply(_cm(), namespace="ci", manager="m" * 128).created


def test_missing_namespace_is_refused_on_create(state: ClusterState) -> None:
    """Creating into a missing namespace is 404 namespaces "x" not found."""
    with pytest.raises(StoreError) as caught:
        state.apply(_cm(), namespace="nope", manager="m")
    assert (caught.value.code, caught.value.message) == (404, 'namespaces "nope" not found')
    assert caught.value.details == {"name": "nope", "kind": "namespaces"}


def test_stale_resource_version_conflicts(state: ClusterState) -> None:
    """A PUT carrying an old resourceVersion is 409 with the 'object has been modified' message."""
    old = state.create(_cm(a="1"), namespace="ci", manager="m")
    state.apply(_cm(a="1", b="2"), namespace="ci", manager="other")
    with pytest.raises(StoreError) as caught:
        state.update(old, namespace="ci", manager="m")
    assert caught.value.code == 409
    assert caught.value.message == (
        'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_main_writes_ignore_status_and_status_writes_ignore_the_rest(state: ClusterState) -> None:
    """Status survives spec writes untouched, and a /status update changes only status."""
    rt = _rt(state, "tekton.dev/v1", "Task")
    state.put({**_task(steps=[]), "metadata": {"name": "build", "namespace": "ci"}, "status": {"ok": True}})
    applied = {**_task(steps=[{"name": "x"}]), "status": {"ok": False}}
    obj = state.apply(applied, namespace="ci", manager="m", force=True).object
    assert obj["status"] == {"ok": True}
    changed = {**obj, "spec": {"steps": []}, "status": {"ok": False}}
    after = state.update(changed, namespace="ci", manager="ctrl", subresource="status")
    assert after["status"] == {"ok": False}
    assert after["spec"] == {"steps": [{"name": "x"}]}
    assert after["metadata"]["generation"] == obj["metadata"]["generation"]
    entry = next(e for e in after["metadata"]["managedFields"] if e["manager"] == "ctrl")
    assert entry["subresource"] == "status"
    assert state.get(rt, "ci", "build")["status"] == {"ok": False}  # type: ignore[index]


_TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def _deployment(**spec: object) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec}


def test_builtin_kinds_are_validated_against_the_api_schema(state: ClusterState) -> None:
    """Missing required fields are one 422 Invalid with a cause each, for apply and create alike; put() is not."""
    with pytest.raises(StoreError) as caught:
        state.apply(_deployment(replicas=1, template=_TEMPLATE), namespace="ci", manager="m")
    assert (caught.value.code, caught.value.reason) == (422, "Invalid")
    assert caught.value.message == 'Deployment.apps "web" is invalid: spec.selector: Required value'
    assert caught.value.details == {
        "name": "web",
        "group": "apps",
        "kind": "Deployment",
        "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}],
    }
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {}}
    with pytest.raises(StoreError) as cron_error:
        state.create(cron, namespace="ci", manager="m")
    assert cron_error.value.message == (
        'CronJob.batch "nightly" is invalid: [spec.schedule: Required value, spec.jobTemplate: Required value]'
    )
    assert [c["field"] for c in cron_error.value.details["causes"]] == ["spec.schedule", "spec.jobTemplate"]
    state.put({**_deployment(replicas=1), "metadata": {"name": "web", "namespace": "ci"}})
    assert state.get(_rt(state, "apps/v1", "Deployment"), "ci", "web") is not None


def test_a_mistyped_value_fails_decoding_on_create(state: ClusterState) -> None:
    """create() with a string where an int32 belongs is the decoder's 400, naming the Go field and type."""
    body = _deployment(replicas="two", selector={"matchLabels": {"a": "b"}}, template=_TEMPLATE)
    with pytest.raises(StoreError) as caught:
        state.create(body, namespace="ci", manager="m")
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    assert caught.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into '
        "Go struct field DeploymentSpec.spec.replicas of type int32"
    )


def test_unknown_fields_follow_field_validation(state: ClusterState) -> None:
    """Strict refuses unknown fields with 400, Warn drops them with a warning, Ignore drops them silently."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labelz": {}}, "data": {}, "extra": 1}
    with pytest.raises(StoreError) as caught:
        state.create(cm, namespace="ci", manager="m", field_validation="Strict")
    assert (caught.value.code, caught.value.message) == (
        400,
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'unknown field "metadata.labelz", unknown field "extra"',
    )
    warnings: list[str] = []
    stored = state.create(cm, namespace="ci", manager="m", warnings=warnings)
    assert warnings == ['unknown field "metadata.labelz"', 'unknown field "extra"']
    assert "extra" not in stored and "labelz" not in stored["metadata"]
    quiet: list[str] = []
    state.update({**cm, "data": {"a": "1"}}, namespace="ci", manager="m", field_validation="Ignore", warnings=quiet)
    assert quiet == []


def test_apply_refuses_unknown_and_mistyped_fields_as_the_typed_conversion_does(state: ClusterState) -> None:
    """Server-side apply fails unknown and mistyped fields with the 500 'failed to create typed patch object'."""
    body = _deployment(
        selector={"matchLabels": {"a": "b"}},
        template={"spec": {"containers": [{"name": "web", "image": "nginx", "imagePullPolicyy": "Always"}]}},
        paused="yes",
    )
    body["metadata"] = {"name": "web", "namespace": "ci"}
    with pytest.raises(StoreError) as caught:
        state.apply(body, namespace="ci", manager="m")
    assert (caught.value.code, caught.value.reason, caught.value.details) == (500, "", {})
    assert caught.value.message == (
        "failed to create typed patch object (ci/web; apps/v1, Kind=Deployment): errors:\n"
        '  .spec.template.spec.containers[name="web"].imagePullPolicyy: field not declared in schema\n'
        "  .spec.paused: expected boolean, got &{yes}"
    )
    assert state.get(_rt(state, "apps/v1", "Deployment"), "ci", "web") is None


def test_a_patch_that_breaks_the_schema_is_refused_as_invalid_patch(state: ClusterState) -> None:
    """A non-apply patch whose result does not decode is the 422 on field 'patch' of the JSON patcher."""
    rt = _rt(state, "v1", "ConfigMap")
    state.apply(_cm(a="1"), namespace="ci", manager="m")
    with pytest.raises(StoreError) as caught:
        state.patch(rt, "ci", "cfg", lambda live: {**live, "data": {"a": 1}}, manager="m")
    assert (caught.value.code, caught.value.reason) == (422, "Invalid")
    assert caught.value.message.startswith('"" is invalid: patch: Invalid value: "{')
    assert caught.value.message.endswith(
        "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    )


def test_custom_resources_are_not_schema_checked(state: ClusterState) -> None:
    """A Tekton Task is a custom resource: no built-in schema applies to it here."""
    task = {"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "t"}, "spec": {"anything": [1]}}
    stored = state.apply(task, namespace="ci", manager="m").object
    assert stored["spec"] == {"anything": [1]}


def test_dry_run_returns_without_storing(state: ClusterState) -> None:
    """dry_run apply and delete report the result but leave the store unchanged."""
    rt = _rt(state, "v1", "ConfigMap")
    before = state.resource_version()
    result = state.apply(_cm(a="1"), namespace="ci", manager="m", dry_run=True)
    assert result.created
    assert result.object["data"] == {"a": "1"}
    assert state.get(rt, "ci", "cfg") is None
    assert state.resource_version() == before
    state.apply(_cm(a="1"), namespace="ci", manager="m")
    state.delete(rt, "ci", "cfg", dry_run=True)
    assert state.get(rt, "ci", "cfg") is not None


def test_create_conflicts_and_generate_name(state: ClusterState) -> None:
    """create() refuses a duplicate with 409 AlreadyExists and fills in a generateName."""
    state.create(_cm(), namespace="ci", manager="m")
    with pytest.raises(StoreError) as caught:
        state.create(_cm(), namespace="ci", manager="m")
    assert (caught.value.code, caught.value.reason, caught.value.message) == (
        409,
        "AlreadyExists",
        'configmaps "cfg" already exists',
    )
    made = state.create(
        {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"generateName": "run-"}},
        namespace="ci",
        manager="m",
    )
    assert made["metadata"]["name"].startswith("run-")
    assert len(made["metadata"]["name"]) == len("run-") + 5


def test_delete_namespace_removes_contents_and_protects_default(state: ClusterState) -> None:
    """Deleting a namespace deletes what is in it; deleting default is 403 Forbidden."""
    ns_rt = _rt(state, "v1", "Namespace")
    state.apply(_cm(), namespace="ci", manager="m")
    state.delete(ns_rt, None, "ci")
    assert state.list(_rt(state, "v1", "ConfigMap")) == []
    with pytest.raises(StoreError) as caught:
        state.delete(ns_rt, None, "default")
    assert (caught.value.code, caught.value.reason) == (403, "Forbidden")
    with pytest.raises(StoreError) as missing:
        state.delete(_rt(state, "v1", "ConfigMap"), "ci", "cfg")
    assert (missing.value.code, missing.value.message) == (404, 'configmaps "cfg" not found')


def test_put_seeds_an_update_owner_that_applies_must_force(state: ClusterState) -> None:
    """Objects seeded with put() are owned by an Update manager, so a changing apply conflicts unless forced."""
    state.put({**_task(steps=[]), "metadata": {"name": "build", "namespace": "ci"}})
    with pytest.raises(StoreError) as caught:
        state.apply(_task(steps=[{"name": "x"}]), namespace="ci", manager="m")
    assert caught.value.details["causes"][0]["field"] == ".spec.steps"
    assert caught.value.message.startswith('Apply failed with 1 conflict: conflict with "gitrollback-simulator"')


def test_custom_resources_need_resource_version_on_put(state: ClusterState) -> None:
    """A PUT of a Task without metadata.resourceVersion is 422 naming the resource, as the registry store does."""
    state.apply(_task(steps=[]), namespace="ci", manager="m")
    with pytest.raises(StoreError) as caught:
        state.update(_task(steps=[{"name": "x"}]), namespace="ci", manager="m")
    assert caught.value.code == 422
    assert caught.value.message == (
        'tasks.tekton.dev "build" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"
    )
    assert caught.value.details["kind"] == "tasks"


def test_a_write_that_changes_nothing_keeps_the_resource_version() -> None:
    """A repeated apply or an identical PUT later on is not stored: resourceVersion and managedFields times stay."""
    from gitrollback.testing.clock import FakeClock

    clock = FakeClock()
    state = ClusterState(namespaces=["ci"], clock=clock)
    rt = _rt(state, "tekton.dev/v1", "Task")
    first = state.apply(_task(steps=[{"name": "a"}]), namespace="ci", manager="m").object
    clock.advance(60)
    again = state.apply(_task(steps=[{"name": "a"}]), namespace="ci", manager="m")
    assert not again.created
    assert again.object["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again.object["metadata"]["managedFields"] == first["metadata"]["managedFields"]
    assert state.resource_version() == first["metadata"]["resourceVersion"]
    put = state.update(again.object, manager="m")
    assert put["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # another manager applying the same values becomes a co-owner: a real write
    shared = state.apply(_task(steps=[{"name": "a"}]), namespace="ci", manager="other").object
    assert int(shared["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert set(state.managers(rt, "ci", "build")) == {"m", "other"}
