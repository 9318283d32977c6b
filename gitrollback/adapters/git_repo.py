"""Read the Tekton asset history straight out of git: the ``AssetSource`` port on GitPython.

``GitAssetSource`` answers the questions the known-good search and the apply step ask (what does this
revision resolve to, which commits changed ``backend/tekton``, what tree does the path have, which files
are in it) from git objects only. It never checks anything out and never writes to a work tree: a local
path (work tree or bare repository) is opened in place and only read; a URL is cloned *bare* into a cache
directory (``<cache_dir>/<sha256(url)[:16]>.git``) on first use and fetched on later runs, so the user's
own working copy is never touched.

Git behaviour assumed (``git help git`` for ``GIT_TERMINAL_PROMPT``, ``git help config`` for ``GIT_CONFIG_COUNT``
and ``http.extraHeader``): git prompts for credentials unless
``GIT_TERMINAL_PROMPT=0``, so that is always set; a token in the URL would end up in ``.git/config``, so
credentials travel in the environment instead (``GIT_CONFIG_COUNT``/``http.extraHeader``), and a
``user:password@`` part of an http(s) URL is turned into such a header before git sees the URL. History
questions go to the git CLI in one call each (``git log --first-parent -- <paths>``) rather than walking
commits in Python; with ``--first-parent`` git compares a merge with its first parent only, so a change
that arrived through a merge is attributed to the merge commit, which is what a GitOps branch deploys.
Every GitPython/gitdb exception is translated into ``gitrollback.errors.GitError`` with credentials masked.

The known-good search's longer questions (a streamed first-parent walk with the paths' trees, tags with their
relation to a revision, ancestry, rename detection, shallow clones and ``deepen``) live in the ``HistoryQueries``
mixin (``_git_queries.py``, parsing in ``_git_history.py``), which reaches git only through this class, so this
stays the one read-side module that imports GitPython. ``depth=`` makes the cached clone of a URL shallow; the
search deepens it when it needs more history. A local repository is never fetched into.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import git
from git.exc import GitCommandError, GitCommandNotFound, InvalidGitRepositoryError, NoSuchPathError

from gitrollback.adapters._cache_lock import DEFAULT_TIMEOUT, CacheLock
from gitrollback.adapters._git_history import norm_path, pathspec
from gitrollback.adapters._git_queries import HistoryQueries
from gitrollback.adapters._git_remote import add_extra_header, is_url, strip_credentials
from gitrollback.errors import ConfigError, GitError
from gitrollback.models import RevisionInfo

__all__ = ["GitAssetSource"]

logger = logging.getLogger(__name__)

_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
# Fetch refspecs of the cached bare clone: branches are mirrored under their own names *and* as
# remote-tracking names, so both ``main`` and ``origin/main`` resolve; tags are force-updated and pruned.
_CACHE_REFSPECS = (
    "+refs/heads/*:refs/heads/*",
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
)
# A bare clone keeps no reflogs by default; with them, a branch tip that a force-push replaced stays on record, so a
# bad revision that vanished can be told apart as "force-pushed away" (``HistoryQueries.was_on_branch``).
_REFLOG = "core.logAllRefUpdates=true"
# The cached clone keeps a commit-graph with changed-path Bloom filters (``git help commit-graph``): the first-parent,
# path-limited walks then read commits from the graph and skip those that did not touch the path without diffing their
# trees. ``fetch.writeCommitGraph`` makes every fetch that brings new commits add a layer; git writes Bloom filters
# into a new layer when the existing ones have them.
_COMMIT_GRAPH = ("commit-graph", "write", "--reachable", "--changed-paths")
_FIELD, _RECORD = "\x1f", "\x00"
_LOG_FORMAT = _FIELD.join(("%H", "%s", "%cI", "%an", "%D"))
_SYMLINK_MODE = 0o120000


_norm_path = norm_path
_pathspec = pathspec


def _check_rev(rev: str) -> str:
    if not rev or rev.startswith("-") or any(c in rev for c in "\x00\n"):
        raise GitError(
            f"not a usable revision: {rev!r}",
            adapter="git",
            operation="resolve",
            hint="give a commit id, tag or branch name",
            kind="unknown_revision",
        )
    return rev


class GitAssetSource(HistoryQueries):
    """The ``AssetSource`` port over a local repository or a cached bare clone of a remote one.

    Args:
        location: a local path (work tree or bare repository, opened read-only in place) or a URL
            (``https://``, ``http://``, ``file://``, ``ssh://``, ``git@host:org/repo``) to clone bare.
        cache_dir: where bare clones of URLs live; required for a URL.
        env: extra environment for every git command, e.g. ``GIT_CONFIG_COUNT=1``,
            ``GIT_CONFIG_KEY_0=http.extraHeader``, ``GIT_CONFIG_VALUE_0="Authorization: Basic ..."``.
        depth: clone a URL shallow, this many commits deep (big repositories); ``deepen()`` fetches more
            when a history question reaches the shallow edge. Ignored for local paths.
        lock_timeout: how long a clone or fetch waits for another one of the same cached clone (another thread
            or process reading the same URL; ``gitrollback/adapters/_cache_lock.py``) before a ``GitError``.

    The constructor does no I/O; the repository is opened (and cloned or fetched) by ``open()`` or the
    first query. Use it as a context manager, or call ``close()``, to stop git's helper processes.

    Usage::

        with GitAssetSource("https://github.com/acme/imagefactory.git", cache_dir=cache) as source:
            tip = source.branch_tip("main")
            files = source.read_tree(tip, "backend/tekton")
    """

    def __init__(
        self,
        location: str,
        *,
        cache_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        depth: int | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._depth = depth if depth and depth > 0 else None
        self._lock_timeout = lock_timeout
        self._env: dict[str, str] = dict(env or {})
        self._env["GIT_TERMINAL_PROMPT"] = "0"
        self._secrets = tuple(
            v for k, v in self._env.items() if k.startswith("GIT_CONFIG_VALUE_") or "TOKEN" in k.upper()
        )
        self._remote = is_url(location)
        self._repo: git.Repo | None = None
        self._commits: set[str] = set()  # full commit ids already verified: an id names the same commit forever
        if self._remote:
            url, header = strip_credentials(location)
            if header is not None:
                add_extra_header(self._env, header)
                password = unquote(urlsplit(location).password or "")
                self._secrets = (*self._secrets, header.removeprefix("Authorization: Basic "), password)
            if cache_dir is None:
                raise ConfigError(
                    "a repository URL needs a cache directory for its bare clone",
                    key="cache_dir",
                    hint="pass cache_dir=, a folder gitrollback may write its clones to",
                )
            self.location = url
            self.path = Path(cache_dir) / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.git"
        else:
            self.location = location
            self.path = Path(location)

    # -- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the repository; for a URL clone it bare into the cache, or fetch when already cached."""
        if self._repo is not None:
            return
        if not self._remote:
            with self._translate("open", f"check that {self.path} is a git repository"):
                self._repo = git.Repo(self.path)
            self._repo.git.update_environment(**self._env)
            return
        with self._cache_lock():  # one clone or fetch of this cached clone at a time (threads and processes)
            if self.path.exists():
                with self._translate("open", f"remove the cache directory {self.path} and retry"):
                    self._repo = git.Repo(self.path)
                self._repo.git.update_environment(**self._env)
                try:
                    self._fetch()
                    self._keep_commit_graph(self._repo)
                except GitError:
                    self.close()  # never answer from a cache that could not be brought up to date
                    raise
                return
            self._repo = self._clone()

    def refresh(self) -> None:
        """Fetch branches and tags into the cached clone (a no-op for a local repository)."""
        if not self._remote:
            return
        self._open_repo()
        with self._cache_lock():
            self._fetch()

    def _fetch(self) -> None:
        """Fetch into the cached clone; the caller holds ``_cache_lock``."""
        repo = self._open_repo()
        logger.info("fetching %s into %s", self._mask(self.location), self.path)
        with self._translate("fetch", "check the URL, the network and the credentials"):
            repo.git(c=_REFLOG).fetch("--prune", "--quiet", "origin")

    def _cache_lock(self) -> CacheLock:
        """The lock of the cached clone (``gitrollback/adapters/_cache_lock.py``): held around every clone and
        fetch, so providers reading the same URL in parallel never write it at once."""
        return CacheLock(self.path, timeout=self._lock_timeout, what=self._mask(self.location))

    def close(self) -> None:
        """Stop git's persistent helper processes; the source can be reopened later."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def _clone(self) -> git.Repo:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The caller holds the cache lock, so no other clone of this URL is running: a staging directory left by
        # an interrupted one is stale. The new one's name is unique to this attempt all the same.
        for stale in self.path.parent.glob(f".{self.path.name}.*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.partial")
        logger.info("cloning %s (bare) into %s", self._mask(self.location), self.path)
        try:
            with self._translate("clone", "check the URL, the network and the credentials"):
                shallow: dict[str, Any] = {"depth": self._depth} if self._depth else {}
                repo = git.Repo.clone_from(self.location, staging, env=self._env, bare=True, quiet=True, **shallow)
                repo.git.update_environment(**self._env)
                repo.git.config("--unset-all", "remote.origin.fetch", with_exceptions=False)
                for spec in _CACHE_REFSPECS:
                    repo.git.config("--add", "remote.origin.fetch", spec)
                depth = [f"--depth={self._depth}"] if self._depth else []
                repo.git(c=_REFLOG).fetch("--prune", "--quiet", *depth, "origin")
                self._keep_commit_graph(repo)
                repo.close()
            # Rename last, so an interrupted clone never leaves a half-filled cache entry behind.
            try:
                staging.rename(self.path)
            except OSError:
                if not self.path.exists():
                    raise
                logger.debug("another process filled %s first; using its clone", self.path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        opened = git.Repo(self.path)
        opened.git.update_environment(**self._env)
        return opened

    def _keep_commit_graph(self, repo: git.Repo) -> None:
        """Give the cached clone a commit-graph with Bloom filters once (clones from before it had none), and let
        every later fetch extend it."""
        info = Path(repo.git_dir) / "objects" / "info"
        if (info / "commit-graph").exists() or (info / "commit-graphs").exists():
            return
        with self._translate("commit-graph", f"remove the cache directory {self.path} and retry"):
            repo.git.config("fetch.writeCommitGraph", "true")
            repo.git.execute(["git", *_COMMIT_GRAPH])

    def _open_repo(self) -> git.Repo:
        if self._repo is None:
            self.open()
        assert self._repo is not None
        return self._repo

    # -- errors ------------------------------------------------------------------------------------------

    def _mask(self, text: str) -> str:
        masked = _USERINFO_RE.sub(r"\g<scheme>*****@", text)
        for secret in self._secrets:
            if secret:
                masked = masked.replace(secret, "*****")
        return masked

    @contextlib.contextmanager
    def _translate(self, operation: str, hint: str) -> Iterator[None]:
        try:
            yield
        except GitError:
            raise
        except GitCommandNotFound as exc:
            raise GitError(
                "the git executable was not found", adapter="git", operation=operation, hint="install git"
            ) from exc
        except GitCommandError as exc:
            # GitPython renders stderr as "\n  stderr: '<text>'"; keep git's own fatal:/error: line.
            stderr = exc.stderr if isinstance(exc.stderr, str) else ""
            stderr = stderr.strip().removeprefix("stderr:").strip().strip("'")
            lines = [ln.strip() for ln in stderr.splitlines()]
            detail = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), "")
            detail = detail or next((ln for ln in lines if ln), f"exit status {exc.status}")
            if "could not read Username" in detail or "Authentication failed" in detail:
                hint = "the remote refused the credentials: check the token passed in the environment"
            raise GitError(
                self._mask(f"git {operation} failed: {detail}"), adapter="git", operation=operation, hint=hint
            ) from exc
        except (InvalidGitRepositoryError, NoSuchPathError) as exc:
            raise GitError(
                self._mask(f"not a git repository: {self.path}"),
                adapter="git",
                operation=operation,
                hint=hint,
                kind="not_a_repository",
            ) from exc
        except (git.exc.GitError, git.exc.ODBError, ValueError, OSError) as exc:
            raise GitError(
                self._mask(f"git {operation} failed: {exc}"), adapter="git", operation=operation, hint=hint
            ) from exc

    # -- queries -------------------------------------------------------------------------------------------

    def resolve(self, rev: str) -> str:
        """The full commit id of a commit, tag (annotated tags peeled) or branch name.

        Raises:
            GitError: the revision is unknown or does not name a commit.
        """
        if rev in self._commits:
            return rev
        repo = self._open_repo()
        hint = "check the spelling, or fetch if the revision is new"
        with self._translate("resolve", hint):
            try:
                out = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{_check_rev(rev)}^{{commit}}")
            except GitCommandError as exc:
                where = self._mask(self.location)
                message = f"unknown revision {rev!r} (or not a commit) in {where}"
                raise GitError(message, adapter="git", operation="resolve", hint=hint, kind="unknown_revision") from exc
        sha = str(out)
        if sha == rev:
            self._commits.add(sha)
        return sha

    def branch_tip(self, branch: str) -> str:
        """The commit a branch points at (a local branch, or a remote-tracking name like ``origin/main``)."""
        repo = self._open_repo()
        name = _check_rev(branch)
        candidates = [name] if name.startswith("refs/") else [f"refs/heads/{name}", f"refs/remotes/{name}"]
        for ref in candidates:
            with contextlib.suppress(GitCommandError):
                return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}"))
        raise GitError(
            f"no branch named {branch!r} in {self._mask(self.location)}",
            adapter="git",
            operation="branch_tip",
            hint="check the branch name in the config (and fetch if it is new)",
            kind="unknown_branch",
        )

    def describe(self, rev: str) -> RevisionInfo:
        """Subject, commit time, author and the tags pointing at ``rev``."""
        sha = self.resolve(rev)
        return self._log("describe", "-1", sha)[0]

    def tree_id(self, rev: str, path: str) -> str | None:
        """The object id of ``path`` at ``rev`` (a folder's tree id, a file's blob id), or None."""
        sha = self.resolve(rev)
        norm = _norm_path(path)
        repo = self._open_repo()
        with self._translate("tree_id", "check the revision"):
            tree = repo.commit(sha).tree
            if not norm:
                return str(tree.hexsha)
            try:
                return str((tree / norm).hexsha)
            except KeyError:
                return None

    def path_history(self, branch: str, paths: Sequence[str], *, limit: int = 200) -> list[RevisionInfo]:
        """First-parent commits of ``branch`` that changed any of ``paths``, newest first (one git log)."""
        tip = self.resolve(branch)
        specs = [_pathspec(p) for p in paths] or [":(top)"]
        return self._log("path_history", "--first-parent", f"--max-count={max(limit, 0)}", tip, "--", *specs)

    def is_on_first_parent(self, rev: str, branch: str, *, limit: int = 10_000) -> bool:
        """True when ``rev`` is on ``branch``'s first-parent chain (at most ``limit`` commits back)."""
        sha, tip = self.resolve(rev), self.resolve(branch)
        repo = self._open_repo()
        with self._translate("is_on_first_parent", "check the branch"):
            # Commits reachable from the tip by first parents but not from rev's parents: rev is among them
            # exactly when the first-parent walk passes through it. Stops at rev instead of the root.
            out = repo.git.rev_list("--first-parent", f"--max-count={limit}", tip, "--not", f"{sha}^@")
        return sha in str(out).split()

    def read_tree(self, rev: str, path: str) -> dict[str, bytes]:
        """Every file under ``path`` at ``rev`` keyed by its path relative to ``path``, from git objects.

        Submodules and symbolic links are skipped (neither can hold a manifest the installer reads).

        Raises:
            GitError: ``path`` does not exist at ``rev`` or is a file.
        """
        sha = self.resolve(rev)
        norm = _norm_path(path)
        repo = self._open_repo()
        hint = f"check the asset path {path!r} (e.g. backend/tekton) and the revision"
        with self._translate("read_tree", hint):
            tree: Any = repo.commit(sha).tree
            if norm:
                try:
                    tree = tree / norm
                except KeyError:
                    tree = None
            if tree is None or tree.type != "tree":
                what = "does not exist" if tree is None else "is not a folder"
                raise GitError(f"{norm} {what} at {sha[:12]}", adapter="git", operation="read_tree", hint=hint)
            files: dict[str, bytes] = {}
            for item in tree.traverse():
                if item.type != "blob" or item.mode == _SYMLINK_MODE:
                    continue
                relative = item.path[len(norm) + 1 :] if norm else item.path
                files[relative] = item.data_stream.read()
        logger.debug("read %s files under %s at %s", len(files), norm or "/", sha[:12])
        return files

    def _log(self, operation: str, *args: str) -> list[RevisionInfo]:
        repo = self._open_repo()
        with self._translate(operation, "check the branch and the revision"):
            out = repo.git.log(
                "--no-show-signature",
                "--no-color",
                "-z",
                f"--format={_LOG_FORMAT}",
                "--decorate-refs=refs/tags/",
                "--decorate-refs-exclude=refs/tags/gitrollback/",  # verified-good markers are not release tags
                *args,
            )
        infos = []
        for record in str(out).split(_RECORD):
            if not record.strip():
                continue
            sha, subject, when, author, refs = (record.lstrip("\n").split(_FIELD) + [""] * 5)[:5]
            tags = sorted(r.strip().removeprefix("tag: ") for r in refs.split(",") if r.strip().startswith("tag: "))
            infos.append(
                RevisionInfo(
                    sha=sha,
                    summary=subject,
                    committed_at=datetime.fromisoformat(when),
                    author=author,
                    tags=tuple(tags),
                )
            )
        return infos
