"""Wire details of the Argo CD API server the simulator reproduces: error envelope, tokens, times, 415.

Argo CD's REST API is grpc-gateway v1.16 over gRPC services (argoproj/argo-cd ``go.mod``, ``server/server.go``
newHTTPServer), marshalled with Go's ``encoding/json``: errors are the ``runtimeError`` envelope ``{"error",
"code", "message"}`` with the gRPC code as a number and the HTTP status from the gateway's code table
(grpc-gateway v1 ``runtime/errors.go``, HTTPStatusFromCode); a plain Go error that carries no gRPC status is
code 2 (Unknown), answered as 500. Times are RFC 3339 at second precision; bearer tokens are used only when they
look like a JWT (three dot-separated parts, ``util/jwt/jwt.go`` IsValid). Non-GET requests without an allowed
content type get a plain-text 415 from an HTTP middleware, before any auth (``server/server.go``
enforceContentTypes).

Decision: the envelope is a generated protobuf struct whose ``details`` field is tagged ``omitempty``, so an
empty ``details`` is omitted here rather than sent as ``[]``.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from gitrollback.testing.server import Request, Response

__all__ = [
    "ABORTED",
    "FAILED_PRECONDITION",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "UNKNOWN",
    "content_type_refused",
    "error",
    "is_commit_sha",
    "looks_like_jwt",
    "mint_token",
    "rfc3339",
]

UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
PERMISSION_DENIED = 7
FAILED_PRECONDITION = 9
ABORTED = 10
UNIMPLEMENTED = 12
INTERNAL = 13
UNAUTHENTICATED = 16

# grpc-gateway v1 HTTPStatusFromCode, the rows Argo CD produces.
_HTTP_STATUS = {
    UNKNOWN: 500,
    INVALID_ARGUMENT: 400,
    FAILED_PRECONDITION: 400,
    DEADLINE_EXCEEDED: 504,
    NOT_FOUND: 404,
    PERMISSION_DENIED: 403,
    ABORTED: 409,
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAUTHENTICATED: 401,
}

ALLOWED_CONTENT_TYPES = frozenset({"application/json"})


def error(code: int, message: str) -> Response:
    """The ``runtimeError`` envelope for a gRPC code, with the gateway's HTTP status."""
    return Response.json(_HTTP_STATUS.get(code, 500), {"error": message, "code": code, "message": message})


def content_type_refused(request: Request) -> Response | None:
    """The plain-text 415 for a non-GET request without ``application/json`` (``enforceContentTypes``)."""
    # Only GET is exempt, and the header is looked up as a whole, lower-cased, in the allowed list:
    # ``application/json; charset=utf-8`` is *not* ``application/json`` and gets the 415 too (server.go
    # enforceContentTypes compares the raw header value).
    if request.method == "GET":
        return None
    if request.header("Content-Type").strip().lower() in ALLOWED_CONTENT_TYPES:
        return None
    return Response.text(415, "Invalid content type")


def is_commit_sha(revision: str) -> bool:
    """``git.IsCommitSHA`` (util/git/git.go): exactly 40 hex digits."""
    return len(revision) == 40 and all(c in "0123456789abcdefABCDEF" for c in revision)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(subject: str) -> str:
    """A JWT-shaped token (header.payload.signature); only the simulator that minted it accepts it."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"iss": "argocd", "sub": subject, "jti": secrets.token_hex(8)}).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"


def looks_like_jwt(token: str) -> bool:
    """Argo CD's ``jwt.IsValid`` shape test: three non-empty dot-separated parts."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts)


def rfc3339(when: datetime) -> str:
    """A ``metav1.Time`` as Go marshals it: UTC, second precision, ``Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_body(request: Request) -> dict[str, Any] | Response:
    """The request body as a JSON object, or the 400 grpc-gateway gives for a body it cannot unmarshal."""
    if not request.body.strip():
        return {}
    try:
        body = request.json()
    except ValueError as exc:
        return error(INVALID_ARGUMENT, f"invalid character in request body: {exc}")
    if not isinstance(body, dict):
        return error(INVALID_ARGUMENT, "json: cannot unmarshal non-object into the request message")
    return body
