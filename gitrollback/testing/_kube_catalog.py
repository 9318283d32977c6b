"""The resource catalogue and the Status-shaped refusals of the simulated Kubernetes API.

``ResourceType`` describes one served resource (group, versions, kind, plural, scope, kubectl names), and
``CATALOG`` is what the sandbox needs: the core kinds Image Factory's readiness checks and installer touch,
apps/batch/rbac/coordination kinds, and Tekton's four kinds served at v1 (storage) and v1beta1
(``gitops-apis.md`` §3). ``StoreError`` carries the fields of a Kubernetes ``Status``; the helpers here
build the exact messages a real apiserver sends (``gitops-apis.md`` §4.2), so both the HTTP layer and the
in-process Image Factory simulator see the same wording. ``cluster_state`` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CATALOG",
    "FIELD_MANAGER_MAX_LENGTH",
    "ResourceType",
    "StoreError",
    "check_field_manager",
    "force_forbidden",
    "invalid_error",
    "modified_error",
    "namespace_not_found",
    "not_found_error",
    "required_error",
    "validate",
]

FIELD_MANAGER_MAX_LENGTH = 128


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and how kubectl names it.

    ``custom`` marks a custom resource (no strategic merge patch, resourceVersion required on PUT);
    ``status_subresource`` whether ``<plural>/status`` is served.
    """

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    custom: bool = False
    status_subresource: bool = True

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

    @property
    def qualified_kind(self) -> str:
        """``Kind.group`` as used in Invalid messages (``Deployment.apps``)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def details(self, name: str) -> dict[str, Any]:
        """Status ``details`` naming one object (empty group omitted, as Go's omitempty does)."""
        out: dict[str, Any] = {"name": name}
        if self.group:
            out["group"] = self.group
        out["kind"] = self.plural
        return out


_TEKTON = ("tekton", "tekton-pipelines")
_TEKTON_VERSIONS = ("v1", "v1beta1")
_RBAC = "rbac.authorization.k8s.io"

CATALOG: tuple[ResourceType, ...] = (
    ResourceType("", ("v1",), "Namespace", "namespaces", False, "namespace", ("ns",)),
    ResourceType("", ("v1",), "Node", "nodes", False, "node", ("no",)),
    ResourceType("", ("v1",), "ConfigMap", "configmaps", True, "configmap", ("cm",), status_subresource=False),
    ResourceType("", ("v1",), "Secret", "secrets", True, "secret", status_subresource=False),
    ResourceType(
        "",
        ("v1",),
        "ServiceAccount",
        "serviceaccounts",
        True,
        "serviceaccount",
        ("sa",),
        status_subresource=False,
    ),
    ResourceType("", ("v1",), "Service", "services", True, "service", ("svc",)),
    ResourceType(
        "",
        ("v1",),
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        True,
        "persistentvolumeclaim",
        ("pvc",),
    ),
    ResourceType("", ("v1",), "Pod", "pods", True, "pod", ("po",)),
    ResourceType("apps", ("v1",), "Deployment", "deployments", True, "deployment", ("deploy",)),
    ResourceType("batch", ("v1",), "CronJob", "cronjobs", True, "cronjob", ("cj",)),
    ResourceType("batch", ("v1",), "Job", "jobs", True, "job"),
    ResourceType(_RBAC, ("v1",), "Role", "roles", True, "role", status_subresource=False),
    ResourceType(_RBAC, ("v1",), "RoleBinding", "rolebindings", True, "rolebinding", status_subresource=False),
    ResourceType(_RBAC, ("v1",), "ClusterRole", "clusterroles", False, "clusterrole", status_subresource=False),
    ResourceType(
        _RBAC,
        ("v1",),
        "ClusterRoleBinding",
        "clusterrolebindings",
        False,
        "clusterrolebinding",
        status_subresource=False,
    ),
    ResourceType("coordination.k8s.io", ("v1",), "Lease", "leases", True, "lease", status_subresource=False),
    ResourceType("tekton.dev", _TEKTON_VERSIONS, "Task", "tasks", True, "task", (), _TEKTON, True),
    ResourceType("tekton.dev", _TEKTON_VERSIONS, "Pipeline", "pipelines", True, "pipeline", (), _TEKTON, True),
    ResourceType(
        "tekton.dev",
        _TEKTON_VERSIONS,
        "PipelineRun",
        "pipelineruns",
        True,
        "pipelinerun",
        ("pr",),
        _TEKTON,
        True,
    ),
    ResourceType("tekton.dev", _TEKTON_VERSIONS, "TaskRun", "taskruns", True, "taskrun", ("tr",), _TEKTON, True),
)


class StoreError(Exception):
    """A store operation was refused; carries the Kubernetes Status fields."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})


def _options_invalid(options: str, field: str, reason: str, detail: str) -> StoreError:
    return StoreError(
        422,
        "Invalid",
        f'{options}.meta.k8s.io "" is invalid: {field}: {detail}',
        {
            "group": "meta.k8s.io",
            "kind": options,
            "causes": [{"reason": reason, "message": detail, "field": field}],
        },
    )


def check_field_manager(manager: str | None, options: str = "PatchOptions", *, apply: bool = False) -> None:
    """apimachinery ``ValidatePatchOptions``/``ValidateFieldManager`` (``gitops-apis.md`` §4.2)."""
    if apply and not manager:
        raise _options_invalid(
            options, "fieldManager", "FieldValueRequired", "Required value: is required for apply patch"
        )
    if manager and len(manager) > FIELD_MANAGER_MAX_LENGTH:
        raise _options_invalid(options, "fieldManager", "FieldValueTooLong", "Too long: may not be more than 128 bytes")


def force_forbidden() -> StoreError:
    """``force`` given on a patch that is not an apply patch."""
    return _options_invalid(
        "PatchOptions", "force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"
    )


def not_found_error(rt: ResourceType, name: str) -> StoreError:
    """``tasks.tekton.dev "x" not found``."""
    return StoreError(404, "NotFound", f'{rt.qualified} "{name}" not found', rt.details(name))


def namespace_not_found(namespace: str) -> StoreError:
    """What NamespaceLifecycle admission answers to a create in a missing namespace."""
    return StoreError(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"})


def modified_error(rt: ResourceType, name: str) -> StoreError:
    """The stale-``resourceVersion`` conflict (``gitops-apis.md`` §4.2)."""
    return StoreError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        rt.details(name),
    )


def invalid_error(
    rt: ResourceType,
    name: str,
    field: str,
    detail: str = "Required value",
    *,
    reason: str = "FieldValueRequired",
) -> StoreError:
    """A single-cause Invalid (a single error has no brackets in the real message)."""
    return StoreError(
        422,
        "Invalid",
        f'{rt.qualified_kind} "{name}" is invalid: {field}: {detail}',
        {
            **rt.details(name),
            "kind": rt.kind,
            "causes": [{"reason": reason, "message": detail, "field": field}],
        },
    )


def required_error(rt: ResourceType, name: str, field: str, detail: str = "Required value") -> StoreError:
    """A missing required field."""
    return invalid_error(rt, name, field, detail)


# (kind, group) -> spec fields the real apiserver's validation requires; all the sandbox relies on.
_REQUIRED_SPEC_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Deployment", "apps"): ("selector",),
    ("CronJob", "batch"): ("schedule",),
}


def validate(rt: ResourceType, obj: Mapping[str, Any]) -> None:
    """Refuse what the real apiserver's built-in validation refuses (only the fields listed above)."""
    spec = obj.get("spec")
    for required in _REQUIRED_SPEC_FIELDS.get((rt.kind, rt.group), ()):
        if not isinstance(spec, Mapping) or spec.get(required) in (None, {}, ""):
            raise required_error(rt, obj["metadata"]["name"], f"spec.{required}")
