"""Turn a Tekton asset tree into the objects Image Factory's installer would apply.

This is deliberately *not* kustomize: Image Factory's installer (imagefactoryoss/imagefactory
``backend/internal/domain/infrastructure/service.go``, ``applyTektonAssetsToProvider``; see
``docs/imagefactory.md``) reads only the ``resources:`` list of ``kustomization.yaml`` as file paths relative to
the asset root (``loadKustomizationResourceFiles``: blank entries skipped, paths cleaned, every listed file must
exist), rewrites ``tasks/v1/`` and ``pipelines/v1/`` entries to the requested profile folder
(``loadKustomizationResourceFilesForProfile``), and parses each file as a multi-document stream in list order
with Go's YAML decoding (``parseUnstructuredYAMLFile``). gitrollback reproduces that
so a rollback applies exactly the object set the installer would have applied for the same tree. Pure
functions: input is the file map read from git objects, no file system access.

The tree is hostile input (whoever can push to the asset repository writes it), so every file goes through one
loader, ``_yaml.load_manifest_documents`` (``kustomization.yaml``: ``_yaml.load_manifest_value``), within
``AssetLimits``: bytes per file and in total (checked before anything is parsed), documents, expanded nodes and
nesting depth, with duplicate keys, merge keys, non-core tags and non-UTF-8 text refused where Go would accept
them (docs/installer-mode.md). ``plan`` and ``run`` both render through here, so a plan can never pass what a
run would then choke on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from gitrollback import _yaml
from gitrollback.errors import AssetError
from gitrollback.models import Manifest
from gitrollback.settings import AssetLimits

__all__ = ["apply_namespace", "expand_assets", "resource_files"]

KUSTOMIZATION = "kustomization.yaml"
_PROFILE_FOLDERS = ("tasks/v1/", "pipelines/v1/")


def _size_check(path: str, data: bytes, limits: AssetLimits) -> None:
    if len(data) > limits.file_bytes:
        raise AssetError(
            f"{path} is {len(data):,} bytes, over the limit of {limits.file_bytes:,} bytes per file",
            path=path,
            kind="file_too_large",
            hint="check what that revision put into the asset tree, or raise assets.limits.file_bytes",
        )


@contextmanager
def _refusals(path: str) -> Iterator[None]:
    """The loader's refusals as ``AssetError`` naming the file and line."""
    try:
        yield
    except _yaml.YamlLimitError as exc:
        where = f"{path}:{exc.line}" if exc.line else path
        raise AssetError(
            f"{where}: {exc.problem}",
            path=path,
            kind=f"yaml_{exc.kind}",
            hint="the asset tree at that revision is refused as it is; nothing was applied",
        ) from exc
    except _yaml.YamlSyntaxError as exc:
        raise AssetError(f"{path} is not valid YAML: {exc}", path=path, kind="yaml_syntax") from exc


def _documents(path: str, data: bytes, limits: AssetLimits, max_documents: int) -> list[_yaml.LoadedDocument]:
    """One resource file through the shared loader, split into documents as the installer splits it."""
    _size_check(path, data, limits)
    with _refusals(path):
        return _yaml.load_manifest_documents(
            data, max_documents=max_documents, max_nodes=limits.nodes, max_depth=limits.depth
        )


def _resource_entries(doc: Any) -> list[str]:
    """The ``resources:`` list as ``sigs.k8s.io/yaml`` fills ``struct{ Resources []string }``.

    The key matches case-insensitively (``encoding/json``; of several, the last in sorted order wins), a null
    entry is an empty string, and numbers and booleans become their text.
    """
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise AssetError(f"{KUSTOMIZATION} is not a mapping", path=KUSTOMIZATION)
    keys = sorted(k for k in doc if k.lower() == "resources")
    raw = doc[keys[-1]] if keys else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AssetError(f"{KUSTOMIZATION}: resources is not a list of file paths", path=KUSTOMIZATION)
    entries: list[str] = []
    for item in raw:
        if isinstance(item, dict | list):
            raise AssetError(f"{KUSTOMIZATION}: resources has an entry that is not a file path", path=KUSTOMIZATION)
        entries.append("" if item is None else str(item).lower() if isinstance(item, bool) else str(item))
    return entries


