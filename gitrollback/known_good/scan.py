"""Walk the branch's first-parent path history back from the bad revision: what went bad, and what came before.

The failing content is what the asset paths hold at the bad revision. Walking back, the change that introduced
it is the newest commit that produced those trees; the candidate known-good state is the one just before it,
named by the commit that produced *that* state (``KnownGood.revision`` is then a meaningful commit, often a
release). Content is compared by *tree ids*, so a revert-and-reapply or a no-op merge is judged by content.

Guards applied on the way (``docs/known-good.md``, "Guards"):

* a candidate whose trees equal the bad trees is rejected (it *is* the failing content);
* rollbacks are never undone silently: when the walk passes a gitrollback rollback commit (``Rollback-Of:``
  trailer) or a hand-made ``git revert`` (``This reverts commit <id>``), the states from it back to the commit
  it rolled back are rejected as "rolled back by <commit>", so the search lands *before* the rolled-back change
  instead of restoring it; the ``reason`` says so;
* a candidate where an asset path does not exist (but does at the bad revision) ends the search with a refusal,
  naming the commit that added or moved the path there;
* a walk that reaches the edge of a shallow clone stops with ``ShallowHistoryError`` so the caller can deepen.

One streamed walk per question; the walk stops at the first acceptable state, so its cost is the distance to the
bad change, not the length of the branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gitrollback.models import PathCommit, RejectedCandidate, RevisionInfo

__all__ = ["STEP", "RollbackSpan", "Scan", "ShallowHistoryError", "label", "scan_history"]

STEP = "known-good"
Trees = Mapping[str, str | None]


class ShallowHistoryError(Exception):
    """The walk reached the edge of a shallow clone before it could decide (internal signal, never escapes)."""

    def __init__(self, commit: str, seen: int) -> None:
        super().__init__(commit)
        self.commit = commit
        self.seen = seen


def label(info: RevisionInfo) -> str:
    """``abc1234 'subject' (tags)``: how a commit is named in reasons and refusals."""
    tags = f" ({', '.join(info.tags)})" if info.tags else ""
    return f"{info.sha[:7]} '{info.summary}'{tags}"


@dataclass
class RollbackSpan:
    """A rollback or revert the walk passed: the states back to ``target`` were rolled away from."""

    by: PathCommit
    target: str
    kind: str  # "gitrollback" (trailers) or "revert" (hand-made)
    restored_to: str | None = None
    target_time: datetime | None = None

    def describe(self) -> str:
        """How the rejection of a state inside the span reads."""
        if self.kind == "gitrollback":
            return f"rolled back by gitrollback in {label(self.by.info)} (Rollback-Of {self.target[:12]})"
        return f"reverted by {label(self.by.info)} (reverts {self.target[:12]})"

    def predates(self, commit: PathCommit) -> bool:
        """True when ``commit`` is older than the rolled-back commit (found by time when not met on the walk)."""
        return self.target_time is not None and commit.info.committed_at < self.target_time

    def restores(self, commit: PathCommit) -> bool:
        """True when ``commit`` is the revision the rollback restored (its state was not rolled back)."""
        return self.restored_to is not None and _same(commit.sha, self.restored_to)


@dataclass
class Scan:
    """What the walk found. ``refusal`` is set (message, hint) when there is no usable earlier state.

    ``rolled_back`` holds contents the walk rejected inside a gitrollback rollback span; ``rollbacks`` every
    ``Rollback-Of`` target named by a commit the walk read (evidence older than the rollback must not bring
    that content back).
    """

    bad_trees: Trees
    bad_change: PathCommit | None = None
    good: RevisionInfo | None = None
    good_trees: Trees = field(default_factory=dict)
    refusal: tuple[str, str] | None = None
    rejected: list[RejectedCandidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rolled_back: list[tuple[Trees, str]] = field(default_factory=list)
    rollbacks: list[tuple[str, PathCommit]] = field(default_factory=list)
    seen: int = 0

    def rolled_back_why(self, trees: Trees) -> str | None:
        """Why content equal to ``trees`` must not be restored (gitrollback rolled it back), or None."""
        return next((why for content, why in self.rolled_back if dict(content) == dict(trees)), None)


def _same(sha: str, ref: str) -> bool:
    ref = ref.strip().lower()
    return len(ref) >= 7 and sha.lower().startswith(ref)


def _spans_opened_by(commit: PathCommit, describe: Callable[[str], RevisionInfo | None]) -> list[RollbackSpan]:
    spans = [
        RollbackSpan(commit, target, "gitrollback", next(iter(commit.trailers.get("Rollback-To", ())), None))
        for target in commit.trailers.get("Rollback-Of", ())
    ]
    spans += [RollbackSpan(commit, target, "revert") for target in commit.reverts]
    for span in spans:
        target = describe(span.target)  # the full id and time of a (possibly abbreviated) target
        if target is not None:
            span.target, span.target_time = target.sha, target.committed_at
    return spans


def scan_history(
    walk: Iterable[PathCommit],
    paths: Sequence[str],
    bad_trees: Trees,
    *,
    describe: Callable[[str], RevisionInfo | None],
    moved_from: Callable[[str, str], str | None],
    max_commits: int | None = None,
) -> Scan:
    """Find the bad change and the state before it (see the module docstring).

    Args:
        walk: first-parent path history from the bad revision back, newest first.
        paths: the asset paths.
        bad_trees: the paths' trees at the bad revision.
        describe: the commit a trailer or revert line names (None when it is not in the repository).
        moved_from: rename detection for the commit that added a path.
        max_commits: stop after this many path-changing commits.

    Raises:
        ShallowHistoryError: the walk reached a shallow clone's edge.
    """
    where = ", ".join(paths)
    scan = Scan(bad_trees=bad_trees)
    spans: list[RollbackSpan] = []
    newer: PathCommit | None = None  # the commit whose "before" state the next commit produced
    in_bad_run = True
    closed: RollbackSpan | None = None  # the last rollback span the walk went all the way through
    for commit in walk:
        if max_commits is not None and scan.seen >= max_commits:
            scan.refusal = (
                f"{where}: no earlier state to roll back to within {max_commits} commits",
                "raise max_commits, or name the known-good revision with --to",
            )
            return scan
        scan.seen += 1
        scan.rollbacks += [(target, commit) for target in commit.trailers.get("Rollback-Of", ())]
        if newer is None:
            scan.bad_change = commit
            scan.rejected.append(RejectedCandidate(commit.sha, f"{where} tree equals the bad tree"))
            _note_rollback(scan, commit, where)
        else:
            trees = commit.after
            # A span is over once the walk is older than the rolled-back commit, or at the state it restored.
            open_spans = [s for s in spans if not s.predates(commit) and not s.restores(commit)]
            closed = closed if open_spans or not spans else spans[0]
            spans = open_spans
            why = spans[0].describe() if spans else None
            if why is None and dict(trees) == dict(bad_trees):
                if closed is not None:
                    scan.rejected.append(RejectedCandidate(commit.sha, f"{where} tree equals the bad tree"))
                    scan.refusal = _already_rolled_back(closed, commit, where)
                    return scan
                why = f"{where} tree equals the bad tree"
            if why is not None:
                scan.rejected.append(RejectedCandidate(commit.sha, why))
                if spans and spans[0].kind == "gitrollback":
                    scan.rolled_back.append((trees, why))
                if in_bad_run and not spans and dict(trees) == dict(bad_trees):
                    scan.bad_change = commit  # same content again further back: the bad run started earlier
                else:
                    in_bad_run = False
                open_spans = [s for s in spans if not _same(commit.sha, s.target)]
                closed = closed if open_spans or not spans else spans[0]
                spans = open_spans
            else:
                missing = [p for p in paths if trees.get(p) is None and bad_trees.get(p) is not None]
                if missing:
                    scan.refusal = _missing_refusal(missing, commit, newer, moved_from)
                    return scan
                scan.good, scan.good_trees = commit.info, trees
                return scan
        if commit.boundary:
            raise ShallowHistoryError(commit.sha, scan.seen)
        spans += _spans_opened_by(commit, describe)
        newer = commit
    scan.refusal = _exhausted(scan, newer, paths, bad_trees, moved_from)
    return scan


def _note_rollback(scan: Scan, commit: PathCommit, where: str) -> None:
    of = commit.trailers.get("Rollback-Of", ())
    if of:
        to = commit.trailers.get("Rollback-To", ("?",))[0]
        scan.notes.append(
            f"{label(commit.info)} is gitrollback's own rollback of {of[0][:12]} to {to[:12]}; undoing it would "
            f"bring back content that failed before, so the search goes back past {of[0][:12]} instead"
        )
    elif commit.reverts:
        scan.notes.append(
            f"{label(commit.info)} is a revert of {commit.reverts[0][:12]}; undoing it would bring back the "
            f"reverted change, so the search goes back past {commit.reverts[0][:12]} instead"
        )


def _already_rolled_back(span: RollbackSpan, commit: PathCommit, where: str) -> tuple[str, str]:
    what = "gitrollback's rollback" if span.kind == "gitrollback" else "the revert"
    return (
        f"{where} already holds what {what} {label(span.by.info)} restored: the state before the change it undid "
        f"({span.target[:12]}) is {label(commit.info)}, with the same content as the bad revision, so there is "
        "nothing to roll back (undoing the rollback would bring back the change it removed)",
        "if this content fails too, name an older known-good revision with --to",
    )


def _added_by(newer: PathCommit, path: str, moved_from: Callable[[str, str], str | None]) -> str:
    origin = moved_from(newer.sha, path)
    if origin is not None:
        return f"{label(newer.info)} moved it there from {origin}"
    return f"{label(newer.info)} added it"


def _missing_refusal(
    missing: list[str],
    candidate: PathCommit,
    newer: PathCommit | None,
    moved_from: Callable[[str, str], str | None],
) -> tuple[str, str]:
    first = missing[0]
    story = f"; {_added_by(newer, first, moved_from)}" if newer is not None else ""
    message = (
        f"{', '.join(missing)} does not exist at {label(candidate.info)}, the state before "
        f"{label(newer.info) if newer else '?'}{story}: a rollback cannot restore a folder that was not there"
    )
    return message, "name the known-good revision with --to (one where the asset path exists)"


def _exhausted(
    scan: Scan,
    oldest: PathCommit | None,
    paths: Sequence[str],
    bad_trees: Trees,
    moved_from: Callable[[str, str], str | None],
) -> tuple[str, str]:
    where = ", ".join(paths)
    if oldest is None:
        return f"{where} has no history on this branch", "check the branch and the asset paths"
    missing = [p for p in paths if oldest.before.get(p) is None and bad_trees.get(p) is not None]
    introduced = scan.bad_change or oldest
    if missing and oldest.sha == introduced.sha:
        how = _added_by(oldest, missing[0], moved_from)
        return (
            f"{where} has had the failing content since {label(introduced.info)}, and before it {missing[0]} "
            f"did not exist ({how}); there is no earlier state to roll back to",
            "fix forward, or name a revision with --to",
        )
    return (
        f"{where} has had the failing content since {label(introduced.info)}; there is no earlier state to "
        "roll back to" + (" that was not rolled back or reverted" if oldest.sha != introduced.sha else ""),
        "fix forward, or name a revision with --to",
    )
