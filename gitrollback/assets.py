"""Turn a Tekton asset tree into the objects Image Factory's installer would apply.

This is deliberately *not* kustomize: Image Factory's installer (``applyTektonAssetsToProvider``, see
``docs/imagefactory.md``) reads only the ``resources:`` list of ``kustomization.yaml`` as file paths relative to
the asset root, rewrites ``tasks/v1/`` and ``pipelines/v1/`` entries to the requested profile folder, and parses
each file as multi-document YAML in list order. gitrollback reproduces that so a rollback applies exactly the
object set the installer would have applied for the same tree. Pure functions: input is the file map read
from git objects, no file system access.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitrollback import _yaml
from gitrollback.errors import AssetError
from gitrollback.models import Manifest

__all__ = ["expand_assets", "resource_files"]

KUSTOMIZATION = "kustomization.yaml"
_PROFILE_FOLDERS = ("tasks/v1/", "pipelines/v1/")


def resource_files(files: Mapping[str, bytes], profile: str = "v1") -> list[str]:
    """The resource file paths the installer applies, in order, after the profile rewrite.

    Raises:
        AssetError: no ``kustomization.yaml``, a malformed one, or a listed file that does not exist (with the
            installer's own message for a missing profile file).
    """
    raw = files.get(KUSTOMIZATION)
    if raw is None:
        raise AssetError(
            f"{KUSTOMIZATION} not found at the asset root",
            path=KUSTOMIZATION,
            hint="check the asset path in the config (e.g. backend/tekton) and the revision",
        )
    try:
        doc = _yaml.load(raw)
    except _yaml.YamlSyntaxError as exc:
        raise AssetError(f"{KUSTOMIZATION} is not valid YAML: {exc}", path=KUSTOMIZATION) from exc
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


def _manifest(doc: Any, source: str, index: int) -> Manifest:
    if not isinstance(doc, dict):
        raise AssetError(f"{source}: document {index + 1} is not a mapping", path=source)
    raw_meta = doc.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    api_version, kind, name = doc.get("apiVersion"), doc.get("kind"), meta.get("name")
    missing = [k for k, v in (("apiVersion", api_version), ("kind", kind), ("metadata.name", name)) if not v]
    if missing:
        raise AssetError(f"{source}: document {index + 1} has no {', '.join(missing)}", path=source)
    namespace = meta.get("namespace")
    return Manifest(
        api_version=str(api_version),
        kind=str(kind),
        name=str(name),
        body=doc,
        source_file=source,
        namespace=str(namespace) if namespace else None,
    )


def expand_assets(files: Mapping[str, bytes], profile: str = "v1") -> list[Manifest]:
    """Every object the installer would apply for this tree and profile, in apply order."""
    manifests: list[Manifest] = []
    for path in resource_files(files, profile):
        try:
            docs = _yaml.load_all(files[path])
        except _yaml.YamlSyntaxError as exc:
            raise AssetError(f"{path} is not valid YAML: {exc}", path=path) from exc
        manifests.extend(_manifest(doc, path, i) for i, doc in enumerate(docs))
    return manifests
