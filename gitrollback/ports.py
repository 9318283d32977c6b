"""The small interfaces the runbook engine depends on.

The engine talks only to these Protocols; adapters in ``gitrollback.adapters`` implement them with one
third-party library each, and ``gitrollback.testing`` ships simulators that the real adapters talk to over
loopback sockets. Methods take keyword-only options and return ``gitrollback.models`` values, never vendor
objects; they raise only ``gitrollback.errors`` classes.

Each Protocol carries exactly what the runbook and the known-good resolver call, so an implementation has
nothing to leave unimplemented. To plug one in, pass it to ``gitrollback.Rollback`` directly, or register a factory
under the ``gitrollback.adapters`` entry-point group so a config file selects it by name (``docs/plugins.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from gitrollback.models import (
    AccessNeeds,
    AccessProblem,
    AppliedObject,
    Build,
    ChangeRequest,
    DeployedObject,
    DeploymentRecord,
    InstallerJob,
    LeaseRecord,
    LiveObject,
    Manifest,
    Provider,
    ProviderPermission,
    Readiness,
    RevisionInfo,
    RollbackCommit,
    StepRecord,
    SyncStatus,
    TektonStatus,
)

__all__ = [
    "AccessCheck",
    "AssetSource",
    "BranchHolder",
    "ChangeRequestReader",
    "Clock",
    "Cluster",
    "DeploymentHistory",
    "ImageFactory",
    "LeaseStore",
    "ProgressSink",
    "ProviderAccess",
    "RollbackWorkspace",
    "SourceHost",
    "SyncEngine",
]

InstallerOperation = Literal["install", "upgrade", "validate"]


@runtime_checkable
class ImageFactory(Protocol):
    """The Image Factory admin and build API, as the rollback runbook uses it."""

    def get_provider(self, provider_id: str) -> Provider:
        """Fetch one provider (``GET /admin/infrastructure/providers/{id}``)."""
        ...

    def tekton_status(self, provider_id: str, *, limit: int = 20) -> TektonStatus:
        """Installer status with recent jobs, newest first."""
        ...

    def readiness(self, provider_id: str, *, probe_pvc: bool = False, probe_rbac: bool = False) -> Readiness:
        """Run the live readiness check (Image Factory persists its result on the provider)."""
        ...

    def start_installer_job(
        self,
        provider_id: str,
        operation: InstallerOperation,
        *,
        install_mode: str | None = None,
        asset_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> InstallerJob:
        """Start install, upgrade or validate; raises ``JobInProgressError`` on 409."""
        ...

    def wait_for_job(self, provider_id: str, job_id: str, *, timeout: float) -> InstallerJob:
        """Poll until the job is terminal; raises ``WaitTimeoutError``."""
        ...

    def create_build(self, payload: Mapping[str, Any], *, limit_timeout: float = 0.0) -> Build:
        """Create (and auto-queue) a build from a ``POST /builds`` body; while the tenant's build limits are full,
        keep trying for up to ``limit_timeout`` seconds."""
        ...

    def wait_for_build(self, build_id: str, *, timeout: float) -> Build:
        """Poll until the build is terminal; raises ``WaitTimeoutError``."""
        ...

    def token_expiry(self) -> datetime | None:
        """When the credential the adapter cannot renew expires (a static token), else None; no request."""
        ...


@runtime_checkable
class Cluster(Protocol):
    """The provider's Kubernetes cluster."""

    def resource_scopes(self, api_version: str) -> Mapping[str, bool]:
        """Kind -> namespaced for every kind the API server serves at ``api_version`` (its discovery); empty when
        it serves none there."""
        ...

    def apply(
        self, manifest: Manifest, *, namespace: str | None, field_manager: str, force: bool, dry_run: bool = False
    ) -> AppliedObject:
        """Server-side apply one object (one request); namespaced objects go to ``namespace``. ``dry_run``: the
        API server admits and validates it and stores nothing."""
        ...

    def list_objects(self, api_version: str, kind: str, *, namespace: str | None) -> list[LiveObject]:
        """The live objects of one kind (in one namespace, for namespaced kinds), with their field managers."""
        ...

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None,
        uid: str,
        resource_version: str,
    ) -> None:
        """Delete exactly this object (uid and resourceVersion as preconditions: ``ConflictError`` if it changed)."""
        ...

    def exists(self, api_version: str, kind: str, name: str, *, namespace: str | None) -> bool:
        """True when the object exists (the dry-run step asks it of the target namespace)."""
        ...

    def list_names(self, api_version: str, kind: str, *, namespace: str | None) -> list[str]:
        """Names of the objects of one kind (in one namespace, for namespaced kinds)."""
        ...

    def ensure_namespace(self, name: str, *, field_manager: str) -> bool:
        """Create the namespace when it is missing; True when it was created."""
        ...


