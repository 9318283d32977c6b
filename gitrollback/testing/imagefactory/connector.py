"""Whether a provider config would give Image Factory a Kubernetes client, with the server's error texts.

Written from imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/connectors/kubeconfig.go``,
``BuildRESTConfigFromProviderConfigForContext``: the auth map is ``config.runtime_auth`` (or ``bootstrap_auth``) and
must be an object; ``auth_method`` is required; ``token``/``service-account``/``service_account``/``oauth`` need an
API server address (``apiServer``, ``endpoint`` or ``cluster_endpoint``, first non-empty) and a token (``token``,
``service_account_token``, ``oauth_token`` or ``api_token``); ``client-cert`` needs the address, ``client_cert`` and
``client_key``; ``kubeconfig`` needs ``kubeconfig_path`` or ``kubeconfig`` content that client-go can turn into a
REST config; the cloud identity methods need in-cluster config (never available to the simulator) or a kubeconfig.
Only string values count (``getStringValue``: a number is ""). Every caller wraps the error in its own text
(readiness says ``invalid provider kubeconfig/config``, the build preflight ``selected infrastructure provider has
invalid kubernetes configuration``, the installer ``invalid provider bootstrap auth config: ...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitrollback.testing import _k8s_yaml

__all__ = ["rest_config_error", "validate_provider_auth"]

_TOKEN_METHODS = ("token", "service-account", "service_account", "oauth")
_IDENTITY_METHODS = ("iam", "workload-identity", "managed-identity", "instance-principal", "api-key")


def _text(auth: Mapping[str, Any], key: str) -> str:
    """``getStringValue``: the value when it is a string, else ""."""
    value = auth.get(key)
    return value if isinstance(value, str) else ""


def _first(auth: Mapping[str, Any], *keys: str) -> str:
    """``firstNonEmpty`` over ``getStringValue`` of each key."""
    return next((v for v in (_text(auth, k) for k in keys) if v), "")


def _kubeconfig_error(content: str) -> str | None:
    """``clientcmd.RESTConfigFromKubeConfig``: YAML whose current context names a cluster with a server."""
    try:
        data = _k8s_yaml.unmarshal(content)
    except _k8s_yaml.GoDecodeError as exc:
        return f"error loading config: {exc}"
    if not isinstance(data, dict):
        return "invalid configuration: no configuration has been provided"
    contexts = {c.get("name"): c.get("context") or {} for c in data.get("contexts") or [] if isinstance(c, dict)}
    clusters = {c.get("name"): c.get("cluster") or {} for c in data.get("clusters") or [] if isinstance(c, dict)}
    current = data.get("current-context")
    context = contexts.get(current) if current else None
    if not isinstance(context, dict):
        return "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER"
    cluster = clusters.get(context.get("cluster"))
    if not isinstance(cluster, dict) or not cluster.get("server"):
        return "invalid configuration: no server found for cluster"
    return None


def _kubeconfig_sources(auth: Mapping[str, Any]) -> str | None:
    """The kubeconfig branch: a path on the server's file system (this machine, for the simulator) or content."""
    path = _text(auth, "kubeconfig_path")
    if path:
        try:
            return _kubeconfig_error(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            return f"stat {path}: {exc.strerror or exc}"
    content = _text(auth, "kubeconfig")
    if content:
        return _kubeconfig_error(content)
    return ""  # neither: the caller words the refusal


def rest_config_error(config: Mapping[str, Any] | None, context: str = "runtime") -> str | None:
    """The error ``BuildRESTConfigFromProviderConfigForContext`` returns for ``config``, or None when it builds."""
    key = "runtime_auth" if context == "runtime" else "bootstrap_auth"
    if config is None:
        return f"{context} auth config is required"
    raw = config.get(key)
    if raw is None:
        return f"{context} auth config is required (config.{key})"
    if not isinstance(raw, Mapping):
        return f"{context} auth config is invalid (config.{key} must be an object)"
    method = _text(raw, "auth_method")
    if not method:
        return f"{context} auth config: auth_method is required"
    if method == "kubeconfig":
        error = _kubeconfig_sources(raw)
        if error == "":
            return f"{context} auth config: kubeconfig_path is required for kubeconfig auth method"
        return error
    if method in _TOKEN_METHODS or method == "client-cert":
        label = "token" if method in _TOKEN_METHODS else "client-cert"
        if not _first(raw, "apiServer", "endpoint", "cluster_endpoint"):
            return f"{context} auth config: apiServer or endpoint is required for {label} auth method"
        if method in _TOKEN_METHODS:
            if not _first(raw, "token", "service_account_token", "oauth_token", "api_token"):
                return f"{context} auth config: token is required for token auth method"
            return None
        for field in ("client_cert", "client_key"):
            if not _text(raw, field):
                return f"{context} auth config: {field} is required for client-cert auth method"
        return None
    if method in _IDENTITY_METHODS:
        # rest.InClusterConfig() fails outside a pod, so only a kubeconfig can make it work here.
        error = _kubeconfig_sources(raw)
        if error == "":
            return f"{context} auth config: auth method {method} requires in-cluster config or kubeconfig"
        return error
    return f"{context} auth config: unsupported auth method: {method}"


def validate_provider_auth(provider_type_is_k8s: bool, config: Mapping[str, Any], bootstrap_mode: str) -> str | None:
    """``validateKubernetesProviderAuthConfig`` (service.go): the provider create/update check, or None.

    Managed providers (``normalizeBootstrapMode``: anything but ``self_managed`` after trimming) need valid
    bootstrap auth (runtime auth is checked only when it is usable, so it never fails); self-managed ones need
    valid runtime auth.
    """
    if not provider_type_is_k8s:
        return None
    if bootstrap_mode.strip() != "self_managed":
        error = rest_config_error(config, "bootstrap")
        if error:
            return f"bootstrap auth config is invalid: {error}"
        return None
    error = rest_config_error(config, "runtime")
    return f"runtime auth config is invalid: {error}" if error else None
