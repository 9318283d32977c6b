"""Walk the branch's first-parent path history back from the bad revision: what went bad, and what came before.

The failing content is what the asset paths hold at the bad revision. Walking back, the change that introduced
it is the newest commit that produced those trees; the known-good state is the one just before it, the state that
change replaced, named by the commit that produced *that* state (``KnownGood.revision`` is then a meaningful
commit, often a release). Content is compared by *tree ids*, so a revert-and-reapply or a no-op merge is judged by
content. The walk never goes further back than that state: an older answer would silently discard every later
change to the paths, so only evidence (``resolver.py``) may name one.

Rules on the way (``docs/known-good.md``, "The rules"):

* the bad change is a hand-made revert (``This reverts commit <id>``, also a ``Reapply`` commit): the answer is
  still the state it replaced, with a warning that this re-applies the reverted commit;
* the bad change is gitrollback's own rollback (``Rollback-Of:`` trailer, or a merge or squash of one): undoing it
  brings back content that failed before, so the search refuses (``already_rolled_back``) unless the caller named
  the bad revision on purpose (``undo_rollback``), and then answers with a warning naming the failed job the
  rollback recorded. Either way, the states from the rollback back to the commit it rolled back are recorded as
  ``rolled_back``, so no *evidence* can bring that content back;
* a candidate where an asset path does not exist (but does at the bad revision) ends the search with a refusal,
  naming the commit that added or moved the path there;
* a walk that reaches the edge of a shallow clone stops with ``ShallowHistoryError`` so the caller can deepen.

One streamed walk per question; the walk stops at the state before the bad change (or at the end of a rollback's
span), so its cost is the distance to the bad change, not the length of the branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gitrollback.models import PathCommit, RejectedCandidate, RevisionInfo

__all__ = ["STEP", "Refusal", "RollbackSpan", "Scan", "ShallowHistoryError", "label", "scan_history"]

STEP = "known-good"
Trees = Mapping[str, str | None]
Trailers = Mapping[str, tuple[str, ...]]


class ShallowHistoryError(Exception):
    """The walk reached the edge of a shallow clone before it could decide (internal signal, never escapes)."""

    def __init__(self, commit: str, seen: int) -> None:
        super().__init__(commit)
        self.commit = commit
        self.seen = seen


@dataclass(frozen=True)
class Refusal:
    """Why there is no answer: the message, the next action, and the stable ``kind`` (``docs/known-good.md``)."""

    message: str
    hint: str
    kind: str


def label(info: RevisionInfo) -> str:
    """``abc1234 'subject' (tags)``: how a commit is named in reasons and refusals."""
    tags = f" ({', '.join(info.tags)})" if info.tags else ""
    return f"{info.sha[:7]} '{info.summary}'{tags}"


@dataclass
class RollbackSpan:
    """gitrollback's rollback ``by``, of ``target`` (its ``Rollback-Of``): the states back to ``target`` were rolled
    away from. ``failed_job`` is the installer job the rollback recorded (``Failed-Job``), when it did."""

    by: PathCommit
    target: str
    restored_to: str | None = None
    failed_job: str | None = None
    target_time: datetime | None = None

    def describe(self) -> str:
        """How the rejection of a state inside the span reads."""
        return f"rolled back by gitrollback in {label(self.by.info)} (Rollback-Of {self.target[:12]})"

    def recorded(self) -> str:
        """What the rollback recorded about the failure that caused it."""
        if self.failed_job:
            return f"after installer job {self.failed_job} failed"
        return "(it recorded no failed installer job)"

    def warning(self) -> str:
        """The warning for an answer that re-applies what this rollback removed."""
        to = f" to {self.restored_to[:12]}" if self.restored_to else ""
        return (
            f"this re-applies content that an earlier rollback removed: {label(self.by.info)} is gitrollback's "
            f"rollback of {self.target[:12]}{to}, made {self.recorded()}"
        )

    def predates(self, commit: PathCommit) -> bool:
        """True when ``commit`` is older than the rolled-back commit (found by time when not met on the walk)."""
        return self.target_time is not None and commit.info.committed_at < self.target_time

    def restores(self, commit: PathCommit) -> bool:
        """True when ``commit`` is the revision the rollback restored (its state was not rolled back)."""
        return self.restored_to is not None and _same(commit.sha, self.restored_to)


@dataclass
class Scan:
    """What the walk found. ``refusal`` is set when the git history gives no usable answer.

    ``good`` is the state the bad change replaced, even when ``refusal`` is set (evidence may still answer);
    ``warnings`` go with an answer of ``good_trees``. ``rolled_back`` holds contents inside a gitrollback
    rollback's span, with why and the warning for re-applying them; ``rollbacks`` every ``Rollback-Of`` target
    named by a commit the walk read (evidence older than the rollback must not bring that content back).
    """

    bad_trees: Trees
    bad_change: PathCommit | None = None
    good: RevisionInfo | None = None
    good_trees: Trees = field(default_factory=dict)
    refusal: Refusal | None = None
    rejected: list[RejectedCandidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rolled_back: list[tuple[Trees, str, str]] = field(default_factory=list)
    rollbacks: list[tuple[str, PathCommit]] = field(default_factory=list)
    seen: int = 0

    def rolled_back_why(self, trees: Trees) -> str | None:
        """Why content equal to ``trees`` must not be restored (gitrollback rolled it back), or None."""
        return next((why for content, why, _ in self.rolled_back if dict(content) == dict(trees)), None)

    def rolled_back_warning(self, trees: Trees) -> str | None:
        """The warning for an answer that re-applies content gitrollback rolled back, or None."""
        return next((warn for content, _, warn in self.rolled_back if dict(content) == dict(trees)), None)


def _same(sha: str, ref: str) -> bool:
    ref = ref.strip().lower()
    return len(ref) >= 7 and sha.lower().startswith(ref)


def _rollback_span(
    commit: PathCommit,
    describe: Callable[[str], RevisionInfo | None],
    trailers: Callable[[str], Trailers],
) -> RollbackSpan | None:
    """The span of gitrollback's rollback ``commit`` (None when it is not one)."""
    of = commit.trailers.get("Rollback-Of", ())
    if not of:
        return None
    jobs = commit.trailers.get("Failed-Job", ())
    if not jobs:  # a merged pull request: the rollback commit itself is on the merged side
        for parent in commit.parents[1:]:
            jobs = trailers(parent).get("Failed-Job", ())
            if jobs:
                break
    span = RollbackSpan(
        commit,
        of[0],
        restored_to=next(iter(commit.trailers.get("Rollback-To", ())), None),
        failed_job=jobs[0] if jobs else None,
    )
    target = describe(span.target)  # the full id and time of a (possibly abbreviated) target
    if target is not None:
        span.target, span.target_time = target.sha, target.committed_at
    return span


