"""Where Image Factory puts and looks for Tekton objects, written from its Go source.

Three functions in imagefactoryoss/imagefactory decide a namespace, and they differ in small ways that matter:

* ``resolveTektonTargetNamespace`` (``backend/internal/domain/infrastructure/service.go``): the installer's
  target, also used by the post-operation readiness refresh (``refreshProviderReadinessAfterInstall``).
* ``resolveProviderNamespace`` (``backend/internal/adapters/primary/rest/infrastructure_provider_handler.go``):
  the GET readiness handler's namespace.
* ``KubernetesNamespaceManager.GetNamespace`` (``backend/internal/infrastructure/kubernetes/namespace_manager.go``):
  a build's namespace, from the tenant alone.

Tenant ids are ``uuid.UUID`` values in Go: the simulator's strings are parsed as ``uuid.Parse`` would and the
nil UUID counts as unset; ``UUID.String()`` is lowercase and hyphenated, so its first 8 characters are the
first group of hex digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitrollback.testing.imagefactory.godecode import go_trim_space, go_uuid

__all__ = ["build_namespace", "readiness_namespace", "tekton_target_namespace"]

_NIL = "00000000-0000-0000-0000-000000000000"
DEFAULT_NAMESPACE = "image-factory-default"


def _uuid(value: str | None) -> str | None:
    """The canonical form of a tenant id, or None for an unset, nil or unparsable one."""
    parsed = go_uuid(value) if value else None
    return None if parsed in (None, _NIL) else parsed


def build_namespace(tenant_id: str) -> str:
    """``GetNamespace``: ``image-factory-`` plus the first 8 characters of ``tenantID.String()``."""
    canonical = go_uuid(tenant_id) or tenant_id
    return f"image-factory-{canonical[:8]}"


def tekton_target_namespace(
    *,
    target_namespace: str | None,
    config: Mapping[str, Any] | None,
    provider_tenant: str | None,
    tenant_id: str | None,
) -> str:
    """``resolveTektonTargetNamespace(provider, tenantID)``.

    In order: the provider's ``target_namespace`` column (trimmed, if not blank); ``config.tekton_target_namespace``
    when it is a non-empty string, **untrimmed**; ``config.system_namespace`` trimmed, if not blank; then
    ``image-factory-<tenant[:8]>`` of the provider's tenant, else of ``tenant_id`` (the job's tenant for the
    installer); else ``image-factory-default``.
    """
    if target_namespace is not None and go_trim_space(target_namespace) != "":
        return go_trim_space(target_namespace)
    if config is not None:
        value = config.get("tekton_target_namespace")
        if isinstance(value, str) and value != "":
            return value
        value = config.get("system_namespace")
        if isinstance(value, str) and go_trim_space(value) != "":
            return go_trim_space(value)
    effective = _uuid(provider_tenant) or _uuid(tenant_id)
    return DEFAULT_NAMESPACE if effective is None else f"image-factory-{effective[:8]}"


def readiness_namespace(
    *,
    target_namespace: str | None,
    config: Mapping[str, Any] | None,
    provider_tenant: str | None,
    tenant_id: str | None,
) -> str:
    """``resolveProviderNamespace(provider, tenantID)``, with ``tenantID`` the request's scope tenant.

    Like ``tekton_target_namespace`` except that ``config.tekton_target_namespace`` is trimmed (a blank one is
    skipped) and nothing resolving gives ``""``, not a default.
    """
    if target_namespace is not None and go_trim_space(target_namespace) != "":
        return go_trim_space(target_namespace)
    if config is not None:
        for key in ("tekton_target_namespace", "system_namespace"):
            value = config.get(key)
            if isinstance(value, str) and go_trim_space(value) != "":
                return go_trim_space(value)
    effective = _uuid(provider_tenant) or _uuid(tenant_id)
    return "" if effective is None else f"image-factory-{effective[:8]}"
