"""Write and push the rollback commit: the ``RollbackWorkspace`` port on GitPython.

``GitWorkspace`` keeps its own bare clone of the GitOps repository under ``<cache_dir>/workspaces/<sha256(url)[:16]>``
(reused and fetched on later runs; never the user's working copy). Nothing is ever checked out: the rollback commit
is built from git objects in a throw-away index (``GIT_INDEX_FILE``), so a rollback costs the same whatever the size
of the work tree, and a refusal leaves nothing behind. Remotes given as URLs are cloned ``--filter=blob:none``: the
``restore`` strategy only moves tree ids around and never needs a blob. ``restore`` makes each asset path's tree
exactly the known-good tree; ``revert`` undoes, newest first, every first-parent commit since the known-good one that
touched the paths (a merge against its first parent, as ``git revert -m 1``), and refuses when one of them also
touched other files or would not apply.

Git behaviour assumed (``git help config``, ``git help push``): a token must never reach ``.git/config``, so credentials
travel only in the environment (``GIT_CONFIG_COUNT``/``http.extraHeader``; a ``user:token@`` URL is turned into that
header) and ``GIT_TERMINAL_PROMPT=0`` turns a missing credential into an immediate failure; GitPython does not raise on
a rejected push, so the porcelain status of every push is checked (``!`` = rejected). A non-fast-forward push onto the
tracked branch is answered by refetching and rebuilding the commit on the new tip, a bounded number of times; the
tracked branch is never force-pushed (the rollback branch is replaced only with ``--force-with-lease``). Every git
failure becomes a ``gitrollback.errors`` class with credentials masked.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import git
from git.exc import GitCommandError, GitCommandNotFound

from gitrollback.adapters._cache_lock import DEFAULT_TIMEOUT, CacheLock
from gitrollback.adapters._git_commit_message import MessageInput, build_message
from gitrollback.adapters._git_history import norm_path
from gitrollback.adapters._git_remote import add_extra_header, is_url, strip_credentials
from gitrollback.adapters._git_rollback_plan import (
    USERINFO_RE,
    Change,
    Entry,
    RollbackPlan,
    index_info,
    make_plan,
    parse_ls_tree,
    parse_raw_log,
    reverse_apply,
)
from gitrollback.errors import (
    AuthenticationError,
    ConflictError,
    GitError,
    PermissionDeniedError,
    PreconditionFailedError,
)
from gitrollback.markers import format_marker, marker_tag
from gitrollback.models import AccessNeeds, AccessProblem, RollbackCommit

__all__ = ["GitWorkspace"]

logger = logging.getLogger(__name__)

Strategy = Literal["restore", "revert"]
_PARTIAL_RE = re.compile(r"^(https?|ssh)://|^[\w.-]+@[\w.-]+:")
_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}  # asset paths are names, never globs


def _present(trees: Mapping[str, str | None]) -> dict[str, str]:
    return {path: tree for path, tree in trees.items() if tree is not None}


class GitWorkspace:
    """A private bare clone of the GitOps repository where rollback commits are made and pushed from.

    Args:
        remote: the repository, as a local path or a URL (``https://``, ``ssh://``, ``file://``, ``git@host:x``).
        cache_dir: gitrollback's cache folder; the clone lives in ``cache_dir/workspaces/``.
        branch: the tracked branch the GitOps controller deploys (e.g. ``main``).
        env: extra environment for every git command, e.g. ``GIT_CONFIG_COUNT=1``,
            ``GIT_CONFIG_KEY_0=http.extraHeader``, ``GIT_CONFIG_VALUE_0="Authorization: Basic ..."``: the only way a
            token reaches git.
        author: ``(name, email)`` of the rollback commit's author.
        committer: ``(name, email)`` of its committer (and of marker tags); the author when None.
        push_attempts: how often a non-fast-forward push onto the tracked branch is rebuilt and retried.
        lock_timeout: how long creating or fetching the workspace waits for another thread or process doing the
            same (``gitrollback/adapters/_cache_lock.py``) before a ``GitError``.

    Usage::

        with GitWorkspace(url, cache_dir=cache, branch="main", env=auth_env) as ws:
            commit = ws.prepare(provider_id="p-1", bad=bad, good=good, paths=["backend/tekton"])
            ws.push(commit)  # the branch gitrollback/p-1/<bad>-to-<good>, ready for a pull request
    """

    def __init__(
        self,
        remote: str,
        *,
        cache_dir: Path,
        branch: str,
        env: Mapping[str, str] | None = None,
        author: tuple[str, str] = ("gitrollback", "gitrollback@localhost"),
        committer: tuple[str, str] | None = None,
        push_attempts: int = 3,
        lock_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._lock_timeout = lock_timeout
        self._env: dict[str, str] = {**(env or {}), "GIT_TERMINAL_PROMPT": "0"}
        secrets = [v for k, v in self._env.items() if k.startswith("GIT_CONFIG_VALUE_") or "TOKEN" in k.upper()]
        url, header = strip_credentials(remote)
        if header is not None:
            add_extra_header(self._env, header)
            secrets.append(header)
        # A header's credential part and a Basic header's decoded password are masked too, wherever they turn up.
        for value in list(secrets):
            scheme, _, credential = value.partition(":")[2].strip().partition(" ")
            if credential:
                secrets.append(credential)
            if scheme.lower() == "basic":
                with contextlib.suppress(ValueError):
                    secrets.append(base64.b64decode(credential).decode("utf-8").partition(":")[2])
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))
        self.remote = url if is_url(remote) else os.path.abspath(remote)  # noqa: PTH100 - no I/O in a constructor
        self.branch = branch
        self.path = Path(cache_dir) / "workspaces" / hashlib.sha256(self.remote.encode()).hexdigest()[:16]
        self._author = author
        self._committer = committer or author
        self._push_attempts = max(1, push_attempts)
        self._repo: git.Repo | None = None
        self._plans: dict[str, RollbackPlan] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the cached clone, creating it (and fetching the remote into it) on first use."""
        if self._repo is not None:
            return
        if not self.path.exists():
            with self._cache_lock():  # one creation of this workspace at a time (threads and processes)
                if not self.path.exists():
                    self._create()
        with self._translate("open", f"remove {self.path} and retry"):
            self._repo = git.Repo(self.path)
        self._repo.git.update_environment(**self._env)

    def close(self) -> None:
        """Stop git's helper processes; the workspace reopens lazily."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The caller holds the cache lock, so no other clone of this URL is running: a staging directory left by
        # an interrupted one is stale. The new one's name is unique to this attempt all the same.
        for stale in self.path.parent.glob(f".{self.path.name}.*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.partial")
        logger.info("creating workspace %s for %s", self.path, self._mask(self.remote))
        try:
            with self._translate("clone", "check the URL, the network and the credentials"):
                repo = git.Repo.init(staging, bare=True)
                repo.git.update_environment(**self._env)
                repo.git.config("remote.origin.url", self.remote)
                for spec in _REFSPECS:
                    repo.git.config("--add", "remote.origin.fetch", spec)
                if _PARTIAL_RE.match(self.remote):
                    repo.git.config("remote.origin.promisor", "true")
                    repo.git.config("remote.origin.partialclonefilter", "blob:none")
                repo.git.fetch("--quiet", "origin")
                repo.close()
            # Rename last, so an interrupted clone never leaves a half-filled workspace behind.
            with contextlib.suppress(OSError):
                staging.rename(self.path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _git(self) -> Any:
        self.open()
        assert self._repo is not None
        return self._repo.git

    def _fetch(self) -> None:
        git_ = self._git()
        with self._cache_lock(), self._translate("fetch", "check the URL, the network and the credentials"):
            git_.fetch("--prune", "--quiet", "origin")

    def _cache_lock(self) -> CacheLock:
        """The workspace's lock (``gitrollback/adapters/_cache_lock.py``), held around its creation and every fetch:
        providers of one GitOps repository share the workspace, and a fleet runs them in parallel threads."""
        return CacheLock(self.path, timeout=self._lock_timeout, what=self._mask(self.remote))

    # -- small queries ----------------------------------------------------------------------------------------

    def _rev(self, ref: str) -> str | None:
        status, out, _ = self._git().rev_parse(
            "--verify", "--quiet", f"{ref}^{{commit}}", with_extended_output=True, with_exceptions=False
        )
        return str(out).strip() if status == 0 else None

    def _resolve(self, rev: str) -> str:
        if not rev or rev.startswith("-") or any(c in rev for c in "\x00\n"):
            raise GitError(
                f"not a usable revision: {rev!r}",
                adapter="git",
                operation="resolve",
                hint="give a commit",
                kind="unknown_revision",
            )
        for ref in (rev, f"refs/remotes/origin/{rev}"):
            if sha := self._rev(ref):
                return sha
        raise GitError(
            f"unknown revision {rev!r} in {self._mask(self.remote)}",
            adapter="git",
            operation="resolve",
            hint="check the revision; it must be in the remote repository",
            kind="unknown_revision",
        )

    def _remote_tip(self) -> str:
        sha = self._rev(f"refs/remotes/origin/{self.branch}")
        if sha is None:
            raise GitError(
                f"no branch {self.branch!r} in {self._mask(self.remote)}",
                adapter="git",
                operation="tip",
                hint="check the tracked branch name in the config",
                kind="unknown_branch",
            )
        return sha

    def tip(self) -> str:
        """The tracked branch's tip on the remote, after a fetch."""
        self._fetch()
        return self._remote_tip()

    def _run_input(self, operation: str, args: Sequence[str], data: bytes, env: Mapping[str, str] | None = None) -> str:
        with tempfile.TemporaryFile() as stdin, self._translate(operation, "check the repository"):
            stdin.write(data)
            stdin.seek(0)
            return str(self._git().execute(["git", *args], istream=stdin, env=dict(env or {})))

    def _trees(self, treeish: str, paths: Sequence[str]) -> dict[str, str | None]:
        """The object id of each path at a commit or tree (None when absent), in one ``cat-file`` call."""
        query = "".join(f"{treeish}:{p}\n" if p else f"{treeish}^{{tree}}\n" for p in paths).encode()
        out = self._run_input("tree_id", ["cat-file", "--batch-check=%(objectname)"], query).splitlines()
        return {p: (None if line.endswith(" missing") else line.strip()) for p, line in zip(paths, out, strict=True)}

    def _is_ancestor(self, sha: str, tip: str) -> bool:
        status, _, _ = self._git().merge_base(
            "--is-ancestor", sha, tip, with_extended_output=True, with_exceptions=False
        )
        return bool(status == 0)

    def _subject(self, sha: str) -> str:
        return str(self._git().log("-1", "--format=%s", sha))

    # -- prepare ----------------------------------------------------------------------------------------------

    def prepare(
        self,
        *,
        provider_id: str,
        bad: str,
        good: str,
        paths: Sequence[str],
        strategy: Strategy = "restore",
        failed_job: str | None = None,
        context: str = "",
        trailers: Mapping[str, str] = {},  # read-only; the port's signature
        base: str | None = None,
    ) -> RollbackCommit:
        """Make (or find from an earlier run) the commit that puts ``paths`` back to ``good``.

        The commit goes on ``gitrollback/<provider>/<bad[:7]>-to-<good[:7]>``, made on ``base`` when given (any
        commit of the repository, e.g. one a library user already checked) and otherwise on the tracked branch's
        fetched tip. A base that already has the good trees gives ``already_rolled_back=True`` and nothing is
        created. A commit from an earlier run on that branch is reused (``created=False``) only when it matches the
        request exactly: the same ``Rollback-Of``/``Rollback-To``/``Provider``/``Rollback-Strategy`` trailers, the
        good trees at the paths, and the same tree as this request makes on that commit's parent (which must be
        ``base`` itself when one is given). The result carries the paths' tree ids (``trees``) and the commit's
        root tree id (``root_tree``).

        Raises:
            ConfigError: no paths, an unusable provider id or extra trailer.
            PreconditionFailedError: a path missing at ``good`` (``path_missing_at_good``); for ``revert``,
                ``good`` not in the base's history (``good_not_in_history``), a commit that also touched other files
                (``outside_paths``) or does not apply (``revert_conflict``); nothing is left behind.
            GitError, AuthenticationError: git or the remote failed; an unknown revision (``unknown_revision``).
        """
        plan = make_plan(
            provider_id=provider_id,
            bad=bad,
            good=good,
            paths=[norm_path(p) for p in paths],
            strategy=strategy,
            failed_job=failed_job,
            context=context,
            trailers=trailers,
        )
        self._fetch()
        plan = dataclasses.replace(plan, bad=self._resolve(plan.bad), good=self._resolve(plan.good))
        good_trees = self._trees(plan.good, plan.paths)
        if missing := [p for p, tree in good_trees.items() if tree is None]:
            raise PreconditionFailedError(
                f"{', '.join(missing)} does not exist at {plan.good[:12]}",
                step="prepare",
                hint="check the asset paths and the known-good revision",
                kind="path_missing_at_good",
            )
        start = self._resolve(base) if base is not None else self._remote_tip()
        return self._prepare_on(plan, start, good_trees, exact_base=base is not None)

    def _prepare_on(
        self,
        plan: RollbackPlan,
        base: str,
        good_trees: Mapping[str, str | None],
        *,
        reuse: bool = True,
        exact_base: bool = False,
    ) -> RollbackCommit:
        result = RollbackCommit(
            sha=base,
            branch=plan.branch,
            base=base,
            bad_revision=plan.bad,
            good_revision=plan.good,
            strategy=plan.strategy,
            trees=_present(good_trees),
        )
        if self._trees(base, plan.paths) == good_trees:
            logger.info("%s already has the good trees of %s", base[:12], ", ".join(plan.paths))
            root = self._trees(base, [""])[""] or ""
            return dataclasses.replace(result, created=False, already_rolled_back=True, root_tree=root)
        if reuse and (existing := self._find_existing(plan, base, good_trees, exact_base=exact_base)):
            self._plans[existing.sha] = plan
            self._set_ref(f"refs/heads/{plan.branch}", existing.sha)
            return existing
        tree, reverted = self._build(base, plan)
        if self._trees(tree, plan.paths) != good_trees:  # a guard: both strategies must land on the good trees
            raise PreconditionFailedError(
                f"the {plan.strategy} of {', '.join(plan.paths)} does not reproduce {plan.good[:12]}",
                step="prepare",
                hint="use the restore strategy",
                kind="not_reproduced",
            )
        sha = self._commit(tree, base, plan, reverted)
        self._set_ref(f"refs/heads/{plan.branch}", sha)
        self._plans[sha] = plan
        logger.info("prepared %s on %s (%s of %s)", sha[:12], plan.branch, plan.strategy, ", ".join(plan.paths))
        return dataclasses.replace(result, sha=sha, reverted=reverted, root_tree=tree)

    def _build(self, base: str, plan: RollbackPlan) -> tuple[str, tuple[str, ...]]:
        """The root tree the request makes on ``base``, and the commits a revert undid."""
        if plan.strategy == "restore":
            return self._restore_tree(base, plan), ()
        return self._revert_tree(base, plan)

    def _find_existing(
        self, plan: RollbackPlan, base: str, good_trees: Mapping[str, str | None], *, exact_base: bool = False
    ) -> RollbackCommit | None:
        """An earlier run's commit for exactly this request, on the rollback branch (local or remote), or None.

        A commit made on an older tip of the tracked branch still counts (a rerun after the branch moved on); with
        ``exact_base`` (an explicit ``base``), only a commit made on that very base does.
        """
        wanted = {
            "Rollback-Of": plan.bad,
            "Rollback-To": plan.good,
            "Provider": plan.provider_id,
            "Rollback-Strategy": plan.strategy,
        }
        for ref in (f"refs/remotes/origin/{plan.branch}", f"refs/heads/{plan.branch}"):
            head = self._rev(ref)
            if head is None or self._trees(head, plan.paths) != good_trees:
                continue
            out = self._git().log(
                "--first-parent",
                "--max-count=50",
                "--format=%H%x1f%P%x1f%T%x1f%(trailers:only,unfold)%x1e",
                head,
                "--not",
                base,
            )
            for record in str(out).split("\x1e"):
                sha, parents, tree, trailer_text = [*record.strip().split("\x1f", 3), "", "", ""][:4]
                found = dict(line.split(": ", 1) for line in trailer_text.splitlines() if ": " in line)
                if not sha or not parents or any(found.get(k) != v for k, v in wanted.items()):
                    continue
                parent = parents.split()[0]
                if exact_base and parent != base:
                    continue
                try:  # the same request on the commit's parent must make exactly its tree
                    rebuilt, reverted = self._build(parent, plan)
                except PreconditionFailedError as exc:
                    logger.info("not reusing %s: the request is refused on its parent (%s)", sha[:12], exc.kind)
                    continue
                if rebuilt != tree:
                    logger.info("not reusing %s: its tree is not what this request makes", sha[:12])
                    continue
                logger.info("reusing %s on %s from an earlier run", head[:12], plan.branch)
                return RollbackCommit(
                    sha=head,
                    branch=plan.branch,
                    base=parent,
                    bad_revision=plan.bad,
                    good_revision=plan.good,
                    strategy=plan.strategy,
                    created=False,
                    reverted=reverted,
                    trees=_present(good_trees),
                    root_tree=self._trees(head, [""])[""] or "",
                )
        return None

    # -- building trees and commits ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _index(self, base: str) -> Iterator[dict[str, str]]:
        index = self.path / f"gitrollback-index-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index), **_LITERAL}
        try:
            with self._translate("index", "check the repository"):
                self._git().read_tree(base, env=env)
            yield env
        finally:
            index.unlink(missing_ok=True)

    def _ls_tree(self, treeish: str, roots: Sequence[str]) -> dict[str, Entry]:
        with self._translate("ls_tree", "check the revision"):
            out = self._git().ls_tree("-r", "-z", "--full-tree", treeish, "--", *[r for r in roots if r], env=_LITERAL)
        return parse_ls_tree(str(out), roots)

    def _write(self, base: str, before: Mapping[str, Entry], after: Mapping[str, Entry]) -> str:
        """The tree of ``base`` with the entries in ``before`` replaced by those in ``after``."""
        with self._index(base) as env:
            self._run_input("index", ["update-index", "-z", "--index-info"], index_info(before, after), env)
            with self._translate("write_tree", "check the repository"):
                # --missing-ok: in a blob:none clone, checking every blob would fetch them one by one.
                return str(self._git().write_tree("--missing-ok", env=env))

    def _restore_tree(self, base: str, plan: RollbackPlan) -> str:
        return self._write(base, self._ls_tree(base, plan.paths), self._ls_tree(plan.good, plan.paths))

    def _revert_tree(self, base: str, plan: RollbackPlan) -> tuple[str, tuple[str, ...]]:
        if not self._is_ancestor(plan.good, base):
            where = self.branch if base == self._rev(f"refs/remotes/origin/{self.branch}") else base[:12]
            raise PreconditionFailedError(
                f"{plan.good[:12]} is not in the history of {where}: there is nothing to revert to",
                step="prepare",
                hint="use the restore strategy",
                kind="good_not_in_history",
            )
        return self._revert_onto(base, self._first_parent_changes(plan.good, base), plan.paths)

    def _first_parent_changes(self, good: str, tip: str) -> list[Change]:
        """Each first-parent commit in ``good..tip``, newest first, with its files (merges against parent 1)."""
        with self._translate("log", "check the branch and the revision"):
            out = self._git().log(
                "--first-parent",
                "--diff-merges=first-parent",
                "--no-renames",
                "--raw",
                "--no-abbrev",
                "-z",
                "--format=%x00%H %s",
                f"{good}..{tip}",
            )
        return parse_raw_log(str(out))

    def _revert_onto(self, tip: str, changes: Sequence[Change], roots: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        """Undo ``changes`` (newest first) on the asset paths of ``tip``: the new tree and the reverted commits."""
        before = self._ls_tree(tip, roots)
        after, reverted = reverse_apply(before, changes, roots)
        return self._write(tip, before, after), reverted

    def _commit(self, tree: str, parent: str, plan: RollbackPlan, reverted: Sequence[str]) -> str:
        message = build_message(
            MessageInput(
                provider_id=plan.provider_id,
                paths=plan.paths,
                bad=plan.bad,
                bad_subject=self._subject(plan.bad),
                good=plan.good,
                good_subject=self._subject(plan.good),
                strategy=plan.strategy,
                failed_job=plan.failed_job,
                context=plan.context,
                trailers=plan.trailers,
                reverted=[(sha, self._subject(sha)) for sha in reverted],
            )
        )
        env = {
            "GIT_AUTHOR_NAME": self._author[0],
            "GIT_AUTHOR_EMAIL": self._author[1],
            "GIT_COMMITTER_NAME": self._committer[0],
            "GIT_COMMITTER_EMAIL": self._committer[1],
        }
        return self._run_input("commit", ["commit-tree", tree, "-p", parent, "-F", "-"], message.encode(), env).strip()

    def _set_ref(self, ref: str, sha: str) -> None:
        with self._translate("update_ref", "check the repository"):
            self._git().update_ref(ref, sha)

    # -- push ---------------------------------------------------------------------------------------------------

    def push(self, commit: RollbackCommit, *, direct: bool = False) -> RollbackCommit:
        """Push the rollback branch, or with ``direct`` the commit straight onto the tracked branch.

        Pushing what the remote already has is a no-op. A push onto the tracked branch that is rejected as
        non-fast-forward is rebuilt on the new tip and retried (``push_attempts`` in all); the tracked branch is
        never forced. The rollback branch is replaced with ``--force-with-lease`` only when it holds something else.

        Raises:
            ConflictError: still rejected after every attempt.
            AuthenticationError, PermissionDeniedError, GitError: the remote refused or git failed.
        """
        if commit.already_rolled_back:
            return commit
        for attempt in range(1, self._push_attempts + 1):
            self._fetch()
            if direct:
                tip = self._remote_tip()
                if self._is_ancestor(commit.sha, tip):
                    return dataclasses.replace(commit, branch=self.branch, created=False)
                if tip != commit.base:
                    commit = self._rebuild(commit, tip)
                    if commit.already_rolled_back:
                        return commit
                refspec, lease = f"{commit.sha}:refs/heads/{self.branch}", None
            else:
                remote = self._rev(f"refs/remotes/origin/{commit.branch}")
                if remote == commit.sha:
                    return commit
                plan = self._plans.get(commit.sha)
                if remote is not None and plan is not None:
                    # Another run pushed the same rollback meanwhile: adopt it rather than replace it.
                    good_trees = self._trees(plan.good, plan.paths)
                    if (theirs := self._find_existing(plan, commit.base, good_trees)) and theirs.sha == remote:
                        self._plans[theirs.sha] = plan
                        return theirs
                refspec, lease = (
                    f"{commit.sha}:refs/heads/{commit.branch}",
                    f"refs/heads/{commit.branch}:{remote or ''}",
                )
            if self._push_ref(refspec, lease):
                logger.info("pushed %s to %s", commit.sha[:12], refspec.partition(":")[2])
                return dataclasses.replace(commit, branch=self.branch) if direct else commit
            logger.info(
                "push of %s rejected (attempt %s of %s); refetching", commit.sha[:12], attempt, self._push_attempts
            )
        raise ConflictError(
            f"the remote kept rejecting the push to {self.branch if direct else commit.branch}",
            adapter="git",
            operation="push",
            status=409,
            hint="someone is pushing to the same branch; rerun gitrollback once it is quiet",
        )

    def _rebuild(self, commit: RollbackCommit, tip: str) -> RollbackCommit:
        plan = self._plans.get(commit.sha)
        if plan is None:
            raise ConflictError(
                f"{self.branch} moved on and {commit.sha[:12]} was not prepared by this workspace",
                adapter="git",
                operation="push",
                status=409,
                hint="prepare the rollback again, then push",
            )
        rebuilt = self._prepare_on(plan, tip, self._trees(plan.good, plan.paths), reuse=False)
        logger.info("rebuilt the rollback of %s on %s as %s", ", ".join(plan.paths), tip[:12], rebuilt.sha[:12])
        return rebuilt

    def _push_ref(self, refspec: str, lease: str | None) -> bool:
        """Push one refspec; False when rejected (non-fast-forward, stale lease), raises on anything else.

        GitPython's ``Remote.push`` reports a rejection only in ``PushInfo`` flags, and it drops the status
        line of a refspec whose source is a commit id rather than a ref, so the porcelain status is read here.
        """
        args = ["--porcelain", *([f"--force-with-lease={lease}"] if lease is not None else []), "origin", refspec]
        with self._translate("push", "check the credentials and that the token may push"):
            status, out, err = self._git().push(*args, with_extended_output=True, with_exceptions=False)
            # porcelain: "<flag>\t<from>:<to>\t<summary>"; "!" is a refusal, by git ("[rejected]") or the remote.
            line = next((ln for ln in str(out).splitlines() if ln.count("\t") >= 2), "")
            flag, summary = line.partition("\t")[0], line.rpartition("\t")[2]
            if flag == "!" and summary.startswith("[rejected]"):
                return False
            if flag == "!":
                raise PermissionDeniedError(
                    self._mask(f"the remote refused {refspec.partition(':')[2]}: {summary}"),
                    adapter="git",
                    operation="push",
                    status=403,
                    hint="check branch protection and the token's permissions",
                )
            if status != 0:
                raise GitCommandError(["git", "push", "origin", refspec], status, str(err))
        return True

    # -- the run's guards: the branch lock and the pre-flight check (docs/safety.md) ----------------------------

    def branch_trailers(self, prefix: str) -> dict[str, dict[str, str]]:
        """Remote branches named ``prefix...`` (fetched now) not merged into the tracked branch, each with the
        trailers of its tip commit (``gitrollback.ports.BranchHolder``)."""
        self._fetch()
        tip = self._remote_tip()
        listing = self._git().for_each_ref("--format=%(objectname) %(refname)", f"refs/remotes/origin/{prefix}*")
        found: dict[str, dict[str, str]] = {}
        for line in str(listing).splitlines():
            sha, _, ref = line.partition(" ")
            branch = ref.removeprefix("refs/remotes/origin/")
            if not branch.startswith(prefix) or self._is_ancestor(sha, tip):
                continue
            text = str(self._git().log("-1", "--format=%(trailers:only,unfold)", sha))
            found[branch] = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        return found

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """Can the token fetch, and push (a ``--dry-run`` push of the tracked branch's own tip, which the remote
        authorizes like any push and which changes nothing)?"""
        try:
            tip = self.tip()
        except (AuthenticationError, PermissionDeniedError, GitError) as exc:
            return [AccessProblem("git", f"cannot fetch {self._mask(self.remote)}: {exc}", exc.hint or "")]
        if not needs.push:
            return []
        args = ["--dry-run", "--porcelain", "origin", f"{tip}:refs/heads/{self.branch}"]
        status, out, err = self._git().push(*args, with_extended_output=True, with_exceptions=False)
        if status == 0 and "\t[rejected]" not in str(out) and not str(out).startswith("!"):
            return []
        detail = self._mask((str(err).strip() or str(out).strip()).splitlines()[-1] if (err or out) else "refused")
        return [
            AccessProblem(
                "git",
                f"the token may not push to {self._mask(self.remote)}: {detail}",
                "give the token write access to the GitOps repository",
            )
        ]

    # -- markers and branches ----------------------------------------------------------------------------------

    def record_marker(self, revision: str, *, provider_id: str, at: datetime, evidence: Mapping[str, Any]) -> str:
        """Create and push the annotated verified-good tag for ``revision``; returns its name (idempotent).

        Raises:
            ConflictError: the tag already exists for another revision.
        """
        self._fetch()
        sha = self._resolve(revision)
        tag = marker_tag(provider_id, at)
        existing = self._rev(f"refs/tags/{tag}")
        if existing is None:
            env = {
                "GIT_COMMITTER_NAME": self._committer[0],
                "GIT_COMMITTER_EMAIL": self._committer[1],
                "GIT_COMMITTER_DATE": at.isoformat(),
            }
            message = format_marker(provider_id, sha, at, evidence).encode()
            self._run_input("tag", ["tag", "--annotate", "--file=-", tag, sha], message, env)
            if not self._push_ref(f"refs/tags/{tag}:refs/tags/{tag}", None):
                self._fetch()
                existing = self._rev(f"refs/tags/{tag}")
        if existing is not None and existing != sha:
            raise ConflictError(
                f"tag {tag} already marks {existing[:12]}, not {sha[:12]}",
                adapter="git",
                operation="record_marker",
                status=409,
                hint="markers are one per provider per second; record it again a second later",
            )
        return tag

    def delete_branch(self, name: str) -> None:
        """Delete a branch locally and on the remote (absent is fine); refuses the tracked branch."""
        if name in (self.branch, f"refs/heads/{self.branch}"):
            raise GitError(
                f"refusing to delete the tracked branch {self.branch!r}",
                adapter="git",
                operation="delete_branch",
                hint="delete rollback branches only",
            )
        self._fetch()
        if self._rev(f"refs/remotes/origin/{name}") is not None:
            self._push_ref(f":refs/heads/{name}", None)
        for ref in (f"refs/heads/{name}", f"refs/remotes/origin/{name}"):
            if self._rev(ref) is not None:
                with self._translate("delete_branch", "check the repository"):
                    self._git().update_ref("-d", ref)

    # -- errors -------------------------------------------------------------------------------------------------

    def _mask(self, text: str) -> str:
        masked = USERINFO_RE.sub(r"\g<scheme>*****@", text)
        for secret in self._secrets:
            masked = masked.replace(secret, "*****")
        return masked

    @contextlib.contextmanager
    def _translate(self, operation: str, hint: str) -> Iterator[None]:
        try:
            yield
        except GitCommandNotFound as exc:
            raise GitError(
                "the git executable was not found", adapter="git", operation=operation, hint="install git"
            ) from exc
        except GitCommandError as exc:
            stderr = exc.stderr if isinstance(exc.stderr, str) else ""
            lines = [ln.strip() for ln in stderr.strip().removeprefix("stderr:").strip().strip("'").splitlines()]
            detail = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), "")
            detail = self._mask(f"git {operation} failed: {detail or next(iter(filter(None, lines)), exc.status)}")
            if any(s in stderr for s in ("could not read Username", "Authentication failed", "error: 401")):
                raise AuthenticationError(
                    detail,
                    adapter="git",
                    operation=operation,
                    status=401,
                    hint="the remote refused the credentials: check the token passed in the environment",
                ) from exc
            if "error: 403" in stderr:
                raise PermissionDeniedError(
                    detail, adapter="git", operation=operation, status=403, hint="the token may not do this"
                ) from exc
            raise GitError(detail, adapter="git", operation=operation, hint=hint) from exc
        except (git.exc.GitError, git.exc.ODBError, ValueError, OSError) as exc:
            raise GitError(
                self._mask(f"git {operation} failed: {exc}"), adapter="git", operation=operation, hint=hint
            ) from exc
