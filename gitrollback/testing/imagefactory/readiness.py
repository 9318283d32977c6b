"""Readiness checks computed from the shared ``ClusterState``, and their persistence side effects.

Two checkers exist in Image Factory (imagefactoryoss/imagefactory) and the simulator keeps both:
``live_readiness`` is the GET readiness handler (``backend/internal/adapters/primary/rest/
infrastructure_provider_handler.go``, ``GetProviderReadiness``: fixed check order, exact messages, early
returns, namespace from ``resolveProviderNamespace``, pipelines only in pipelineRef mode, optional PVC/RBAC
probes that create and delete real objects in the store), and ``post_op_readiness`` is the post-operation
refresh and background watcher (``backend/internal/domain/infrastructure/service.go``,
``refreshProviderReadinessAfterInstall``, run by ``backend/internal/application/bootstrap/
provider_readiness_watcher.go``: namespace from ``resolveTektonTargetNamespace``, tasks and *always* pipelines,
nothing else). Both namespace resolvers are the simulator's own (``tekton_namespaces``). ``persist`` is
``UpdateProviderReadiness`` (service.go) on a provider record: it is what flips ``status``,
``is_schedulable`` and ``blocked_by``. Cluster reachability is a per-provider flag
(``ProviderRecord.cluster_reachable``) set by the simulator's fault switch; Tekton "presence" means the store
serves ``tekton.dev`` tasks. Both checks detect the Tekton API version as ``tektoncompat.DetectAPIVersion``
(``backend/internal/infrastructure/tektoncompat/client.go``) does: a cluster that serves no ``tekton.dev`` group
answers the v1 probe with NotFound, which counts as v1, so the checks go on and report every task missing. The
post-operation check saves nothing when the client config or that detection fails: it raises
``ReadinessCheckFailed`` and its callers emit ``job.readiness.failed`` (installer) or skip the provider (watcher).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitrollback.testing.clock import SimClock
from gitrollback.testing.cluster_state import ClusterState, ResourceType, StoreError
from gitrollback.testing.imagefactory.connector import rest_config_error
from gitrollback.testing.imagefactory.state import ProviderRecord, SimState
from gitrollback.testing.imagefactory.tekton_namespaces import readiness_namespace, tekton_target_namespace

__all__ = [
    "PIPELINE_METHODS",
    "REQUIRED_TASKS",
    "Check",
    "ReadinessCheckFailed",
    "ReadinessResult",
    "detect_tekton_version",
    "handler_profile",
    "live_readiness",
    "persist",
    "post_op_readiness",
    "required_pipelines",
    "service_profile",
]

REQUIRED_TASKS = (
    "git-clone",
    "docker-build",
    "buildx",
    "kaniko-no-push",
    "scan-image",
    "generate-sbom",
    "push-image",
    "packer",
)
PIPELINE_METHODS = ("docker", "buildx", "kaniko", "packer")
# What a refused TCP connection looks like in Go; the real text names the API server address.
UNREACHABLE_ERROR = "dial tcp 10.0.0.1:6443: connect: connection refused"
_CONNECTIVITY = (
    "invalid provider kubeconfig/config",
    "failed to create kubernetes client",
    "kubernetes api unreachable",
    "dial tcp",
    "i/o timeout",
    "connection refused",
    "no such host",
    "tls handshake timeout",
    "context deadline exceeded",
)
_AUTHZ = ("unauthorized", "forbidden", "access denied")


def handler_profile(config: Mapping[str, Any]) -> str:
    """The GET readiness handler's profile (``requiredPipelineNames``, infrastructure_provider_handler.go):
    ``config.tekton_profile_version`` as is (not trimmed or lowercased) when it is a non-empty string, else v1."""
    value = config.get("tekton_profile_version")
    return value if isinstance(value, str) and value != "" else "v1"


def service_profile(config: Mapping[str, Any]) -> str:
    """The service's profile (``resolveTektonAssetVersion(provider, "")``, service.go): trimmed and lowercased,
    default ``v1``."""
    value = config.get("tekton_profile_version")
    return value.strip().lower() if isinstance(value, str) and value.strip() else "v1"


def required_pipelines(profile: str) -> list[str]:
    """``image-factory-build-<v>-<method>`` for the four build methods (``requiredPipelineNames``,
    ``requiredTektonPipelineNamesForProvider``)."""
    return [f"image-factory-build-{profile}-{method}" for method in PIPELINE_METHODS]


class ReadinessCheckFailed(Exception):
    """The post-operation check could not run (``refreshProviderReadinessAfterInstall`` returned an error)."""


def detect_tekton_version(cluster: ClusterState, reachable: bool) -> tuple[str | None, str | None]:
    """``tektoncompat.DetectAPIVersion``: ``(version, None)`` or ``(None, error)``.

    Discovery of ``tekton.dev/v1`` then ``v1beta1``; failing both, a GET of Task ``git-clone`` whose NotFound
    (what a cluster without the group answers) still means v1. Only an unreachable API fails it.
    """
    if not reachable:
        return None, (
            "no supported Tekton API detected (need tekton.dev/v1 or v1beta1). "
            f"v1 probe error={UNREACHABLE_ERROR}; v1beta1 probe error={UNREACHABLE_ERROR}"
        )
    for version in ("v1", "v1beta1"):
        if cluster.type_for_plural("tekton.dev", version, "tasks") is not None:
            return version, None
    return "v1", None


@dataclass(frozen=True)
class Check:
    """One readiness check row."""

    name: str
    ok: bool
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        """``{"name","ok","message"?}``."""
        out: dict[str, Any] = {"name": self.name, "ok": self.ok}
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class ReadinessResult:
    """The outcome of a GET readiness run."""

    namespace: str
    checked_at: datetime
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, ok: bool, message: str = "") -> None:
        """``addCheck``: a failed check with a message adds the message to ``missing_prereqs``."""
        self.checks.append(Check(name, ok, message))

    @property
    def missing(self) -> list[str]:
        """Messages of the failed checks, in order."""
        return [c.message for c in self.checks if not c.ok and c.message]

    @property
    def status(self) -> str:
        """``ready`` when nothing is missing."""
        return "not_ready" if self.missing else "ready"


def _tekton_type(cluster: ClusterState, version: str, plural: str) -> ResourceType | None:
    """The type ``tektoncompat`` reads through for the detected version; None when it is not served (404)."""
    return cluster.type_for_plural("tekton.dev", version, plural)


def _core(cluster: ClusterState, plural: str) -> ResourceType:
    rt = cluster.type_for_plural("", "v1", plural)
    if rt is None:  # pragma: no cover - the catalogue always serves the core types
        raise RuntimeError(f"cluster does not serve {plural}")
    return rt


def _pipeline_ref_mode(config: Mapping[str, Any]) -> bool:
    for key in ("tekton_use_pipeline_ref", "tekton_pipeline_ref_mode"):
        if isinstance(config.get(key), bool):
            return bool(config[key])
    return False


def _elapsed_ms(clock: SimClock, started: float) -> int:
    return int((clock.monotonic() - started) * 1000)


def _unique_suffix(clock: SimClock) -> int:
    """Go's ``time.Now().UnixNano()`` on the simulator's clock."""
    return int(clock.now().timestamp() * 1_000_000_000)


def _probe(cluster: ClusterState, state: SimState, obj: dict[str, Any], namespace: str) -> str | None:
    """Create then delete a probe object; the StoreError message when it fails."""
    rt = cluster.type_for(obj["apiVersion"], obj["kind"])
    if rt is None:
        return f'no matches for kind "{obj["kind"]}" in version "{obj["apiVersion"]}"'
    try:
        cluster.apply(obj, namespace=namespace, manager="image-factory-readiness", force=True)
        with state.cond:
            state.probes.append((obj["kind"], namespace, obj["metadata"]["name"]))
        cluster.delete(rt, namespace, obj["metadata"]["name"])
    except StoreError as exc:
        return exc.message
    return None


def live_readiness(
    provider: ProviderRecord,
    cluster: ClusterState,
    state: SimState,
    *,
    scope_tenant: str | None,
    probe_pvc: bool = False,
    probe_rbac: bool = False,
) -> ReadinessResult:
    """``GetProviderReadiness``'s checks, in order, with its early returns."""
    config = provider.config
    result = ReadinessResult("", state.now())
    enabled = config.get("tekton_enabled")
    if not isinstance(enabled, bool):
        result.add("provider_config.tekton_enabled", False, "provider config missing tekton_enabled=true")
    elif not enabled:
        result.add("provider_config.tekton_enabled", False, "provider config has tekton_enabled=false")
    else:
        result.add("provider_config.tekton_enabled", True)
    if rest_config_error(config) is not None:
        result.add("provider_kubeconfig", False, "invalid provider kubeconfig/config")
        return result
    result.add("provider_kubeconfig", True)
    result.add("kubernetes_client", True)
    ns = readiness_namespace(
        target_namespace=provider.target_namespace,
        config=config,
        provider_tenant=provider.tenant_id,
        tenant_id=scope_tenant,
    )
    result.namespace = ns
    started = state.clock.monotonic()
    if provider.cluster_reachable:
        cluster.namespace_exists("default")
        result.add("kubernetes_api", True)
        result.add("kubernetes_api_latency", True, f"kubernetes API latency {_elapsed_ms(state.clock, started)}ms")
    else:
        result.add("kubernetes_api", False, "kubernetes API unreachable")
    result.add("tekton_client", True)
    version, detect_error = detect_tekton_version(cluster, provider.cluster_reachable)
    if version is None:
        result.add("tekton_api_version", False, f"failed to detect tekton api version: {detect_error}")
        return result
    task_rt = _tekton_type(cluster, version, "tasks")  # None: every GET answers NotFound
    if ns:
        started = state.clock.monotonic()
        if task_rt is not None:
            cluster.get(task_rt, ns, "git-clone")  # NotFound counts as OK
        result.add("tekton_api", True)
        result.add("tekton_api_latency", True, f"tekton API latency {_elapsed_ms(state.clock, started)}ms")
    nodes = cluster.list(_core(cluster, "nodes"))
    ready = sum(
        1
        for node in nodes
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (node.get("status") or {}).get("conditions") or []
        )
    )
    if not nodes:
        result.add("cluster_capacity", False, "cluster has zero nodes")
    elif not ready:
        result.add("cluster_capacity", False, f"no ready nodes ({len(nodes)} total)")
    else:
        result.add("cluster_capacity", True, f"ready nodes: {ready}/{len(nodes)}")
    # With no namespace every task (and pipeline) gets its own failed check with the same message.
    for task in REQUIRED_TASKS:
        if not ns:
            result.add(f"task.{task}", False, "tenant namespace unavailable to check tasks")
            continue
        found = task_rt is not None and cluster.get(task_rt, ns, task) is not None
        result.add(f"task.{task}", found, "" if found else f"missing tekton task: {task} in namespace {ns}")
    if not ns:
        result.add("secret.docker-config", False, "tenant namespace unavailable to check docker-config secret")
    else:
        found = cluster.get(_core(cluster, "secrets"), ns, "docker-config") is not None
        result.add(
            "secret.docker-config",
            found,
            "" if found else f"missing required secret docker-config in namespace {ns}",
        )
    if _pipeline_ref_mode(config):
        pipeline_rt = _tekton_type(cluster, version, "pipelines")
        for pipeline in required_pipelines(handler_profile(config)):
            if not ns:
                result.add(f"pipeline.{pipeline}", False, "tenant namespace unavailable to check pipelines")
                continue
            # A pipelines resource the cluster does not serve answers 404, which reads as a missing pipeline.
            found = pipeline_rt is not None and cluster.get(pipeline_rt, ns, pipeline) is not None
            message = "" if found else f"missing tekton pipeline: {pipeline} in namespace {ns}"
            result.add(f"pipeline.{pipeline}", found, message)
    error: str | None
    if probe_pvc:
        error = _probe_pvc(cluster, state, ns, config)
        message = f"PVC provisioning probe failed: {error}" if error else ""
        message = message if ns else "tenant namespace unavailable for PVC probe"
        result.add("storage.pvc_probe", error is None, message)
    if probe_rbac:
        error = (
            "tenant namespace unavailable"
            if not ns
            else _probe(
                cluster,
                state,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"if-rbac-probe-{_unique_suffix(state.clock)}"},
                },
                ns,
            )
        )
        message = f"namespace RBAC probe failed: {error}" if error else ""
        message = message if ns else "tenant namespace unavailable for RBAC probe"
        result.add("namespace_rbac_probe", error is None, message)
    return result


