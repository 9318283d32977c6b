"""Optional capabilities of an ``AssetSource`` that the known-good search uses when a source has them.

The ``AssetSource`` port (``gitrollback/ports.py``) is five simple questions; answering "which commit introduced
this content" with them alone costs one tree lookup per commit. A source that can stream its history (the git
adapter: one ``git log --raw`` per question, memory flat in history length) says so by having the methods of
``HistoryWalker``; tags, ancestry, rename detection and shallow-clone handling are separate capabilities so a
simpler source can offer some and not others. ``port_walk`` answers the walk with the plain port, for sources
without the capability (tests, non-git backends): same semantics, slower, bounded by ``path_history``'s limit.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol, runtime_checkable

from gitrollback.models import PathCommit, RevisionInfo, TagRef
from gitrollback.ports import AssetSource

__all__ = [
    "Ancestry",
    "FirstParentAncestry",
    "HistoryWalker",
    "LostCommits",
    "MergeLanding",
    "MoveDetector",
    "ShallowClone",
    "TagLister",
    "TrailerReader",
    "port_walk",
]

#: how far back ``port_walk`` reads when the caller sets no limit.
PORT_WALK_LIMIT = 10_000


@runtime_checkable
class FirstParentAncestry(Protocol):
    """An exact "is this commit on the branch's first-parent chain" check."""

    def is_on_first_parent(self, rev: str, branch: str, *, limit: int = 10_000) -> bool:
        """True when ``rev`` is on ``branch``'s first-parent chain."""
        ...


@runtime_checkable
class HistoryWalker(Protocol):
    """Streams first-parent history: path changes with their trees, and plain commits."""

    def walk_path_history(
        self, rev: str, paths: Sequence[str], *, max_count: int | None = None
    ) -> Generator[PathCommit, None, None]:
        """Commits from ``rev`` back that changed ``paths``, newest first, with trees before and after."""
        ...

    def walk_first_parent(self, rev: str) -> Generator[RevisionInfo, None, None]:
        """Every first-parent commit from ``rev`` back, newest first."""
        ...


@runtime_checkable
class TagLister(Protocol):
    """Lists tags (release tags, verified-good markers) with where they sit relative to a revision."""

    def list_tags(self, pattern: str, *, relative_to: str | None = None) -> list[TagRef]:
        """Tags matching a glob or a folder prefix under ``refs/tags/``."""
        ...


@runtime_checkable
class Ancestry(Protocol):
    """A general "is A in the history of B" check."""

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when ``ancestor`` is ``descendant`` or in its history."""
        ...


@runtime_checkable
class MoveDetector(Protocol):
    """Rename detection for one commit."""

    def moved_from(self, commit: str, path: str) -> str | None:
        """Where ``commit`` moved ``path`` from, or None when it did not move it."""
        ...


@runtime_checkable
class MergeLanding(Protocol):
    """Which first-parent commit of a branch brought a commit into its history."""

    def landed_by(self, rev: str, branch: str) -> str | None:
        """``rev`` when it is on the first-parent chain, the merge that landed it from a side branch, or None."""
        ...


@runtime_checkable
class LostCommits(Protocol):
    """Why a commit is not in a branch's history: rewritten away, or carried by another commit."""

    def was_on_branch(self, rev: str, branch: str) -> bool:
        """True when the branch's reflog shows ``rev`` in the history of an earlier tip (force-pushed away)."""
        ...

    def carried_as(self, rev: str, branch: str, paths: Sequence[str]) -> str | None:
        """The branch commit that carries ``rev``'s change to ``paths`` (squash merge, rebase, cherry-pick)."""
        ...


@runtime_checkable
class TrailerReader(Protocol):
    """Reads gitrollback's rollback trailers of any commit (e.g. the rollback commit a merge brought in)."""

    def trailers(self, rev: str) -> dict[str, tuple[str, ...]]:
        """``Rollback-Of``, ``Rollback-To``, ``Provider`` and ``Failed-Job`` of ``rev``, as the walk reads them."""
        ...


@runtime_checkable
class ShallowClone(Protocol):
    """Knows whether its history is cut short, and whether it may fetch more."""

    def is_shallow(self) -> bool:
        """True when the history is a shallow clone's."""
        ...

    def can_deepen(self) -> bool:
        """True when ``deepen`` is allowed (a clone gitrollback manages)."""
        ...

    def deepen(self, commits: int | None = None) -> None:
        """Fetch more history (all of it when ``commits`` is None)."""
        ...


def port_walk(
    source: AssetSource, rev: str, paths: Sequence[str], *, max_count: int | None = None
) -> Generator[PathCommit, None, None]:
    """``HistoryWalker.walk_path_history`` on the plain port: ``path_history`` plus a tree lookup per commit.

    The state before a commit is the state after the next (older) one, since the commits in between did not
    touch the paths; the oldest commit's "before" is unknown to the port and reported as all-missing.
    """
    history = source.path_history(rev, paths, limit=max_count if max_count is not None else PORT_WALK_LIMIT)
    after = {path: source.tree_id(rev, path) for path in paths}
    for index, info in enumerate(history):
        older = history[index + 1] if index + 1 < len(history) else None
        before = {path: source.tree_id(older.sha, path) if older else None for path in paths}
        yield PathCommit(info=info, parents=(older.sha,) if older else (), before=before, after=after)
        after = before
