"""The resource catalogue and the Status-shaped refusals of the simulated Kubernetes API.

``ResourceType`` describes one served resource (group, versions, kind, plural, scope, kubectl names), and
``CATALOG`` is what the sandbox needs: the core kinds Image Factory's readiness checks and installer touch,
apps/batch/rbac/coordination kinds, and Tekton's four kinds served at v1 (storage) and v1beta1
(tektoncd/pipeline ``config/300-crds``). ``StoreError`` carries the fields of a Kubernetes ``Status``; the
helpers here build the exact messages a real apiserver sends (kubernetes/apimachinery ``pkg/api/errors``), so
both the HTTP layer and the in-process Image Factory simulator see the same wording. ``cluster_state``
re-exports the public names. ``validate``, ``decode`` and ``check_apply`` turn what ``_kube_schemas`` finds
into the refusal of each write path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from gitrollback.testing import _kube_schemas as schemas

FieldPath = tuple[str | int, ...]

__all__ = [
    "CATALOG",
    "FIELD_MANAGER_MAX_LENGTH",
    "ResourceType",
    "StoreError",
    "check_apply",
    "check_field_manager",
    "decode",
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
    ``status_subresource`` whether ``<plural>/status`` is served. ``conditional_update`` marks a built-in kind whose
    registry strategy refuses a PUT without ``resourceVersion`` (``AllowUnconditionalUpdate() == false``, e.g.
    kubernetes ``pkg/registry/coordination/lease/strategy.go``). ``verbs`` overrides the verbs discovery lists (a
    create-only review type lists ``create`` alone); empty means the usual set.
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
    conditional_update: bool = False
    verbs: tuple[str, ...] = ()

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
    ResourceType(
        "coordination.k8s.io",
        ("v1",),
        "Lease",
        "leases",
        True,
        "lease",
        status_subresource=False,
        conditional_update=True,
    ),
    # create-only and never stored (kubernetes pkg/registry/authorization/selfsubjectaccessreview/rest.go)
    ResourceType(
        "authorization.k8s.io",
        ("v1",),
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        False,
        "selfsubjectaccessreview",
        status_subresource=False,
        verbs=("create",),
    ),
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
    """apimachinery ``ValidatePatchOptions``/``ValidateFieldManager`` (``pkg/apis/meta/v1/validation``)."""
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
    """The stale-``resourceVersion`` conflict (apiserver ``registry/generic/registry/store.go``)."""
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


def _field_path(path: FieldPath) -> str:
    """apimachinery ``field.Path`` text: ``spec.template.spec.containers[0].name``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _go_value(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value (what structured-merge-diff prints after ``got``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    return str(value)


def _go_syntax(value: Any) -> str:
    """Go's ``%#v`` of a scalar (``"x"``, ``1``, ``true``); containers fall back to ``%v``."""
    if isinstance(value, str):
        return json.dumps(value)
    return _go_value(value)


def _go_kind(value: Any) -> str:
    """Go's ``%T`` of a decoded JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "map[string]interface {}" if isinstance(value, Mapping) else "[]interface {}"


def _json_kind(value: Any) -> str:
    """``encoding/json``'s name for a JSON value in an ``UnmarshalTypeError``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, Mapping) else "array"


def _invalid_status(kind: str, group: str, name: str, errors: list[tuple[str, str, str]]) -> StoreError:
    """apimachinery ``errors.NewInvalid``: one cause per field error, the aggregate in brackets when several."""
    qualified = f"{kind}.{group}" if group else kind
    texts = list(dict.fromkeys(f"{path}: {detail}" for path, _, detail in errors))  # ToAggregate dedups
    aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": reason, "message": detail, "field": path} for path, reason, detail in errors]
    return StoreError(422, "Invalid", f'{qualified} "{name}" is invalid: {aggregate}', details)


def validate(rt: ResourceType, obj: Mapping[str, Any]) -> None:
    """The kind's validation, as far as its API schema states it: required fields (422 Invalid).

    ``status`` is left out (the main resource ignores it; status writes are validated by hand-written code the
    schemas do not carry). Custom resources with a CRD in ``_crd_schemas`` get its defaults filled in (in place)
    and its type and value rules checked too; other custom resources pass.
    """
    version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1] or rt.preferred_version
    if rt.custom and isinstance(obj, dict):
        from gitrollback.testing import _crd_schemas  # it imports this module

        _crd_schemas.defaults(rt.group, version, rt.kind, obj)
    body = {k: v for k, v in obj.items() if k != "status"}
    report = schemas.check(rt.group, version, rt.kind, body)
    if report is None:
        return
    errors = [(_field_path(path), "FieldValueRequired", "Required value") for path in report.invalid]
    if rt.custom:
        # a custom resource is decoded unstructured, so the CRD's schema validation reports wrong types, as
        # apiextensions-apiserver does: ``spec.prune: Invalid value: "string": spec.prune in body must be of
        # type boolean: "string"``; then the value rules
        for bad in report.mistyped:
            where, wanted = _field_path(bad.path), _crd_type(bad.schema)
            shown = json.dumps(_openapi_kind(bad.value))
            detail = f"Invalid value: {shown}: {where} in body must be of type {wanted}: {shown}"
            errors.append((where, "FieldValueTypeInvalid", detail))
        errors += [(_field_path(path), reason, detail) for path, reason, detail in report.invalid_values]
    if errors:
        raise _invalid_status(rt.kind, rt.group, str((obj.get("metadata") or {}).get("name") or ""), errors)


def _openapi_kind(value: Any) -> str:
    """The JSON type name kube-openapi prints for a value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, Mapping) else "array"


def _crd_type(schema: Mapping[str, Any]) -> str:
    raw = schema.get("type")
    return str(raw) if isinstance(raw, str) else "object"


def _unmarshal_error(bad: schemas.Mistyped) -> str:
    """``encoding/json``'s ``UnmarshalTypeError`` text (the field path is JSON names only, no list indexes)."""
    names = ".".join(bad.fields)
    target = schemas.go_type(bad.schema)
    where = f"Go struct field {bad.struct}.{names}" if names else "Go value"
    return f"json: cannot unmarshal {_json_kind(bad.value)} into {where} of type {target}"


def _strict_error(unknown: list[FieldPath]) -> str:
    """apimachinery ``runtime.NewStrictDecodingError`` over sigs.k8s.io/json's unknown-field errors."""
    return "strict decoding error: " + ", ".join(f'unknown field "{_field_path(p)}"' for p in unknown)


# metav1.MicroTime fields: the decoder parses them with the layout "2006-01-02T15:04:05.000000Z07:00"
# (k8s.io/apimachinery pkg/apis/meta/v1/micro_time.go), so the six fractional digits are required.
_MICRO_TIME_FIELDS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("coordination.k8s.io", "Lease"): (("spec", "acquireTime"), ("spec", "renewTime")),
}
_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
_MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"


