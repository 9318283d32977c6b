"""The Argo CD simulator's repo-server: resolve revisions and render manifests from a real git repository.

Argo CD's repo-server resolves an application's ``targetRevision`` (branch, tag or commit) to a commit SHA and
renders the manifests under ``spec.source.path`` at that commit (``gitops-apis.md`` §1.2-§1.3). Here the
repository is a local path (bare or not) read with the ``git`` CLI through ``subprocess``, as everything in
``gitrollback.testing`` sticks to the standard library; one ``git archive`` per rendered commit keeps it fast.

Rendering: the asset path holds a ``kustomization.yaml``. Real Argo CD runs ``kustomize build`` on it; for the
Image Factory tree (a plain ``resources:`` list of files, no patches or generators) that yields the same
objects as ``gitrollback.assets.expand_assets``, which is what is used here. Renders are cached by the git
tree id of the path, process-wide: tree ids are content addresses, so the cache can never be stale, and
parsing the YAML (~0.4 s for the Image Factory tree) then happens once per distinct tree, not per commit.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import ClassVar

from gitrollback.assets import expand_assets
from gitrollback.models import Manifest

__all__ = ["GitReader", "RepoError"]


class RepoError(Exception):
    """git could not resolve a revision or read a tree (the repo-server's error text)."""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    return env


class GitReader:
    """Read-only access to one local git repository, with a content-addressed render cache."""

    _cache_lock: ClassVar[threading.Lock] = threading.Lock()
    _renders: ClassVar[dict[str, list[Manifest]]] = {}  # tree id -> manifests; content-addressed, so safe to share

    def __init__(self, repo_path: Path) -> None:
        self.repo_path = Path(repo_path)

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

    def render(self, sha: str, path: str) -> list[Manifest]:
        """The objects ``kustomize build <path>`` yields at ``sha`` (see the module docstring)."""
        rel = path.strip("/")
        try:
            tree = self._git("rev-parse", "--verify", "--quiet", f"{sha}:{rel}").decode().strip()
        except RepoError as exc:
            raise RepoError(f"{path}: app path does not exist at {sha[:12]}") from exc
        with self._cache_lock:
            cached = self._renders.get(tree)
        if cached is not None:
            return list(cached)
        archive = self._git("archive", "--format=tar", tree)
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    files[member.name] = handle.read()
        manifests = expand_assets(files)
        with self._cache_lock:
            self._renders[tree] = manifests
        return list(manifests)
