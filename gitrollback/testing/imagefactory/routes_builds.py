"""Build routes: create (auto-queued), list, get, status, start, retry and cancel.

Follows the build handlers (imagefactoryoss/imagefactory ``backend/internal/adapters/primary/rest/
build_handler*.go``), the build application service (``backend/internal/application/build/service.go`` and
``errors.go``) and the domain service (``backend/internal/domain/build/service_create*.go``,
``service_tenant_limits.go``, ``build_validation.go``). Errors are JSON ``{"error": ...}`` (only the auth middleware
answers in plain text). ``POST /builds`` runs, in the server's order:

1. the body: ``tenant_id`` and ``project_id`` required UUIDs (the body's tenant is never compared with
   ``X-Tenant-ID``); a project of another tenant is 403;
2. the handler's preflight (``NewBuildHandler``'s ``SetCreateBuildPreflight``): the project context
   (``hydrateManifestProjectMetadata``: an unknown project is a 500, ``git_url``/``git_branch`` go into
   ``manifest.metadata``), repository auth (``validateTektonRepositoryAuth``: a kubernetes container, kaniko,
   buildx or packer build of a project without an active repository auth needs an anonymous ``git ls-remote`` of
   its URL to work, ``repo_probe``), the default provider (``ensureKubernetesBuildHasProvider``) and the provider
   selection (``validateInfrastructureSelection``: ``infrastructure_type`` set and not ``auto``, the provider among
   ``GetAvailableProviders``' 20 newest online ones, ``tekton_enabled`` JSON true, a runtime auth that builds a
   client, and for managed providers a prepared tenant namespace, modelled as the ``image-factory-<tenant[:8]>``
   Namespace existing);
3. the domain preflight (``preflightCreateBuild``): the tenant's concurrent-build then queue limit, Tekton allowed
   for the tenant (kubernetes builds), registry auth for the pushing types (container, buildx, kaniko, paketo) when a
   ``build_config`` is given (``ResolveForBuild``: the selected auth, else the project's default, else the
   tenant's); these are ``ValidationError``s, so 400 with the error text (``classifyCreateBuildError``);
4. manifest validation (``validateManifest``, container/kaniko/buildx rules).

Reads are not tenant-scoped: any caller with ``build:read`` reads any build. ``GET /builds/{unknown}`` is a 500
(``GetBuild`` returns ``ErrBuildNotFound`` as an error, which the handler does not map), ``/status`` a 404.
``start`` on anything but queued/running is the unclassified ``500 Failed to start build``; ``retry`` re-runs the
same build id from failed or cancelled after the provider part of the preflight. Not modelled: quarantine
admission, tool availability and build capability entitlements, packer target profiles, the workflow rows.
Body shapes the Go code does not fix (the list reply) are our choices and are marked so.
"""

from __future__ import annotations

import copy
from typing import Any

from gitrollback.testing.imagefactory.auth import Caller
from gitrollback.testing.imagefactory.builds import build_method, start_build
from gitrollback.testing.imagefactory.connector import rest_config_error
from gitrollback.testing.imagefactory.repo_probe import publicly_reachable
from gitrollback.testing.imagefactory.state import (
    K8S_TYPES,
    Build,
    Ctx,
    Project,
    ProviderRecord,
    SimState,
    TenantBuildConfig,
    new_id,
    parse_uuid,
    rfc3339,
)
from gitrollback.testing.imagefactory.tekton_namespaces import build_namespace
from gitrollback.testing.server import Request, Response

__all__ = ["build_action", "build_status", "create_build", "get_build", "list_builds"]

NOT_AVAILABLE = "selected infrastructure provider is not available for this tenant"
_GIT_CONTEXT_TYPES = ("kaniko", "buildx", "container", "packer")  # requiresTektonGitContext
_REGISTRY_TYPES = ("container", "buildx", "kaniko", "paketo")  # requiresRegistryAuth
_GIT_URL_KEYS = ("git_url", "gitUrl", "repo_url", "repoUrl", "repository_url", "repositoryUrl")
_GIT_BRANCH_KEYS = ("git_branch", "gitBranch", "branch")


