"""``find_known_good``: choose the revision to roll the asset paths back to, from evidence, with guards.

Evidence, strongest first (``docs/known-good.md`` explains the order): an explicit ``to``; gitrollback's
verified-good markers; Image Factory installer job history correlated with the branch by time; Argo CD
deployment history confirmed by success evidence; release tags matching a pattern; and, always, the git-history
fallback: the state just before the change that introduced the failing content (``scan.py``). Every candidate
from every kind of evidence passes the same guards: it resolves, every asset path that exists at the bad
revision exists there, its trees differ from the bad trees, it is not content gitrollback rolled back, and it is
not newer than the bad revision. The first candidate that passes wins; the ones before it are listed in
``KnownGood.rejected`` with the reason.

A bad revision that reached the branch on a side branch is judged at the merge that landed it. Refusals
(``PreconditionFailedError``, ``step="known-good"``, raised before anything changes) carry a stable ``kind``
(``docs/known-good.md`` lists them): no paths, unknown branch or revision, paths missing at the bad revision, the
bad revision not in the branch's history (squash-merged, force-pushed away, or neither that can be shown),
history too shallow (a clone gitrollback manages is deepened first), a rollback that would be undone without
being asked, and no candidate left. This module sees only the ``AssetSource`` port plus the optional capabilities
in ``capabilities.py``, so it works the same over a local repository, a cached clone, or any other source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from gitrollback.errors import GitError, PreconditionFailedError
from gitrollback.known_good.capabilities import (
    Ancestry,
    FirstParentAncestry,
    HistoryWalker,
    LostCommits,
    MergeLanding,
    MoveDetector,
    ShallowClone,
    TagLister,
    TrailerReader,
    port_walk,
)
from gitrollback.known_good.evidence import (
    Candidate,
    Evidence,
    TipFinder,
    deployment_candidates,
    job_candidates,
    job_during,
    marker_candidates,
    marker_pattern,
    read_markers,
    succeeded_jobs,
    tag_candidates,
)
from gitrollback.known_good.scan import STEP, Refusal, Scan, ShallowHistoryError, label, scan_history
from gitrollback.markers import Marker
from gitrollback.models import DeploymentRecord, KnownGood, RejectedCandidate, RevisionInfo, TagRef
from gitrollback.ports import AssetSource

__all__ = ["find_known_good"]

logger = logging.getLogger(__name__)

Trees = dict[str, str | None]
_DEEPEN_FIRST = 1_000  # commits fetched on the first deepening; the second fetches the rest


def _refuse(message: str, hint: str, kind: str) -> PreconditionFailedError:
    return PreconditionFailedError(message, step=STEP, hint=hint, kind=kind)


def _resolve(source: AssetSource, rev: str, what: str, hint: str, kind: str = "unknown_revision") -> str:
    try:
        return source.resolve(rev)
    except GitError as exc:
        if exc.operation != "resolve":  # the repository could not be opened, cloned or fetched: not a refusal
            raise
        raise _refuse(f"{what} {rev!r} does not resolve to a commit: {exc}", hint, kind) from exc


def _trees(source: AssetSource, rev: str, paths: Sequence[str]) -> Trees:
    return {path: source.tree_id(rev, path) for path in paths}


def _present(trees: Trees) -> dict[str, str]:
    return {path: tree for path, tree in trees.items() if tree is not None}


def find_known_good(
    source: AssetSource,
    *,
    branch: str,
    paths: Sequence[str],
    bad: str | None = None,
    to: str | None = None,
    evidence: Evidence | None = None,
    max_commits: int | None = None,
) -> KnownGood:
    """Choose the known-good revision of ``paths`` on ``branch``.

    Args:
        source: where the asset history lives (``GitAssetSource`` streams it; any ``AssetSource`` works).
        branch: the GitOps branch the cluster follows.
        paths: the asset folders (or files), e.g. ``["backend/tekton"]``.
        bad: the failing revision; the branch tip when None.
        to: an explicit known-good revision (tag, branch or commit) to validate instead of searching.
        evidence: markers, installer jobs, deployments, release-tag pattern; ``Evidence()`` when None.
        max_commits: read at most this many path-changing commits of history (None: as far as needed).

    Returns:
        ``KnownGood``: the revision, its path trees, the evidence ``source`` (``explicit``, ``marker``,
        ``job-history``, ``deployment-history``, ``release-tag`` or ``git-history``), the reason, the commit
        that introduced the failing content (``bad_revision``) and the rejected candidates.

    Raises:
        PreconditionFailedError: no usable known-good revision; the message says why, the hint what to do.

    Usage::

        known = find_known_good(source, branch="main", paths=["backend/tekton"], evidence=Evidence(provider_id="p1"))
        print(known.revision, known.source, known.reason)
    """
    paths = list(dict.fromkeys(paths))
    if not paths:
        raise _refuse("no asset paths to roll back", "configure the asset path, e.g. backend/tekton", "no_paths")
    tip = _resolve(source, branch, "branch", "check the branch name", "unknown_branch")
    bad_sha = tip if bad is None else _resolve(source, bad, "bad revision", "check the bad revision")
    bad_trees = _present_at_bad(source, bad_sha, paths)
    landed = ""
    if bad_sha != tip:
        landing = _landing(source, branch, paths, bad_sha)
        if landing != bad_sha:
            landed = (
                f"the bad revision {label(source.describe(bad_sha))} is not on {branch}'s first-parent history: it "
                f"came in on a side branch merged by {label(source.describe(landing))}, so the change landed with "
                "that merge"
            )
            bad_sha = landing
            bad_trees = _present_at_bad(source, bad_sha, paths)
    scan = _scan(source, bad_sha, paths, bad_trees, max_commits, undo_rollback=bad is not None)
    if landed:
        scan.notes.insert(0, landed)
    if to is not None:
        explicit = _explicit(source, to, paths=paths, bad_sha=bad_sha, bad_trees=bad_trees, scan=scan)
        return _off_branch_warning(source, explicit, to, branch, tip)
    judge = _Judge(source, paths, bad_sha, bad_trees, scan)
    for candidate in _candidates(source, evidence or Evidence(), judge, tip):
        found = judge.accept(candidate)
        if found is not None:
            return found
    return _fallback(scan, paths, judge.rejected)


def _present_at_bad(source: AssetSource, bad_sha: str, paths: Sequence[str]) -> Trees:
    trees = _trees(source, bad_sha, paths)
    if not _present(trees):
        raise _refuse(
            f"{', '.join(paths)} does not exist at the bad revision {bad_sha[:12]}",
            "check the asset path in the config (e.g. backend/tekton)",
            "path_missing_at_bad",
        )
    return trees


def _landing(source: AssetSource, branch: str, paths: Sequence[str], bad_sha: str) -> str:
    """The first-parent commit of ``branch`` that brought ``bad_sha`` in: itself, or the merge that landed it.

    Raises:
        PreconditionFailedError: the branch's history does not contain it (``squash_merged``,
            ``force_pushed_away`` or ``not_in_history``).
    """
    if isinstance(source, FirstParentAncestry):
        if source.is_on_first_parent(bad_sha, branch, limit=1_000_000):
            return bad_sha
    else:
        # Without the capability, judge by content: the commit that produced bad's trees must be one of the
        # branch's path-changing first-parent commits.
        produced = source.path_history(bad_sha, paths, limit=1)
        if produced and any(info.sha == produced[0].sha for info in source.path_history(branch, paths, limit=10_000)):
            return bad_sha
    if isinstance(source, MergeLanding):
        landing = source.landed_by(bad_sha, branch)
        if landing is not None:
            return landing
    raise _not_in_history(source, branch, paths, bad_sha)


def _not_in_history(source: AssetSource, branch: str, paths: Sequence[str], bad_sha: str) -> PreconditionFailedError:
    """The refusal for a bad revision outside the branch's history, as precise as the source allows."""
    name = f"the bad revision {label(source.describe(bad_sha))}"
    if not isinstance(source, LostCommits) or not isinstance(source, MergeLanding):
        return _refuse(
            f"{name} is not on the first-parent history of {branch} (force-pushed away, or from another branch)",
            f"pass the failing commit of {branch} as the bad revision, or name the known-good one with --to",
            "not_in_history",
        )
    if source.was_on_branch(bad_sha, branch):
        return _refuse(
            f"{name} is not in the history of {branch}, but {branch}'s reflog shows it there before: it was "
            "force-pushed away (the branch's history was rewritten)",
            f"find the commit that replaced it on {branch} and pass that as the bad revision, or name the "
            "known-good one with --to",
            "force_pushed_away",
        )
    carrier = source.carried_as(bad_sha, branch, paths)
    if carrier is not None:
        return _refuse(
            f"{name} is not in the history of {branch}: its change to {', '.join(paths)} reached {branch} as "
            f"another commit, {label(source.describe(carrier))} (a squash merge, rebase or cherry-pick)",
            f"pass {carrier[:12]} as the bad revision",
            "squash_merged",
        )
    return _refuse(
        f"{name} is not in the history of {branch}: no merge brought it in, no commit of {branch} carries its "
        f"change to {', '.join(paths)}, and {branch}'s reflog does not show it (it is on another branch, or was "
        "force-pushed away before this clone saw it)",
        f"pass the failing commit of {branch} as the bad revision, or name the known-good one with --to",
        "not_in_history",
    )


