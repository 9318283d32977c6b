"""Where Image Factory puts and looks for a provider's Tekton objects.

Image Factory has two slightly different resolvers (``docs/imagefactory.md``, "Namespace resolvers";
imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/service.go`` and
``backend/internal/adapters/primary/rest/infrastructure_provider_handler.go``):

* the installer and the post-operation readiness refresh (``resolveTektonTargetNamespace``) take
  ``config.tekton_target_namespace`` untrimmed and fall back to ``image-factory-default``;
* the GET readiness handler (``resolveProviderNamespace``) trims it and falls back to ``""``.

A rollback in installer mode applies where the installer would, so the engine uses ``installer_namespace``;
the simulator uses both, each where the real server does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["installer_namespace", "readiness_namespace", "tenant_namespace"]

NIL_UUID = "00000000-0000-0000-0000-000000000000"


def tenant_namespace(tenant_id: str) -> str:
    """``image-factory-`` plus the first 8 characters of the tenant id."""
    return "image-factory-" + tenant_id.replace("-", "")[:8]


def _tenant_ok(tenant_id: str | None) -> bool:
    return bool(tenant_id) and tenant_id != NIL_UUID


def _str(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    return value if isinstance(value, str) else ""


def installer_namespace(
    *,
    target_namespace: str | None,
    config: Mapping[str, Any],
    provider_tenant: str | None,
    job_tenant: str | None = None,
) -> str:
    """The namespace the installer applies to (``resolveTektonTargetNamespace``)."""
    if target_namespace and target_namespace.strip():
        return target_namespace.strip()
    raw = _str(config, "tekton_target_namespace")
    if raw:
        return raw  # untrimmed, as the service does
    system = _str(config, "system_namespace").strip()
    if system:
        return system
    for tenant in (provider_tenant, job_tenant):
        if _tenant_ok(tenant):
            return tenant_namespace(str(tenant))
    return "image-factory-default"


def readiness_namespace(
    *,
    target_namespace: str | None,
    config: Mapping[str, Any],
    provider_tenant: str | None,
    scope_tenant: str | None = None,
) -> str:
    """The namespace GET readiness checks (``resolveProviderNamespace``); ``""`` when nothing resolves."""
    if target_namespace and target_namespace.strip():
        return target_namespace.strip()
    for key in ("tekton_target_namespace", "system_namespace"):
        value = _str(config, key).strip()
        if value:
            return value
    for tenant in (provider_tenant, scope_tenant):
        if _tenant_ok(tenant):
            return tenant_namespace(str(tenant))
    return ""