class _Refused(Exception):
    """A JSON error reply from inside the create flow."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = Response.json(status, {"error": message, **extra})


def _error(status: int, message: str, **extra: Any) -> Response:
    return Response.json(status, {"error": message, **extra})


def _config_value(config: dict[str, Any], snake: str, camel: str) -> Any:
    """``BuildConfig.UnmarshalJSON`` takes snake_case or camelCase keys."""
    value = config.get(snake)
    return value if value not in (None, "") else config.get(camel)


def _metadata_text(metadata: dict[str, Any], keys: tuple[str, ...]) -> str:
    """``manifestStringMetadata``: the first non-blank string under ``keys``, trimmed."""
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _needs_git_context(manifest: dict[str, Any]) -> bool:
    return manifest.get("infrastructure_type") == "kubernetes" and manifest.get("type") in _GIT_CONTEXT_TYPES


def _hydrate(state: SimState, project: Project | None, tenant: str, manifest: dict[str, Any]) -> None:
    """``hydrateManifestProjectMetadata``: project context into ``manifest.metadata``."""
    if project is None:
        raise _Refused(500, "failed to resolve project configuration")
    if project.tenant_id != tenant:
        raise _Refused(403, "project belongs to a different tenant")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict):
        metadata = manifest["metadata"] = {}
    if not _metadata_text(metadata, _GIT_URL_KEYS) and project.git_url.strip():
        metadata["git_url"] = project.git_url
    if not _metadata_text(metadata, _GIT_BRANCH_KEYS) and project.git_branch.strip():
        metadata["git_branch"] = project.git_branch
    if _needs_git_context(manifest) and not _metadata_text(metadata, _GIT_URL_KEYS):
        raise _Refused(400, "project git repository URL is required for Tekton builds")


def _repository_auth(project: Project, manifest: dict[str, Any]) -> None:
    """``validateTektonRepositoryAuth``: an active repository auth, or a repository anyone can ``ls-remote``."""
    if not _needs_git_context(manifest) or project.repository_auth:
        return
    if publicly_reachable(_metadata_text(manifest["metadata"], _GIT_URL_KEYS)):
        return
    raise _Refused(400, "project repository authentication is required for private or inaccessible repositories")


def _tekton_ready_config(provider: ProviderRecord) -> bool:
    return provider.config.get("tekton_enabled") is True and rest_config_error(provider.config) is None


def _default_provider(state: SimState, tenant: str, manifest: dict[str, Any]) -> None:
    """``ensureKubernetesBuildHasProvider``: the oldest global, Tekton-ready available provider."""
    if manifest.get("infrastructure_type") != "kubernetes" or manifest.get("infrastructure_provider_id"):
        return
    candidates = sorted(
        (
            p
            for p in state.available_providers(tenant)
            if p.is_global and p.provider_type in K8S_TYPES and _tekton_ready_config(p)
        ),
        key=lambda p: p.created_at,
    )
    if not candidates:
        raise _Refused(
            400,
            "infrastructure_provider_id is required for kubernetes builds (no global tekton-ready provider available)",
        )
    manifest["infrastructure_provider_id"] = candidates[0].id


def _select_provider(ctx: Ctx, tenant: str, manifest: dict[str, Any]) -> ProviderRecord:
    """``validateInfrastructureSelection``."""
    state = ctx.state
    infra = manifest.get("infrastructure_type") or ""
    if infra in ("", "auto"):
        raise _Refused(400, "infrastructure selection is required")
    provider_id = manifest.get("infrastructure_provider_id")
    if not provider_id:
        raise _Refused(400, "infrastructure_provider_id is required when infrastructure_type is set")
    selected = next((p for p in state.available_providers(tenant) if p.id == provider_id), None)
    if selected is None:
        raise _Refused(403, NOT_AVAILABLE)
    if infra != "kubernetes":
        if selected.provider_type != infra:
            raise _Refused(400, "selected infrastructure provider does not match infrastructure_type")
        return selected
    if selected.provider_type not in K8S_TYPES:
        raise _Refused(400, "selected infrastructure provider does not match infrastructure_type")
    if selected.config.get("tekton_enabled") is not True:
        raise _Refused(400, "selected infrastructure provider must have tekton_enabled=true")
    if rest_config_error(selected.config) is not None:
        raise _Refused(400, "selected infrastructure provider has invalid kubernetes configuration")
    ns = build_namespace(tenant)
    if selected.bootstrap_mode in ("", "image_factory_managed") and not ctx.cluster.namespace_exists(ns):
        raise _Refused(
            409,
            "selected infrastructure provider is not prepared for this tenant (namespace not provisioned yet): "
            f"expected namespace {ns}. Ask a system administrator to prepare the tenant namespace on the provider "
            "details page.",
            code="tenant_namespace_not_prepared",
            details={"provider_id": selected.id, "tenant_id": tenant, "prepare_status": "missing", "namespace": ns},
        )
    return selected


def _domain_preflight(state: SimState, tenant: str, project: Project, manifest: dict[str, Any]) -> None:
    """``preflightCreateBuild``: limits, Tekton allowed, registry auth (400s, ``classifyCreateBuildError``)."""
    config = state.build_configs.get(tenant, TenantBuildConfig())
    running = sum(1 for b in state.builds.values() if b.tenant_id == tenant and b.status == "running")
    if running >= config.max_concurrent_jobs:
        raise _Refused(
            400,
            "build limit validation failed: maximum concurrent builds limit reached "
            f"({running}/{config.max_concurrent_jobs})",
        )
    queued = sum(1 for b in state.builds.values() if b.tenant_id == tenant and b.status == "queued")
    if queued >= config.max_queue_size:
        raise _Refused(
            400, f"build limit validation failed: build queue limit reached ({queued}/{config.max_queue_size})"
        )
    if manifest.get("infrastructure_type") == "kubernetes" and not config.tekton_enabled:
        raise _Refused(400, "tekton is disabled for this tenant")
    build_config = manifest.get("build_config")
    if isinstance(build_config, dict) and manifest.get("type") in _REGISTRY_TYPES:
        error = _resolve_registry_auth(state, tenant, project.id, build_config)
        if error:
            raise _Refused(400, f"registry authentication is required: {error}")


def _resolve_registry_auth(state: SimState, tenant: str, project_id: str, build_config: dict[str, Any]) -> str:
    """``registryauth.Service.ResolveForBuild``: "" when an auth resolves (its id is stored), else the error."""
    selected = _config_value(build_config, "registry_auth_id", "registryAuthId")
    if selected:
        auth = state.registry_auths.get(str(selected))
        if auth is None:
            return "registry authentication not found"
        if not auth.is_active:
            return "selected registry authentication is inactive"
        if auth.tenant_id != tenant:
            return "selected registry authentication belongs to a different tenant"
        if auth.project_id is not None and auth.project_id != project_id:
            return "selected registry authentication belongs to a different project"
        return ""
    for scope in (project_id, None):
        for auth in state.registry_auths.values():
            scoped = auth.project_id == project_id if scope else (auth.project_id is None and auth.tenant_id == tenant)
            if scoped and auth.is_default and auth.is_active:
                build_config["registry_auth_id"] = auth.id
                return ""
    return "no registry authentication found"


def _validate_manifest(manifest: dict[str, Any]) -> None:
    """``validateManifest`` for the types a smoke build uses (400 via ``classifyCreateBuildError``)."""
    if not manifest.get("name"):
        raise _Refused(400, "build name is required")
    kind = manifest.get("type")
    if not kind:
        raise _Refused(400, "build type is required")
    config = manifest.get("build_config")
    config = config if isinstance(config, dict) else None

    def value(snake: str, camel: str) -> Any:
        return _config_value(config, snake, camel) if config is not None else None

    if kind == "container" and value("dockerfile", "dockerfile"):
        if not value("build_context", "buildContext"):
            raise _Refused(400, "build context is required for container builds")
        if not value("registry_repo", "registryRepo"):
            raise _Refused(400, "registry_repo is required for container builds")
    elif kind == "container":
        if not manifest.get("base_image"):
            raise _Refused(400, "base image is required for container builds")
        if not manifest.get("instructions"):
            raise _Refused(400, "build instructions are required for container builds")
    elif kind in ("kaniko", "buildx"):
        if config is None:
            raise _Refused(400, f"build config is required for {kind} builds")
        for snake, camel, label in (
            ("dockerfile", "dockerfile", "dockerfile"),
            ("build_context", "buildContext", "build context"),
            ("registry_repo", "registryRepo", "registry_repo"),
        ):
            if not value(snake, camel):
                raise _Refused(400, f"{label} is required for {kind} builds")
        if kind == "buildx" and not value("platforms", "platforms"):
            raise _Refused(400, "platforms are required for buildx builds")


def _decode(request: Request) -> tuple[str, str, dict[str, Any]]:
    """``CreateBuildRequest`` from the body, with the handler's field checks."""
    try:
        body = request.json()
    except ValueError:
        body = None
    manifest = body.get("manifest") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(manifest or {}, dict):
        raise _Refused(400, "Invalid request body")
    manifest = copy.deepcopy(manifest or {})
    raw_provider = manifest.get("infrastructure_provider_id")
    if raw_provider not in (None, ""):
        # *uuid.UUID in the struct: a value that does not parse fails the whole JSON decode
        if not isinstance(raw_provider, str) or parse_uuid(raw_provider) is None:
            raise _Refused(400, "Invalid request body")
        manifest["infrastructure_provider_id"] = parse_uuid(raw_provider)
    tenant_raw, project_raw = body.get("tenant_id") or "", body.get("project_id") or ""
    if not tenant_raw:
        raise _Refused(400, "tenant_id is required")
    if not project_raw:
        raise _Refused(400, "project_id is required")
    tenant, project = parse_uuid(tenant_raw), parse_uuid(project_raw)
    if tenant is None:
        raise _Refused(400, "Invalid tenant_id format")
    if project is None:
        raise _Refused(400, "Invalid project_id format")
    return tenant, project, manifest