def _scan(
    source: AssetSource,
    bad_sha: str,
    paths: Sequence[str],
    bad_trees: Trees,
    max_commits: int | None,
    *,
    undo_rollback: bool,
) -> Scan:
    def describe(rev: str) -> RevisionInfo | None:
        try:
            return source.describe(rev)
        except GitError:
            return None

    def moved_from(commit: str, path: str) -> str | None:
        return source.moved_from(commit, path) if isinstance(source, MoveDetector) else None

    def trailers(rev: str) -> dict[str, tuple[str, ...]]:
        if not isinstance(source, TrailerReader):
            return {}
        try:
            return source.trailers(rev)
        except GitError:
            return {}

    # One commit more than the window, so the scan can tell "window full" from "history ends here".
    window = None if max_commits is None else max_commits + 1
    for attempt in range(3):
        walk = (
            source.walk_path_history(bad_sha, paths, max_count=window)
            if isinstance(source, HistoryWalker)
            else port_walk(source, bad_sha, paths, max_count=window)
        )
        try:
            with contextlib.closing(walk):
                return scan_history(
                    walk,
                    paths,
                    bad_trees,
                    describe=describe,
                    moved_from=moved_from,
                    trailers=trailers,
                    max_commits=max_commits,
                    undo_rollback=undo_rollback,
                )
        except ShallowHistoryError as edge:
            if attempt < 2 and isinstance(source, ShallowClone) and source.can_deepen():
                logger.info("history is shallow at %s; deepening the clone", edge.commit[:12])
                source.deepen(_DEEPEN_FIRST if attempt == 0 else None)
                continue
            scan = Scan(bad_trees=bad_trees)
            scan.refusal = Refusal(
                f"the history of {', '.join(paths)} is cut short: the repository is a shallow clone and the "
                f"search reached its edge at {edge.commit[:12]} after {edge.seen} changes",
                "fetch the full history (git fetch --unshallow), or pass the repository URL so gitrollback "
                "can deepen its own clone",
                "shallow",
            )
            return scan
    raise AssertionError("unreachable")  # pragma: no cover


