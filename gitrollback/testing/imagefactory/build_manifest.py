"""A build manifest as Image Factory decodes and validates it, written from its Go source.

``POST /builds`` decodes ``manifest`` into ``BuildManifest`` (imagefactoryoss/imagefactory
``backend/internal/domain/build/build_manifest_models.go``), whose ``build_config`` goes through
``BuildConfig.UnmarshalJSON`` (``build_config_models.go``: each field in snake_case, else camelCase; ``dockerfile``
a string or ``{"source","path","content"}``; ``registry_auth_id`` must parse as a UUID). A value that does not decode
fails the whole body, which the handler answers ``400 Invalid request body`` (``CreateBuild``,
``build_handler_actions.go``). ``NewBuild`` (``build_aggregate.go``) then runs ``validateManifest`` and
``validateBuildConfig`` (``build_validation.go``); their errors contain "is required" or "invalid", so
``classifyCreateBuildError`` (``application/build/errors.go``) turns them into a ``400`` with the error text.

Note what ``validateBuildConfig`` asks of every ``build_config``: a ``build_type``, ``sbom_tool``, ``scan_tool``,
``registry_type`` and ``secret_manager_type`` from fixed sets, whatever the build type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitrollback.testing.imagefactory.godecode import go_trim_space, go_uuid

__all__ = ["ManifestError", "config_text", "decode_check", "platforms", "validate_manifest"]

BUILD_TYPES = ("container", "vm", "cloud", "packer", "paketo", "kaniko", "buildx", "nix")
_CONFIG_BUILD_TYPES = ("container", "packer", "paketo", "kaniko", "buildx", "nix")
SBOM_TOOLS = ("syft", "grype", "trivy")
SCAN_TOOLS = ("trivy", "clair", "grype", "snyk")
REGISTRY_TYPES = ("s3", "harbor", "quay", "artifactory")
SECRET_MANAGERS = ("vault", "aws_secretsmanager", "azure_keyvault", "gcp_secretmanager")

# BuildConfig's string fields: (snake_case tag, camelCase tag).
_STRING_FIELDS = (
    ("build_type", "buildType"),
    ("sbom_tool", "sbomTool"),
    ("scan_tool", "scanTool"),
    ("registry_type", "registryType"),
    ("secret_manager_type", "secretManagerType"),
    ("packer_template", "packerTemplate"),
    ("packer_target_profile_id", "packerTargetProfileId"),
    ("build_context", "buildContext"),
    ("target", "target"),
    ("cache_repo", "cacheRepo"),
    ("registry_repo", "registryRepo"),
    ("registry_auth_id", "registryAuthId"),
    ("nix_expression", "nixExpression"),
    ("flake_uri", "flakeUri"),
    ("cache_dir", "cacheDir"),
    ("cache_to", "cacheTo"),
    ("on_error", "onError"),
)
_MANIFEST_STRINGS = ("name", "type", "base_image", "infrastructure_type")


class ManifestError(Exception):
    """``validateManifest`` refused the manifest; ``str(exc)`` is the Go error text."""


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def config_text(config: Mapping[str, Any], snake: str, camel: str) -> str:
    """A ``BuildConfig`` string field as ``UnmarshalJSON`` fills it: the snake_case value, else the camelCase one."""
    return _text(config, snake) or _text(config, camel)


def _dockerfile(config: Mapping[str, Any]) -> str:
    """``parseDockerfile``: a string, or an object whose ``path`` (``source: path``) or ``content`` counts."""
    raw = config.get("dockerfile")
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping):
        return _text(raw, "path") if raw.get("source") == "path" else _text(raw, "content")
    return ""


def platforms(config: Mapping[str, Any]) -> list[str]:
    """``normalizeBuildxPlatforms`` of ``platforms`` (else ``platforms`` in camelCase, the same tag): trimmed,
    blanks and repeats dropped."""
    out: list[str] = []
    for item in config.get("platforms") or []:
        trimmed = go_trim_space(item) if isinstance(item, str) else ""
        if trimmed and trimmed not in out:
            out.append(trimmed)
    return out


def decode_check(manifest: Mapping[str, Any]) -> bool:
    """False when ``json.Decode`` into ``BuildManifest`` fails: a wrong JSON type in a field the simulator reads,
    an ``infrastructure_provider_id`` or ``registry_auth_id`` that is not a UUID (``""`` included for the
    ``*uuid.UUID`` provider id, whose ``UnmarshalText`` refuses it)."""
    for key in _MANIFEST_STRINGS:
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            return False
    provider = manifest.get("infrastructure_provider_id")
    if provider is not None and go_uuid(provider) is None:
        return False
    for key in ("metadata", "build_config", "vm_config"):
        if manifest.get(key) is not None and not isinstance(manifest[key], Mapping):
            return False
    instructions = manifest.get("instructions")
    if instructions is not None and not (
        isinstance(instructions, list) and all(isinstance(i, str) for i in instructions)
    ):
        return False
    config = manifest.get("build_config")
    if not isinstance(config, Mapping):
        return True
    for snake, camel in _STRING_FIELDS:
        for key in (snake, camel):
            if config.get(key) is not None and not isinstance(config[key], str):
                return False
    dockerfile = config.get("dockerfile")
    if dockerfile is not None and not isinstance(dockerfile, str | Mapping):
        return False
    listed = config.get("platforms")
    if listed is not None and not (isinstance(listed, list) and all(isinstance(p, str) for p in listed)):
        return False
    auth = config_text(config, "registry_auth_id", "registryAuthId")
    return auth == "" or go_uuid(auth) is not None


def validate_manifest(manifest: Mapping[str, Any]) -> None:
    """``validateManifest`` then ``validateBuildConfig``, in their order.

    Raises:
        ManifestError: with the Go error text (the handler answers it as a 400).
    """
    kind = _text(manifest, "type")
    if not _text(manifest, "name"):
        raise ManifestError("build name is required")
    if not kind:
        raise ManifestError("build type is required")
    infra = _text(manifest, "infrastructure_type")
    has_provider = manifest.get("infrastructure_provider_id") is not None
    if has_provider and infra == "":
        raise ManifestError("infrastructure_type is required when infrastructure_provider_id is set")
    if has_provider and infra == "auto":
        raise ManifestError("infrastructure_provider_id cannot be set when infrastructure_type is auto")
    if infra not in ("", "auto") and not has_provider:
        raise ManifestError("infrastructure_provider_id is required when infrastructure_type is set")
    raw_config = manifest.get("build_config")
    config: Mapping[str, Any] | None = raw_config if isinstance(raw_config, Mapping) else None
    _validate_type(kind, manifest, config)
    if config is not None:
        _validate_build_config(config)


def _require_config(config: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any]:
    if config is None:
        raise ManifestError(f"build config is required for {kind} builds")
    return config


def _validate_type(kind: str, manifest: Mapping[str, Any], config: Mapping[str, Any] | None) -> None:
    """The ``switch manifest.Type`` of ``validateManifest``."""
    if kind == "container":
        if config is not None and _dockerfile(config):
            if not config_text(config, "build_context", "buildContext"):
                raise ManifestError("build context is required for container builds")
            if not config_text(config, "registry_repo", "registryRepo"):
                raise ManifestError("registry_repo is required for container builds")
            return
        if not _text(manifest, "base_image"):
            raise ManifestError("base image is required for container builds")
        if not manifest.get("instructions"):
            raise ManifestError("build instructions are required for container builds")
    elif kind == "vm":
        vm = manifest.get("vm_config")
        if not isinstance(vm, Mapping):
            raise ManifestError("VM configuration is required for VM builds")
        if not _text(vm, "cloud_provider"):
            raise ManifestError("cloud provider is required for VM builds")
        if not _text(vm, "packer_template") and not _text(manifest, "base_image"):
            raise ManifestError("either packer template or base image is required for VM builds")
        if not _text(vm, "output_format"):
            raise ManifestError("output format is required for VM builds")
    elif kind == "cloud":
        if not _text(manifest, "base_image"):
            raise ManifestError("base image is required for cloud builds")
    elif kind == "packer":
        config = _require_config(config, kind)
        if not config_text(config, "packer_template", "packerTemplate"):
            raise ManifestError("packer template is required for packer builds")
        profile = go_trim_space(config_text(config, "packer_target_profile_id", "packerTargetProfileId"))
        if not profile:
            raise ManifestError("packer_target_profile_id is required for packer builds")
        if go_uuid(profile) is None:
            raise ManifestError("packer_target_profile_id must be a valid UUID")
    elif kind == "paketo":
        config = _require_config(config, kind)
        paketo = config.get("paketo_config") or config.get("paketoConfig")
        if not isinstance(paketo, Mapping):
            raise ManifestError("paketo config is required for paketo builds")
        if not _text(paketo, "builder"):
            raise ManifestError("paketo builder is required")
    elif kind in ("kaniko", "buildx"):
        config = _require_config(config, kind)
        if not _dockerfile(config):
            raise ManifestError(f"dockerfile is required for {kind} builds")
        if not config_text(config, "build_context", "buildContext"):
            raise ManifestError(f"build context is required for {kind} builds")
        if not config_text(config, "registry_repo", "registryRepo"):
            raise ManifestError(f"registry_repo is required for {kind} builds")
        if kind == "buildx" and not platforms(config):
            raise ManifestError("platforms are required for buildx builds")
    elif kind == "nix":
        config = _require_config(config, kind)
        if not config_text(config, "nix_expression", "nixExpression") and not config_text(
            config, "flake_uri", "flakeUri"
        ):
            raise ManifestError("either nix_expression or flake_uri is required for nix builds")
    else:
        raise ManifestError(f"unsupported build type: {kind}")


def _validate_build_config(config: Mapping[str, Any]) -> None:
    """``validateBuildConfig``, wrapped as ``invalid build config: ...`` by ``validateManifest``."""
    rules = (
        ("build_type", "buildType", _CONFIG_BUILD_TYPES, "invalid build type in config"),
        ("sbom_tool", "sbomTool", SBOM_TOOLS, "invalid SBOM tool"),
        ("scan_tool", "scanTool", SCAN_TOOLS, "invalid scan tool"),
        ("registry_type", "registryType", REGISTRY_TYPES, "invalid registry type"),
        ("secret_manager_type", "secretManagerType", SECRET_MANAGERS, "invalid secret manager type"),
    )
    for snake, camel, allowed, label in rules:
        value = config_text(config, snake, camel)
        if value not in allowed:
            raise ManifestError(f"invalid build config: {label}: {value}")