def create_build(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``POST /builds``: the preflight in the server's order, then a ``queued`` build; 201."""
    state = ctx.state
    try:
        tenant, project_id, manifest = _decode(request)
        with state.cond:
            project = state.projects.get(project_id)
            if project is not None and project.tenant_id != tenant:  # the application service's own lookup
                raise _Refused(403, "Permission denied: project belongs to a different tenant")
            _hydrate(state, project, tenant, manifest)
            assert project is not None
        _repository_auth(project, manifest)  # runs git: outside the lock
        with state.cond:
            _default_provider(state, tenant, manifest)
            provider = _select_provider(ctx, tenant, manifest)
            _domain_preflight(state, tenant, project, manifest)
            _validate_manifest(manifest)
            stamp = state.now()
            build = Build(
                id=new_id(),
                tenant_id=tenant,
                project_id=project.id,
                name=str(manifest["name"]),
                type=str(manifest.get("type")),
                method=build_method(manifest),
                provider_id=provider.id,
                manifest=manifest,
                status="queued",
                created_at=stamp,
                updated_at=stamp,
                seq=state.next_seq(),
                number=1 + max((b.number for b in state.builds.values() if b.project_id == project.id), default=0),
            )
            state.builds[build.id] = build
            state.changed()
    except _Refused as refused:
        return refused.response
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


def _parse_id(raw_id: str) -> str | Response:
    build_id = parse_uuid(raw_id)
    return build_id if build_id is not None else _error(400, "Invalid build ID format")


def list_builds(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /builds``: the ``X-Tenant-ID`` tenant's builds, newest first (reply shape is our choice)."""
    with ctx.state.cond:
        rows = sorted(
            (b for b in ctx.state.builds.values() if b.tenant_id == caller.tenant_id),
            key=lambda b: (b.created_at, b.seq),
            reverse=True,
        )
        return Response.json(200, {"builds": [b.to_json() for b in rows], "total": len(rows)})


def get_build(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /builds/{id}``: ``BuildResponse``; an unknown id is ``500 Failed to get build`` (not mapped to 404)."""
    build_id = _parse_id(params["id"])
    if isinstance(build_id, Response):
        return build_id
    with ctx.state.cond:
        build = ctx.state.builds.get(build_id)
        if build is None:
            return _error(500, "Failed to get build")
        return Response.json(200, build.to_json())


def build_status(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET /builds/{id}/status`` in the shape of ``BuildHandler.GetStatus`` (build_handler_reads.go)."""
    build_id = _parse_id(params["id"])
    if isinstance(build_id, Response):
        return build_id
    with ctx.state.cond:
        build = ctx.state.builds.get(build_id)
        if build is None:
            return _error(404, "Build not found")
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


def _retry_preflight(ctx: Ctx, build: Build) -> Response | None:
    """``SetRetryBuildPreflight``: the default provider and the provider selection for the build's tenant."""
    manifest = copy.deepcopy(build.manifest)
    try:
        _default_provider(ctx.state, build.tenant_id, manifest)
        _select_provider(ctx, build.tenant_id, manifest)
    except _Refused as refused:
        return refused.response
    return None


def build_action(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``POST /builds/{id}/start|retry|cancel`` (``build_handler_actions.go``)."""
    action = params["action"]
    build_id = _parse_id(params["id"])
    if isinstance(build_id, Response):
        return build_id
    with ctx.state.cond:
        build = ctx.state.builds.get(build_id)
        if build is None:
            return _error(404, "Build not found")
        if action == "start":
            if build.status == "queued":
                start_build(ctx.state, build)
            elif build.status != "running":
                return _error(500, "Failed to start build")  # "can only start queued builds" is unclassified
            return Response.json(202, {"status": "build_started"})
        if action == "retry":
            if build.status not in ("failed", "cancelled"):
                return _error(400, f"Cannot retry build in {build.status} state")
            refused = _retry_preflight(ctx, build)
            if refused is not None:
                return refused
            start_build(ctx.state, build)
            return Response.json(202, {"status": "build_retrying", "build_id": build.id})
        if build.status not in ("pending", "queued", "running"):
            return _error(409, "Cannot cancel build in current state")
        build.status = "cancelled"
        build.completed_at = build.updated_at = ctx.state.now()
        ctx.state.changed()
        return Response.json(200, {"status": "build_cancelled"})
