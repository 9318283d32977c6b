"""Authorization for the Kubernetes simulator: deny rules, the 403 an API server sends, and access reviews.

A real API server asks its authorizer (RBAC, usually) about every resource request, with the attributes
``(user, verb, API group, resource, subresource, namespace, name)`` taken from the URL and method
(k8s.io/apiserver ``pkg/endpoints/request/requestinfo.go``: ``GET`` of an item is ``get``, of a collection
``list`` or ``watch``, ``POST`` is ``create``, ``PUT`` ``update``, ``PATCH`` ``patch``, ``DELETE`` of an item
``delete`` and of a collection ``deletecollection``). A refusal is a 403 whose message
``forbiddenMessage`` builds (``pkg/endpoints/handlers/responsewriters/errors.go``)::

    leases.coordination.k8s.io "x" is forbidden: User "u" cannot update resource "leases" in API group
    "coordination.k8s.io" in the namespace "ns"

A ``SelfSubjectAccessReview`` (``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``) asks the same
authorizer about the caller and answers 201 with ``status.allowed`` (and ``reason`` when there is one); the review
is never stored (kubernetes ``pkg/registry/authorization/selfsubjectaccessreview/rest.go``), and a spec without
exactly one of ``resourceAttributes``/``nonResourceAttributes`` is a 422 (``pkg/apis/authorization/validation``).

The simulator's policy is "everything is allowed except the deny rules a test adds", which is what a test of a
missing permission needs; RBAC itself is not modelled.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gitrollback.testing._kube_catalog import StoreError

__all__ = ["Attributes", "Authorizer", "DenyRule", "forbidden", "request_verb", "review"]


@dataclass(frozen=True)
class Attributes:
    """What the authorizer is asked about one request."""

    user: str
    verb: str
    group: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""


@dataclass(frozen=True)
class DenyRule:
    """Refuse ``verb`` on ``group``/``resource`` (in ``namespace``, or anywhere when None); ``*`` matches any."""

    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None

    def matches(self, attrs: Attributes) -> bool:
        """True when this rule refuses ``attrs``."""
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        return (
            self.verb in ("*", attrs.verb)
            and self.resource in ("*", resource)
            and self.group in ("*", attrs.group)
            and (self.namespace is None or self.namespace == attrs.namespace)
        )


class Authorizer:
    """Allow everything except what a deny rule matches; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[DenyRule] = []

    def deny(self, rule: DenyRule) -> None:
        """Add a deny rule."""
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        """Drop every deny rule."""
        with self._lock:
            self._rules.clear()

    def allowed(self, attrs: Attributes) -> bool:
        """The authorizer's decision."""
        with self._lock:
            return not any(rule.matches(attrs) for rule in self._rules)


def request_verb(method: str, *, named: bool, watch: bool) -> str:
    """The authorizer verb of a resource request (``requestinfo.go``)."""
    if method == "GET":
        if watch:
            return "watch"
        return "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def forbidden(attrs: Attributes, qualified: str) -> StoreError:
    """The 403 for a refused request (``responsewriters.forbiddenMessage`` inside ``errors.NewForbidden``)."""
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    reason = f'User "{attrs.user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.group}" {where}'
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: dict[str, Any] = {"name": attrs.name} if attrs.name else {}
    if attrs.group:
        details["group"] = attrs.group
    details["kind"] = attrs.resource
    return StoreError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)


def _invalid_spec(detail: str) -> StoreError:
    field = "spec.resourceAttributes"
    return StoreError(
        422,
        "Invalid",
        f'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: {field}: {detail}',
        {
            "group": "authorization.k8s.io",
            "kind": "SelfSubjectAccessReview",
            "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}],
        },
    )


def review(body: Any, user: str, authorizer: Authorizer, api_version: str) -> dict[str, Any]:
    """Answer a ``SelfSubjectAccessReview`` body: the review with ``status`` filled in (never stored)."""
    spec = body.get("spec") if isinstance(body, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        raise _invalid_spec(
            'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified'
        )
    if resource is not None:
        if not isinstance(resource, dict):
            raise StoreError(400, "BadRequest", "spec.resourceAttributes must be an object")
        attrs = Attributes(
            user=user,
            verb=str(resource.get("verb") or ""),
            group=str(resource.get("group") or ""),
            resource=str(resource.get("resource") or ""),
            namespace=str(resource.get("namespace") or ""),
            name=str(resource.get("name") or ""),
            subresource=str(resource.get("subresource") or ""),
        )
        allowed = authorizer.allowed(attrs)
    else:
        allowed = True  # non-resource URLs (discovery, /healthz) are open in the simulator
    status: dict[str, Any] = {"allowed": allowed}
    if allowed:
        status["reason"] = "allowed by the gitrollback Kubernetes simulator's policy"  # wording is ours
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": api_version,
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
