"""Image Factory wire formats: JSON payloads to models, error bodies to the error tree.

This is the pure half of the Image Factory adapter (``gitrollback.adapters.imagefactory`` owns httpx and the
HTTP plumbing). It turns decoded JSON into ``gitrollback.models`` values and turns an error status plus body
into a ``gitrollback.errors`` instance with a ``hint``. Keeping it free of httpx makes the parsers and the
error table testable with plain values, and keeps the one-library-per-module rule simple.

Remote behaviour assumed (``docs/imagefactory.md``, read from imagefactoryoss/imagefactory
``backend/internal/adapters/primary/rest``): provider and installer routes report errors with Go's ``http.Error``
(plain text plus a trailing newline, ``infrastructure_provider_handler.go``); build routes report
``{"error": ..., "code"?}`` (``build_handler_reads.go``, ``respondError``/``respondBuildHTTPError``); login reports
``{"code","message"}`` (``error.go``, ``WriteError``); success bodies are JSON; timestamps are RFC 3339 without
fractions, offset ``Z`` or ``±hh:mm`` (``time.RFC3339``). Unknown fields are ignored, as the server's
``encoding/json`` ignores them. A success body that is not the documented shape raises ``BadPayload``, which the
client turns into ``UnexpectedResponseError``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gitrollback.errors import (
    JobInProgressError,
    RemoteHTTPError,
    http_error_class,
)
from gitrollback.models import (
    Build,
    InstallerJob,
    JobEvent,
    Provider,
    ProviderPermission,
    Readiness,
    ReadinessCheck,
    TektonStatus,
)

ADAPTER = "imagefactory"

#: The exact 409 body text (without newline) of the installer's one-active-job lock (``startTektonInstallerJob`` and
#: ``RetryTektonJob`` map ``ErrTektonInstallerJobInProgress`` to it, infrastructure_provider_handler.go).
JOB_IN_PROGRESS_MESSAGE = "Another tekton install/upgrade/validate job is already in progress for this provider"

#: Error statuses worth retrying on calls that are safe to repeat (a proxy or the server was briefly away).
RETRYABLE_STATUSES = frozenset({502, 503, 504})

#: The 503 Image Factory's RBAC middleware answers while the system is read-only for maintenance
#: (``RequirePermission``, ``isWriteBlockedByMaintenance``, infrastructure/middleware/auth.go):
#: it does not clear within a retry budget, so it is reported at once instead of retried.
MAINTENANCE_MESSAGE = "Service temporarily read-only for maintenance"


def is_maintenance(body: bytes) -> bool:
    """True for the maintenance-mode 503 body."""
    return body.rstrip(b"\r\n").decode("utf-8", "replace") == MAINTENANCE_MESSAGE


class BadPayload(ValueError):
    """A success body that does not match the contract (the client re-raises it as an adapter error)."""


# ---------------------------------------------------------------------------------------------------- errors

_TENANT_HINT = (
    "as a system administrator send X-Tenant-Scope: all (all_tenants=True), "
    "or set tenant_id to the provider's own tenant"
)
_TOKEN_HINT = (
    "check the Image Factory token (the env var named in the gitrollback config) or the email/password; "
    "access tokens expire after 15 minutes, so log in again or issue a fresh one"
)
_SMOKE = "smoke_build"

# (status or None for any, case-insensitive substring of the message or error code or None, hint, kind or None).
# First match wins, so specific rows come before the per-status fallbacks. The build rows name the setting a
# refusal of POST /builds points at (build_handler.go's preflight, service_create_preflight.go).
_HINTS: tuple[tuple[int | None, str | None, str, str | None], ...] = (
    (
        409,
        JOB_IN_PROGRESS_MESSAGE.lower(),
        "wait for the active installer job to finish (gitrollback assess shows it) and rerun",
        None,
    ),
    (409, "initial system setup", "finish Image Factory's initial system setup, then rerun", "setup_required"),
    (
        409,
        "tenant_namespace_not_prepared",
        "prepare the tenant namespace on the provider (provision-namespace) before building",
        "tenant_namespace_not_prepared",
    ),
    (409, None, "the server's state changed under the request; read it again and rerun", None),
    (
        400,
        "infrastructure selection is required",
        f"set {_SMOKE}.manifest.infrastructure_type to the provider's kind (kubernetes); 'auto' is refused",
        "build_infrastructure_type_missing",
    ),
    (
        400,
        "project repository authentication is required",
        f"give the project of {_SMOKE}.project_id an active repository auth in Image Factory, or point it at a "
        "repository an anonymous git ls-remote can read",
        "build_repository_auth_missing",
    ),
    (
        400,
        "project git repository url is required",
        f"give the project of {_SMOKE}.project_id a default source with a repository URL in Image Factory",
        "build_git_url_missing",
    ),
    (
        400,
        "registry authentication is required",
        f"set {_SMOKE}.manifest.build_config.registry_auth_id, or make a registry auth the default of the "
        "smoke project or of its tenant in Image Factory",
        "build_registry_auth_missing",
    ),
    (
        400,
        "tekton is disabled for this tenant",
        "enable Tekton in the tenant's build configuration (build config tekton_enabled) in Image Factory",
        "tenant_tekton_disabled",
    ),
    (
        400,
        "limit reached",
        "the tenant's concurrent-build or queue limit (build config max_concurrent_jobs, max_queue_size) is full; "
        f"it clears as builds finish, and gitrollback retries until {_SMOKE}.timeout_seconds",
        "build_limit_reached",
    ),
    (
        400,
        "must have tekton_enabled=true",
        "set config.tekton_enabled to the JSON boolean true on the provider",
        "provider_tekton_disabled",
    ),
    (
        400,
        "invalid kubernetes configuration",
        "the provider's config.runtime_auth needs auth_method, an API server address (apiServer, endpoint or "
        "cluster_endpoint) and credentials (a token)",
        "provider_config_invalid",
    ),
    (
        400,
        "does not match infrastructure_type",
        f"{_SMOKE}.manifest.infrastructure_type must match the provider (kubernetes for Kubernetes providers)",
        "build_infrastructure_type_mismatch",
    ),
    (
        400,
        "infrastructure_provider_id is required",
        f"{_SMOKE} sets infrastructure_provider_id to the provider; pass it in the manifest",
        "build_provider_missing",
    ),
    (
        400,
        "invalid build config",  # validateBuildConfig, for every build type
        f"{_SMOKE}.manifest.build_config needs build_type, sbom_tool (syft, grype or trivy), scan_tool (trivy, "
        "clair, grype or snyk), registry_type (s3, harbor, quay or artifactory) and secret_manager_type (vault, "
        "aws_secretsmanager, azure_keyvault or gcp_secretmanager)",
        "build_config_invalid",
    ),
    (
        400,
        "unsupported build type",
        f"set {_SMOKE}.manifest.type to container, vm, cloud, packer, paketo, kaniko, buildx or nix",
        "build_manifest_invalid",
    ),
    (
        400,
        "builds",  # validateManifest: "<field> is required for <type> builds"
        f"fix {_SMOKE}.manifest: the server names the field its build type needs",
        "build_manifest_invalid",
    ),
    (400, "tenant_id is required", "put the tenant in the build's body (tenant_id)", "build_tenant_missing"),
    (400, "tenant", "use a tenant UUID (not the nil UUID) for the configured tenant_id or the tenant named", None),
    (400, "invalid provider id", "pass the provider's id as a UUID", None),
    (400, "invalid limit", "use a limit between 1 and 100", None),
    (400, "install_mode", "use install_mode 'gitops' or 'image_factory_installer'", None),
    (400, "not retryable", "only failed jobs can be retried; start a new install or upgrade instead", None),
    (400, "job_id", "pass the failed installer job's id as a UUID", None),
    (400, "build id", "pass the build's id as a UUID", None),
    (400, "tekton_enabled", "set config.tekton_enabled to true on the provider", None),
    (400, "cannot retry build", "only failed or cancelled builds can be retried", None),
    (400, None, "Image Factory rejected the request as malformed; check the arguments and rerun", None),
    (401, None, _TOKEN_HINT, None),
    (403, "tenant is suspended", "reactivate the tenant, or act through another tenant", None),
    (
        403,
        "project belongs to a different tenant",
        f"{_SMOKE}.tenant_id (default: the provider's tenant) must be the tenant that owns {_SMOKE}.project_id",
        "build_project_tenant_mismatch",
    ),
    (
        403,
        "not available for this tenant",
        "bring the provider online and schedulable, or grant the tenant infrastructure:select; Image Factory "
        "checks only the 20 newest online providers (GetAvailableProviders has no paging), so an older provider "
        "is refused even when it is selectable",
        "provider_not_available",
    ),
    (403, "tenant", _TENANT_HINT, None),
    (403, "invalid permission", "the permission is not seeded in Image Factory's RBAC; ask its admin", None),
    (403, None, "use a System Administrator or the tenant's Owner: this needs infrastructure rights", None),
    (404, "provider not found", "check the provider id; " + _TENANT_HINT, None),
    (404, "installer job not found", "the job is unknown or belongs to another provider; check the job id", None),
    (404, "build not found", "check the build id", None),
    (404, None, "check the id, and that base_url is the Image Factory root (without /api/v1)", None),
    (422, None, "the server validated the request and refused it; fix the values it names", None),
    (428, None, "change the user's password in Image Factory, then rerun", "password_change_required"),
    (
        500,
        "failed to revoke permission",
        "the tenant probably holds no explicit grant (Image Factory answers 500 then); list the permissions",
        None,
    ),
    (500, "failed to start build", "only queued builds can be started; read the build's status", None),
    (
        500,
        "failed to get build",
        "Image Factory answers 500, not 404, for a build id it does not know; check the build id",
        "build_not_found",
    ),
    (
        500,
        "failed to resolve project configuration",
        f"check {_SMOKE}.project_id: Image Factory answers 500 for a project it does not know",
        "build_project_unknown",
    ),
    (500, "persist provider readiness", "Image Factory could not store the readiness result; check its DB", None),
    (
        500,
        None,
        "check Image Factory's logs; on provider updates it reports validation failures (target_namespace, "
        "auth config) as 500",
        None,
    ),
    (503, "maintenance", "Image Factory is read-only for maintenance; rerun when maintenance ends", "maintenance"),
    (502, None, "Image Factory or a proxy in front of it is unavailable; rerun shortly", None),
    (503, None, "Image Factory or a proxy in front of it is unavailable; rerun shortly", None),
    (504, None, "Image Factory or a proxy in front of it timed out; rerun shortly", None),
)


def remote_message(body: bytes, content_type: str) -> tuple[str, str]:
    """The error text and error code of an error body: JSON ``{"error","code"?}`` or Go plain text.

    Plain text keeps the message as sent, minus the trailing newline ``http.Error`` appends.
    """
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type.lower() or text.lstrip().startswith("{"):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            message = decoded.get("error") or decoded.get("message") or ""
            code = decoded.get("code") or ""
            return str(message).strip(), str(code)
    return text.rstrip("\r\n").strip()[:500], ""


def error_class(status: int, message: str) -> type[RemoteHTTPError]:
    """The error class for an HTTP error status (and, for 409, the message)."""
    if status == 409 and message == JOB_IN_PROGRESS_MESSAGE:
        return JobInProgressError
    return http_error_class(status)


def error_hint(status: int, message: str, code: str = "") -> str:
    """The next action for a person, from the first matching row of the hint table."""
    return _lookup(status, message, code)[0]


def error_kind(status: int, message: str, code: str = "") -> str | None:
    """The finer ``kind`` of a known refusal (``build_registry_auth_missing``...), or None for the class default."""
    return _lookup(status, message, code)[1]


def _lookup(status: int, message: str, code: str) -> tuple[str, str | None]:
    haystack = f"{message} {code}".lower()
    for row_status, needle, hint, kind in _HINTS:
        if row_status not in (None, status):
            continue
        if needle is None or needle in haystack:
            return hint, kind
    if 500 <= status <= 599:
        return "Image Factory failed; check its logs and rerun", None
    return "unexpected HTTP status; check base_url and any proxy in front of Image Factory", None


def http_error(status: int, body: bytes, content_type: str, *, operation: str, what: str) -> RemoteHTTPError:
    """Build the ``RemoteHTTPError`` subclass for one error response.

    Args:
        status: the HTTP status code.
        body: the raw response body.
        content_type: the response's ``Content-Type``.
        operation: the client method that failed (``get_provider``).
        what: method and path for the message (``GET /api/v1/admin/...``); never carries credentials.
    """
    message, code = remote_message(body, content_type)
    cls = error_class(status, message)
    shown = message or "(empty body)"
    hint, kind = _lookup(status, message, code)
    return cls(
        f"Image Factory {what} answered {status}: {shown}",
        adapter=ADAPTER,
        operation=operation,
        status=status,
        remote_message=message,
        hint=hint,
        kind=kind,
    )


def is_limit_reached(error: RemoteHTTPError) -> bool:
    """True for the transient 400 of a full tenant build queue or concurrency limit (service_tenant_limits.go)."""
    return error.status == 400 and error.kind == "build_limit_reached"


# ---------------------------------------------------------------------------------------------------- tokens


def token_claims(token: str) -> Mapping[str, Any]:
    """The payload of a JWT, decoded without verifying it (the client only reads ``exp`` and ``user_id``);
    empty for a token that is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_expiry(token: str) -> datetime | None:
    """When a JWT access token expires (its ``exp`` claim, as ``generateTokens`` writes it), or None."""
    exp = token_claims(token).get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        return datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------- parsing

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 timestamp (Go's ``time.RFC3339``: no fractions, ``Z`` or ``±hh:mm``) as an aware ``datetime``.

    Fractions are tolerated although Image Factory never sends them; a missing offset is refused.
    """
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise BadPayload(f"{field} is not an RFC 3339 timestamp: {value!r}")
    return datetime.fromisoformat(value)


def _opt_time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    return parse_time(value, key)


def obj(data: Any, what: str) -> Mapping[str, Any]:
    """``data`` as a JSON object, else ``BadPayload``."""
    if not isinstance(data, dict):
        raise BadPayload(f"{what} is not a JSON object")
    return data


def member(data: Any, key: str, what: str) -> Any:
    """``data[key]`` of a JSON object, required."""
    mapping = obj(data, what)
    if key not in mapping:
        raise BadPayload(f"{what} has no {key!r}")
    return mapping[key]


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BadPayload(f"field {key!r} is missing or not a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadPayload(f"field {key!r} is not a string")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise BadPayload(f"field {key!r} is not a boolean")
    return value


def _strs(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadPayload(f"field {key!r} is not a list of strings")
    return tuple(value)


def _list(data: Mapping[str, Any], key: str, *, required: bool = True) -> Sequence[Any]:
    value = data.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list):
        raise BadPayload(f"field {key!r} is missing or not a list")
    return value


def parse_provider(data: Any) -> Provider:
    """``InfrastructureProviderResponse`` (``infrastructure_provider_handler.go``)."""
    d = obj(data, "provider")
    config = d.get("config") or {}
    if not isinstance(config, dict):
        raise BadPayload("field 'config' is not an object")
    return Provider(
        id=_str(d, "id"),
        tenant_id=_str(d, "tenant_id"),
        name=_str(d, "name"),
        provider_type=_str(d, "provider_type"),
        status=_str(d, "status"),
        is_global=_bool(d, "is_global"),
        is_schedulable=_bool(d, "is_schedulable"),
        target_namespace=_opt_str(d, "target_namespace"),
        readiness_status=_opt_str(d, "readiness_status"),
        readiness_missing_prereqs=_strs(d, "readiness_missing_prereqs"),
        config=config,
    )


def parse_job(data: Any) -> InstallerJob:
    """``TektonInstallerJobResponse`` (``toTektonInstallerJobResponse``); it carries no operation."""
    d = obj(data, "installer job")
    return InstallerJob(
        id=_str(d, "id"),
        provider_id=_str(d, "provider_id"),
        tenant_id=_str(d, "tenant_id"),
        install_mode=_str(d, "install_mode"),
        asset_version=_str(d, "asset_version"),
        status=_str(d, "status"),
        created_at=parse_time(d.get("created_at"), "created_at"),
        updated_at=parse_time(d.get("updated_at"), "updated_at"),
        requested_by=_opt_str(d, "requested_by") or "",
        error_message=_opt_str(d, "error_message") or None,
        started_at=_opt_time(d, "started_at"),
        completed_at=_opt_time(d, "completed_at"),
    )


def parse_event(data: Any) -> JobEvent:
    """``TektonInstallerJobEventResponse`` (``toTektonInstallerJobEventResponse``)."""
    d = obj(data, "job event")
    details = d.get("details") or {}
    if not isinstance(details, dict):
        raise BadPayload("field 'details' is not an object")
    return JobEvent(
        id=_str(d, "id"),
        job_id=_str(d, "job_id"),
        event_type=_str(d, "event_type"),
        message=_opt_str(d, "message") or "",
        created_at=parse_time(d.get("created_at"), "created_at"),
        details=details,
    )


def parse_tekton_status(data: Any) -> TektonStatus:
    """``TektonProviderStatusResponse`` (``GetTektonStatus``): ``recent_jobs`` is required, the
    rest may be omitted."""
    d = obj(data, "tekton status")
    active = d.get("active_job")
    return TektonStatus(
        provider_id=_str(d, "provider_id"),
        required_tasks=_strs(d, "required_tasks"),
        required_pipelines=_strs(d, "required_pipelines"),
        recent_jobs=tuple(parse_job(j) for j in _list(d, "recent_jobs")),
        readiness_status=_opt_str(d, "readiness_status"),
        readiness_last_checked=_opt_time(d, "readiness_last_checked"),
        readiness_missing_prereqs=_strs(d, "readiness_missing_prereqs"),
        active_job=parse_job(active) if active is not None else None,
        active_job_events=tuple(parse_event(e) for e in _list(d, "active_job_events", required=False)),
    )


def parse_readiness(data: Any) -> Readiness:
    """The GET readiness body (``GetProviderReadiness``, ``respondReadiness``)."""
    d = obj(data, "readiness")
    checks = []
    for raw in _list(d, "checks", required=False):
        c = obj(raw, "readiness check")
        ok = c.get("ok")
        if not isinstance(ok, bool):
            raise BadPayload("readiness check has no boolean 'ok'")
        checks.append(ReadinessCheck(name=_str(c, "name"), ok=ok, message=_opt_str(c, "message") or ""))
    return Readiness(
        provider_id=_str(d, "provider_id"),
        status=_str(d, "status"),
        checked_at=parse_time(d.get("checked_at"), "checked_at"),
        tenant_namespace=_opt_str(d, "tenant_namespace") or "",
        missing_prereqs=_strs(d, "missing_prereqs"),
        checks=tuple(checks),
    )


def parse_permission(data: Any) -> ProviderPermission:
    """One entry of ``{"permissions": [...]}`` (``ListProviderPermissions``)."""
    d = obj(data, "permission")
    return ProviderPermission(
        id=_str(d, "id"),
        provider_id=_str(d, "provider_id"),
        tenant_id=_str(d, "tenant_id"),
        permission=_str(d, "permission"),
        granted_by=_opt_str(d, "granted_by") or "",
        granted_at=_opt_time(d, "granted_at"),
        expires_at=_opt_time(d, "expires_at"),
    )


def parse_build(data: Any) -> Build:
    """A build from ``POST /builds`` (``CreateBuildResponse``) or ``GET /builds/{id}`` (``BuildResponse``)."""
    d = obj(data, "build")
    return Build(
        id=_str(d, "id"),
        status=_str(d, "status"),
        tenant_id=_opt_str(d, "tenant_id") or "",
        name=_opt_str(d, "name") or "",
        error_message=_opt_str(d, "error_message") or None,
        started_at=_opt_time(d, "started_at"),
        completed_at=_opt_time(d, "completed_at"),
    )


def parse_build_status(data: Any) -> Build:
    """``GET /builds/{id}/status`` (``GetStatusResponse``): id and status only; no error message on this route."""
    d = obj(data, "build status")
    return Build(
        id=_str(d, "build_id"),
        status=_str(d, "status"),
        started_at=_opt_time(d, "started_at"),
        completed_at=_opt_time(d, "completed_at"),
    )
