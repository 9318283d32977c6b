"""Turn a Tekton asset tree into the objects Image Factory's installer would apply.

This is deliberately *not* kustomize: Image Factory's installer (``applyTektonAssetsToProvider``, see
``docs/imagefactory.md``) reads only the ``resources:`` list of ``kustomization.yaml`` as file paths relative to
the asset root, rewrites ``tasks/v1/`` and ``pipelines/v1/`` entries to the requested profile folder, and parses
each file as multi-document YAML in list order. gitrollback reproduces that so a rollback applies exactly the
object set the installer would have applied for the same tree. Pure functions: input is the file map read
from git objects, no file system access.

The tree is hostile input (whoever can push to the asset repository writes it), so every file goes through one
loader, ``_yaml.load_manifest_documents``, within ``AssetLimits``: bytes per file and in total (checked before
anything is parsed), documents, expanded nodes and nesting depth, with duplicate keys, merge keys, non-core tags
and non-UTF-8 text refused. ``plan`` and ``run`` both render through here, so a plan can never pass what a run
would then choke on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitrollback import _yaml
from gitrollback.errors import AssetError
from gitrollback.models import Manifest
from gitrollback.settings import AssetLimits

__all__ = ["expand_assets", "resource_files"]

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


def _documents(path: str, data: bytes, limits: AssetLimits, max_documents: int) -> list[_yaml.LoadedDocument]:
    """One file through the shared loader, its refusals as ``AssetError`` naming the file and line."""
    _size_check(path, data, limits)
    try:
        return _yaml.load_manifest_documents(
            data, max_documents=max_documents, max_nodes=limits.nodes, max_depth=limits.depth
        )
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


def resource_files(files: Mapping[str, bytes], profile: str = "v1", limits: AssetLimits | None = None) -> list[str]:
    """The resource file paths the installer applies, in order, after the profile rewrite.

    Raises:
        AssetError: no ``kustomization.yaml``, a malformed one (or one beyond ``limits``), or a listed file that
            does not exist (with the installer's own message for a missing profile file).
    """
    limits = limits or AssetLimits()
    raw = files.get(KUSTOMIZATION)
    if raw is None:
        raise AssetError(
            f"{KUSTOMIZATION} not found at the asset root",
            path=KUSTOMIZATION,
            hint="check the asset path in the config (e.g. backend/tekton) and the revision",
        )
    loaded = _documents(KUSTOMIZATION, raw, limits, 1)
    doc = loaded[0].value if loaded else None
    resources = doc.get("resources") if isinstance(doc, dict) else None
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise AssetError(f"{KUSTOMIZATION} has no resources: list of file paths", path=KUSTOMIZATION)
    version = profile.strip().lower()
    out: list[str] = []
    for entry in resources:
        path = entry.strip().removeprefix("./")
        rewritten = path
        if version not in ("", "v1"):
            for folder in _PROFILE_FOLDERS:
                if path.startswith(folder):
                    rewritten = folder.replace("/v1/", f"/{version}/") + path[len(folder) :]
            if rewritten != path and rewritten not in files:
                raise AssetError(
                    f"tekton profile version {version} requested but resource does not exist: {rewritten}",
                    path=rewritten,
                )
        if rewritten not in files:
            raise AssetError(f"resource listed in {KUSTOMIZATION} does not exist: {rewritten}", path=rewritten)
        out.append(rewritten)
    return out


def _manifest(doc: Any, source: str, index: int, line: int = 0) -> Manifest:
    if not isinstance(doc, dict):
        raise AssetError(f"{source}:{line}: document {index + 1} is not a mapping", path=source)
    raw_meta = doc.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    api_version, kind, name = doc.get("apiVersion"), doc.get("kind"), meta.get("name")
    missing = [k for k, v in (("apiVersion", api_version), ("kind", kind), ("metadata.name", name)) if not v]
    if missing:
        raise AssetError(f"{source}:{line}: document {index + 1} has no {', '.join(missing)}", path=source)
    namespace = meta.get("namespace")
    return Manifest(
        api_version=str(api_version),
        kind=str(kind),
        name=str(name),
        body=doc,
        source_file=source,
        namespace=str(namespace) if namespace else None,
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
        manifests.extend(_manifest(doc.value, path, i, doc.line) for i, doc in enumerate(docs))
    return manifests