def _micro_time_error(rt: ResourceType, obj: Mapping[str, Any]) -> str | None:
    """Go's ``time.Parse`` complaint about the first MicroTime field that lacks the required form."""
    for path in _MICRO_TIME_FIELDS.get((rt.group, rt.kind), ()):
        node: Any = obj
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, str) and not _MICRO_TIME.match(node):
            after = re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(.*)$", node)
            rest = after.group(1) if after else node
            return f'parsing time "{node}" as "{_MICRO_LAYOUT}": cannot parse "{rest}" as ".000000"'
    return None


def decode(
    rt: ResourceType,
    version: str,
    obj: dict[str, Any],
    *,
    field_validation: str = "Warn",
    warnings: list[str] | None = None,
    patched: bool = False,
) -> None:
    """Decode a create, update or patched body the way the apiserver does, in place.

    A value of the wrong type fails decoding (400 ``Kind in version "v" cannot be handled as a Kind: json:
    cannot unmarshal ...``, apiserver ``transformDecodeError``); unknown fields fail it with
    ``fieldValidation=Strict`` (``strict decoding error: unknown field "spec.x"``), are dropped with a warning
    with ``Warn`` (the default) and silently with ``Ignore``. A non-apply patch reports the same as a 422
    ``patch: Invalid value`` (apiserver ``jsonPatcher.applyPatchToCurrentObject``).
    """
    report = schemas.check(rt.group, version, rt.kind, {k: v for k, v in obj.items() if k != "status"})
    if report is None:
        return
    # custom resources decode into unstructured JSON: wrong types are left to validation (422)
    mistyped = report.mistyped and not rt.custom
    failure = _unmarshal_error(report.mistyped[0]) if mistyped else _micro_time_error(rt, obj)
    if failure is None and report.unknown and field_validation == "Strict":
        failure = _strict_error(report.unknown)
    if failure is not None:
        if patched:
            shown = json.dumps(obj, separators=(",", ":"))
            detail = f"Invalid value: {json.dumps(shown)}: {failure}"
            raise StoreError(
                422,
                "Invalid",
                f'"" is invalid: patch: {detail}',
                {"causes": [{"reason": "FieldValueInvalid", "message": detail, "field": "patch"}]},
            )
        message = f'{rt.kind} in version "{version}" cannot be handled as a {rt.kind}: {failure}'
        raise StoreError(400, "BadRequest", message)
    for path in report.unknown:
        if field_validation == "Warn" and warnings is not None:
            warnings.append(f'unknown field "{_field_path(path)}"')
        _drop(obj, path)


