"""Login, tokens, tenant context and RBAC for the Image Factory simulator.

Models the real middleware (imagefactoryoss/imagefactory ``backend/internal/infrastructure/middleware/auth.go``,
``Authenticate`` and ``RequirePermission``; login and refresh from ``rest/auth_handler.go``): ``POST
/api/v1/auth/login`` hands out HMAC-SHA256-signed JWT-shaped access and refresh tokens with an expiry; every other
route needs ``Authorization: Bearer <token>`` (else ``401 Unauthorized``), an ``X-Tenant-ID`` UUID the caller may
use (with the exact plain-text bodies), and the route's ``resource:action`` permission from the seeded role table
(``backend/bootstrap/seed-essential-data.sql``, ``403 Forbidden``). The permission check is not tenant-scoped, as
in the real ``RequirePermission``: a user's roles in all its tenants count. All errors are Go ``http.Error`` plain
text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from gitrollback.testing.clock import SimClock
from gitrollback.testing.imagefactory.state import NIL_UUID, SimState, User, parse_uuid
from gitrollback.testing.server import Request, Response

__all__ = ["ROLE_PERMISSIONS", "Caller", "TokenSigner", "authenticate", "login", "refresh"]

_INFRA_ALL = {f"infrastructure:{a}" for a in ("read", "create", "update", "delete", "select")}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BUILD_ALL = {f"build:{a}" for a in ("create", "read", "list", "cancel", "delete")}

# Seeded permissions (backend/bootstrap/seed-essential-data.sql). The build rows are not spelled out there: we
# decided that Owner and Developer may do every build action and the viewers may only read and list.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "System Administrator": frozenset(_INFRA_ALL | _BUILD_ALL),
    "Owner": frozenset(_INFRA_ALL | _BUILD_ALL),
    "Developer": frozenset({"infrastructure:read", "infrastructure:select"} | _BUILD_ALL),
    "Viewer": frozenset({"infrastructure:read", "build:read", "build:list"}),
    "System Administrator Viewer": frozenset({"infrastructure:read", "build:read", "build:list"}),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies ``header.payload.signature`` tokens signed with HMAC-SHA256; ``iat``/``exp`` on ``clock``."""

    def __init__(
        self, secret: str, *, clock: SimClock, access_ttl: int = 3600, refresh_ttl: int = 7 * 24 * 3600
    ) -> None:
        self._key = secret.encode("utf-8")
        self._clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def issue(self, user: User, kind: str = "access", ttl: float | None = None) -> tuple[str, int]:
        """A signed token for ``user`` and its unix expiry."""
        lifetime = ttl if ttl is not None else (self.access_ttl if kind == "access" else self.refresh_ttl)
        issued = self._clock.now().timestamp()
        expiry = int(issued + lifetime)
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "sub": user.id,
                    "email": user.email,
                    "tenant_id": user.primary_tenant,
                    "typ": kind,
                    "iat": int(issued),
                    "exp": expiry,
                    "jti": str(uuid.uuid4()),
                }
            ).encode()
        )
        signature = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}", expiry

    def verify(self, token: str, kind: str = "access") -> dict[str, Any] | None:
        """The claims of a valid, unexpired token of this kind, else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = _b64(hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("typ") != kind:
            return None
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._clock.now().timestamp():
            return None
        return claims


@dataclass(frozen=True)
class Caller:
    """The authenticated user and the tenant named by ``X-Tenant-ID``."""

    user: User
    tenant_id: str

    @property
    def is_admin(self) -> bool:
        """System administrator (may name any tenant and use all-tenant scope)."""
        return self.user.system_admin

    def can(self, permission: str) -> bool:
        """RBAC check across all the user's roles (not tenant-scoped, as ``RequirePermission``)."""
        if self.user.system_admin:
            return True
        return any(permission in ROLE_PERMISSIONS.get(role, frozenset()) for role in self.user.roles.values())


def _token_pair(signer: TokenSigner, user: User) -> dict[str, Any]:
    access, expiry = signer.issue(user, "access")
    refresh_token, _ = signer.issue(user, "refresh")
    return {
        "user": {
            "id": user.id,
            "email": user.email,
            "tenant_id": user.primary_tenant,
            "is_system_admin": user.system_admin,
        },
        "access_token": access,
        "refresh_token": refresh_token,
        "access_token_ttl": signer.access_ttl,
        "refresh_token_ttl": signer.refresh_ttl,
        "access_token_expiry": expiry,
    }


def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def login(state: SimState, signer: TokenSigner, request: Request) -> Response:
    """``POST /api/v1/auth/login``: email and password for a token pair (``auth_handler.go`` L44-88)."""
    body = _json_body(request)
    if body is None:
        return Response.text(400, "Invalid request body")
    with state.cond:
        user = state.user_by_email(str(body.get("email", "")))
    # The wording of the real 401 is not in the contract; this one is our choice.
    if user is None or not hmac.compare_digest(user.password, str(body.get("password", ""))):
        return Response.text(401, "Invalid email or password")
    return Response.json(200, _token_pair(signer, user))


def refresh(state: SimState, signer: TokenSigner, request: Request) -> Response:
    """``POST /api/v1/auth/refresh``: a refresh token for a new pair."""
    body = _json_body(request)
    if body is None:
        return Response.text(400, "Invalid request body")
    claims = signer.verify(str(body.get("refresh_token", "")), "refresh")
    with state.cond:
        user = state.users.get(str(claims.get("sub"))) if claims else None
    if user is None:
        return Response.text(401, "Invalid refresh token")
    return Response.json(200, _token_pair(signer, user))


def authenticate(state: SimState, signer: TokenSigner, request: Request, permission: str) -> Caller | Response:
    """Run ``Authenticate`` then ``RequirePermission`` ; a ``Response`` means refused."""
    # Authenticate: "Authorization: Bearer <access_token>"; any other scheme spelling (``bearer``) is a wrong scheme.
    scheme, _, token = request.header("Authorization").partition(" ")
    claims = signer.verify(token.strip(), "access") if scheme == "Bearer" and token.strip() else None
    with state.cond:
        user = state.users.get(str(claims.get("sub"))) if claims else None
    if user is None:
        return Response.text(401, "Unauthorized")
    raw_tenant = request.header("X-Tenant-ID").strip()
    if not raw_tenant:
        return Response.text(400, "Tenant context required (set X-Tenant-ID)")
    tenant_id = parse_uuid(raw_tenant)
    if tenant_id is None:
        return Response.text(400, "Invalid tenant ID format")
    if tenant_id == NIL_UUID:
        return Response.text(400, "Invalid tenant ID")
    if not user.system_admin and tenant_id not in user.roles:
        return Response.text(403, "Forbidden: No access to tenant")
    caller = Caller(user, tenant_id)
    if not caller.can(permission):
        return Response.text(403, "Forbidden")
    # RequirePermission: system maintenance mode blocks non-admin writes. It comes after the permission check
    # without fixing the order; we check it once the permission is known to be held.
    if state.maintenance_mode and request.method in _WRITES and not caller.is_admin:
        return Response.text(503, "Service temporarily read-only for maintenance")
    return caller
