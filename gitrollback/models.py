"""Frozen, JSON-serialisable values that flow between the engine, the adapters and the reports.

Adapters turn wire payloads into these immediately; the engine never sees a vendor object or a raw dict
from a remote. ``to_json()`` gives the plain-dict form used by ``--json`` output and the run journal.
Timestamps are timezone-aware ``datetime`` objects and serialise as RFC 3339 strings.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "TERMINAL_BUILD_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "AccessNeeds",
    "AccessProblem",
    "AccessRequirement",
    "AppliedObject",
    "Assessment",
    "Build",
    "ChangePlan",
    "ChangeRequest",
    "DeployedObject",
    "DeploymentRecord",
    "Escalation",
    "FailedJob",
    "FieldManagerEntry",
    "Incident",
    "InstallMode",
    "InstallerJob",
    "JobEvent",
    "KnownGood",
    "LeaseRecord",
    "LiveObject",
    "Manifest",
    "ObjectChange",
    "PathCommit",
    "PlanStep",
    "Provider",
    "ProviderPermission",
    "Readiness",
    "ReadinessCheck",
    "RejectedCandidate",
    "RevisionInfo",
    "RevokedGrant",
    "RollbackCommit",
    "RollbackPlan",
    "RunReport",
    "RunStatus",
    "StepRecord",
    "StepStatus",
    "SyncStatus",
    "TagRef",
    "TektonStatus",
    "to_json",
]

InstallMode = Literal["gitops", "image_factory_installer"]
RunStatus = Literal["rolled_back", "proposed", "failed", "refused", "planned"]


class StepStatus(enum.StrEnum):
    """Outcome of one runbook step."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    PLANNED = "planned"


ACTIVE_JOB_STATUSES = frozenset({"pending", "running"})
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
TERMINAL_BUILD_STATUSES = frozenset({"completed", "failed", "cancelled"})


def to_json(value: Any) -> Any:
    """Turn models (and containers of them) into plain JSON-compatible values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.metadata.get("json") is False:
                continue
            out[f.name] = to_json(getattr(value, f.name))
        return out
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [to_json(v) for v in value]
    return value


@dataclass(frozen=True)
class Provider:
    """An Image Factory infrastructure provider, as far as a rollback needs it.

    ``config`` is the provider's config map. Image Factory returns it unredacted (tokens and kubeconfigs
    included), so it is excluded from ``repr`` and from JSON output.
    """

    id: str
    tenant_id: str
    name: str
    provider_type: str
    status: str
    is_global: bool = False
    is_schedulable: bool = False
    target_namespace: str | None = None
    readiness_status: str | None = None
    readiness_missing_prereqs: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict, repr=False, metadata={"json": False})

    @property
    def install_mode(self) -> InstallMode:
        """The provider's configured Tekton install mode, resolved as Image Factory does."""
        mode = self.config.get("tekton_install_mode")
        if mode in ("gitops", "image_factory_installer"):
            return mode  # type: ignore[no-any-return]
        return "image_factory_installer"

    @property
    def profile_version(self) -> str:
        """``config.tekton_profile_version`` lowercased and trimmed, default ``v1`` (the service's rule)."""
        value = self.config.get("tekton_profile_version")
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
        return "v1"