def _explicit(
    source: AssetSource, to: str, *, paths: Sequence[str], bad_sha: str, bad_trees: Trees, scan: Scan
) -> KnownGood:
    sha = _resolve(source, to, "known-good revision", "pass an existing tag, branch or commit id as --to")
    trees = _trees(source, sha, paths)
    missing = [path for path, tree in trees.items() if tree is None and bad_trees.get(path) is not None]
    if missing:
        raise _refuse(
            f"{', '.join(missing)} does not exist at {to} ({sha[:12]})",
            "pick a revision that contains the asset folder, or check the asset path",
            "path_missing_at_good",
        )
    if trees == bad_trees:
        raise _refuse(
            f"{to} ({sha[:12]}) has the same {', '.join(paths)} content as the bad revision {bad_sha[:12]}: "
            "nothing to roll back",
            "pick an earlier revision, or leave out --to to search the history",
            "same_as_bad",
        )
    info = source.describe(sha)
    reason = f"explicitly requested {to}: {label(info)}"
    undone = scan.rolled_back_why(trees)
    if undone is not None:
        reason += f"; note: this content was {undone}, so this undoes that rollback"
    reason += _older_note(scan, trees, paths)
    reason += "".join(f"; {note}" for note in scan.notes)
    return KnownGood(
        revision=sha,
        trees=_present(trees),
        source="explicit",
        reason=reason,
        bad_revision=scan.bad_change.sha if scan.bad_change else bad_sha,
        summary=info.summary,
        warnings=_warnings(scan, trees),
    )


