"""deploy/kubernetes and deploy/tekton: applied with kubectl to the simulator, valid against the API schemas, and
consistent with the CLI, the config schema and the image."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gitrollback.cli import EXIT_REFUSED, EXIT_USAGE, _parser
from gitrollback.cli.ci import OUTPUT_NAMES
from gitrollback.config import parse_config
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.kube import KubernetesSimulator
from tests.deploy.deploy_files import (
    DEPLOY,
    KUBERNETES,
    TARGET_NAMESPACE,
    Kubectl,
    documents,
    find,
    manifests,
    skip_without_kubectl,
)

OPTIONAL = KUBERNETES / "optional"
TEKTON_TASK = DEPLOY / "tekton" / "gitrollback-task.yaml"
ALL = manifests(KUBERNETES, OPTIONAL)
CONFIG_MAP = find(ALL, "ConfigMap", "gitrollback-config")
JOB = find(ALL, "Job", "gitrollback-run")
WATCH = find(ALL, "Deployment", "gitrollback-watch")
PODS = {"job": JOB["spec"]["template"]["spec"], "watch": WATCH["spec"]["template"]["spec"]}
IMAGE_UID = 10001  # deploy/Dockerfile's USER


@pytest.fixture(name="kubectl")
def _kubectl(tmp_path: Path) -> Any:
    skip_without_kubectl()
    # kubectl never sends a bearer token to an http:// server, hence token=None
    with KubernetesSimulator(ClusterState(namespaces=[TARGET_NAMESPACE, "flux-system"]), token=None) as sim:
        yield Kubectl(sim.kubeconfig(), tmp_path), sim


def test_every_manifest_applies_server_side_in_one_pass_to_a_fresh_cluster(kubectl: Any) -> None:
    """kubectl apply --server-side of the folders and the Task works as given (namespace first) and stores them."""
    run, sim = kubectl
    for target in (KUBERNETES, OPTIONAL, TEKTON_TASK):
        applied = run("apply", "--server-side", "--field-manager=deploy-test", "-f", str(target))
        assert applied.returncode == 0, applied.stderr
    expected = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in ALL}
    expected.add(("Task", "", "gitrollback"))
    stored = {
        (rt.kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        for rt in sim.state.types
        for obj in sim.state.list(rt, None)
        if any(f.get("manager") == "deploy-test" for f in obj["metadata"].get("managedFields", []))
    }
    task_namespace = next(ns for kind, ns, name in stored if kind == "Task")
    assert stored == {(k, task_namespace if k == "Task" else ns, n) for k, ns, n in expected}
    listed = run("get", "job,deployment,serviceaccount,configmap", "-n", "gitrollback", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(i["metadata"]["name"] for i in json.loads(listed.stdout)["items"]) == [
        "gitrollback",
        "gitrollback-config",
        "gitrollback-run",
        "gitrollback-watch",
    ]


@pytest.mark.parametrize("obj", ALL, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_each_manifest_is_valid_against_the_kubernetes_schema_strictly(obj: dict[str, Any]) -> None:
    """kubernetes-validate (Kubernetes 1.37, strict: no unknown field) accepts every built-in object as written."""
    kubernetes_validate.validate(obj, "1.37.0", strict=True)


def test_the_tekton_task_wires_every_param_result_and_workspace_it_declares() -> None:
    """Each param and workspace the Task declares is used by its step, and each one the step uses exists; the
    results are the ones gitrollback writes into the results directory it is given (``/tekton/results``)."""
    [task] = documents(TEKTON_TASK)
    assert (task["apiVersion"], task["kind"]) == ("tekton.dev/v1", "Task")
    spec = task["spec"]
    [step] = spec["steps"]
    text = json.dumps(step)
    used = set(re.findall(r"\$\((params|results|workspaces)\.([a-z-]+)\.?[a-z]*\)", text))
    declared = {("params", p["name"]) for p in spec["params"]}
    declared |= {("workspaces", w["name"]) for w in spec["workspaces"]}
    assert used == declared
    assert [r["name"] for r in spec["results"]] == list(OUTPUT_NAMES)
    assert {"name": "GITROLLBACK_TEKTON_RESULTS", "value": "/tekton/results"} in step["env"]
    assert "$(params" not in step["script"], "parameters reach the script as environment variables only"


def test_the_config_in_the_configmap_parses_and_points_at_the_mounted_files() -> None:
    """gitrollback.yaml parses with the real parser; its kubeconfig path and GITROLLBACK_CONFIG are where the
    ConfigMap is mounted; the kubeconfig uses the pod's ServiceAccount token file and CA."""
    data = CONFIG_MAP["data"]
    settings = parse_config(data["gitrollback.yaml"], source="configmap.yaml")
    [provider] = settings.providers
    assert data["provider"] in (provider.name, provider.id)
    assert provider.cluster.namespace == TARGET_NAMESPACE
    for pod in PODS.values():
        [container] = pod["containers"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
        env = {e["name"]: e for e in container["env"]}
        assert env["GITROLLBACK_CONFIG"]["value"] == f"{mount['mountPath']}/gitrollback.yaml"
        assert provider.cluster.kubeconfig == f"{mount['mountPath']}/kubeconfig.yaml"
        assert settings.state_dir is not None and settings.state_dir.startswith(
            next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "state")
        )
    [kubeconfig] = documents_from_text(data["kubeconfig.yaml"])
    [user] = kubeconfig["users"]
    [cluster] = kubeconfig["clusters"]
    assert user["user"] == {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    assert cluster["cluster"]["certificate-authority"] == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    assert cluster["cluster"]["server"] == "https://kubernetes.default.svc"


def documents_from_text(text: str) -> list[dict[str, Any]]:
    """The YAML documents of a string."""
    import yaml

    return [d for d in yaml.safe_load_all(text) if d]


def test_the_job_runs_the_documented_cli_and_its_failure_policy_uses_the_cli_exit_codes() -> None:
    """The Job's args (with the ConfigMap's provider) parse with the CLI's own parser as run --yes --json; the
    codes that fail the Job at once are the CLI's usage (2) and refused (3)."""
    [container] = PODS["job"]["containers"]
    assert JOB["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    args = [a.replace("$(GITROLLBACK_PROVIDER)", CONFIG_MAP["data"]["provider"]) for a in container["args"]]
    parsed = _parser().parse_args(args)
    assert (parsed.command, parsed.yes, parsed.json, parsed.provider) == ("run", True, True, "prod-k8s")
    env = {e["name"]: e for e in container["env"]}
    assert env["GITROLLBACK_PROVIDER"]["valueFrom"]["configMapKeyRef"] == {
        "name": "gitrollback-config",
        "key": "provider",
    }
    [fail, ignore] = JOB["spec"]["podFailurePolicy"]["rules"]
    assert fail["action"] == "FailJob" and fail["onExitCodes"]["values"] == [EXIT_USAGE, EXIT_REFUSED]
    assert fail["onExitCodes"]["containerName"] == container["name"]
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}


@pytest.mark.parametrize("which", sorted(PODS))
def test_pods_run_the_image_non_root_read_only_and_take_tokens_only_from_the_secret(which: str) -> None:
    """The image's uid, non-root, no escalation, no capabilities, a read-only root; every *TOKEN variable comes
    from the Secret (none inline), and every variable the config names is set."""
    pod = PODS[which]
    [container] = pod["containers"]
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == IMAGE_UID
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert not container["image"].endswith(":latest") and ":" in container["image"]
    assert pod["serviceAccountName"] == "gitrollback"
    tokens = [e for e in container["env"] if "TOKEN" in e["name"]]
    assert tokens and all(
        "value" not in e and e["valueFrom"]["secretKeyRef"]["name"] == "gitrollback-tokens" for e in tokens
    )
    required = [e["name"] for e in tokens if not e["valueFrom"]["secretKeyRef"].get("optional")]
    settings = parse_config(CONFIG_MAP["data"]["gitrollback.yaml"], source="configmap.yaml")
    token = settings.imagefactory.token
    assert token is not None and required == [token.env]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/var/lib/gitrollback"} <= mounts  # writable places under a read-only root (HOME, state)


def test_the_watch_deployment_serves_its_contract() -> None:
    """Two replicas; /healthz probes and the Prometheus annotations on the one container port; the pod's name and
    namespace for the leader Lease, which rbac-watch.yaml lets it take."""
    assert WATCH["spec"]["replicas"] >= 2
    template = WATCH["spec"]["template"]
    [container] = template["spec"]["containers"]
    assert container["args"] == ["watch"]
    parsed = _parser().parse_args(container["args"])
    assert (parsed.command, parsed.once, parsed.listen) == ("watch", False, None)
    [port] = container["ports"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]}
    assert (env["POD_NAME"], env["POD_NAMESPACE"]) == ("metadata.name", "metadata.namespace")
    role = find(ALL, "Role", "gitrollback-watch")
    assert role["metadata"]["namespace"] == WATCH["metadata"]["namespace"]
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "update"],
            "resourceNames": ["gitrollback-watch"],
        }
    ]


def test_the_watch_section_of_the_configmap_matches_the_deployment() -> None:
    """The config's watch section parses; it listens on all addresses at the container port; leader election is on,
    through the mounted in-cluster kubeconfig, with the Lease rbac-watch.yaml names, in the pod's namespace
    (POD_NAMESPACE: the config names none); client-go's timing defaults."""
    settings = parse_config(CONFIG_MAP["data"]["gitrollback.yaml"], source="configmap.yaml")
    w = settings.watch
    [container] = PODS["watch"]["containers"]
    [port] = container["ports"]
    assert w.listen == f"0.0.0.0:{port['containerPort']}"
    le = w.leader_election
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert le.enabled and le.kubeconfig == f"{mount['mountPath']}/kubeconfig.yaml" and le.context == "in-cluster"
    assert le.namespace is None
    assert (le.lease_duration, le.renew_deadline, le.retry_period) == (15.0, 10.0, 2.0)
    role = find(ALL, "Role", "gitrollback-watch")
    assert [r["resourceNames"] for r in role["rules"] if r.get("resourceNames")] == [[le.lease_name]]
    [provider] = settings.providers
    assert (w.policy, w.policy_for(provider)) == ("notify", "rollback")
