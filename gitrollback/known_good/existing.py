"""Find the rollback gitrollback already landed on a branch for a provider (for a run that lost its journal).

When the newest change to the asset paths on the tracked branch is gitrollback's own rollback commit (its
``Rollback-Of``/``Rollback-To``/``Provider`` trailers, read from the commit itself or, for a merged pull request,
from the merged side), a rerun has nothing new to commit: it must sync and verify that rollback. The resolver
refuses such a branch with ``already_rolled_back`` (``docs/known-good.md``); this module reads the facts the runbook
needs to carry on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from gitrollback.errors import GitError
from gitrollback.known_good.capabilities import HistoryWalker, TrailerReader, port_walk
from gitrollback.ports import AssetSource

__all__ = ["ExistingRollback", "find_existing_rollback"]


@dataclass(frozen=True)
class ExistingRollback:
    """gitrollback's rollback ``commit`` (the branch's newest change to the paths) of ``rolled_back`` to
    ``restored_to``, made for ``provider_id``."""

    commit: str
    rolled_back: str
    restored_to: str
    provider_id: str = ""


def find_existing_rollback(
    source: AssetSource,
    *,
    branch: str,
    paths: Sequence[str],
    provider_id: str,
    shared_with: Sequence[str] = (),
) -> ExistingRollback | None:
    """The rollback for ``provider_id`` (or for one of ``shared_with``, providers whose GitOps repository, branch
    and paths are the same) that is the newest change to ``paths`` on ``branch``, or None."""
    tip = source.resolve(branch)
    walk = (
        source.walk_path_history(tip, paths, max_count=1)
        if isinstance(source, HistoryWalker)
        else port_walk(source, tip, paths, max_count=1)
    )
    with contextlib.closing(walk):
        newest = next(iter(walk), None)
    if newest is None:
        return None
    trailers = dict(newest.trailers)
    if not trailers.get("Rollback-Of") and isinstance(source, TrailerReader):
        for parent in newest.parents[1:]:  # a merged pull request: the rollback commit is on the merged side
            with contextlib.suppress(GitError):
                trailers = source.trailers(parent)
            if trailers.get("Rollback-Of"):
                break
    of, to, provider = trailers.get("Rollback-Of", ()), trailers.get("Rollback-To", ()), trailers.get("Provider", ())
    owners = [p for p in (provider_id, *shared_with) if p in provider]
    if not of or not to or not owners:
        return None
    return ExistingRollback(
        commit=newest.sha,
        rolled_back=source.resolve(of[0]),
        restored_to=source.resolve(to[0]),
        provider_id=owners[0],
    )