def _probe_pvc(cluster: ClusterState, state: SimState, ns: str, config: Mapping[str, Any]) -> str | None:
    if not ns:
        return "tenant namespace unavailable"  # live_readiness reports the handler's own message for ns=""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}
    storage_class = config.get("tekton_storage_class")
    if isinstance(storage_class, str) and storage_class:
        spec["storageClassName"] = storage_class
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"if-readiness-{_unique_suffix(state.clock)}"},
        "spec": spec,
    }
    return _probe(cluster, state, pvc, ns)


def post_op_readiness(
    provider: ProviderRecord, cluster: ClusterState, *, job_tenant: str | None = None
) -> tuple[str, list[str]]:
    """``refreshProviderReadinessAfterInstall``'s check (also the watcher's): ``(status, missing_prereqs)``.

    Raises:
        ReadinessCheckFailed: the runtime client config does not build, or the Tekton API version cannot be
            detected (an unreachable cluster); the real check returns before persisting anything.
    """
    config_error = rest_config_error(provider.config)
    if config_error is not None:
        raise ReadinessCheckFailed(f"invalid provider kubeconfig/config: {config_error}")
    version, detect_error = detect_tekton_version(cluster, provider.cluster_reachable)
    if version is None:
        raise ReadinessCheckFailed(f"failed to detect tekton api version: {detect_error}")
    ns = tekton_target_namespace(
        target_namespace=provider.target_namespace,
        config=provider.config,
        provider_tenant=provider.tenant_id,
        tenant_id=job_tenant,
    )
    # The namespace probe is ``Secrets(ns).List(limit 1)``: an apiserver answers a List in a namespace that does not
    # exist with an empty list, not NotFound, so its "missing namespace" prereq never shows; the tasks report it.
    missing: list[str] = []
    targets: Iterable[tuple[str, str, list[str]]] = (
        ("task", "tasks", list(REQUIRED_TASKS)),
        ("pipeline", "pipelines", required_pipelines(service_profile(provider.config))),
    )
    for noun, plural, names in targets:
        rt = _tekton_type(cluster, version, plural)  # not served: each GET is NotFound, so "missing"
        for name in names:
            if rt is None or cluster.get(rt, ns, name) is None:
                missing.append(f"missing tekton {noun}: {name} in namespace {ns}")
    return ("not_ready" if missing else "ready"), missing


