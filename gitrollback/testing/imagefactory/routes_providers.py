"""Provider routes: list/get/update/status, readiness, permissions and the tenant's available providers.

Shaped after the infrastructure-provider handler (imagefactoryoss/imagefactory
``rest/infrastructure_provider_handler.go``, ``rest/tenant_scope.go``):
errors are Go ``http.Error`` plain text; every ``{id}`` route runs ``resolveScopedProviderAccess``: the scope first
(``X-Tenant-Scope: all`` / ``?all_tenants`` for system admins, ``?tenant_id`` overriding the scope and turning
all-tenant scope off), then the id (``400 Invalid provider ID``), then the lookup. PUT replaces the whole
``config`` map and reports its validation failures as a bare ``500 Internal server error``, as the real
handler does; GET readiness runs the live checks and persists the result, flipping status and
schedulability (service.go ``UpdateProviderReadiness``).
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from gitrollback.testing.imagefactory.auth import Caller
from gitrollback.testing.imagefactory.connector import validate_provider_auth
from gitrollback.testing.imagefactory.godecode import BodyError, decode_struct, go_trim_space
from gitrollback.testing.imagefactory.readiness import live_readiness, persist
from gitrollback.testing.imagefactory.state import (
    K8S_TYPES,
    NIL_UUID,
    Ctx,
    Grant,
    ProviderRecord,
    new_id,
    parse_uuid,
    rfc3339,
)
from gitrollback.testing.server import Request, Response

__all__ = [
    "available_providers",
    "get_provider",
    "list_providers",
    "patch_provider_status",
    "permissions_change",
    "permissions_list",
    "provider_readiness",
    "scoped_provider",
    "update_provider",
]

PROVIDER_STATUSES = ("online", "offline", "maintenance", "pending")
SELECT_PERMISSION = "infrastructure:select"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TRUE = ("true", "1", "yes")
_CREDENTIAL_SCOPES = ("cluster_admin", "namespace_admin", "read_only")


def _parse_bool(value: str | None) -> bool:
    """Go ``strconv.ParseBool``; an unparsable value counts as false (the handler ignores the error)."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _all_tenants(request: Request, caller: Caller) -> bool:
    """``isAllTenantsScopeRequested`` (``tenant_scope.go``): a system admin's ``X-Tenant-Scope: all`` (trimmed, any
    case) or ``?all_tenants`` of ``true``/``1``/``yes`` (trimmed, lowercased)."""
    return caller.is_admin and (
        go_trim_space(request.header("X-Tenant-Scope")).lower() == "all"
        or go_trim_space((request.query_value("all_tenants") or "").lower()) in _TRUE
    )


def _scope(request: Request, caller: Caller) -> tuple[str, bool] | Response:
    """The scope tenant and whether all-tenant scope is on (``resolveTenantScopeFromRequest``, ``tenant_scope.go``):
    a ``?tenant_id`` (trimmed; empty is no value) overrides the scope and turns all-tenant scope off."""
    scope = caller.tenant_id
    all_scope = _all_tenants(request, caller)
    raw = go_trim_space(request.query_value("tenant_id") or "")
    if raw:
        tenant = parse_uuid(raw)
        if tenant is None or tenant == NIL_UUID:
            return Response.text(400, "Invalid tenant_id")
        if not caller.is_admin and tenant != caller.tenant_id:
            return Response.text(403, "Access denied to this tenant")
        scope, all_scope = tenant, False
    return scope, all_scope


def scoped_provider(ctx: Ctx, request: Request, caller: Caller, raw_id: str) -> ProviderRecord | Response:
    """``resolveScopedProviderAccess``: resolve the scope, then parse ``{id}``, then load the provider; the live
    record."""
    scope = _scope(request, caller)
    if isinstance(scope, Response):
        return scope
    tenant, all_scope = scope
    provider_id = parse_uuid(raw_id)
    if provider_id is None:
        return Response.text(400, "Invalid provider ID")
    with ctx.state.cond:
        provider = ctx.state.providers.get(provider_id)
    if provider is None:
        return Response.text(404, "Provider not found")
    if not all_scope and provider.tenant_id != tenant:
        return Response.text(403, "Access denied to this tenant")
    return provider


def _scope_tenant(request: Request, caller: Caller) -> str:
    """The scope tenant of a request whose scope already resolved (``access.scopeTenant``)."""
    scope = _scope(request, caller)
    return scope[0] if isinstance(scope, tuple) else caller.tenant_id


