"""The history questions of ``GitAssetSource``: streamed path history, first-parent walks, tags, shallow clones.

The known-good search asks a handful of questions of a repository whose branch may hold tens of thousands of
commits. Each question is ONE git process whose stdout is read as a stream and parsed commit by commit
(``_git_history``), so memory stays flat in history length and a walk that finds its answer early stops the
process instead of reading the rest; nothing spawns a process per commit.

This is a mixin so that ``git_repo.py`` stays the one read-side module that imports GitPython: the methods here
reach git only through ``self._open_repo()`` (a ``git.Repo``) and translate errors with ``self._translate``.
Remote behaviour assumed (``docs/test-infra.md`` §1): ``git fetch --deepen``/``--unshallow`` work over every
transport the cached clone was made with, and a shallow repository lists its edge commits in ``$GIT_DIR/shallow``.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from gitrollback.adapters._git_history import (
    FIRST_PARENT_FORMAT,
    PATH_LOG_FORMAT,
    TAG_FORMAT,
    build_path_commits,
    norm_path,
    parse_first_parent,
    parse_path_log,
    parse_tags,
    pathspec,
    split_nul,
)
from gitrollback.errors import GitError
from gitrollback.models import PathCommit, RevisionInfo, TagRef

__all__ = ["HistoryQueries"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
# Options that make a user's config irrelevant to the walk: no --follow on a single path, no signature checks.
_LOG_CONFIG = ["log.follow=false", "log.showSignature=false", "core.quotePath=false"]
_DECORATE = ("--decorate-refs=refs/tags/", "--decorate-refs-exclude=refs/tags/gitrollback/")


class HistoryQueries:
    """Streamed history questions, mixed into ``GitAssetSource`` (which provides the members declared here)."""

    _remote: bool
    location: str

    def _open_repo(self) -> Any:  # pragma: no cover - provided by GitAssetSource
        raise NotImplementedError

    def _translate(self, operation: str, hint: str) -> contextlib.AbstractContextManager[None]:  # pragma: no cover
        raise NotImplementedError

    def resolve(self, rev: str) -> str:  # pragma: no cover - provided by GitAssetSource
        raise NotImplementedError

    def tree_id(self, rev: str, path: str) -> str | None:  # pragma: no cover - provided by GitAssetSource
        raise NotImplementedError

    # -- streaming -----------------------------------------------------------------------------------------

    def _stream(self, operation: str, command: str, *args: str) -> Generator[bytes, None, None]:
        """stdout of one git command in chunks; the process is killed if the reader stops early."""
        hint = "check the branch, the revision and the asset paths"
        repo = self._open_repo()
        with self._translate(operation, hint):
            handle = getattr(repo.git(c=_LOG_CONFIG), command)(*args, as_process=True)
        proc = handle.proc
        finished = False
        try:
            while chunk := proc.stdout.read1(_CHUNK):
                yield chunk
            finished = True
            with self._translate(operation, hint):
                handle.wait()
        finally:
            if not finished and proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()

    def walk_path_history(
        self, rev: str, paths: Sequence[str], *, max_count: int | None = None
    ) -> Generator[PathCommit, None, None]:
        """First-parent commits from ``rev`` back that changed any of ``paths``, newest first, with the paths'
        trees before and after each one: one streamed ``git log --raw -t``, stopped when the caller stops.

        Close the generator (or exhaust it) to end the git process; ``contextlib.closing`` does both.
        """
        sha = self.resolve(rev)
        norms = {norm_path(p): p for p in paths}
        start = {norm: self.tree_id(sha, norm) for norm in norms}
        shallow = self.shallow_commits()
        args = [
            "--first-parent",
            "--raw",
            "-t",
            "--no-renames",
            "--no-abbrev",
            "--no-color",
            "-z",
            f"--format={PATH_LOG_FORMAT}",
            *_DECORATE,
        ]
        if max_count is not None:
            args.append(f"--max-count={max(max_count, 0)}")
        args += [sha, "--", *(pathspec(p) for p in norms)]
        tokens = split_nul(self._stream("walk_path_history", "log", *args))
        commits = build_path_commits(
            parse_path_log(tokens, list(norms)),
            list(norms),
            start,
            shallow=shallow,
            parent_root=lambda parent: self.tree_id(parent, ""),
        )
        with contextlib.closing(commits):
            for commit in commits:
                yield PathCommit(
                    info=commit.info,
                    parents=commit.parents,
                    before={norms[k]: v for k, v in commit.before.items()},
                    after={norms[k]: v for k, v in commit.after.items()},
                    trailers=commit.trailers,
                    reverts=commit.reverts,
                    boundary=commit.boundary,
                )

    def walk_first_parent(self, rev: str) -> Generator[RevisionInfo, None, None]:
        """Every first-parent commit from ``rev`` back, newest first (one streamed ``git log``)."""
        sha = self.resolve(rev)
        args = ["--first-parent", "--no-color", "-z", f"--format={FIRST_PARENT_FORMAT}", *_DECORATE, sha]
        stream = self._stream("walk_first_parent", "log", *args)
        with contextlib.closing(stream):
            yield from parse_first_parent(split_nul(stream))

    # -- tags, ancestry, renames ---------------------------------------------------------------------------

    def list_tags(self, pattern: str, *, relative_to: str | None = None) -> list[TagRef]:
        """Tags under ``refs/tags/`` matching a glob (``v*``) or a folder prefix (``gitrollback/verified/p1``).

        With ``relative_to``, each tag's ``relation`` says whether its commit is that revision, in its history
        (``ancestor``), newer than it (``descendant``) or neither (``unrelated``): three ``for-each-ref`` calls.
        """
        ref = "refs/tags/" + pattern.strip().strip("/")
        repo = self._open_repo()
        with self._translate("list_tags", "check the tag pattern"):
            out = repo.git.for_each_ref(f"--format={TAG_FORMAT}", ref, stdout_as_string=False)
            merged: set[str] = set()
            contains: set[str] = set()
            target = None
            if relative_to is not None and out:
                target = self.resolve(relative_to)
                merged = set(repo.git.for_each_ref("--format=%(refname)", f"--merged={target}", ref).split())
                contains = set(repo.git.for_each_ref("--format=%(refname)", f"--contains={target}", ref).split())

        def relation(refname: str) -> str | None:
            if target is None:
                return None
            if refname in merged and refname in contains:
                return "same"
            if refname in merged:
                return "ancestor"
            return "descendant" if refname in contains else "unrelated"

        return parse_tags(bytes(out), relation)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when ``ancestor`` is in the history of ``descendant`` (or is it)."""
        first, second = self.resolve(ancestor), self.resolve(descendant)
        repo = self._open_repo()
        with self._translate("is_ancestor", "check the revisions"):
            status, _, _ = repo.git.merge_base(
                "--is-ancestor", first, second, with_extended_output=True, with_exceptions=False
            )
        if status not in (0, 1):
            raise GitError(
                f"git merge-base failed for {first[:12]} and {second[:12]} (exit {status})",
                adapter="git",
                operation="is_ancestor",
                hint="check the repository",
            )
        return bool(status == 0)

    def moved_from(self, commit: str, path: str) -> str | None:
        """Where ``commit`` moved ``path`` from (git's rename detection against its first parent), or None."""
        sha = self.resolve(commit)
        norm = norm_path(path)
        repo = self._open_repo()
        with self._translate("moved_from", "check the revision"):
            if not repo.git.rev_list("--parents", "-n", "1", sha).split()[1:]:
                return None
            out = repo.git.diff_tree("-r", "-M", "--name-status", "-z", "--no-commit-id", f"{sha}^1", sha)
        tokens = out.split("\0")
        origins: Counter[str] = Counter()
        index = 0
        while index < len(tokens):
            status = tokens[index]
            if status.startswith(("R", "C")) and index + 2 < len(tokens):
                old, new = tokens[index + 1], tokens[index + 2]
                index += 3
                if status.startswith("R") and new == norm:
                    origins[old] += 1
                elif status.startswith("R") and new.startswith(norm + "/"):
                    rel = new[len(norm) :]
                    if old.endswith(rel):
                        origins[old[: -len(rel)]] += 1
            else:
                index += 2
        return origins.most_common(1)[0][0] if origins else None

    # -- shallow clones ------------------------------------------------------------------------------------

    def shallow_commits(self) -> frozenset[str]:
        """The edge commits of a shallow clone (empty for a complete one)."""
        repo = self._open_repo()
        shallow = Path(repo.git_dir) / "shallow"
        try:
            return frozenset(shallow.read_text(encoding="ascii").split())
        except FileNotFoundError:
            return frozenset()
        except OSError as exc:
            raise GitError(
                f"cannot read {shallow}: {exc.strerror or exc}", adapter="git", operation="shallow", hint="check it"
            ) from exc

    def is_shallow(self) -> bool:
        """True for a shallow clone."""
        return bool(self.shallow_commits())

    def can_deepen(self) -> bool:
        """True when the repository is a clone gitrollback manages (a cached clone of a URL) and may be fetched."""
        return self._remote

    def deepen(self, commits: int | None = None) -> None:
        """Fetch ``commits`` more commits of history into the cached clone, or all of it (``None``).

        Raises:
            GitError: not a managed clone (a local repository is never fetched into), or the fetch failed.
        """
        if not self._remote:
            raise GitError(
                f"{self.location} is a local repository; gitrollback does not fetch into it",
                adapter="git",
                operation="deepen",
                hint="run `git fetch --unshallow` in it, or pass the repository URL instead",
            )
        repo = self._open_repo()
        how = "--unshallow" if commits is None else f"--deepen={max(commits, 1)}"
        logger.info("deepening the cached clone %s (%s)", repo.git_dir, how)
        with self._translate("deepen", "check the URL, the network and the credentials"):
            if self.is_shallow():
                repo.git.fetch("--quiet", how, "origin")