def _drop(obj: Any, path: FieldPath) -> None:
    node = obj
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


def _smd_path(obj: Mapping[str, Any], path: FieldPath, keys: Mapping[FieldPath, tuple[str, ...]]) -> str:
    """structured-merge-diff's path text: ``.spec.ports[port=80,protocol="TCP"]``, ``.args[0]``."""
    out, node = "", cast(Any, obj)
    for depth, part in enumerate(path):
        if isinstance(part, int):
            item = node[part]
            names = keys.get(path[:depth])
            if names and isinstance(item, Mapping):
                out += "[" + ",".join(f"{n}={json.dumps(item.get(n))}" for n in names) + "]"
            else:
                out += f"[{part}]"
        else:
            out += f".{part}"
        node = node[part]
    return out


def _smd_type_error(bad: schemas.Mistyped) -> str:
    """structured-merge-diff ``validateScalar`` / ``mapValue`` / ``listValue`` wording."""
    wanted = schemas.go_type(bad.schema)
    if wanted.startswith("map[") or "." in wanted:
        return f"expected map, got &{{{_go_value(bad.value)}}}"
    if wanted.startswith("[]") and wanted != "[]uint8":
        return f"expected list, got &{{{_go_value(bad.value)}}}"
    if wanted in ("bool",):
        return f"expected boolean, got &{{{_go_value(bad.value)}}}"
    if wanted in ("string", "[]uint8"):
        return f"expected string, got &value.valueUnstructured{{Value:{_go_syntax(bad.value)}}}"
    return f"expected numeric (int or float), got {_go_kind(bad.value)}"


def check_apply(rt: ResourceType, obj: Mapping[str, Any], namespace: str) -> None:
    """Server-side apply's typed conversion of the applied configuration (500, apimachinery ``structuredmerge``).

    Unknown fields and mistyped values fail it whatever ``fieldValidation`` says: the apiserver returns the
    plain error ``failed to create typed patch object (NS/NAME; GROUP/VERSION, Kind=KIND): PATH: ...``, which
    becomes a 500 with no reason (kubernetes/kubernetes issues 122480 and 139253). Only the first unknown field
    of each map is named, as the walk stops there.
    """
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    report = schemas.check(group, version, rt.kind, obj)
    if report is None:
        return
    problems: list[tuple[FieldPath, str]] = [(bad.path, _smd_type_error(bad)) for bad in report.mistyped]
    seen: set[FieldPath] = set()
    for path in report.unknown:
        if path[:-1] not in seen:
            seen.add(path[:-1])
            problems.append((path, "field not declared in schema"))
    if not problems:
        return
    order = {path: index for index, path in enumerate(_document_order(obj))}
    problems.sort(key=lambda item: order.get(item[0], len(order)))
    texts = [f"{_smd_path(obj, path, report.list_keys)}: {text}" for path, text in problems]
    errors = texts[0] if len(texts) == 1 else "errors:\n" + "\n".join(f"  {t}" for t in texts)
    name = str((obj.get("metadata") or {}).get("name") or "")
    message = f"failed to create typed patch object ({namespace}/{name}; {group}/{version}, Kind={rt.kind}): {errors}"
    raise StoreError(500, "", message)


def _document_order(value: Any, path: FieldPath = ()) -> list[FieldPath]:
    out = [path]
    if isinstance(value, Mapping):
        for key, child in value.items():
            out.extend(_document_order(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(_document_order(child, (*path, index)))
    return out
