"""The in-memory object store behind the Kubernetes simulator.

``ClusterState`` is shared in-process by the Kubernetes simulator (which serves it over HTTP to lightkube and
kubectl) and the Image Factory simulator (whose readiness checks, installer jobs and builds look at the same
objects, as the real server does through its ``runtime_auth``/``bootstrap_auth`` clients).

Objects are stored once per (group, plural, namespace, name) whatever version they were written through, the
way a CRD with several served versions behaves; reads rewrite ``apiVersion`` to the version asked for.
All methods are thread-safe and return deep copies.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["CATALOG", "ApplyResult", "ClusterState", "ResourceType", "StoreError"]


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and how kubectl names it."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def preferred_version(self) -> str:
        """The first (storage) version."""
        return self.versions[0]

    def api_version(self, version: str | None = None) -> str:
        """``group/version`` (or just ``version`` for the core group)."""
        v = version or self.preferred_version
        return f"{self.group}/{v}" if self.group else v

    @property
    def qualified(self) -> str:
        """``plural.group`` as used in Status messages (``pipelines.tekton.dev``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_TEKTON = ("tekton", "tekton-pipelines")

CATALOG: tuple[ResourceType, ...] = (
    ResourceType("", ("v1",), "Namespace", "namespaces", False, "namespace", ("ns",)),
    ResourceType("", ("v1",), "Node", "nodes", False, "node", ("no",)),
    ResourceType("", ("v1",), "ConfigMap", "configmaps", True, "configmap", ("cm",)),
    ResourceType("", ("v1",), "Secret", "secrets", True, "secret"),
    ResourceType("", ("v1",), "ServiceAccount", "serviceaccounts", True, "serviceaccount", ("sa",)),
    ResourceType("", ("v1",), "Service", "services", True, "service", ("svc",)),
    ResourceType("", ("v1",), "PersistentVolumeClaim", "persistentvolumeclaims", True, "persistentvolumeclaim", ("pvc",)),
    ResourceType("", ("v1",), "Pod", "pods", True, "pod", ("po",)),
    ResourceType("apps", ("v1",), "Deployment", "deployments", True, "deployment", ("deploy",)),
    ResourceType("batch", ("v1",), "CronJob", "cronjobs", True, "cronjob", ("cj",)),
    ResourceType("batch", ("v1",), "Job", "jobs", True, "job"),
    ResourceType("rbac.authorization.k8s.io", ("v1",), "Role", "roles", True, "role"),
    ResourceType("rbac.authorization.k8s.io", ("v1",), "RoleBinding", "rolebindings", True, "rolebinding"),
    ResourceType("coordination.k8s.io", ("v1",), "Lease", "leases", True, "lease"),
    ResourceType("tekton.dev", ("v1", "v1beta1"), "Task", "tasks", True, "task", (), _TEKTON),
    ResourceType("tekton.dev", ("v1", "v1beta1"), "Pipeline", "pipelines", True, "pipeline", (), _TEKTON),
    ResourceType("tekton.dev", ("v1", "v1beta1"), "PipelineRun", "pipelineruns", True, "pipelinerun", ("pr",), _TEKTON),
    ResourceType("tekton.dev", ("v1", "v1beta1"), "TaskRun", "taskruns", True, "taskrun", ("tr",), _TEKTON),
)


class StoreError(Exception):
    """A store operation was refused; carries the Kubernetes Status fields."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})


@dataclass(frozen=True)
class ApplyResult:
    """The object after an apply, and whether the apply created it."""

    object: dict[str, Any]
    created: bool


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_api_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): ``None`` deletes a key, mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class ClusterState:
    """Thread-safe object store with the Kubernetes bookkeeping clients rely on.

    Args:
        types: the served resource types (default ``CATALOG``).
        namespaces: namespaces to create up front (``default`` always exists).
        ready_nodes: how many Ready nodes the cluster reports (readiness checks count them).
    """

    def __init__(
        self,
        types: Iterable[ResourceType] = CATALOG,
        *,
        namespaces: Iterable[str] = (),
        ready_nodes: int = 1,
    ) -> None:
        self.types: tuple[ResourceType, ...] = tuple(types)
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._rv = itertools.count(1)
        for ns in ("default", *namespaces):
            self.ensure_namespace(ns)
        for i in range(ready_nodes):
            self.put(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": f"node-{i + 1}"},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )

    # -- resource catalogue -------------------------------------------------------------------------------

    def type_for(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource type serving ``kind`` at ``api_version``, or None."""
        group, version = _split_api_version(api_version)
        for rt in self.types:
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt
        return None

    def type_for_plural(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource type at ``/apis/group/version/plural``, or None."""
        for rt in self.types:
            if rt.group == group and rt.plural == plural and version in rt.versions:
                return rt
        return None

    # -- reads ------------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str, *, version: str | None = None) -> dict[str, Any] | None:
        """A deep copy of one object, or None."""
        with self._lock:
            obj = self._objects.get((rt.group, rt.plural, namespace or "", name))
            return self._view(rt, obj, version) if obj is not None else None

    def list(self, rt: ResourceType, namespace: str | None = None, *, version: str | None = None) -> list[dict[str, Any]]:
        """Deep copies of all objects of a type (in one namespace, or everywhere when None), by name."""
        with self._lock:
            found = [
                self._view(rt, obj, version)
                for (g, p, ns, _), obj in self._objects.items()
                if g == rt.group and p == rt.plural and (namespace is None or ns == namespace)
            ]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def namespace_exists(self, name: str) -> bool:
        """True when the Namespace object exists."""
        with self._lock:
            return ("", "namespaces", "", name) in self._objects

    def resource_version(self) -> str:
        """The store's current resourceVersion (for List metadata)."""
        with self._lock:
            return str(max((int(o["metadata"]["resourceVersion"]) for o in self._objects.values()), default=0))

    @staticmethod
    def _view(rt: ResourceType, obj: dict[str, Any], version: str | None) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        out["apiVersion"] = rt.api_version(version)
        return out

    # -- writes -----------------------------------------------------------------------------------------

    def ensure_namespace(self, name: str) -> bool:
        """Create a Namespace when missing; True when it was created."""
        if self.namespace_exists(name):
            return False
        self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}})
        return True

    def put(self, obj: Mapping[str, Any], *, manager: str = "gitrollback-simulator") -> dict[str, Any]:
        """Create or replace an object unconditionally (test set-up; no validation, no conflicts)."""
        rt = self._require_type(obj)
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "") if rt.namespaced else ""
        with self._lock:
            existing = self._objects.get((rt.group, rt.plural, ns, meta["name"]))
            stored = self._stamp(rt, copy.deepcopy(dict(obj)), existing, manager, "Update")
            self._objects[(rt.group, rt.plural, ns, meta["name"])] = stored
            return self._view(rt, stored, None)

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        namespace: str | None,
        manager: str,
        force: bool = False,
    ) -> ApplyResult:
        """Server-side apply: create when missing, else merge the applied fields over the live object."""
        if not manager:
            raise StoreError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
            )
        rt = self._require_type(obj)
        meta = dict(obj.get("metadata") or {})
        ns = (namespace or meta.get("namespace") or "") if rt.namespaced else ""
        if rt.namespaced and not ns:
            raise StoreError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        if rt.namespaced and not self.namespace_exists(ns):
            raise StoreError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})
        key = (rt.group, rt.plural, ns, meta["name"])
        with self._lock:
            existing = self._objects.get(key)
            applied = copy.deepcopy(dict(obj))
            applied.pop("status", None)
            applied.setdefault("metadata", {})
            if rt.namespaced:
                applied["metadata"]["namespace"] = ns
            if existing is None:
                stored = self._stamp(rt, applied, None, manager, "Apply")
            else:
                base = {k: v for k, v in existing.items() if k != "status"}
                merged = _merge(base, applied)
                merged["status"] = existing.get("status", {})
                stored = self._stamp(rt, merged, existing, manager, "Apply")
            self._objects[key] = stored
            return ApplyResult(self._view(rt, stored, None), existing is None)

    def delete(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """Remove an object; ``StoreError`` 404 when missing."""
        with self._lock:
            obj = self._objects.pop((rt.group, rt.plural, namespace or "", name), None)
        if obj is None:
            raise StoreError(404, "NotFound", f'{rt.qualified} "{name}" not found', {"name": name, "group": rt.group, "kind": rt.plural})
        return self._view(rt, obj, None)

    def _require_type(self, obj: Mapping[str, Any]) -> ResourceType:
        rt = self.type_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if rt is None:
            raise StoreError(
                404, "NotFound", f'no matches for kind "{obj.get("kind")}" in version "{obj.get("apiVersion")}"'
            )
        if not (obj.get("metadata") or {}).get("name"):
            raise StoreError(422, "Invalid", f"{rt.kind} is invalid: metadata.name: Required value: name is required")
        return rt

    def _stamp(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        existing: Mapping[str, Any] | None,
        manager: str,
        operation: str,
    ) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        old_meta = dict(existing["metadata"]) if existing else {}
        meta["uid"] = old_meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = old_meta.get("creationTimestamp") or _now()
        meta["resourceVersion"] = str(next(self._rv))
        generation = int(old_meta.get("generation", 0))
        if existing is None or _spec_of(existing) != _spec_of(obj):
            generation += 1
        meta["generation"] = max(generation, 1)
        managed = [e for e in old_meta.get("managedFields", []) if e.get("manager") != manager or e.get("operation") != operation]
        managed.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": rt.api_version(),
                "time": _now(),
                "fieldsType": "FieldsV1",
                "fieldsV1": {},
            }
        )
        meta["managedFields"] = managed
        obj["apiVersion"] = rt.api_version()
        return obj
