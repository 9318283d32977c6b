"""The history questions of ``GitAssetSource``: streamed path history, first-parent walks, tags, shallow clones.

The known-good search asks a handful of questions of a repository whose branch may hold tens of thousands of
commits. Each question is ONE git process whose stdout is read as a stream and parsed commit by commit
(``_git_history``), so memory stays flat in history length and a walk that finds its answer early stops the
process instead of reading the rest; nothing spawns a process per commit.

This is a mixin so that ``git_repo.py`` stays the one read-side module that imports GitPython: the methods here
reach git only through ``self._open_repo()`` (a ``git.Repo``) and translate errors with ``self._translate``.
Git behaviour assumed (``git help fetch``, ``git help gitrepository-layout``): ``git fetch --deepen``/``--unshallow``
work over every transport the cached clone was made with, a shallow repository lists its edge commits in
``$GIT_DIR/shallow``, and a reflog line (``logs/<ref>``) holds the old and the new tip of one ref update.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
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
ZERO_COMMIT = "0" * 40  # what ``git patch-id`` prints for a patch without a commit header


class HistoryQueries:
    """Streamed history questions, mixed into ``GitAssetSource`` (which provides the members declared here)."""

    _remote: bool
    location: str

    def _open_repo(self) -> Any:  # pragma: no cover - provided by GitAssetSource
        raise NotImplementedError

    def _translate(self, operation: str, hint: str) -> contextlib.AbstractContextManager[None]:  # pragma: no cover
        raise NotImplementedError

    def _cache_lock(self) -> contextlib.AbstractContextManager[object]:  # pragma: no cover - GitAssetSource's
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

    def landed_by(self, rev: str, branch: str) -> str | None:
        """The first-parent commit of ``branch`` that brought ``rev`` into its history: ``rev`` itself when it is on
        the first-parent chain, the merge that landed it when it came in on a side branch, None when ``branch``'s
        history does not contain it at all.

        Two ``rev-list`` calls: the first-parent chain down to where ``rev``'s history starts, and every commit that
        descends from ``rev`` (``--ancestry-path``; git cannot combine it with ``--first-parent``). The landing
        commit is the oldest chain commit that descends from ``rev``.
        """
        sha, tip = self.resolve(rev), self.resolve(branch)
        if sha == tip:
            return sha
        if not self.is_ancestor(sha, tip):
            return None
        repo = self._open_repo()
        with self._translate("landed_by", "check the branch and the revision"):
            chain = [
                line.split()
                for line in str(repo.git.rev_list("--first-parent", "--parents", f"{sha}..{tip}")).splitlines()
            ]
            descendants = set(str(repo.git.rev_list("--ancestry-path", f"{sha}..{tip}")).split())
        landing: list[str] | None = None
        for entry in chain:  # newest first; every chain commit from the tip down to the landing one descends from rev
            if entry[0] not in descendants:
                break
            landing = entry
        if landing is None:  # pragma: no cover - rev is an ancestor of tip, so the tip itself descends from it
            return None
        return sha if landing[1:2] == [sha] else landing[0]

    def was_on_branch(self, rev: str, branch: str) -> bool:
        """True when ``branch``'s reflog shows ``rev`` in the history of an earlier tip (a force-push or reset
        removed it since). A repository without reflogs (a fresh clone, expired entries) answers False.

        The reflog files (``logs/refs/heads/<branch>``, ``logs/refs/remotes/origin/<branch>``) are read directly,
        because each line holds the old *and* the new tip, and the old one is what a force-push replaced;
        ``git log --walk-reflogs`` shows only the new ones.
        """
        sha = self.resolve(rev)
        repo = self._open_repo()
        old: dict[str, None] = {}
        for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}", f"refs/remotes/{branch}"):
            try:
                lines = (Path(repo.git_dir) / "logs" / ref).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines[-1000:]:
                for tip in line.split(" ", 2)[:2]:
                    if len(tip) >= 40 and tip.strip("0"):
                        old[tip] = None
        if not old:
            return False
        with self._translate("was_on_branch", "check the branch"):
            parents = str(repo.git.rev_list("--parents", "-n", "1", sha)).split()[1:]
            # Old tips may be gone (pruned after the force-push): keep the ones that are still commits.
            checked = self._with_stdin(["cat-file", "--batch-check=%(objectname) %(objecttype)"], "\n".join(old))
            tips = [line.split()[0] for line in checked.splitlines() if line.endswith(" commit")]
            if not tips:
                return False
            # Commits reachable from an old tip but not from rev's parents: rev is among them exactly when an old
            # tip contains it; the walk stops at rev's parents instead of reading the whole history.
            reachable = str(repo.git.rev_list(*tips, "--not", *parents, "--")).split()
        return sha in reachable

    def carried_as(self, rev: str, branch: str, paths: Sequence[str]) -> str | None:
        """A first-parent commit of ``branch``, newer than where ``rev``'s history forks from it, that carries
        ``rev``'s change to ``paths`` as a different commit (a squash merge, a rebase or a cherry-pick), or None.

        "Carries" means: right after that commit the paths hold exactly ``rev``'s trees (a squash of the branch
        ``rev`` is the tip of), or its change to the paths has the same ``git patch-id`` as ``rev``'s (a rebased or
        cherry-picked ``rev``). Only asked for a revision that is not in ``branch``'s history.
        """
        sha, tip = self.resolve(rev), self.resolve(branch)
        repo = self._open_repo()
        norms = [norm_path(p) for p in paths]
        specs = [pathspec(p) for p in norms]
        with self._translate("carried_as", "check the branch and the revision"):
            status, fork, _ = repo.git.merge_base(sha, tip, with_extended_output=True, with_exceptions=False)
            if status != 0 or not str(fork).strip():
                return None
            fork = str(fork).strip()
            mine = {p: self.tree_id(sha, p) for p in norms}
            changed = str(repo.git.rev_list("--first-parent", f"{fork}..{tip}", "--", *specs)).split()
            if mine != {p: self.tree_id(fork, p) for p in norms}:
                for commit in reversed(changed):  # oldest first: the commit that landed it, not a later re-landing
                    if {p: self.tree_id(commit, p) for p in norms} == mine:
                        return commit
            parents = str(repo.git.rev_list("--parents", "-n", "1", sha)).split()[1:]
            if not parents or not changed:
                return None
            own = self._patch_ids(repo.git.diff_tree("-p", "--no-color", parents[0], sha, "--", *specs))
            if not own:
                return None
            theirs = self._patch_ids(
                repo.git.log(
                    "--first-parent",
                    "--diff-merges=first-parent",
                    "-p",
                    "--no-color",
                    "--format=commit %H",
                    f"{fork}..{tip}",
                    "--",
                    *specs,
                )
            )
        wanted = next(iter(own.values()))  # a bare diff has no commit header, so it is listed under ZERO_COMMIT
        return next((commit for commit in reversed(list(theirs)) if theirs[commit] == wanted), None)

    def _with_stdin(self, args: Sequence[str], data: str) -> str:
        """stdout of one git command fed ``data`` on stdin."""
        repo = self._open_repo()
        with tempfile.TemporaryFile() as stdin:
            stdin.write(data.encode("utf-8", errors="surrogateescape") + b"\n")
            stdin.seek(0)
            return str(repo.git.execute(["git", *args], istream=stdin))

    def _patch_ids(self, patches: str) -> dict[str, str]:
        """``{commit: patch id}`` of ``git patch-id --stable`` over ``patches``, in input order."""
        if not patches.strip():
            return {}
        ids: dict[str, str] = {}
        for line in self._with_stdin(["patch-id", "--stable"], patches).splitlines():
            patch_id, _, commit = line.partition(" ")
            ids[commit or ZERO_COMMIT] = patch_id
        return ids

    def trailers(self, rev: str) -> dict[str, tuple[str, ...]]:
        """gitrollback's rollback trailers of one commit (``Rollback-Of``, ``Rollback-To``, ``Provider``,
        ``Failed-Job``), read as the history walk reads them."""
        sha = self.resolve(rev)
        repo = self._open_repo()
        with self._translate("trailers", "check the revision"):
            out = repo.git.log("-1", "--no-walk", "-z", f"--format={PATH_LOG_FORMAT}", sha, stdout_as_string=False)
        raw = next(parse_path_log(split_nul([bytes(out)]), []), None)
        return dict(raw.trailers) if raw is not None else {}

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
        with self._cache_lock(), self._translate("deepen", "check the URL, the network and the credentials"):
            if self.is_shallow():
                repo.git.fetch("--quiet", how, "origin")