def _body(request: Request, fields: dict[str, type]) -> dict[str, Any] | None:
    """The request struct as Go decodes it (an empty body is ``io.EOF``: an error here), None on error."""
    try:
        return decode_struct(request.body, fields, allow_empty=False)
    except BodyError:
        return None


def list_providers(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /admin/infrastructure/providers`` (``ListProviders``) with filters and pagination, ``created_at DESC``.

    Not ``resolveTenantScopeFromRequest``: ``?tenant_id`` is read only for system admins (as sent, untrimmed, with
    its own error text) and after ``include_prepare_summary``; a non-admin's is ignored.
    """
    tenant, all_scope = caller.tenant_id, _all_tenants(request, caller)
    # trimmed and lowercased, then true/1/yes or false/0/no; anything else is a 400.
    summary = go_trim_space((request.query_value("include_prepare_summary") or "").lower())
    if summary not in ("", "true", "1", "yes", "false", "0", "no"):
        return Response.text(400, "Invalid include_prepare_summary query parameter")
    raw_tenant = request.query_value("tenant_id") or ""
    if caller.is_admin and raw_tenant:
        parsed = parse_uuid(raw_tenant)
        if parsed is None or parsed == NIL_UUID:
            return Response.text(400, "Invalid tenant_id query parameter")
        tenant, all_scope = parsed, False
    page = _positive(request.query_value("page"), 1)
    limit = _positive(request.query_value("limit"), 20)
    kind, status = request.query_value("provider_type"), request.query_value("status")
    with ctx.state.cond:
        rows = [
            p
            for p in ctx.state.providers.values()
            if (all_scope or p.tenant_id == tenant)
            and (not kind or p.provider_type == kind)
            and (not status or p.status == status)
        ]
        rows.sort(key=lambda p: p.created_at, reverse=True)
        data = [p.to_json() for p in rows[(page - 1) * limit : page * limit]]
    pagination = {
        "page": page,
        "limit": limit,
        "total": len(rows),
        "total_pages": math.ceil(len(rows) / limit),
    }
    return Response.json(200, {"data": data, "pagination": pagination})


def _positive(raw: str | None, default: int) -> int:
    try:
        value = int(raw or "")
    except ValueError:
        return default
    return value if value > 0 else default


def get_provider(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /admin/infrastructure/providers/{id}``."""
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    with ctx.state.cond:
        return Response.json(200, {"provider": provider.to_json()})


def _update(ctx: Ctx, provider: ProviderRecord, changes: dict[str, Any]) -> Response:
    """``UpdateProvider`` (service L2506-2557): status check, then the validation that surfaces as 500."""
    if "status" in changes and changes["status"] not in PROVIDER_STATUSES:
        return Response.text(400, "Invalid provider status")
    with ctx.state.cond:
        draft = copy.deepcopy(provider)
        for key, value in changes.items():
            setattr(draft, key, value)
        if "bootstrap_mode" in changes:  # normalizeBootstrapMode
            managed = go_trim_space(draft.bootstrap_mode) != "self_managed"
            draft.bootstrap_mode = "image_factory_managed" if managed else "self_managed"
        if "credential_scope" in changes:  # normalizeCredentialScope
            scope = go_trim_space(draft.credential_scope)
            draft.credential_scope = scope if scope in _CREDENTIAL_SCOPES else "unknown"
        if draft.provider_type in K8S_TYPES:
            if "config" in changes:  # sanitizeLegacyKubernetesConfig runs on a config the request sends
                draft.config.pop("namespace", None)
            # validateTargetNamespace checks the trimmed value; the stored one stays as sent
            target = go_trim_space(draft.target_namespace or "")
            auth_error = validate_provider_auth(True, draft.config, draft.bootstrap_mode)
            if len(target) > 63 or not _DNS_LABEL.match(target) or auth_error is not None:
                # validateTargetNamespace / auth build errors are not mapped by the handler
                return Response.text(500, "Internal server error")
        draft.updated_at = ctx.state.now()
        ctx.state.providers[provider.id] = draft
        ctx.state.changed()
        return Response.json(200, {"provider": draft.to_json()})


# PUT body fields (pointer fields in Go: absent or null means "leave unchanged").
_PUT_FIELDS: dict[str, type] = {
    "display_name": str,
    "config": dict,
    "capabilities": list,
    "status": str,
    "is_global": bool,
    "bootstrap_mode": str,
    "credential_scope": str,
    "target_namespace": str,
}


def update_provider(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``PUT /admin/infrastructure/providers/{id}``: ``config`` replaces the whole map (no merge)."""
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    body = _body(request, _PUT_FIELDS)
    if body is None:
        return Response.text(400, "Invalid request body")
    return _update(ctx, provider, copy.deepcopy(body))


def patch_provider_status(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``PATCH .../{id}/status {"enabled"}``: true → online, false/missing → offline (schedulability kept)."""
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    body = _body(request, {"enabled": bool})
    if body is None:
        return Response.text(400, "Invalid request body")
    # a missing or null "enabled" is Go's zero value, false
    return _update(ctx, provider, {"status": "online" if body.get("enabled") else "offline"})


def provider_readiness(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET .../{id}/readiness``: live checks, persisted with ``UpdateProviderReadiness`` side effects; always 200."""
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    scope_tenant = _scope_tenant(request, caller)
    with ctx.state.cond:
        snapshot = copy.deepcopy(provider)
    result = live_readiness(
        snapshot,
        ctx.cluster,
        ctx.state,
        scope_tenant=scope_tenant,
        probe_pvc=_parse_bool(request.query_value("probe_pvc")),
        probe_rbac=_parse_bool(request.query_value("probe_rbac")),
    )
    with ctx.state.cond:
        live = ctx.state.providers.get(provider.id)
        if live is None:
            return Response.text(500, "Failed to persist provider readiness")
        persist(live, result.status, result.missing, result.checked_at)
        ctx.state.changed()
    return Response.json(
        200,
        {
            "provider_id": provider.id,
            "status": result.status,
            "checked_at": rfc3339(result.checked_at),
            "tenant_namespace": result.namespace,
            "missing_prereqs": result.missing,
            "checks": [c.to_json() for c in result.checks],
        },
    )


def permissions_list(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET .../{id}/permissions``: unexpired grants only (``FindPermissionsByProvider`` in
    ``postgres/infrastructure_repository.go`` selects ``expires_at IS NULL OR expires_at > NOW()``)."""
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    with ctx.state.cond:
        at = ctx.state.now()
        rows = [g.to_json() for g in ctx.state.grants if g.provider_id == provider.id and g.live(at)]
    return Response.json(200, {"permissions": rows})


def permissions_change(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``POST``/``DELETE .../{id}/permissions``: idempotent grant, revoke (500 when the grant is missing).

    ``GrantProviderPermission`` and ``RevokeProviderPermission`` (``rest/infrastructure_provider_handler.go``): the
    permission defaults to ``infrastructure:select`` and no other is accepted; a grant is saved ``ON CONFLICT DO
    NOTHING`` with no ``expires_at``; a revoke deletes the row whatever its expiry, and a missing row is the
    repository's "permission not found", which the handler answers 500 ``Failed to revoke permission``.
    """
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    body = _body(request, {"tenant_id": str, "permission": str})
    if body is None:
        return Response.text(400, "Invalid request body")
    permission = body.get("permission") or SELECT_PERMISSION
    if permission != SELECT_PERMISSION:
        return Response.text(400, "Invalid permission")
    tenant = parse_uuid(body.get("tenant_id"))  # uuid.Parse: the nil UUID parses
    if tenant is None:
        return Response.text(400, "Invalid tenant ID")
    if not caller.is_admin and tenant != _scope_tenant(request, caller):
        return Response.text(403, "Access denied to this tenant")
    with ctx.state.cond:
        existing = [g for g in ctx.state.grants if g.provider_id == provider.id and g.tenant_id == tenant]
        if request.method == "POST":
            if not existing:  # ON CONFLICT DO NOTHING
                ctx.state.grants.append(
                    Grant(new_id(), provider.id, tenant, permission, caller.user.id, ctx.state.now())
                )
        elif not existing:
            return Response.text(500, "Failed to revoke permission")
        else:
            ctx.state.grants = [g for g in ctx.state.grants if g not in existing]
        ctx.state.changed()
    return Response.empty(204)


def available_providers(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /infrastructure/providers/available``: what the ``X-Tenant-ID`` tenant may select, among the 20
    newest online providers only (service.go ``GetAvailableProviders``; no pagination)."""
    with ctx.state.cond:
        rows = ctx.state.available_providers(caller.tenant_id)
        return Response.json(200, {"providers": [p.to_json() for p in rows]})