@runtime_checkable
class AssetSource(Protocol):
    """Read-only access to the git history that holds the Tekton assets."""

    def resolve(self, rev: str) -> str:
        """The full commit id of a revision (commit, tag or branch); ``GitError`` when unknown."""
        ...

    def describe(self, rev: str) -> RevisionInfo:
        """Commit summary, time and tags pointing at it."""
        ...

    def tree_id(self, rev: str, path: str) -> str | None:
        """The tree id of ``path`` at ``rev``, or None when the path does not exist there."""
        ...

    def path_history(self, branch: str, paths: Sequence[str], *, limit: int = 200) -> list[RevisionInfo]:
        """First-parent commits of ``branch`` that changed any of ``paths``, newest first."""
        ...

    def read_tree(self, rev: str, path: str) -> dict[str, bytes]:
        """Every file under ``path`` at ``rev``, keyed by its path relative to ``path``, from git objects."""
        ...


@runtime_checkable
class RollbackWorkspace(Protocol):
    """A clone of the GitOps repository where the rollback commit is made and pushed from."""

    def prepare(
        self,
        *,
        provider_id: str,
        bad: str,
        good: str,
        paths: Sequence[str],
        strategy: Literal["restore", "revert"] = "restore",
        failed_job: str | None = None,
        context: str = "",
        trailers: Mapping[str, str] = {},
        base: str | None = None,
    ) -> RollbackCommit:
        """Make (or find from an earlier run) the commit that restores ``paths`` to ``good``, on ``base`` (a commit)
        or, when None, on the tracked branch's tip."""
        ...

    def push(self, commit: RollbackCommit, *, direct: bool = False) -> RollbackCommit:
        """Push the rollback branch, or the commit straight onto the tracked branch when ``direct``."""
        ...

    def record_marker(self, revision: str, *, provider_id: str, at: datetime, evidence: Mapping[str, Any]) -> str:
        """Record ``revision`` as verified known-good (an annotated tag); returns the tag name."""
        ...


@runtime_checkable
class SourceHost(Protocol):
    """Where rollback changes are proposed: pull requests (GitHub), merge requests (GitLab).

    Every method is idempotent where it can be: ``open_change_request`` returns the existing open change request
    for the same source and target branch instead of opening a second one (updating its body when it differs).
    """

    def open_change_request(
        self,
        *,
        source_branch: str,
        target_branch: str,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        reviewers: Sequence[str] = (),
    ) -> ChangeRequest:
        """Open one, or return (and refresh the body of) the existing open one."""
        ...

    def merge(self, number: int, *, message: str | None = None) -> ChangeRequest:
        """Merge it; raises ``ConflictError``/``PermissionDeniedError`` with the host's reason when refused."""
        ...

    def wait_merged(self, number: int, *, timeout: float) -> ChangeRequest:
        """Poll until merged (returns it with ``merge_commit``) or closed (raises); ``WaitTimeoutError``."""
        ...


@runtime_checkable
class ChangeRequestReader(Protocol):
    """A ``SourceHost`` that can read one change request again (the built-in GitHub and GitLab hosts can): a resumed
    run's merge step uses it to see a merge that happened while gitrollback was not running."""

    def get_change_request(self, number: int) -> ChangeRequest:
        """The change request as the host shows it now."""
        ...


