"""What each runbook step returns: typed, frozen values that round-trip through JSON.

A run's state is the sequence of these results (``RunState``), in the order they were produced. Steps read earlier
results by type (``state.get(Assessed)``) and never change shared state; the journal writes each result as it is
produced and a resumed run reads them back (``result_from_json``). A *checkpoint* is a result a step produces
before it finishes (the validate job's id, the smoke build's id) so that a resumed run follows that job or build
instead of starting another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from gitrollback.codec import from_json
from gitrollback.models import (
    AppliedObject,
    Build,
    ChangePlan,
    ChangeRequest,
    FailedJob,
    InstallerJob,
    InstallMode,
    KnownGood,
    LiveObject,
    Manifest,
    Provider,
    Readiness,
    RevisionInfo,
    RollbackCommit,
    SyncStatus,
    TektonStatus,
    to_json,
)

__all__ = [
    "Applied",
    "Assessed",
    "BuildStarted",
    "ChangeRequestOpened",
    "ChangesPlanned",
    "Committed",
    "JobStarted",
    "KnownGoodChosen",
    "MarkerPending",
    "MarkerRecorded",
    "Merged",
    "NoActiveJob",
    "ObjectsVerified",
    "PreflightPassed",
    "PruneProgress",
    "Pruned",
    "Pushed",
    "ReadinessChecked",
    "Rendered",
    "Skipped",
    "SmokeBuilt",
    "StepResult",
    "Synced",
    "Validated",
    "result_from_json",
    "result_json",
]


class StepResult:
    """Base of every step result: a frozen dataclass with a one-line ``detail`` for the step record."""

    detail: str


R = TypeVar("R", bound=StepResult)


@dataclass(frozen=True)
class Skipped(StepResult):
    """The step had nothing to do (disabled in config, or nothing to act on): recorded as ``skipped``."""

    detail: str


@dataclass(frozen=True)
class Assessed(StepResult):
    """Runbook §1 as the run found it before changing anything (the "before" picture)."""

    provider: Provider
    status: TektonStatus
    readiness: Readiness | None
    failed_job: FailedJob | None
    mode: InstallMode
    namespace: str
    profile: str
    detail: str


@dataclass(frozen=True)
class KnownGoodChosen(StepResult):
    """The revision to restore and why; ``existing_rollback`` is the commit of an earlier gitrollback rollback of
    this provider that the tracked branch already carries (the run then syncs and verifies it)."""

    known_good: KnownGood
    good: RevisionInfo
    bad: RevisionInfo | None
    detail: str
    existing_rollback: str | None = None


@dataclass(frozen=True)
class Rendered(StepResult):
    """The known-good objects, expanded as the installer would; in installer mode also the objects the bad revision
    added (``added``, for the pre-flight check, the dry-run table and prune) or why they could not be listed
    (``added_notes``)."""

    manifests: tuple[Manifest, ...]
    detail: str
    added: tuple[Manifest, ...] = ()
    added_notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreflightPassed(StepResult):
    """Every credential and permission the run needs was verified before the first change."""

    detail: str


@dataclass(frozen=True)
class Applied(StepResult):
    """Every object server-side applied."""

    objects: tuple[AppliedObject, ...]
    namespace_created: bool
    detail: str


@dataclass(frozen=True)
class ChangesPlanned(StepResult):
    """The dry-run step's answer: the change table (``changes``, from ``dryRun=All``) and the live objects a prune
    deletes, each with the uid and resourceVersion read here (the delete's preconditions)."""

    changes: ChangePlan
    prune_objects: tuple[LiveObject, ...]
    detail: str


@dataclass(frozen=True)
class PruneProgress(StepResult):
    """Checkpoint, written before each delete: what the prune deleted so far and what it deletes next (``""`` when
    it stopped on a refusal)."""

    deleted: tuple[str, ...]
    deleting: str
    detail: str


@dataclass(frozen=True)
class Pruned(StepResult):
    """The prune finished; ``deleted`` lists ``Kind/name`` of every object it deleted (in earlier attempts too)."""

    deleted: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class JobStarted(StepResult):
    """Checkpoint: an installer job exists (written before waiting for it). ``attempt`` counts earlier failures."""

    job_id: str
    attempt: int
    detail: str


@dataclass(frozen=True)
class Validated(StepResult):
    """The validate job succeeded."""

    job: InstallerJob
    detail: str


@dataclass(frozen=True)
class ReadinessChecked(StepResult):
    """Live readiness after the rollback."""

    readiness: Readiness
    detail: str


@dataclass(frozen=True)
class ObjectsVerified(StepResult):
    """The required Tasks and Pipelines exist; ``leftovers`` are live objects not in the known-good set."""

    leftovers: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class BuildStarted(StepResult):
    """Checkpoint: the smoke build exists (written before waiting for it)."""

    build_id: str
    attempt: int
    detail: str


@dataclass(frozen=True)
class SmokeBuilt(StepResult):
    """The smoke build completed."""

    build: Build
    detail: str


@dataclass(frozen=True)
class NoActiveJob(StepResult):
    """No installer job is pending or running."""

    detail: str


@dataclass(frozen=True)
class Committed(StepResult):
    """The rollback commit (made, found from an earlier run, or not needed: ``already_rolled_back``)."""

    commit: RollbackCommit
    detail: str


@dataclass(frozen=True)
class Pushed(StepResult):
    """The rollback commit is on the remote."""

    commit: RollbackCommit
    detail: str


@dataclass(frozen=True)
class ChangeRequestOpened(StepResult):
    """The pull/merge request (opened, or found)."""

    change_request: ChangeRequest
    detail: str


@dataclass(frozen=True)
class Merged(StepResult):
    """The change request is merged; ``revision`` is the merge commit."""

    change_request: ChangeRequest
    revision: str
    detail: str


@dataclass(frozen=True)
class Synced(StepResult):
    """The sync engine reports exactly the rollback revision Synced and Healthy."""

    status: SyncStatus
    detail: str


@dataclass(frozen=True)
class MarkerPending(StepResult):
    """Checkpoint: the marker's time, fixed before the tag is written (the tag name carries it), so a resumed run
    writes the same tag instead of a second one."""

    at: datetime
    detail: str


@dataclass(frozen=True)
class MarkerRecorded(StepResult):
    """The verified-good marker tag."""

    tag: str
    detail: str


_TYPES: dict[str, type[StepResult]] = {
    cls.__name__: cls
    for cls in (
        Skipped,
        Assessed,
        KnownGoodChosen,
        Rendered,
        PreflightPassed,
        ChangesPlanned,
        Applied,
        PruneProgress,
        Pruned,
        JobStarted,
        Validated,
        ReadinessChecked,
        ObjectsVerified,
        BuildStarted,
        SmokeBuilt,
        NoActiveJob,
        Committed,
        Pushed,
        ChangeRequestOpened,
        Merged,
        Synced,
        MarkerPending,
        MarkerRecorded,
    )
}


def result_json(result: StepResult) -> dict[str, Any]:
    """``{"type": <class name>, "value": <fields>}``: what the journal stores."""
    return {"type": type(result).__name__, "value": to_json(result)}


def result_from_json(data: Any) -> StepResult:
    """The inverse of ``result_json``.

    Raises:
        ValueError: an unknown type or a value that does not fit it.
    """
    if not isinstance(data, dict) or data.get("type") not in _TYPES:
        raise ValueError(f"not a step result: {str(data)[:80]}")
    cls = _TYPES[data["type"]]
    value = from_json(cls, data.get("value"))
    assert isinstance(value, StepResult)
    return value
