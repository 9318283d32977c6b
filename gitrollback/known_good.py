"""Find the revision to roll the Tekton assets back to: the runbook's "last known-good version".

The runbook (``docs/runbook.md``, rollback step 1) says "revert the GitOps source to the last known-good
Tekton asset version" without saying how to find it. gitrollback answers with evidence a person can check:

* ``to=`` given: that revision, after checking it resolves, holds every asset path, and differs from the
  failing state (source ``explicit``).
* otherwise, from git history alone (source ``git-history``): the failing content is what the asset paths
  hold at the bad revision (the branch tip unless told). Walking the branch's first-parent path history
  back from there, the change that introduced it is the oldest commit of the newest run whose trees equal
  the bad trees; the known-good revision is the commit that produced the trees just before it. Comparing
  *tree ids* rather than commits means a revert-and-reapply or a no-op merge is judged by content.

This is an engine-level module: it sees only the ``AssetSource`` port, so it works the same over a local
clone, a cached bare clone or any other implementation. Richer evidence (installer job asset versions,
verified deployments) is left to a later layer; every refusal is a ``PreconditionFailedError`` with
``step="known-good"`` and a hint, raised before anything is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from gitrollback.errors import GitError, PreconditionFailedError
from gitrollback.models import KnownGood, RejectedCandidate, RevisionInfo
from gitrollback.ports import AssetSource

__all__ = ["FirstParentAncestry", "find_known_good"]

logger = logging.getLogger(__name__)

STEP = "known-good"
Trees = dict[str, str | None]


@runtime_checkable
class FirstParentAncestry(Protocol):
    """Optional capability of an ``AssetSource``: an exact "is this commit on the branch" check."""

    def is_on_first_parent(self, rev: str, branch: str, *, limit: int = 10_000) -> bool:
        """True when ``rev`` is on ``branch``'s first-parent chain."""
        ...


def _refuse(message: str, hint: str) -> PreconditionFailedError:
    return PreconditionFailedError(message, step=STEP, hint=hint)


def _label(info: RevisionInfo) -> str:
    tags = f" ({', '.join(info.tags)})" if info.tags else ""
    return f"{info.sha[:7]} '{info.summary}'{tags}"


def _resolve(source: AssetSource, rev: str, what: str, hint: str) -> str:
    try:
        return source.resolve(rev)
    except GitError as exc:
        raise _refuse(f"{what} {rev!r} does not resolve to a commit: {exc}", hint) from exc


def _trees(source: AssetSource, rev: str, paths: Sequence[str]) -> Trees:
    return {path: source.tree_id(rev, path) for path in paths}


def _missing(trees: Trees) -> list[str]:
    return [path for path, tree in trees.items() if tree is None]


def _complete(trees: Trees) -> dict[str, str]:
    return {path: tree for path, tree in trees.items() if tree is not None}


def find_known_good(
    source: AssetSource,
    *,
    branch: str,
    paths: Sequence[str],
    bad: str | None = None,
    to: str | None = None,
    max_commits: int = 500,
) -> KnownGood:
    """Choose the known-good revision of ``paths`` on ``branch``.

    Args:
        source: where the asset history lives.
        branch: the GitOps branch the cluster follows.
        paths: the asset folders (e.g. ``["backend/tekton"]``).
        bad: the failing revision; the branch tip when None.
        to: an explicit known-good revision (tag, branch or sha) to validate instead of searching.
        max_commits: how far back the path history is read.

    Returns:
        ``KnownGood`` with the revision, its path trees, how it was chosen and the rejected candidates.
        ``bad_revision`` is the commit that introduced the failing content (e.g. the ``v0.4.0`` upgrade),
        not the tip the search started from, which may be a later commit that did not touch the paths.

    Raises:
        PreconditionFailedError: no usable known-good revision; the message says why, the hint what to do.

    Usage::

        known = find_known_good(source, branch="main", paths=["backend/tekton"])
        print(known.revision, known.reason)
    """
    if not paths:
        raise _refuse("no asset paths to roll back", "configure the asset path, e.g. backend/tekton")
    where = ", ".join(paths)
    bad_rev = bad if bad is not None else branch
    bad_sha = _resolve(source, bad_rev, "bad revision" if bad else "branch", "check the branch and revision")
    bad_trees = _trees(source, bad_sha, paths)
    if to is not None:
        return _explicit(source, to, paths, bad_sha, bad_trees)
    if _missing(bad_trees) == list(paths):
        raise _refuse(
            f"{where} does not exist at the bad revision {bad_sha[:12]}",
            "check the asset path in the config (e.g. backend/tekton)",
        )
    return _from_history(
        source, branch=branch, paths=paths, bad_sha=bad_sha, bad_trees=bad_trees, max_commits=max_commits
    )


