"""The installer's asset expansion, written from Image Factory's Go source (not from gitrollback's own).

Everything here follows imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/service.go``;
each function names the Go function it stands in for. The installer is deliberately not kustomize: it reads
only the ``resources:`` list of ``kustomization.yaml`` as paths joined to the asset root, checks that every
listed file exists, then (for a profile other than ``v1``) swaps ``tasks/v1/`` and ``pipelines/v1/`` for the
profile folder and checks those files too, and parses each file as a YAML or JSON stream
(``_k8s_yaml.decode_manifest_stream``). Paths are file-system paths, joined and cleaned as Go's ``filepath.Join``
does; errors carry the Go error text, which becomes the job's ``error_message``.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitrollback.testing._k8s_yaml import GoDecodeError, decode_manifest_stream, unmarshal_resources_list
from gitrollback.testing.imagefactory.godecode import go_trim_space

__all__ = [
    "KUSTOMIZATION",
    "InstallerError",
    "file_objects",
    "load_resource_files",
    "nested_string",
    "object_namespace",
    "parse_manifest_file",
    "resolve_asset_version",
    "resource_files_for_job",
]

KUSTOMIZATION = "kustomization.yaml"
_PROFILE_FOLDERS = ("tasks/v1/", "pipelines/v1/")


class InstallerError(Exception):
    """The installer returned an error; ``str(exc)`` is its text."""


def go_join(root: str, elem: str) -> str:
    """``filepath.Join(root, elem)`` on Unix: join with ``/`` and ``filepath.Clean`` the result."""
    joined = posixpath.normpath(f"{root}/{elem}")
    return "/" + joined.lstrip("/") if joined.startswith("//") else joined


def file_exists(path: str) -> bool:
    """``fileExists`` (service.go): ``os.Stat`` succeeds and the path is not a directory."""
    try:
        return not stat.S_ISDIR(Path(path).stat().st_mode)
    except OSError:
        return False


def resolve_asset_version(requested: str, config: Mapping[str, Any] | None = None) -> str:
    """``resolveTektonAssetVersion``: the request trimmed and lowercased, else ``config.tekton_profile_version``.

    ``applyTektonAssetsToProvider`` calls it with no provider and the job's ``asset_version``, so there an
    empty version means ``v1``.
    """
    if requested != "":
        return go_trim_space(requested).lower()
    value = (config or {}).get("tekton_profile_version")
    if isinstance(value, str) and go_trim_space(value):
        return go_trim_space(value).lower()
    return "v1"


def _load_kustomization_resource_files(asset_root: str) -> list[str]:
    """``loadKustomizationResourceFiles``: every non-blank ``resources:`` entry joined to the root, in order.

    Every listed path must be an existing file *before* any profile rewrite.
    """
    path = go_join(asset_root, KUSTOMIZATION)
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise InstallerError(f"failed to read kustomization file: open {path}: {_errno_text(exc)}") from exc
    try:
        resources = unmarshal_resources_list(content)
    except GoDecodeError as exc:
        raise InstallerError(f"failed to parse kustomization file: {exc}") from exc
    files: list[str] = []
    for entry in resources:
        resource = go_trim_space(entry)
        if resource == "":
            continue
        joined = go_join(asset_root, resource)
        if not file_exists(joined):
            raise InstallerError(f"kustomization resource does not exist: {joined}")
        files.append(joined)
    return files


def load_resource_files(asset_root: str, profile_version: str) -> list[str]:
    """``loadKustomizationResourceFilesForProfile``: the resource files, rewritten to the profile's folders.

    The version is trimmed and lowercased; ``""`` and ``v1`` keep the list. Otherwise a file whose path
    relative to the root starts with ``tasks/v1/`` or ``pipelines/v1/`` is replaced by the same path with the
    first ``/v1/`` swapped for ``/<version>/``, which must exist.

    Raises:
        InstallerError: with the Go error text.
    """
    files = _load_kustomization_resource_files(asset_root)
    version = go_trim_space(profile_version).lower()
    if version in ("", "v1"):
        return files
    adjusted: list[str] = []
    for resource_file in files:
        rel = posixpath.relpath(resource_file, posixpath.normpath(asset_root))  # filepath.Rel is lexical too
        if rel.startswith(_PROFILE_FOLDERS):
            target = go_join(asset_root, rel.replace("/v1/", f"/{version}/", 1))
            if not file_exists(target):
                message = f"tekton profile version {version} requested but resource does not exist: {target}"
                raise InstallerError(message)
            adjusted.append(target)
            continue
        adjusted.append(resource_file)
    return adjusted


def resource_files_for_job(asset_root: str, asset_version: str) -> list[str]:
    """The files an installer job applies: ``applyTektonAssetsToProvider`` up to its ``apply.started`` event.

    ``resolveTektonAssetVersion(nil, job.AssetVersion)``, ``loadKustomizationResourceFilesForProfile``, and the
    refusal of an empty list.

    Raises:
        InstallerError: with the job's error text.
    """
    files = load_resource_files(asset_root, resolve_asset_version(asset_version))
    if not files:
        raise InstallerError(f"tekton kustomization has no resources under {asset_root}")
    return files


def file_objects(path: str) -> list[dict[str, Any]]:
    """One file's objects as the apply loop of ``applyTektonAssetsToProvider`` gets them (parsed just before
    they are applied, after the previous file's objects went in).

    Raises:
        InstallerError: ``failed to parse manifest <path>: <parseUnstructuredYAMLFile error>``.
    """
    try:
        return parse_manifest_file(path)
    except InstallerError as exc:
        raise InstallerError(f"failed to parse manifest {path}: {exc}") from exc


def nested_string(obj: Mapping[str, Any], *fields: str) -> str:
    """``unstructured.NestedString`` as the ``Get*`` accessors use it: ``""`` unless every step is a map
    and the value a string."""
    value: Any = obj
    for name in fields:
        if not isinstance(value, Mapping):
            return ""
        value = value.get(name)
    return value if isinstance(value, str) else ""


def parse_manifest_file(path: str) -> list[dict[str, Any]]:
    """``parseUnstructuredYAMLFile``: every non-empty document of the file, in order.

    Empty documents (only comments, ``{}``, ``null``) are skipped. An object needs a string ``apiVersion``,
    ``kind`` and ``metadata.name``.

    Raises:
        InstallerError: the read or decode error, or ``manifest object missing apiVersion/kind/name in <path>``.
    """
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise InstallerError(f"open {path}: {_errno_text(exc)}") from exc
    try:
        decoded = decode_manifest_stream(content)
    except GoDecodeError as exc:
        raise InstallerError(str(exc)) from exc
    objects: list[dict[str, Any]] = []
    for raw in decoded:
        if not raw:
            continue
        if not (nested_string(raw, "apiVersion") and nested_string(raw, "kind") and _object_name(raw)):
            raise InstallerError(f"manifest object missing apiVersion/kind/name in {path}")
        objects.append(raw)
    return objects


def _object_name(obj: Mapping[str, Any]) -> str:
    return nested_string(obj, "metadata", "name")


def object_namespace(obj: dict[str, Any], *, namespaced: bool, target_namespace: str) -> str | None:
    """Where ``applyTektonAssetsToProvider`` applies one object; sets ``metadata.namespace`` like it does.

    A namespaced object keeps its own ``metadata.namespace`` (a string), else gets the target namespace
    (``obj.SetNamespace``); a cluster-scoped one is applied without a namespace (its body untouched).
    """
    if not namespaced:
        return None
    namespace = nested_string(obj, "metadata", "namespace")
    if namespace == "":
        namespace = target_namespace
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            metadata["namespace"] = namespace
    return namespace


def _errno_text(exc: OSError) -> str:
    """The ``syscall.Errno`` text Go prints for the common cases."""
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()
