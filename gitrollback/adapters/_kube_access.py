"""``SelfSubjectAccessReview`` bodies and answers, for the pre-flight check: pure, no third-party imports.

The review asks the API server's authorizer whether the caller may do one thing (``POST
/apis/authorization.k8s.io/v1/selfsubjectaccessreviews``, kubernetes ``pkg/apis/authorization/types.go``): the
answer's ``status.allowed`` is the decision, ``status.reason`` why (RBAC gives none on a plain refusal), and
``status.evaluationError`` is set when the authorizer could not decide. A token the server does not accept is
refused before any review, with 401.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["review_body", "review_verdict"]

API_VERSION = "authorization.k8s.io/v1"


def review_body(verb: str, group: str, resource: str, namespace: str | None) -> dict[str, Any]:
    """The review asking whether the caller may ``verb`` ``resource`` of ``group`` (in ``namespace``)."""
    attributes: dict[str, Any] = {"verb": verb, "group": group, "resource": resource}
    if namespace:
        attributes["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": attributes}}


def review_verdict(answer: Mapping[str, Any]) -> tuple[bool, str]:
    """``(allowed, why)`` from the answered review; a missing status counts as not allowed."""
    status = answer.get("status") or {}
    allowed = bool(status.get("allowed")) and not status.get("denied")
    why = str(status.get("reason") or status.get("evaluationError") or "")
    return allowed, why
