"""Build routes: create (auto-queued), list, get, status, start, retry and cancel.

Follows the build handlers (imagefactoryoss/imagefactory ``backend/internal/adapters/primary/rest/
build_handler*.go``): errors are JSON ``{"error": ...}`` (only the auth middleware answers in plain text);
create runs the provider preflight (selectable for the tenant as ``GetAvailableProviders`` in
``backend/internal/domain/infrastructure/service.go`` lists it, ``tekton_enabled`` JSON true, usable runtime
auth, and for managed providers a prepared tenant namespace, ``build_handler.go``'s
``tenant_namespace_not_prepared``, modelled as the ``image-factory-<tenant[:8]>`` Namespace existing);
without a provider id the oldest global, online, schedulable, Tekton-enabled provider is used. ``start``
on anything but queued/running is the unclassified ``500 Failed to start build``; ``retry`` re-runs the
same build id from failed or cancelled. Body shapes the simulator does not take from the Go code (the list
and cancel replies, validation wording) are our choices and are marked so.
"""

from __future__ import annotations

import copy
from typing import Any

from gitrollback.testing.imagefactory.auth import Caller
from gitrollback.testing.imagefactory.builds import build_method, start_build
from gitrollback.testing.imagefactory.readiness import auth_config_ok
from gitrollback.testing.imagefactory.state import (
    Build,
    Ctx,
    ProviderRecord,
    new_id,
    parse_uuid,
    rfc3339,
)
from gitrollback.testing.imagefactory.tekton_namespaces import build_namespace
from gitrollback.testing.server import Request, Response

__all__ = ["build_action", "build_status", "create_build", "get_build", "list_builds"]

NOT_AVAILABLE = "selected infrastructure provider is not available for this tenant"


def _error(status: int, message: str, **extra: Any) -> Response:
    return Response.json(status, {"error": message, **extra})


def _pick(mapping: dict[str, Any], snake: str, camel: str) -> Any:
    return mapping.get(snake) if mapping.get(snake) not in (None, "") else mapping.get(camel)


def _preflight(ctx: Ctx, caller: Caller, tenant: str, provider_id: str | None) -> ProviderRecord | Response:
    """The provider preflight of ``build_handler.go`` L77-107, L533-639 (lock held by the caller)."""
    state = ctx.state
    if provider_id is None:
        candidates = sorted(
            (
                p
                for p in state.providers.values()
                if p.is_global and state.selectable(p, tenant) and p.config.get("tekton_enabled") is True
            ),
            key=lambda p: p.created_at,
        )
        if not candidates:
            return _error(400, "infrastructure_provider_id is required for kubernetes builds")
        provider = candidates[0]
    else:
        found = state.providers.get(provider_id)
        if found is None or not state.selectable(found, tenant):
            return _error(403, NOT_AVAILABLE)
        provider = found
    if provider.config.get("tekton_enabled") is not True:
        return _error(400, "tekton is not enabled for the selected infrastructure provider")  # our wording
    if not auth_config_ok(provider.config.get("runtime_auth")):
        return _error(400, "invalid kubernetes provider configuration")  # our wording
    ns = build_namespace(tenant)
    if provider.bootstrap_mode == "image_factory_managed" and not ctx.cluster.namespace_exists(ns):
        return _error(
            409,
            "tenant namespace is not prepared for the selected infrastructure provider",
            code="tenant_namespace_not_prepared",
            details={
                "provider_id": provider.id,
                "tenant_id": tenant,
                "prepare_status": "missing",
                "namespace": ns,
            },
        )
    return provider