def scan_history(
    walk: Iterable[PathCommit],
    paths: Sequence[str],
    bad_trees: Trees,
    *,
    describe: Callable[[str], RevisionInfo | None],
    moved_from: Callable[[str, str], str | None],
    trailers: Callable[[str], Trailers] = lambda _rev: {},
    max_commits: int | None = None,
    undo_rollback: bool = False,
) -> Scan:
    """Find the bad change and the state it replaced (see the module docstring).

    Args:
        walk: first-parent path history from the bad revision back, newest first.
        paths: the asset paths.
        bad_trees: the paths' trees at the bad revision.
        describe: the commit a trailer or revert line names (None when it is not in the repository).
        moved_from: rename detection for the commit that added a path.
        trailers: the rollback trailers of any commit (for the merged side of a rollback pull request).
        max_commits: stop after this many path-changing commits.
        undo_rollback: the caller named the bad revision on purpose, so a gitrollback rollback that introduced
            the failing content is undone (with a warning) instead of refused.

    Raises:
        ShallowHistoryError: the walk reached a shallow clone's edge.
    """
    where = ", ".join(paths)
    scan = Scan(bad_trees=bad_trees)
    commits = iter(walk)
    newer: PathCommit | None = None  # the commit whose "before" state the next commit produced
    for commit in commits:
        if max_commits is not None and scan.seen >= max_commits:
            scan.refusal = Refusal(
                f"{where}: no earlier state to roll back to within {max_commits} commits",
                "raise max_commits, or name the known-good revision with --to",
                "search_limit",
            )
            return scan
        scan.seen += 1
        scan.rollbacks += [(target, commit) for target in commit.trailers.get("Rollback-Of", ())]
        if newer is not None and dict(commit.after) != dict(bad_trees):
            missing = [p for p in paths if commit.after.get(p) is None and bad_trees.get(p) is not None]
            if missing:
                scan.refusal = _missing_refusal(missing, commit, newer, moved_from)
                return scan
            scan.good, scan.good_trees = commit.info, commit.after
            assert scan.bad_change is not None
            span = _rollback_span(scan.bad_change, describe, trailers)
            if span is not None:
                _judge_rollback(scan, span, where, undo_rollback)
                _record_span(scan, span, commit, commits)
            elif scan.bad_change.reverts:
                scan.warnings.append(_revert_warning(scan.bad_change, scan.good, describe))
            return scan
        # The bad change, or (from a source that lists commits without a content change) the same content further
        # back: the run of bad content started earlier.
        scan.bad_change = commit
        scan.rejected.append(RejectedCandidate(commit.sha, f"{where} tree equals the bad tree"))
        if commit.boundary:
            raise ShallowHistoryError(commit.sha, scan.seen)
        newer = commit
    scan.refusal = _exhausted(scan, newer, paths, bad_trees, moved_from)
    return scan