def _off_branch_warning(source: AssetSource, found: KnownGood, to: str, branch: str, tip: str) -> KnownGood:
    """An explicit revision need not be in the tracked branch's history; say so when it is not."""
    if not isinstance(source, Ancestry) or source.is_ancestor(found.revision, tip):
        return found
    warning = (
        f"{to} ({found.revision[:12]}) is not on {branch}: it is in no commit of {branch}'s history, so the "
        f"cluster gets content {branch} never had"
    )
    return dataclasses.replace(found, warnings=(*found.warnings, warning))


def _warnings(scan: Scan, trees: Trees) -> tuple[str, ...]:
    """The warnings that go with an answer of ``trees``: the scan's own when it is the state the bad change
    replaced, and re-applying content that a gitrollback rollback removed."""
    found = list(scan.warnings) if scan.good is not None and dict(scan.good_trees) == dict(trees) else []
    undone = scan.rolled_back_warning(trees)
    if undone is not None and undone not in found:
        found.append(undone)
    return tuple(found)


def _older_note(scan: Scan, trees: Trees, paths: Sequence[str]) -> str:
    """For an answer from evidence: say so when it is not the state just before the bad change."""
    if scan.good is None or dict(scan.good_trees) == dict(trees):
        return ""
    return (
        f"; note: this is not the state just before the bad change ({label(scan.good)}), so the rollback also "
        f"undoes the changes to {', '.join(paths)} between the two, on the strength of this evidence"
    )


class _Judge:
    """Applies the guards to candidates and remembers every rejection."""

    def __init__(self, source: AssetSource, paths: Sequence[str], bad_sha: str, bad_trees: Trees, scan: Scan) -> None:
        self.source, self.paths, self.bad_sha, self.bad_trees, self.scan = source, paths, bad_sha, bad_trees, scan
        self.rejected: list[RejectedCandidate] = []
        self._seen: set[tuple[str, str]] = set()
        self._trees: dict[str, Trees] = {}

    def trees(self, rev: str) -> Trees | None:
        """The paths' trees at ``rev`` (cached), None when it does not resolve."""
        try:
            sha = self.source.resolve(rev)
        except GitError:
            return None
        if sha not in self._trees:
            self._trees[sha] = _trees(self.source, sha, self.paths)
        return self._trees[sha]

    def reject(self, revision: str, why: str) -> None:
        """Record a rejection once."""
        if (revision, why) not in self._seen:
            self._seen.add((revision, why))
            self.rejected.append(RejectedCandidate(revision, why))

    def rolled_back_later(self, trees: Trees, at: datetime | None) -> str | None:
        """Why content equal to ``trees`` was rolled back by gitrollback after ``at`` (when known), or None."""
        for target, by in self.scan.rollbacks:
            if (at is None or at < by.info.committed_at) and self.trees(target) == trees:
                return f"rolled back by gitrollback in {label(by.info)} (Rollback-Of {target[:12]})"
        return None

    def why_not(self, candidate: Candidate, sha: str, trees: Trees) -> str | None:
        """The first guard the candidate fails, or None."""
        where = ", ".join(self.paths)
        missing = [p for p, tree in trees.items() if tree is None and self.bad_trees.get(p) is not None]
        if missing:
            return f"{', '.join(missing)} does not exist there"
        if trees == self.bad_trees:
            return f"{where} tree equals the bad tree"
        undone = self.scan.rolled_back_why(trees) or self.rolled_back_later(trees, candidate.at)
        if undone is not None:
            return f"its {where} content was {undone}"
        relation = candidate.relation
        if relation is None and sha != self.bad_sha and isinstance(self.source, Ancestry):
            relation = "descendant" if self.source.is_ancestor(self.bad_sha, sha) else None
        if relation == "descendant":
            return f"it is newer than the bad revision {self.bad_sha[:12]}"
        if relation == "unrelated" and candidate.source == "release-tag":
            return f"the tag is not in the history of the bad revision {self.bad_sha[:12]}"
        return None

    def accept(self, candidate: Candidate) -> KnownGood | None:
        """A ``KnownGood`` for the candidate, or None after recording why it was rejected."""
        trees = self.trees(candidate.revision)
        if trees is None:
            self.reject(candidate.revision, f"{candidate.evidence}, but that revision is not in this repository")
            return None
        sha = self.source.resolve(candidate.revision)
        why = self.why_not(candidate, sha, trees)
        if why is not None:
            self.reject(sha, f"{candidate.evidence}, but {why}")
            return None
        info = self.source.describe(sha)
        bad_change = self.scan.bad_change
        introduced = f"; the failing content came with {label(bad_change.info)}" if bad_change else ""
        caveat = f" (note: {candidate.caveat})" if candidate.caveat else ""
        reason = f"{label(info)}: {candidate.evidence}{caveat}{introduced}"
        reason += _older_note(self.scan, trees, self.paths)
        reason += "".join(f"; {note}" for note in self.scan.notes)
        logger.info("known-good %s from %s", sha[:12], candidate.source)
        return KnownGood(
            revision=sha,
            trees=_present(trees),
            source=candidate.source,
            reason=reason,
            bad_revision=bad_change.sha if bad_change else self.bad_sha,
            summary=info.summary,
            rejected=tuple(self.rejected),
            warnings=_warnings(self.scan, trees),
        )