def resource_files(files: Mapping[str, bytes], profile: str = "v1", limits: AssetLimits | None = None) -> list[str]:
    """The resource file paths the installer applies, in order, after the profile rewrite.

    Raises:
        AssetError: no ``kustomization.yaml``, a malformed one (or one beyond ``limits``), an empty resources
            list, a listed file that does not exist (checked as listed, then after the profile rewrite, with the
            installer's own message for a missing profile file), or one outside the asset path.
    """
    limits = limits or AssetLimits()
    raw = files.get(KUSTOMIZATION)
    if raw is None:
        raise AssetError(
            f"{KUSTOMIZATION} not found at the asset root",
            path=KUSTOMIZATION,
            hint="check the asset path in the config (e.g. backend/tekton) and the revision",
        )
    _size_check(KUSTOMIZATION, raw, limits)
    with _refusals(KUSTOMIZATION):
        loaded = _yaml.load_manifest_value(raw, max_nodes=limits.nodes, max_depth=limits.depth)
    listed: list[str] = []
    for raw_entry in _resource_entries(loaded.value if loaded else None):
        entry = raw_entry.strip()
        if not entry:
            continue  # the installer skips blank entries
        path = posixpath.normpath(entry.lstrip("/"))  # filepath.Join(root, entry) cleans the path
        if path == ".." or path.startswith("../"):
            raise AssetError(f"resource listed in {KUSTOMIZATION} is outside the asset path: {entry}", path=entry)
        if path not in files:
            raise AssetError(f"resource listed in {KUSTOMIZATION} does not exist: {path}", path=path)
        listed.append(path)
    if not listed:
        raise AssetError(f"{KUSTOMIZATION} has no resources: list of file paths", path=KUSTOMIZATION)
    version = profile.strip().lower()
    if version in ("", "v1"):
        return listed
    out: list[str] = []
    for path in listed:
        target = path.replace("/v1/", f"/{version}/", 1) if path.startswith(_PROFILE_FOLDERS) else path
        if target not in files:
            raise AssetError(
                f"tekton profile version {version} requested but resource does not exist: {target}", path=target
            )
        out.append(target)
    return out


def _manifest(doc: Any, source: str, index: int, line: int) -> Manifest:
    if not isinstance(doc, dict):
        raise AssetError(f"{source}:{line}: document {index + 1} is not a mapping", path=source)
    raw_meta = doc.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    api_version, kind, name = doc.get("apiVersion"), doc.get("kind"), meta.get("name")
    # unstructured.GetAPIVersion/GetKind/GetName read strings only: any other type counts as missing.
    fields = (("apiVersion", api_version), ("kind", kind), ("metadata.name", name))
    missing = [k for k, v in fields if not isinstance(v, str) or not v]
    if missing:
        raise AssetError(f"{source}:{line}: document {index + 1} has no {', '.join(missing)} (a string)", path=source)
    namespace = meta.get("namespace")
    return Manifest(
        api_version=str(api_version),
        kind=str(kind),
        name=str(name),
        body=doc,
        source_file=source,
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        line=line,
    )


def expand_assets(files: Mapping[str, bytes], profile: str = "v1", limits: AssetLimits | None = None) -> list[Manifest]:
    """Every object the installer would apply for this tree and profile, in apply order.

    Raises:
        AssetError: as ``resource_files``, or a listed file beyond ``limits`` or refused by the loader; the
            message names the file and line.
    """
    limits = limits or AssetLimits()
    paths = resource_files(files, profile, limits)
    total = len(files[KUSTOMIZATION]) + sum(len(files[path]) for path in paths)
    for path in paths:
        _size_check(path, files[path], limits)
    if total > limits.total_bytes:
        raise AssetError(
            f"the listed files add up to {total:,} bytes, over the limit of {limits.total_bytes:,} bytes",
            path=KUSTOMIZATION,
            kind="tree_too_large",
            hint="check what that revision put into the asset tree, or raise assets.limits.total_bytes",
        )
    manifests: list[Manifest] = []
    for path in paths:
        docs = _documents(path, files[path], limits, limits.documents - len(manifests))
        objects = [doc for doc in docs if doc.value != {}]  # the installer skips empty documents
        manifests.extend(_manifest(doc.value, path, i, doc.line) for i, doc in enumerate(objects))
    return manifests


def apply_namespace(manifest: Manifest, *, namespaced: bool, target: str | None) -> str | None:
    """Where the installer applies an object: its own namespace, else ``target``; None for a cluster-scoped kind."""
    if not namespaced:
        return None
    return manifest.namespace or target