def persist(provider: ProviderRecord, status: str, missing: list[str], at: datetime) -> None:
    """``UpdateProviderReadiness``: store the result checked ``at`` and flip status/schedulability (lock held).

    ``blocked_by`` is built in the Go order (``provider_not_ready``, ``cluster_capacity``, ``provider_status_<s>``)
    and ``schedulable_reason`` picked from it as ``schedulableReasonFromBlockedBy`` does.
    """
    health, target, schedulable, blocked = "healthy", provider.status, True, []
    if status != "ready":
        lowered = [m.strip().lower() for m in missing]
        unhealthy = any(
            pattern in m for m in lowered if m and not any(a in m for a in _AUTHZ) for pattern in _CONNECTIVITY
        )
        health, target, schedulable = ("unhealthy" if unhealthy else "warning"), "offline", False
        blocked.append("provider_not_ready")
    elif provider.status != "maintenance":
        target = "online"
    if any("cluster_capacity" in m.lower() for m in missing):  # hasReadinessPrereq
        schedulable = False
        blocked.append("cluster_capacity")
    if target != "online":
        schedulable = False
        blocked.append(f"provider_status_{target}")
    provider.readiness_status = status
    provider.readiness_last_checked = at
    provider.readiness_missing_prereqs = list(missing)
    provider.health_status = health
    provider.last_health_check = at
    provider.status = target
    provider.is_schedulable = schedulable
    provider.schedulable_reason = _schedulable_reason(blocked)
    provider.blocked_by = blocked
    provider.updated_at = at


def _schedulable_reason(blocked: list[str]) -> str:
    """``schedulableReasonFromBlockedBy`` (service.go)."""
    if not blocked:
        return "provider is ready for scheduling"
    if "cluster_capacity" in blocked:
        return "cluster capacity is not ready"
    status = next((b for b in blocked if b.startswith("provider_status_")), None)
    if status is not None:
        return f"provider status is {status.removeprefix('provider_status_')}"
    return (
        "provider is not ready"
        if "provider_not_ready" in blocked
        else "provider is blocked by readiness or policy gates"
    )
