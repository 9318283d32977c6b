"""The evidence the known-good search weighs, and the candidate revisions each kind of evidence proposes.

``Evidence`` carries what the caller knows beyond git: the provider (whose verified-good markers count), Image
Factory installer jobs, Argo CD deployment history, revisions known to have been healthy, and a release-tag
pattern. Each ``*_candidates`` function turns one kind into ``Candidate`` values, strongest first within the
kind; the resolver judges them all by the same guards (``resolver.py``) and takes the first that passes.

Remote behaviour assumed:

* markers: annotated tags ``gitrollback/verified/<provider>/<stamp>`` (``gitrollback/markers.py``); the tag's
  commit is the verified revision.
* Image Factory jobs (``docs/known-good.md``, "Evidence, strongest first"): ``asset_version`` is a profile folder
  name (``v1``), not a git revision (imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/
  service.go``, ``resolveTektonAssetVersion``), so a job says *when* assets were applied successfully, never
  *which*; the revision is the branch's first-parent tip at the job's ``completed_at``. ``image_factory_installer``
  jobs are preferred because ``gitops`` jobs succeed without applying anything; validate jobs cannot be told apart
  (the job JSON has no operation: ``docs/imagefactory.md``, "No operation in the job JSON").
* Argo CD history (argoproj/argo-cd ``pkg/apis/application/v1alpha1/types.go``, ``RevisionHistory``):
  ``status.history`` records what was *deployed*, not what was healthy, so a deployment counts only when success
  evidence covers it: a verified marker or a caller-given healthy revision with the same trees, or a succeeded
  installer job while it was the deployed revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gitrollback.known_good.capabilities import HistoryWalker
from gitrollback.markers import MARKER_PREFIX, Marker, parse_marker
from gitrollback.models import DeploymentRecord, InstallerJob, RevisionInfo, TagRef
from gitrollback.ports import AssetSource

__all__ = [
    "Candidate",
    "Evidence",
    "TipFinder",
    "deployment_candidates",
    "job_candidates",
    "marker_candidates",
    "read_markers",
    "tag_candidates",
]


@dataclass(frozen=True)
class Evidence:
    """What is known beyond git history; every field is optional.

    Args:
        provider_id: whose verified-good markers count (None: markers of every provider).
        markers: read gitrollback's verified-good marker tags at all.
        jobs: Image Factory installer jobs of the provider (``TektonStatus.recent_jobs``), any order.
        deployments: the Argo CD application's deployment history (``DeploymentHistory.history``).
        healthy_revisions: revisions known to have run healthy (success evidence for deployments).
        tag_pattern: release tags to consider, a glob under ``refs/tags/`` such as ``v*``; None: no tags.
    """

    provider_id: str | None = None
    markers: bool = True
    jobs: Sequence[InstallerJob] = ()
    deployments: Sequence[DeploymentRecord] = ()
    healthy_revisions: Sequence[str] = ()
    tag_pattern: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A revision proposed by one piece of evidence.

    ``relation`` is where the revision sits relative to the bad revision when the evidence already knows it
    (``same``/``ancestor``/``descendant``/``unrelated``); None lets the resolver find out.
    """

    source: str
    revision: str
    evidence: str
    relation: str | None = None
    caveat: str = ""
    at: datetime | None = None


def read_markers(tags: Iterable[TagRef], provider_id: str | None) -> list[tuple[Marker, TagRef]]:
    """gitrollback's markers among ``tags`` (for one provider, or all), newest verification first."""
    found: list[tuple[Marker, TagRef]] = []
    for tag in tags:
        marker = parse_marker(tag.name, tag.message, tag.target)
        if marker is not None and (provider_id is None or marker.provider_id == provider_id):
            found.append((marker, tag))
    found.sort(key=lambda pair: (pair[0].verified_at, pair[0].tag), reverse=True)
    return found


def marker_pattern(provider_id: str | None) -> str:
    """The tag prefix that holds the markers of one provider, or of all."""
    return f"{MARKER_PREFIX}/{provider_id}" if provider_id else MARKER_PREFIX


def marker_candidates(markers: Sequence[tuple[Marker, TagRef]]) -> list[Candidate]:
    """One candidate per marker, newest first."""
    return [
        Candidate(
            source="marker",
            revision=marker.revision,
            evidence=(
                f"gitrollback verified it known-good for provider {marker.provider_id} at "
                f"{marker.verified_at:%Y-%m-%d %H:%M}Z (marker tag {marker.tag})"
            ),
            relation=tag.relation,
            caveat="" if tag.relation in ("ancestor", "same", None) else "it is not in the history of the bad revision",
            at=marker.verified_at,
        )
        for marker, tag in markers
    ]


def _finished(job: InstallerJob) -> datetime:
    return job.completed_at or job.updated_at


