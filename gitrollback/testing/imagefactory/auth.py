"""Login, tokens, tenant context and RBAC for the Image Factory simulator.

Models the real middleware (imagefactoryoss/imagefactory ``backend/internal/infrastructure/middleware/auth.go``,
``Authenticate`` and ``RequirePermission``), login and refresh (``backend/internal/adapters/primary/rest/
auth_handler.go``, errors from ``rest/error.go``'s ``WriteError``) and the tokens of ``backend/internal/domain/user/
service.go`` (``generateTokens``: HS256 JWTs with ``user_id``, ``email``, ``exp``, ``iat`` and ``type``; access
tokens live ``DefaultAccessTokenTTL`` = 15 minutes, refresh tokens 7 days). ``POST /api/v1/auth/login`` answers
its failures as JSON ``{"code","message"}`` (``401 {"code":"UNAUTHORIZED","message":"invalid credentials"}``);
every other route needs ``Authorization: Bearer <token>`` (else plain ``401 Unauthorized``), then, in the
middleware's order: the 428 password-change gate, an ``X-Tenant-ID`` UUID the caller may use (exact plain-text
bodies), the 409 first-setup gate for system administrators, the maintenance-mode 503 for non-admin writes, and
the route's ``resource:action`` permission from the seeded role table (``backend/bootstrap/
seed-essential-data.sql``, ``403 Forbidden``). The permission check is not tenant-scoped, as in the real
``RequirePermission``: a user's roles in all its tenants count. All middleware errors are Go ``http.Error`` plain
text. A simulated user's roles are tenant group memberships (how onboarding and invitations add members); the real
``UserHasTenantAccess`` (``postgres/rbac_repository.go``) also lets in, for any tenant, a user holding a direct
``user_role_assignments`` row of a system role, which the simulator does not model.
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

__all__ = ["ACCESS_TOKEN_TTL", "ROLE_PERMISSIONS", "Caller", "TokenSigner", "authenticate", "login", "refresh"]

#: ``DefaultAccessTokenTTL`` (domain/user/service.go): 15 minutes.
ACCESS_TOKEN_TTL = 15 * 60

_INFRA_ALL = {f"infrastructure:{a}" for a in ("read", "create", "update", "delete", "select")}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BUILD_ALL = {f"build:{a}" for a in ("create", "read", "list", "cancel", "delete")}

# Seeded permissions (backend/bootstrap/seed-essential-data.sql, the role_permissions inserts), restricted to the
# infrastructure and build actions the simulated routes check. The System Administrator role is granted every
# permission there; a system administrator in the simulator is also a member of the system_administrator group.
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
        self, secret: str, *, clock: SimClock, access_ttl: int = ACCESS_TOKEN_TTL, refresh_ttl: int = 7 * 24 * 3600
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
        claims: dict[str, Any] = {"user_id": user.id, "email": user.email, "exp": expiry, "iat": int(issued)}
        if kind == "refresh":
            del claims["email"]
        claims["type"] = kind
        claims["jti"] = str(uuid.uuid4())  # not in the Go claims: keeps two tokens of one second apart
        payload = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}", expiry

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a validly signed, unexpired token, else None.

        Whatever its ``type`` claim: ``ValidateToken`` and ``RefreshToken`` (``domain/user/service.go``) check only
        the HMAC signature, the expiry and ``user_id``, so a refresh token authenticates and an access token
        refreshes.
        """
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
        if not isinstance(claims, dict):
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
    pair: dict[str, Any] = {
        "user": {"id": user.id, "email": user.email, "status": "active", "is_active": True},
        "access_token": access,
        "refresh_token": refresh_token,
        # The real handler writes 900 and now+15m here whatever the token's own ``exp`` says; the simulator
        # reports the lifetime of the tokens it signs (the same with the default TTL).
        "access_token_ttl": signer.access_ttl,
        "refresh_token_ttl": signer.refresh_ttl,
        "access_token_expiry": expiry,
    }
    if user.must_change_password:
        pair["requires_password_change"] = True
    return pair


