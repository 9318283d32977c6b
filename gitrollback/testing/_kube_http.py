"""Request decoding and Status replies for the Kubernetes simulator's router.

Everything here is about the wire, not the store: the ``Status`` body (apimachinery ``metav1.Status``), the
generic 404/405/415 replies with the apiserver's wording, body decoding (an apply body may be YAML or JSON,
read as ``sigs.k8s.io/yaml`` reads it, ``_k8s_yaml``), the identity checks a body must pass against its URL, the field
manager the apiserver derives when a client names none, and opaque ``continue`` tokens for chunked lists.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitrollback.testing import _k8s_yaml
from gitrollback.testing._kube_catalog import ResourceType, StoreError
from gitrollback.testing.server import Request, Response

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "Target",
    "check_body",
    "content_type",
    "decode_body",
    "decode_continue",
    "encode_continue",
    "field_manager",
    "field_validation",
    "flag",
    "int_param",
    "no_resource",
    "not_allowed",
    "status",
    "status_body",
    "unsupported_media_type",
    "warning_headers",
]

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
}


@dataclass(frozen=True)
class Target:
    """What a resource URL addresses: a type at a version, maybe a namespace, name and subresource."""

    rt: ResourceType
    version: str
    namespace: str | None
    name: str | None = None
    subresource: str = ""

    @property
    def api_version(self) -> str:
        """``group/version`` as asked for in the URL."""
        return self.rt.api_version(self.version)


def status_body(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A failure ``Status`` (apiserver ``responsewriters.ErrorToAPIStatus``); a NotFound carries ``details``."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
    }
    if reason:  # a plain error turned into a Status has none (apiserver ErrorToAPIStatus: StatusReasonUnknown)
        body["reason"] = reason
    if details or reason == "NotFound":
        body["details"] = dict(details or {})
    body["code"] = code
    return body


def status(code: int, message: str, details: Mapping[str, Any] | None = None, reason: str | None = None) -> Response:
    """A Status reply; the reason defaults to the apiserver's for ``code``."""
    if reason is None:
        reason = _REASONS.get(code, "")
    return Response.json(code, status_body(code, reason, message, details))


def no_resource() -> Response:
    """An unserved type or path: no ``details.name``, which is how clients tell "CRD missing" apart."""
    return status(404, "the server could not find the requested resource")


def not_allowed() -> Response:
    """405 for a verb the resource does not take."""
    return status(405, "the server does not allow this method on the requested resource")


def unsupported_media_type(custom: bool) -> Response:
    """415; custom resources do not take strategic merge patches (apiserver ``handlers/patch.go``)."""
    accepted = [JSON_PATCH, MERGE_PATCH] + ([] if custom else [STRATEGIC_PATCH]) + [APPLY_PATCH]
    prefix = "the body of the request was in an unknown format - accepted media types include: "
    return status(415, prefix + ", ".join(accepted))


def content_type(request: Request) -> str:
    """The media type of the body, parameters dropped."""
    return request.header("Content-Type").split(";", 1)[0].strip().lower()


_DECODABLE = frozenset(
    {"", "application/json", "application/yaml", APPLY_PATCH, MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH}
)


def decode_body(request: Request) -> Any:
    """JSON, or YAML for YAML content types (an apply body may be either).

    Protobuf and CBOR bodies (kubectl sends protobuf for built-in kinds) get the apiserver's 415, after
    which client-go retries in JSON.
    """
    kind = content_type(request)
    if kind not in _DECODABLE:
        prefix = "the body of the request was in an unknown format - accepted media types include: "
        raise StoreError(415, "UnsupportedMediaType", prefix + "application/json, application/yaml")
    try:
        if kind in (APPLY_PATCH, "application/yaml"):
            # JSON is YAML, so a JSON apply body (lightkube and kubectl send one) decodes the same either way;
            # the JSON parser is just much faster, which keeps the simulator out of the benchmarks' way
            if request.body.lstrip().startswith(b"{"):
                with contextlib.suppress(ValueError):
                    return json.loads(request.body.decode("utf-8"))
            return _k8s_yaml.unmarshal(request.body)
        return json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, _k8s_yaml.GoDecodeError) as exc:
        raise StoreError(400, "BadRequest", f"error decoding request body: {exc}") from exc


def field_validation(request: Request) -> str:
    """``fieldValidation``: ``Strict``, ``Warn`` (the apiserver's default when absent) or ``Ignore``."""
    return request.query_value("fieldValidation") or "Warn"


def warning_headers(warnings: list[str]) -> dict[str, str]:
    """RFC 7234 ``Warning`` values as the apiserver sends them (code 299, agent ``-``), comma-joined."""
    if not warnings:
        return {}
    return {"Warning": ", ".join(f"299 - {json.dumps(text)}" for text in warnings)}


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter (``force=true``)."""
    return (request.query_value(name) or "").lower() in ("true", "1")


def int_param(request: Request, name: str) -> int:
    """An integer query parameter (0 when absent); 400 BadRequest when it is not a base-10 integer.

    The wording follows apimachinery's query-parameter conversion (``strconv.ParseInt`` error text); the
    refusal is a ``Status`` body; the exact text is ours.
    """
    raw = request.query_value(name)
    if not raw:
        return 0
    try:
        if raw.strip() != raw or "_" in raw:
            raise ValueError(raw)
        return int(raw)
    except ValueError as exc:
        raise _bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from exc


def field_manager(request: Request) -> str:
    """``fieldManager``, else what the apiserver derives from the User-Agent (the part before ``/``)."""
    explicit = request.query_value("fieldManager")
    if explicit is not None:
        return explicit
    return request.header("User-Agent", "unknown").split("/", 1)[0] or "unknown"


def _bad_request(message: str) -> StoreError:
    return StoreError(400, "BadRequest", message)


def check_body(body: Any, target: Target) -> dict[str, Any]:
    """The body's identity must match the URL; a missing apiVersion/kind/name is filled in from it."""
    if not isinstance(body, dict):
        raise _bad_request("the request body must be a JSON object")
    expected = target.api_version
    body.setdefault("apiVersion", expected)
    body.setdefault("kind", target.rt.kind)
    if body["apiVersion"] != expected:  # apiserver create.go/update.go wording
        raise _bad_request(
            f"the API version in the data ({body['apiVersion']}) does not match the expected API version ({expected})"
        )
    if body["kind"] != target.rt.kind:
        # decided here: the real server fails while decoding, with a less readable message
        raise _bad_request(f"the kind in the data ({body['kind']}) does not match the expected kind ({target.rt.kind})")
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise _bad_request("metadata must be a JSON object")
    if target.name is not None:
        if meta.get("name") not in (None, target.name):
            raise _bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
            )
        meta["name"] = target.name
    return body


def encode_continue(rv: str, last: tuple[str, str]) -> str:
    """An opaque token resuming a list after ``(namespace, name)``."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(last)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, str]:
    """The ``(namespace, name)`` a token resumes after; 400 when it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, name = data["start"]
        return str(namespace), str(name)
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _bad_request(f"continue key is not valid: {exc}") from exc