@dataclass(frozen=True)
class InstallerJob:
    """One Tekton installer job (install, upgrade or validate; the API does not say which)."""

    id: str
    provider_id: str
    tenant_id: str
    install_mode: str
    asset_version: str
    status: str
    created_at: datetime
    updated_at: datetime
    requested_by: str = ""
    error_message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """True while the job is pending or running (it holds the provider's job lock)."""
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def is_terminal(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.status in TERMINAL_JOB_STATUSES


@dataclass(frozen=True)
class JobEvent:
    """An installer job event (only visible while its job is active)."""

    id: str
    job_id: str
    event_type: str
    message: str
    created_at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TektonStatus:
    """``GET .../tekton/status``: persisted readiness plus the recent installer jobs."""

    provider_id: str
    required_tasks: tuple[str, ...]
    required_pipelines: tuple[str, ...]
    recent_jobs: tuple[InstallerJob, ...]
    readiness_status: str | None = None
    readiness_last_checked: datetime | None = None
    readiness_missing_prereqs: tuple[str, ...] = ()
    active_job: InstallerJob | None = None
    active_job_events: tuple[JobEvent, ...] = ()


@dataclass(frozen=True)
class ReadinessCheck:
    """One named readiness check."""

    name: str
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Readiness:
    """``GET .../readiness``: a live check, which Image Factory also persists on the provider."""

    provider_id: str
    status: str
    checked_at: datetime
    tenant_namespace: str
    missing_prereqs: tuple[str, ...]
    checks: tuple[ReadinessCheck, ...]

    @property
    def ready(self) -> bool:
        """True when nothing is missing."""
        return self.status == "ready"


@dataclass(frozen=True)
class Build:
    """An Image Factory build, as far as a smoke test needs it."""

    id: str
    status: str
    tenant_id: str = ""
    name: str = ""
    error_message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the build completed, failed or was cancelled."""
        return self.status in TERMINAL_BUILD_STATUSES


@dataclass(frozen=True)
class ProviderPermission:
    """An explicit grant of a provider to a tenant (``GET .../providers/{id}/permissions``)."""

    id: str
    provider_id: str
    tenant_id: str
    permission: str
    granted_by: str = ""
    granted_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RevisionInfo:
    """A git commit, as shown to people."""

    sha: str
    summary: str
    committed_at: datetime
    author: str = ""
    tags: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        """The abbreviated commit id."""
        return self.sha[:12]


@dataclass(frozen=True)
class PathCommit:
    """One first-parent commit that changed asset paths: their trees before and after it, and its trailers.

    ``before``/``after`` map every asked path to its tree (or blob) id, None where the path does not exist.
    ``before`` is the first parent's state; it is unknown (empty) when ``boundary`` is True, i.e. the commit is
    the edge of a shallow clone. ``trailers`` holds gitrollback's own rollback trailers (``Rollback-Of``,
    ``Rollback-To``, ``Provider``); ``reverts`` the commits named by ``This reverts commit <id>`` lines.
    """

    info: RevisionInfo
    parents: tuple[str, ...]
    before: Mapping[str, str | None]
    after: Mapping[str, str | None]
    trailers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reverts: tuple[str, ...] = ()
    boundary: bool = False

    @property
    def sha(self) -> str:
        """The commit id."""
        return self.info.sha


@dataclass(frozen=True)
class TagRef:
    """A tag and the commit it names; ``relation`` says where that commit sits relative to a given revision.

    ``relation`` is ``"same"``, ``"ancestor"`` (in the revision's history), ``"descendant"`` (newer than it),
    ``"unrelated"``, or None when no revision was given.
    """

    name: str
    target: str
    message: str = ""
    target_time: datetime | None = None
    annotated: bool = False
    relation: str | None = None


@dataclass(frozen=True)
class RejectedCandidate:
    """A revision the known-good search considered and turned down."""

    revision: str
    why: str


@dataclass(frozen=True)
class KnownGood:
    """The revision to roll back to, and why it was chosen.

    ``warnings`` are things an operator must know before acting on the answer, e.g. that it re-applies content
    an earlier rollback removed (``docs/known-good.md``); empty for an ordinary answer.
    """

    revision: str
    trees: Mapping[str, str]
    source: str
    reason: str
    bad_revision: str = ""
    summary: str = ""
    rejected: tuple[RejectedCandidate, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object from the asset tree, ready to apply."""

    api_version: str
    kind: str
    name: str
    body: Mapping[str, Any] = field(repr=False)
    source_file: str = ""
    namespace: str | None = None
    line: int = 0

    @property
    def ref(self) -> str:
        """``Kind/name``, the form Image Factory's installer logs."""
        return f"{self.kind}/{self.name}"

    @property
    def group(self) -> str:
        """The API group (``""`` for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def where(self) -> str:
        """``file:line``, where the object is written."""
        return f"{self.source_file}:{self.line}" if self.line else self.source_file


@dataclass(frozen=True)
class AppliedObject:
    """The result of one server-side apply (or dry-run apply): ``object`` is what the API server answered."""

    kind: str
    name: str
    namespace: str | None
    created: bool
    resource_version: str = ""
    object: Mapping[str, Any] = field(default_factory=dict, repr=False, metadata={"json": False})


@dataclass(frozen=True)
class FieldManagerEntry:
    """One ``metadata.managedFields`` entry: who wrote fields of an object, and how (``Apply`` or ``Update``)."""

    manager: str
    operation: str
    subresource: str = ""


@dataclass(frozen=True)
class LiveObject:
    """An object as it is in the cluster now: identity, the preconditions to delete exactly it, its managers.

    ``owned`` is True when it has ``ownerReferences`` (a controller made it and will clean it up).
    """

    api_version: str
    kind: str
    name: str
    namespace: str | None
    uid: str
    resource_version: str
    managers: tuple[FieldManagerEntry, ...] = ()
    owned: bool = False
    body: Mapping[str, Any] = field(default_factory=dict, repr=False, metadata={"json": False})

    @property
    def ref(self) -> str:
        """``Kind/name``."""
        return f"{self.kind}/{self.name}"


ChangeAction = Literal["create", "update", "unchanged", "conflict", "prune", "keep", "absent"]


@dataclass(frozen=True)
class ObjectChange:
    """What a run does to one object, as the API server's dry run answered it.

    For a known-good object ``action`` is ``create``, ``update`` (``fields``: the top-level fields that change,
    ``metadata.labels`` style inside metadata), ``unchanged`` or ``conflict`` (``fields``: the fields another
    field manager owns; ``detail``: the API server's message). For an object the bad revision added it is
    ``prune`` (will be deleted), ``keep`` (stays, ``detail`` says why) or ``absent`` (not in the cluster).
    """

    kind: str
    name: str
    namespace: str | None
    action: ChangeAction
    fields: tuple[str, ...] = ()
    detail: str = ""
    file: str = ""
    line: int = 0
    api_version: str = ""

    @property
    def ref(self) -> str:
        """``Kind/name``."""
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ChangePlan:
    """The change a run makes in the target namespace, from a server-side dry run (``dryRun=All``).

    ``objects``: one entry per known-good object, in apply order. ``added``: objects the bad revision has and
    the known-good one lacks. ``validated`` is False when the API server could not dry-run (the namespace does
    not exist yet, so every object is a create nobody has validated).
    """

    namespace: str
    objects: tuple[ObjectChange, ...]
    added: tuple[ObjectChange, ...] = ()
    prune: bool = False
    validated: bool = True
    bad_revision: str = ""
    notes: tuple[str, ...] = ()

    def count(self, action: str) -> int:
        """How many known-good objects get ``action`` (or added objects, for prune/keep/absent)."""
        return sum(1 for c in (*self.objects, *self.added) if c.action == action)

    @property
    def to_prune(self) -> tuple[ObjectChange, ...]:
        """The objects the prune step deletes."""
        return tuple(c for c in self.added if c.action == "prune")


@dataclass(frozen=True)
class FailedJob:
    """The installer job whose failure prompted the rollback."""

    id: str
    error: str
    asset_version: str
    status: str = "failed"
    completed_at: datetime | None = None


@dataclass(frozen=True)
class PlanStep:
    """One step a run would take, with its concrete targets."""

    name: str
    description: str
    targets: tuple[str, ...] = ()
    mutates: bool = False


@dataclass(frozen=True)
class RollbackPlan:
    """What ``run`` would do, computed without changing anything."""

    provider_id: str
    mode: InstallMode
    target_namespace: str
    failed_job: FailedJob | None
    known_good: KnownGood
    steps: tuple[PlanStep, ...]
    manifests: tuple[Manifest, ...] = field(default=(), metadata={"json": False})
    changes: ChangePlan | None = None
    resumes: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """What one step did: the report is built from these only."""

    name: str
    status: StepStatus
    started_at: datetime
    finished_at: datetime
    detail: str = ""


@dataclass(frozen=True)
class Incident:
    """Incident notes, as the runbook asks for them."""

    failed_version: str
    restored_version: str
    root_cause: str
    follow_up: tuple[str, ...]
    timeline: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunReport:
    """The outcome of a rollback run; ``to_json(report)`` is the ``--json`` schema."""

    status: RunStatus
    provider_id: str
    mode: str
    failed_job: FailedJob | None
    known_good: KnownGood | None
    steps: tuple[StepRecord, ...]
    incident: Incident | None
    error: str | None = None
    change_request: ChangeRequest | None = None
    rollback_commit: str | None = None
    synced_revision: str | None = None
    error_kind: str | None = None
    changes: ChangePlan | None = None
    pruned: tuple[str, ...] = ()
    sync: SyncStatus | None = None
    escalation: Escalation | None = None
    run_id: str = ""
    resumed: tuple[str, ...] = ()
    notes_path: str | None = None
    notes_error: str | None = None


@dataclass(frozen=True)
class Assessment:
    """What ``assess`` found, and what it advises."""

    provider_id: str
    provider_name: str
    mode: str
    provider_status: str
    target_namespace: str
    readiness_status: str
    missing_prereqs: tuple[str, ...]
    active_job: InstallerJob | None
    failed_job: FailedJob | None
    recent_jobs: tuple[InstallerJob, ...]
    verdict: Literal["rollback", "wait", "healthy", "unsupported", "resume"]
    advice: str
    kind: str | None = None
    unfinished_run: str | None = None


@dataclass(frozen=True)
class RollbackCommit:
    """The commit that restores the asset paths, on its rollback branch.

    ``created`` is False when a rerun found the branch and commit from an earlier run; ``already_rolled_back``
    is True when the base already carries the known-good trees (nothing to commit; ``sha`` is the base).
    ``trees`` maps each asset path to its tree id in ``sha`` and ``root_tree`` is the tree id of the whole
    commit, so a caller can check the result without opening the repository again.
    """

    sha: str
    branch: str
    base: str
    bad_revision: str
    good_revision: str
    strategy: Literal["restore", "revert"]
    created: bool = True
    already_rolled_back: bool = False
    reverted: tuple[str, ...] = ()
    trees: Mapping[str, str] = field(default_factory=dict)
    root_tree: str = ""


@dataclass(frozen=True)
class ChangeRequest:
    """A pull request (GitHub) or merge request (GitLab).

    ``reviewers_refused`` lists configured reviewers the host would not add (not a collaborator, no such user):
    they are reported, and the change request goes on without them.
    """

    host: str
    number: int
    url: str
    state: Literal["open", "closed", "merged"]
    source_branch: str
    target_branch: str
    title: str = ""
    head_sha: str = ""
    merge_commit: str | None = None
    created: bool = True
    body_updated: bool = False
    reviewers_refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class SyncStatus:
    """What a GitOps controller reports for one application (Argo CD Application, Flux Kustomization)."""

    app: str
    sync_status: str
    health: str
    revision: str
    operation_phase: str | None = None
    operation_revision: str | None = None
    operation_message: str = ""
    operation_finished_at: datetime | None = None
    reconciled_at: datetime | None = None
    auto_sync: bool = False
    engine: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployedObject:
    """One object a GitOps controller reports it applied (Argo CD ``status.resources``, Flux's inventory)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class DeploymentRecord:
    """One entry of a GitOps controller's deployment history (Argo CD ``status.history``)."""

    id: int
    revision: str
    deployed_at: datetime
    source: str = ""
    controller: str = "Argo CD"


@dataclass(frozen=True)
class LeaseRecord:
    """A ``coordination.k8s.io/v1`` Lease as the run lock reads and writes it.

    ``holder`` is ``spec.holderIdentity`` (empty once released); ``annotations`` carry the holder's host, pid and
    run id; ``resource_version`` is the optimistic-concurrency token a replace must quote.
    """

    namespace: str
    name: str
    holder: str
    duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    annotations: Mapping[str, str] = field(default_factory=dict)
    resource_version: str = ""


@dataclass(frozen=True)
class AccessRequirement:
    """One Kubernetes permission a run needs (``verb`` on ``kind`` at ``api_version``, in ``namespace``)."""

    verb: str
    api_version: str
    kind: str
    namespace: str | None = None


@dataclass(frozen=True)
class AccessNeeds:
    """Everything a run will do on its remotes, for the pre-flight check before the first change.

    ``kube``: the Kubernetes permissions; ``push``: the git token must push (the rollback branch, or the tracked
    branch for ``scm: direct``); ``change_request``: it must open a pull/merge request; ``merge``: and merge it;
    ``app``: the Argo CD application to read; ``budget_seconds``: the longest the run may take, which a token
    with an expiry must outlive.
    """

    provider_id: str
    kube: tuple[AccessRequirement, ...] = ()
    push: bool = False
    change_request: bool = False
    merge: bool = False
    app: str | None = None
    budget_seconds: float = 0.0


@dataclass(frozen=True)
class AccessProblem:
    """A credential or permission the run will need and does not have, found before the first change."""

    service: str
    problem: str
    hint: str = ""


@dataclass(frozen=True)
class RevokedGrant:
    """An ``infrastructure:select`` grant escalation revoked, as it was before."""

    tenant_id: str
    granted_by: str = ""
    granted_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Escalation:
    """What escalation changed on a provider after repeated failed rollbacks, and whether it was restored.

    ``was_global`` is the provider's ``is_global`` before; ``cleared_global`` is True when escalation set it to
    false. ``restored_at`` is set once ``access restore`` put everything back.
    """

    provider_id: str
    run_id: str
    escalated_at: datetime
    failed_attempts: int
    revoked: tuple[RevokedGrant, ...] = ()
    was_global: bool = False
    cleared_global: bool = False
    restored_at: datetime | None = None