def _login_error(status: int, code: str, message: str) -> Response:
    """``WriteError``: ``{"code","message"}`` JSON (``details`` is omitted when empty)."""
    return Response.json(status, {"code": code, "message": message})


def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def login(state: SimState, signer: TokenSigner, request: Request) -> Response:
    """``POST /api/v1/auth/login`` (``AuthHandler.Login``): email and password for a token pair.

    A body that does not decode is plain ``400 Invalid request body``; the field checks and the credential
    check answer ``WriteError`` JSON; a wrong email or password is ``user.Service.Login``'s ``invalid credentials``.
    """
    body = _json_body(request)
    if body is None:
        return Response.text(400, "Invalid request body")
    email, password = str(body.get("email") or ""), str(body.get("password") or "")
    if not email:
        return _login_error(400, "BAD_REQUEST", "Email is required")
    if not password:
        return _login_error(400, "BAD_REQUEST", "Password is required")
    if "@" not in email or "." not in email:
        return _login_error(400, "BAD_REQUEST", "Invalid email format")
    with state.cond:
        user = state.user_by_email(email)
    if user is None or not hmac.compare_digest(user.password, password):
        return _login_error(401, "UNAUTHORIZED", "invalid credentials")
    reply = _token_pair(signer, user)
    if state.setup_required:
        reply["setup_required"] = True
    return Response.json(200, reply)


def refresh(state: SimState, signer: TokenSigner, request: Request) -> Response:
    """``POST /api/v1/auth/refresh``: a refresh token for a new pair."""
    body = _json_body(request)
    if body is None:  # RefreshToken answers this one with WriteError JSON, unlike Login
        return _login_error(400, "BAD_REQUEST", "Invalid request body")
    if not body.get("refresh_token"):
        return _login_error(400, "BAD_REQUEST", "Refresh token is required")
    claims = signer.verify(str(body.get("refresh_token", "")))
    with state.cond:
        user = state.users.get(str(claims.get("user_id"))) if claims else None
    if user is None:
        return Response.text(401, "Invalid refresh token")
    return Response.json(200, _token_pair(signer, user))


_PASSWORD_GATE_OPEN = (
    "/api/v1/auth/change-password",
    "/api/v1/auth/logout",
    "/api/v1/auth/me",
    "/api/v1/profile",
    "/api/v1/bootstrap/status",
)


def authenticate(state: SimState, signer: TokenSigner, request: Request, permission: str) -> Caller | Response:
    """Run ``Authenticate`` then ``RequirePermission``, in their order; a ``Response`` means refused."""
    # Authenticate: "Authorization: Bearer <token>" split once at the first space (strings.SplitN): any other
    # scheme spelling (``bearer``) is a wrong scheme, and the token is the rest as is (a second space is part of it).
    scheme, _, token = request.header("Authorization").partition(" ")
    claims = signer.verify(token) if scheme == "Bearer" and token else None
    with state.cond:
        user = state.users.get(str(claims.get("user_id"))) if claims else None
        setup_required = state.setup_required
        maintenance = state.maintenance_mode
    if user is None:
        return Response.text(401, "Unauthorized")
    # isPasswordChangeGateBlocked: right after the token, before the tenant header is even read.
    if user.must_change_password and not request.path.startswith(_PASSWORD_GATE_OPEN):
        return Response.text(428, "Password change required before accessing this endpoint")
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
    # isSetupGateBlocked: system administrators only, every route the rollback uses is blocked.
    if setup_required and caller.is_admin:
        return Response.text(409, "Initial system setup is required before accessing this endpoint")
    # RequirePermission: isWriteBlockedByMaintenance runs before the permission lookup, so a non-admin write is
    # a 503 even for a route the caller may not use at all.
    if maintenance and request.method in _WRITES and not caller.is_admin:
        return Response.text(503, "Service temporarily read-only for maintenance")
    if not caller.can(permission):
        return Response.text(403, "Forbidden")
    return caller