def _candidates(source: AssetSource, evidence: Evidence, judge: _Judge, tip: str) -> Iterator[Candidate]:
    """Every candidate, strongest evidence first (lazily: later evidence is read only when needed)."""
    bad_sha, paths = judge.bad_sha, judge.paths
    markers: list[tuple[Marker, TagRef]] = []
    if evidence.markers and isinstance(source, TagLister):
        tags = source.list_tags(marker_pattern(evidence.provider_id), relative_to=bad_sha)
        markers = read_markers(tags, evidence.provider_id)
        yield from marker_candidates(markers)
    jobs, weak = succeeded_jobs(evidence.jobs, evidence.provider_id)
    if jobs:
        with TipFinder(source, tip, bad_sha, paths) as tip_at:
            yield from job_candidates(jobs, weak, tip_at)
    if evidence.deployments:
        confirmed = _confirmation(judge, markers, evidence)
        accepted, unconfirmed = deployment_candidates(evidence.deployments, confirmed=confirmed)
        for revision, why in unconfirmed:
            judge.reject(revision, why)
        yield from accepted
    if evidence.tag_pattern and isinstance(source, TagLister):
        tags = source.list_tags(evidence.tag_pattern, relative_to=bad_sha)
        yield from tag_candidates(tags, evidence.tag_pattern)


def _confirmation(
    judge: _Judge, markers: Sequence[tuple[Marker, TagRef]], evidence: Evidence
) -> Callable[[DeploymentRecord, datetime | None], str | None]:
    marked = [(judge.trees(marker.revision), marker.tag) for marker, _ in markers]
    healthy = [(judge.trees(rev), rev) for rev in evidence.healthy_revisions]
    installer_jobs, _ = succeeded_jobs(evidence.jobs, evidence.provider_id)

    def confirmed(record: DeploymentRecord, until: datetime | None) -> str | None:
        trees = judge.trees(record.revision)
        if trees is not None:
            tag = next((tag for content, tag in marked if content == trees), None)
            if tag is not None:
                return f"the verified marker {tag} covers the same content"
            rev = next((rev for content, rev in healthy if content == trees), None)
            if rev is not None:
                return f"the same content ran healthy at {rev[:12]}"
        job = job_during(installer_jobs, record.deployed_at, until)
        if job is not None:
            return f"installer job {job.id} succeeded while it was deployed"
        return None

    return confirmed


def _fallback(scan: Scan, paths: Sequence[str], rejected: list[RejectedCandidate]) -> KnownGood:
    if scan.refusal is not None or scan.good is None or scan.bad_change is None:
        refusal = scan.refusal or Refusal(
            f"no known-good state of {', '.join(paths)} found", "name one with --to", "no_earlier_state"
        )
        raise _refuse(refusal.message, refusal.hint, refusal.kind)
    where = ", ".join(paths)
    introduced = scan.bad_change.info
    first_rejected = scan.rejected[0].revision if scan.rejected else ""
    verb = "last changed in" if introduced.sha == first_rejected else "has had its content since"
    reason = (
        f"{where} {verb} {label(introduced)}, which introduced the failing content; "
        f"the state before it is {label(scan.good)}"
    )
    reason += "".join(f"; {note}" for note in scan.notes)
    logger.info("known-good %s for bad change %s (git history)", scan.good.sha[:12], introduced.sha[:12])
    return KnownGood(
        revision=scan.good.sha,
        trees=_present(dict(scan.good_trees)),
        source="git-history",
        reason=reason,
        bad_revision=introduced.sha,
        summary=scan.good.summary,
        rejected=tuple(rejected) + tuple(scan.rejected),
        warnings=tuple(scan.warnings),
    )