def succeeded_jobs(jobs: Iterable[InstallerJob], provider_id: str | None) -> tuple[list[InstallerJob], bool]:
    """Succeeded jobs newest first: installer-mode ones, or gitops ones when there are none (flag True)."""
    done = [j for j in jobs if j.status == "succeeded" and (provider_id is None or j.provider_id == provider_id)]
    done.sort(key=_finished, reverse=True)
    installer = [j for j in done if j.install_mode == "image_factory_installer"]
    return (installer, False) if installer else (done, bool(done))


def job_candidates(
    jobs: Sequence[InstallerJob], weak: bool, tip_at: Callable[[datetime], tuple[RevisionInfo, bool] | None]
) -> list[Candidate]:
    """The branch tip at each succeeded job's completion time; ``tip_at`` gives (commit, newer than bad)."""
    out: list[Candidate] = []
    for job in jobs:
        found = tip_at(_finished(job))
        if found is None:
            continue
        tip, newer = found
        out.append(
            Candidate(
                source="job-history",
                revision=tip.sha,
                evidence=(
                    f"Image Factory {job.install_mode} job {job.id} (asset version {job.asset_version}) succeeded "
                    f"at {_finished(job):%Y-%m-%d %H:%M}Z, when the branch tip was {tip.sha[:12]}"
                ),
                relation="descendant" if newer else None,
                caveat="gitops jobs succeed without applying anything, so this is weak evidence" if weak else "",
                at=_finished(job),
            )
        )
    return out


def deployment_candidates(
    deployments: Sequence[DeploymentRecord],
    *,
    confirmed: Callable[[DeploymentRecord, datetime | None], str | None],
) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """Deployments newest first with success evidence (``confirmed`` says which), and the unconfirmed ones."""
    ordered = sorted(deployments, key=lambda d: (d.deployed_at, d.id), reverse=True)
    accepted: list[Candidate] = []
    unconfirmed: list[tuple[str, str]] = []
    until: datetime | None = None
    for record in ordered:
        why = confirmed(record, until)
        if why is None:
            unconfirmed.append(
                (
                    record.revision,
                    f"{record.controller} deployed it (history id {record.id}, {record.deployed_at:%Y-%m-%d %H:%M}Z) "
                    "but nothing "
                    "shows it was healthy: no verified marker, no healthy revision, no succeeded installer job "
                    "while it was deployed",
                )
            )
        else:
            accepted.append(
                Candidate(
                    source="deployment-history",
                    revision=record.revision,
                    evidence=(
                        f"{record.controller} deployed it (history id {record.id}, "
                        f"{record.deployed_at:%Y-%m-%d %H:%M}Z) and {why}"
                    ),
                    at=record.deployed_at,
                )
            )
        until = record.deployed_at
    return accepted, unconfirmed


def job_during(jobs: Iterable[InstallerJob], start: datetime, end: datetime | None) -> InstallerJob | None:
    """A succeeded installer-mode job that finished while a deployment was current, if any."""
    for job in jobs:
        when = _finished(job)
        if job.install_mode == "image_factory_installer" and when >= start and (end is None or when < end):
            return job
    return None


def tag_candidates(tags: Sequence[TagRef], pattern: str) -> list[Candidate]:
    """Release tags matching ``pattern`` (markers excluded), newest target commit first."""
    releases = [t for t in tags if not t.name.startswith(MARKER_PREFIX + "/")]
    releases.sort(key=lambda t: (t.target_time or datetime.min.replace(tzinfo=UTC), t.name), reverse=True)
    return [
        Candidate(
            source="release-tag",
            revision=tag.target,
            evidence=f"release tag {tag.name} (pattern {pattern})",
            relation=tag.relation,
        )
        for tag in releases
    ]


class TipFinder:
    """ "What was the branch tip at time T", for non-increasing T, in one streamed first-parent walk."""

    def __init__(self, source: AssetSource, tip: str, bad_sha: str, paths: Sequence[str]) -> None:
        if isinstance(source, HistoryWalker):
            self._walk: Iterator[RevisionInfo] = source.walk_first_parent(tip)
        else:  # the port only knows path-changing commits: the commit that produced the state at T
            self._walk = iter(source.path_history(tip, paths, limit=10_000))
        self._bad = bad_sha
        self._current: RevisionInfo | None = None
        self._reached_bad = False

    def __enter__(self) -> Callable[[datetime], tuple[RevisionInfo, bool] | None]:
        return self._tip_at

    def __exit__(self, *exc: object) -> None:
        close = getattr(self._walk, "close", None)
        if close is not None:
            close()

    def _tip_at(self, when: datetime) -> tuple[RevisionInfo, bool] | None:
        while True:
            if self._current is None:
                self._current = next(self._walk, None)
                if self._current is None:
                    return None
                self._reached_bad = self._reached_bad or self._current.sha == self._bad
            if self._current.committed_at <= when:
                return self._current, not self._reached_bad
            self._current = None