def _judge_rollback(scan: Scan, span: RollbackSpan, where: str, undo_rollback: bool) -> None:
    """The bad change is gitrollback's rollback: refuse to undo it, or (named on purpose) warn that it is undone."""
    assert scan.good is not None
    if undo_rollback:
        scan.warnings.append(span.warning())
        return
    to = f" ({span.restored_to[:12]})" if span.restored_to else ""
    scan.refusal = Refusal(
        f"{where} already holds what gitrollback's rollback {label(span.by.info)} restored{to}: the state before "
        f"it, {label(scan.good)}, is the content it rolled back ({span.target[:12]}) {span.recorded()}, so there "
        "is nothing to roll back (undoing the rollback would bring back the change it removed)",
        "if this content fails too, name an older known-good revision with --to; to undo the rollback on "
        f"purpose, name {span.by.sha[:12]} as the bad revision",
        "already_rolled_back",
    )


def _record_span(scan: Scan, span: RollbackSpan, first: PathCommit, rest: Iterator[PathCommit]) -> None:
    """Record the contents from the rollback back to the commit it rolled back, so evidence cannot restore them."""
    commit: PathCommit | None = first
    while commit is not None:
        if span.predates(commit) or span.restores(commit):
            return
        scan.rolled_back.append((commit.after, span.describe(), span.warning()))
        if _same(commit.sha, span.target) or commit.boundary:
            return
        commit = next(rest, None)
        if commit is not None:
            scan.seen += 1
            scan.rollbacks += [(target, commit) for target in commit.trailers.get("Rollback-Of", ())]


def _revert_warning(bad: PathCommit, good: RevisionInfo, describe: Callable[[str], RevisionInfo | None]) -> str:
    target = describe(bad.reverts[0])
    named = label(target) if target is not None else bad.reverts[0][:12]
    return (
        f"{label(bad.info)} reverts {named}: rolling back to the state before it ({label(good)}) re-applies "
        f"{named}, which that revert undid"
    )


def _added_by(newer: PathCommit, path: str, moved_from: Callable[[str, str], str | None]) -> str:
    origin = moved_from(newer.sha, path)
    if origin is not None:
        return f"{label(newer.info)} moved it there from {origin}"
    return f"{label(newer.info)} added it"


def _missing_refusal(
    missing: list[str],
    candidate: PathCommit,
    newer: PathCommit,
    moved_from: Callable[[str, str], str | None],
) -> Refusal:
    first = missing[0]
    message = (
        f"{', '.join(missing)} does not exist at {label(candidate.info)}, the state before {label(newer.info)}; "
        f"{_added_by(newer, first, moved_from)}: a rollback cannot restore a folder that was not there"
    )
    return Refusal(
        message, "name the known-good revision with --to (one where the asset path exists)", "path_missing_at_good"
    )


def _exhausted(
    scan: Scan,
    oldest: PathCommit | None,
    paths: Sequence[str],
    bad_trees: Trees,
    moved_from: Callable[[str, str], str | None],
) -> Refusal:
    where = ", ".join(paths)
    if oldest is None:
        return Refusal(f"{where} has no history on this branch", "check the branch and the asset paths", "no_history")
    missing = [p for p in paths if oldest.before.get(p) is None and bad_trees.get(p) is not None]
    introduced = scan.bad_change or oldest
    if missing:
        how = _added_by(oldest, missing[0], moved_from)
        return Refusal(
            f"{where} has had the failing content since {label(introduced.info)}, and before it {missing[0]} "
            f"did not exist ({how}); there is no earlier state to roll back to",
            "fix forward, or name a revision with --to",
            "no_earlier_state",
        )
    return Refusal(
        f"{where} has had the failing content since {label(introduced.info)}; there is no earlier state to "
        "roll back to",
        "fix forward, or name a revision with --to",
        "no_earlier_state",
    )