def create_build(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``POST /builds``: validate, preflight, store as ``queued``; 201."""
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _error(400, "Invalid request body")
    tenant = parse_uuid(body.get("tenant_id") or caller.tenant_id)
    if tenant is None:
        return _error(400, "Invalid tenant ID")
    if tenant != caller.tenant_id and not caller.is_admin:
        return _error(403, "Access denied to this tenant")
    project_id = parse_uuid(body.get("project_id"))
    if project_id is None:
        return _error(400, "Invalid project ID")
    manifest = body.get("manifest")
    if not isinstance(manifest, dict):
        return _error(400, "manifest is required")
    if not isinstance(manifest.get("name"), str) or not manifest["name"].strip():
        return _error(400, "build name is required")
    method = build_method(manifest)
    config = manifest.get("build_config") or manifest.get("buildConfig") or {}
    config = config if isinstance(config, dict) else {}
    if method == "kaniko" and not all(
        _pick(config, s, c)
        for s, c in (
            ("dockerfile", "dockerfile"),
            ("build_context", "buildContext"),
            ("registry_repo", "registryRepo"),
        )
    ):
        return _error(400, "kaniko builds require dockerfile, build_context and registry_repo")
    raw_provider = _pick(manifest, "infrastructure_provider_id", "infrastructureProviderId")
    provider_id = None
    if raw_provider:
        provider_id = parse_uuid(raw_provider)
        if provider_id is None:
            return _error(403, NOT_AVAILABLE)
    with ctx.state.cond:
        project = ctx.state.projects.get(project_id)
        if project is None or project.tenant_id != tenant:
            return _error(404, "Project not found")
        provider = _preflight(ctx, caller, tenant, provider_id)
        if isinstance(provider, Response):
            return provider
        stored = copy.deepcopy(manifest)
        stored.setdefault("git_url", project.git_url)
        stored.setdefault("git_branch", project.git_branch)
        stored["infrastructure_provider_id"] = provider.id
        stamp = ctx.state.now()
        build = Build(
            id=new_id(),
            tenant_id=tenant,
            project_id=project.id,
            name=manifest["name"],
            type=str(manifest.get("type") or "container"),
            method=method,
            provider_id=provider.id,
            manifest=stored,
            status="queued",
            created_at=stamp,
            updated_at=stamp,
            seq=ctx.state.next_seq(),
        )
        ctx.state.builds[build.id] = build
        ctx.state.changed()
    return Response.json(
        201,
        {
            "id": build.id,
            "tenant_id": build.tenant_id,
            "name": build.name,
            "type": build.type,
            "status": build.status,
            "created_at": rfc3339(build.created_at),
        },
    )


def _find(ctx: Ctx, caller: Caller, raw_id: str) -> Build | Response:
    build_id = parse_uuid(raw_id)
    if build_id is None:
        return _error(400, "Invalid build ID format")
    build = ctx.state.builds.get(build_id)
    if build is None or (build.tenant_id != caller.tenant_id and not caller.is_admin):
        return _error(404, "Build not found")
    return build


def list_builds(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /builds``: the tenant's builds, newest first (reply shape is our choice)."""
    with ctx.state.cond:
        rows = sorted(
            (b for b in ctx.state.builds.values() if b.tenant_id == caller.tenant_id),
            key=lambda b: (b.created_at, b.seq),
            reverse=True,
        )
        return Response.json(200, {"builds": [b.to_json() for b in rows], "total": len(rows)})


def get_build(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /builds/{id}``: ``BuildResponse``."""
    with ctx.state.cond:
        build = _find(ctx, caller, params["id"])
        return build if isinstance(build, Response) else Response.json(200, build.to_json())


def build_status(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /builds/{id}/status`` in the shape of ``BuildHandler.GetStatus`` (build_handler_reads.go)."""
    with ctx.state.cond:
        build = _find(ctx, caller, params["id"])
        if isinstance(build, Response):
            return build
        payload: dict[str, Any] = {
            "build_id": build.id,
            "status": build.status,
            "progress": {"current": 0, "total": 100, "stage": build.status},
        }
        if build.started_at:
            payload["started_at"] = rfc3339(build.started_at)
        if build.completed_at:
            payload["completed_at"] = rfc3339(build.completed_at)
        if build.started_at and build.completed_at:
            payload["duration"] = int((build.completed_at - build.started_at).total_seconds())
        return Response.json(200, payload)


def build_action(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``POST /builds/{id}/start|retry|cancel``."""
    action = params["action"]
    with ctx.state.cond:
        build = _find(ctx, caller, params["id"])
        if isinstance(build, Response):
            return build
        if action == "start":
            if build.status == "queued":
                start_build(ctx.state, build)
            elif build.status != "running":
                return _error(500, "Failed to start build")  # "can only start queued builds" is unclassified
            return Response.json(202, {"status": "build_started"})
        if action == "retry":
            if build.status not in ("failed", "cancelled"):
                return _error(400, f"Cannot retry build in {build.status} state")
            provider = _preflight(ctx, caller, build.tenant_id, build.provider_id)
            if isinstance(provider, Response):
                return provider
            start_build(ctx.state, build)
            return Response.json(202, {"status": "build_retrying", "build_id": build.id})
        if build.status not in ("pending", "queued", "running"):
            return _error(400, f"Cannot cancel build in {build.status} state")  # our wording
        build.status = "cancelled"
        build.completed_at = build.updated_at = ctx.state.now()
        ctx.state.changed()
        return Response.json(200, {"status": "build_cancelled", "build_id": build.id})  # our shape