def _explicit(
    source: AssetSource, to: str, paths: Sequence[str], bad_sha: str, bad_trees: Trees
) -> KnownGood:
    sha = _resolve(source, to, "known-good revision", "pass an existing tag, branch or commit id as --to")
    trees = _trees(source, sha, paths)
    missing = _missing(trees)
    if missing:
        raise _refuse(
            f"{', '.join(missing)} does not exist at {to} ({sha[:12]})",
            "pick a revision that contains the asset folder, or check the asset path",
        )
    if trees == bad_trees:
        raise _refuse(
            f"{to} ({sha[:12]}) has the same {', '.join(paths)} content as the bad revision {bad_sha[:12]}: "
            "nothing to roll back",
            "pick an earlier revision, or leave out --to to search the history",
        )
    info = source.describe(sha)
    produced = source.path_history(bad_sha, paths, limit=1)
    return KnownGood(
        revision=sha,
        trees=_complete(trees),
        source="explicit",
        reason=f"explicitly requested {to}: {_label(info)}",
        bad_revision=produced[0].sha if produced else bad_sha,
        summary=info.summary,
    )


def _from_history(
    source: AssetSource,
    *,
    branch: str,
    paths: Sequence[str],
    bad_sha: str,
    bad_trees: Trees,
    max_commits: int,
) -> KnownGood:
    where = ", ".join(paths)
    _require_on_branch(source, branch, paths, bad_sha, max_commits)
    history = source.path_history(branch, paths, limit=max_commits)
    produced = source.path_history(bad_sha, paths, limit=1)
    index = next((i for i, info in enumerate(history) if produced and info.sha == produced[0].sha), None)
    if index is None:
        raise _refuse(
            f"the commit that produced {where} at {bad_sha[:12]} is not in the last {max_commits} "
            f"first-parent commits of {branch} that touch it",
            "raise max_commits, or name the known-good revision with --to",
        )
    same = f"{where} tree equals the bad tree"
    introduced = history[index]
    rejected = [RejectedCandidate(introduced.sha, same)]
    good: RevisionInfo | None = None
    good_trees: Trees = {}
    for candidate in history[index + 1 :]:
        trees = _trees(source, candidate.sha, paths)
        if trees != bad_trees:
            good, good_trees = candidate, trees
            break
        # Same content as the failing state (e.g. reverted and re-applied): part of the bad run.
        rejected.append(RejectedCandidate(candidate.sha, same))
        introduced = candidate
    if good is None:
        more = len(history) >= max_commits
        raise _refuse(
            f"{where} has had the failing content since {_label(introduced)}; there is no earlier state "
            "to roll back to" + (f" within {max_commits} commits" if more else ""),
            "raise max_commits" if more else "fix forward, or name a revision with --to",
        )
    missing = _missing(good_trees)
    if missing:
        raise _refuse(
            f"{', '.join(missing)} does not exist at {_label(good)}, the state before "
            f"{_label(introduced)}; a rollback cannot restore a missing folder",
            "name the known-good revision with --to",
        )
    last_changed = "last changed in" if introduced.sha == history[index].sha else "has had its content since"
    reason = (
        f"{where} {last_changed} {_label(introduced)}, which introduced the failing content; "
        f"the state before it is {_label(good)}"
    )
    logger.info("known-good %s for bad %s (%s rejected)", good.sha[:12], bad_sha[:12], len(rejected))
    return KnownGood(
        revision=good.sha,
        trees=_complete(good_trees),
        source="git-history",
        reason=reason,
        bad_revision=introduced.sha,
        summary=good.summary,
        rejected=tuple(rejected),
    )


def _require_on_branch(
    source: AssetSource, branch: str, paths: Sequence[str], bad_sha: str, max_commits: int
) -> None:
    if isinstance(source, FirstParentAncestry):
        on_branch = source.is_on_first_parent(bad_sha, branch, limit=max(max_commits, 10_000))
    else:
        # Without the capability, judge by content: the commit that produced bad's trees must be one of
        # the branch's path-changing first-parent commits.
        produced = source.path_history(bad_sha, paths, limit=1)
        on_branch = bool(produced) and any(
            info.sha == produced[0].sha for info in source.path_history(branch, paths, limit=max_commits)
        )
    if not on_branch:
        raise _refuse(
            f"the bad revision {bad_sha[:12]} is not on the first-parent history of {branch} "
            "(force-pushed away, or from another branch)",
            f"pass the failing commit of {branch} as the bad revision, or name the known-good one with --to",
        )