@runtime_checkable
class SyncEngine(Protocol):
    """A GitOps controller that applies a git revision to the cluster (Argo CD, Flux).

    ``app`` is what ``sync.app`` names: an Argo CD application, a Flux Kustomization. ``SyncStatus.revision`` is
    the commit the controller last applied; ``sync_status == "Synced"`` and ``health == "Healthy"`` mean it is
    applied and ready, so the runbook can tell "already there" from "needs a sync".
    """

    def status(self, app: str) -> SyncStatus:
        """The application's current state, without asking the controller to do anything."""
        ...

    def sync(self, app: str, *, revision: str, prune: bool = False) -> SyncStatus:
        """Ask the controller to apply ``revision`` (``prune``: also delete what the revision no longer has)."""
        ...

    def wait_for_revision(self, app: str, revision: str, *, timeout: float) -> SyncStatus:
        """Wait until exactly ``revision`` is applied and healthy; fail fast when the controller gave up."""
        ...

    def deployed(self, app: str) -> list[DeployedObject]:
        """The objects the controller reports it applied (what ``verify-objects`` checks in gitops mode)."""
        ...


@runtime_checkable
class DeploymentHistory(Protocol):
    """A controller that remembers what it deployed (Argo CD's ``status.history``); evidence for known-good."""

    def history(self, app: str) -> list[DeploymentRecord]:
        """Deployments, oldest first."""
        ...


class Clock(Protocol):
    """Wall time, monotonic time and sleeping, injectable so tests never wait for real."""

    def now(self) -> datetime:
        """Timezone-aware current time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class ProgressSink(Protocol):
    """Receives step records as they happen (the CLI prints them; CI output formats them)."""

    def step_started(self, name: str, description: str) -> None:
        """A step began."""
        ...

    def step_finished(self, record: StepRecord) -> None:
        """A step ended."""
        ...

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        """A long wait is still going on."""
        ...


# -- the run's guards: lock, pre-flight, escalation (docs/safety.md) ------------------------------------------


@runtime_checkable
class LeaseStore(Protocol):
    """``coordination.k8s.io/v1`` Leases in the provider's cluster: what the cross-machine run lock uses."""

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        """The Lease, or None when there is none."""
        ...

    def create_lease(self, lease: LeaseRecord) -> LeaseRecord:
        """Create it; ``ConflictError`` (409 AlreadyExists) when another run created it first."""
        ...

    def replace_lease(self, lease: LeaseRecord) -> LeaseRecord:
        """Replace it, quoting ``lease.resource_version``; ``ConflictError`` (409) when it changed meanwhile."""
        ...


@runtime_checkable
class AccessCheck(Protocol):
    """A port that can verify, without changing anything, that its credentials allow what the run needs."""

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """Every problem found (empty when all is well); raises only when the remote cannot be asked at all."""
        ...


@runtime_checkable
class BranchHolder(Protocol):
    """The GitOps remote as the run lock of a provider without cluster access: who holds a rollback branch."""

    def branch_trailers(self, prefix: str) -> Mapping[str, Mapping[str, str]]:
        """Remote branches named ``prefix...`` (fetched now) whose tip is not merged into the tracked branch,
        each with its tip commit's trailers."""
        ...


@runtime_checkable
class ProviderAccess(Protocol):
    """Who may select a provider (Image Factory's grants and ``is_global``): the levers escalation uses."""

    def get_provider(self, provider_id: str) -> Provider:
        """Fetch one provider."""
        ...

    def list_permissions(self, provider_id: str) -> list[ProviderPermission]:
        """The provider's unexpired explicit grants."""
        ...

    def grant_permission(self, provider_id: str, tenant_id: str) -> None:
        """Grant ``infrastructure:select`` to a tenant (idempotent)."""
        ...

    def revoke_permission(self, provider_id: str, tenant_id: str) -> None:
        """Revoke a tenant's ``infrastructure:select`` grant."""
        ...

    def update_provider(self, provider_id: str, fields: Mapping[str, Any]) -> Provider:
        """``PUT`` the given provider fields (``{"is_global": false}``)."""
        ...
