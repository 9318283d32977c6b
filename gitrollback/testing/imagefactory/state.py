"""The Image Factory simulator's records: tenants, users, providers, jobs, events, grants, projects, builds.

These mirror the Postgres rows the real server keeps (imagefactoryoss/imagefactory ``backend/migrations``,
``backend/internal/domain/infrastructure``) and know how to render themselves as the server's JSON DTOs, with its
``omitempty`` habits and RFC 3339 timestamps without fractional seconds (the handlers' ``time.RFC3339``). Records
are plain mutable dataclasses guarded by one lock owned by ``SimState``; the HTTP handlers, the installer worker
and the build dispatcher all go through it.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gitrollback.testing.clock import SimClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory.godecode import go_uuid

__all__ = [
    "AVAILABLE_PROVIDERS_PAGE",
    "K8S_TYPES",
    "NIL_UUID",
    "PROVIDER_TYPES",
    "Build",
    "Ctx",
    "Event",
    "Grant",
    "Job",
    "Project",
    "ProviderRecord",
    "RegistryAuth",
    "SimState",
    "Tenant",
    "TenantBuildConfig",
    "User",
    "new_id",
    "parse_uuid",
    "rfc3339",
]

NIL_UUID = "00000000-0000-0000-0000-000000000000"
PROVIDER_TYPES = frozenset(
    {
        "kubernetes",
        "aws-eks",
        "gcp-gke",
        "azure-aks",
        "oci-oke",
        "vmware-vks",
        "openshift",
        "rancher",
        "build_nodes",
    }
)
#: The repository's default page size, all that ``GetAvailableProviders`` ever reads.
AVAILABLE_PROVIDERS_PAGE = 20
# Types whose providers go through target-namespace/auth validation and the is_schedulable rule
# (service.go isProviderSchedulable).
K8S_TYPES = PROVIDER_TYPES - {"build_nodes"}


def rfc3339(value: datetime | None) -> str | None:
    """``time.RFC3339`` as Go writes it: no fractional seconds, ``Z`` for UTC."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """A lowercase canonical UUID string."""
    return str(uuid.uuid4())


def parse_uuid(value: Any) -> str | None:
    """The canonical form of a UUID string, or None when Go's ``uuid.Parse`` would refuse it."""
    return go_uuid(value)


def _drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}


@dataclass
class Tenant:
    """A tenant."""

    id: str
    name: str


@dataclass
class User:
    """A user with per-tenant roles; ``system_admin`` is membership of a system-administrator group.

    (``rbac_repository.go``, ``IsSystemAdmin``.)
    """

    id: str
    email: str
    password: str
    roles: dict[str, str]
    system_admin: bool = False
    must_change_password: bool = False

    @property
    def primary_tenant(self) -> str:
        """The first tenant the user was added to."""
        return next(iter(self.roles), NIL_UUID)


@dataclass
class ProviderRecord:
    """One ``infrastructure_providers`` row."""

    id: str
    tenant_id: str
    name: str
    provider_type: str
    config: dict[str, Any]
    status: str
    is_global: bool
    target_namespace: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    display_name: str = ""
    capabilities: list[str] = field(default_factory=list)
    bootstrap_mode: str = "self_managed"
    credential_scope: str = "cluster_admin"
    is_schedulable: bool = False
    schedulable_reason: str | None = None
    blocked_by: list[str] | None = None
    health_status: str | None = None
    last_health_check: datetime | None = None
    readiness_status: str | None = None
    readiness_last_checked: datetime | None = None
    readiness_missing_prereqs: list[str] | None = None
    cluster_reachable: bool = True

    def to_json(self) -> dict[str, Any]:
        """``InfrastructureProviderResponse`` (handler L64-95); ``config`` unredacted, as the server does."""
        return _drop_none(
            {
                "id": self.id,
                "tenant_id": self.tenant_id,
                "is_global": self.is_global,
                "provider_type": self.provider_type,
                "name": self.name,
                "display_name": self.display_name or self.name,
                "config": self.config,
                "status": self.status,
                "capabilities": list(self.capabilities),
                "created_by": self.created_by,
                "created_at": rfc3339(self.created_at),
                "updated_at": rfc3339(self.updated_at),
                "last_health_check": rfc3339(self.last_health_check),
                "health_status": self.health_status,
                "readiness_status": self.readiness_status,
                "readiness_last_checked": rfc3339(self.readiness_last_checked),
                "readiness_missing_prereqs": self.readiness_missing_prereqs or None,
                "bootstrap_mode": self.bootstrap_mode,
                "credential_scope": self.credential_scope,
                "target_namespace": self.target_namespace or None,
                "is_schedulable": self.is_schedulable,
                "schedulable_reason": self.schedulable_reason,
                "blocked_by": self.blocked_by or None,
            }
        )


@dataclass
class Event:
    """One ``tekton_installer_job_events`` row (migration 046)."""

    id: str
    job_id: str
    event_type: str
    message: str
    details: dict[str, Any]
    created_at: datetime
    created_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``TektonInstallerJobEventResponse`` (handler L239-247)."""
        return _drop_none(
            {
                "id": self.id,
                "job_id": self.job_id,
                "event_type": self.event_type,
                "message": self.message,
                "details": self.details or None,
                "created_by": self.created_by,
                "created_at": rfc3339(self.created_at),
            }
        )


@dataclass
class Job:
    """One ``tekton_installer_jobs`` row; ``seq`` breaks ``created_at`` ties so FIFO claims are stable."""

    id: str
    provider_id: str
    tenant_id: str
    requested_by: str
    operation: str
    install_mode: str
    asset_version: str
    status: str
    created_at: datetime
    updated_at: datetime
    seq: int
    error_message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Pending or running: holds the provider's job lock."""
        return self.status in ("pending", "running")

    def to_json(self) -> dict[str, Any]:
        """``TektonInstallerJobResponse`` (handler L224-237): note there is no ``operation`` field."""
        return _drop_none(
            {
                "id": self.id,
                "provider_id": self.provider_id,
                "tenant_id": self.tenant_id,
                "requested_by": self.requested_by,
                "install_mode": self.install_mode,
                "asset_version": self.asset_version,
                "status": self.status,
                "error_message": self.error_message or None,
                "started_at": rfc3339(self.started_at),
                "completed_at": rfc3339(self.completed_at),
                "created_at": rfc3339(self.created_at),
                "updated_at": rfc3339(self.updated_at),
            }
        )


@dataclass
class Grant:
    """An ``infrastructure:select`` grant of a provider to a tenant (the provider permissions routes)."""

    id: str
    provider_id: str
    tenant_id: str
    permission: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime | None = None

    def live(self, at: datetime) -> bool:
        """True while unexpired."""
        return self.expires_at is None or self.expires_at > at

    def to_json(self) -> dict[str, Any]:
        """The permission row as the GET route lists it."""
        return _drop_none(
            {
                "id": self.id,
                "provider_id": self.provider_id,
                "tenant_id": self.tenant_id,
                "permission": self.permission,
                "granted_by": self.granted_by,
                "granted_at": rfc3339(self.granted_at),
                "expires_at": rfc3339(self.expires_at),
            }
        )


@dataclass
class Project:
    """A project and its default source: builds take ``git_url``/``git_branch`` from it.

    (``router.go``'s project context lookup reads the project's default source; ``repository_auth`` is an active
    repository auth, ``router_setup_wiring.go``'s ``GetActiveRepositoryAuth``.)
    """

    id: str
    tenant_id: str
    name: str
    git_url: str
    git_branch: str = "main"
    repository_auth: bool = False


@dataclass
class RegistryAuth:
    """A registry authentication (``domain/registryauth``): tenant-wide when ``project_id`` is None."""

    id: str
    tenant_id: str
    project_id: str | None
    is_active: bool = True
    is_default: bool = False


@dataclass
class TenantBuildConfig:
    """The tenant's build settings as ``systemconfig.Service.GetBuildConfig`` merges them (its defaults)."""

    max_concurrent_jobs: int = 10
    max_queue_size: int = 100
    tekton_enabled: bool = True


@dataclass
class Build:
    """A build; ``dispatched_tick`` is the dispatcher tick at which it started running.

    ``name`` is the manifest's name, which only the ``201`` answer carries: Image Factory does not store it (the
    ``builds`` table has no name or manifest column, ``BuildRepository.Save`` in imagefactoryoss/imagefactory
    ``backend/internal/adapters/secondary/postgres/build_repository.go``), and every read rebuilds the manifest
    named ``Build #<number>`` (``buildManifestFromDB``, same file), ``number`` counting the project's builds from 1
    (``Save``: ``MAX(build_number) + 1`` per project).
    """

    id: str
    tenant_id: str
    project_id: str
    name: str
    type: str
    method: str
    provider_id: str
    manifest: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    seq: int
    error_message: str | None = None
    result: dict[str, Any] | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    dispatched_tick: int = -1
    number: int = 0

    def to_json(self) -> dict[str, Any]:
        """``BuildResponse`` (``build_handler_reads.go``) of a read: the stored name is ``Build #<number>``."""
        stored = f"Build #{self.number}"
        return _drop_none(
            {
                "id": self.id,
                "tenant_id": self.tenant_id,
                "project_id": self.project_id,
                "name": stored,
                "type": self.type,
                "status": self.status,
                "manifest": {**self.manifest, "name": stored},
                "result": self.result,
                "error_message": self.error_message or None,
                "created_at": rfc3339(self.created_at),
                "started_at": rfc3339(self.started_at),
                "completed_at": rfc3339(self.completed_at),
                "updated_at": rfc3339(self.updated_at),
            }
        )


@dataclass(frozen=True)
class Ctx:
    """What every route handler gets: the records and the shared cluster store."""

    state: SimState
    cluster: ClusterState


class SimState:
    """All records plus the lock (a ``Condition``) and the clock every timestamp comes from."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.cond = threading.Condition(threading.RLock())
        self.tenants: dict[str, Tenant] = {}
        self.users: dict[str, User] = {}
        self.providers: dict[str, ProviderRecord] = {}
        self.jobs: dict[str, Job] = {}
        self.grants: list[Grant] = []
        self.projects: dict[str, Project] = {}
        self.builds: dict[str, Build] = {}
        self.registry_auths: dict[str, RegistryAuth] = {}
        self.build_configs: dict[str, TenantBuildConfig] = {}
        self.setup_required = False  # the bootstrap service's first-run gate (409 for system admins)
        # fault switches: the delay (None: lost) of the next jobs' request events, and responses a proxy replaces
        self.request_event_faults: list[float | None] = []
        self.response_faults: list[tuple[str, str, int]] = []
        self.probes: list[tuple[str, str, str]] = []
        self.build_tick_count = 0
        self.maintenance_mode = False  # RequirePermission's system-wide read-only switch (non-admin writes get 503)
        self._seq = itertools.count(1)

    def now(self) -> datetime:
        """The current time on the simulator's clock, timezone-aware."""
        return self.clock.now()

    def next_seq(self) -> int:
        """A strictly increasing number for stable ordering of same-second rows."""
        return next(self._seq)

    def changed(self) -> None:
        """Wake anyone waiting on ``cond`` for a change (call with the lock held)."""
        self.cond.notify_all()

    def user_by_email(self, email: str) -> User | None:
        """The user with this email (case-insensitive), or None."""
        for user in self.users.values():
            if user.email.lower() == email.lower():
                return user
        return None

    def jobs_of(self, provider_id: str) -> list[Job]:
        """A provider's jobs, newest first (``created_at DESC``)."""
        found = [j for j in self.jobs.values() if j.provider_id == provider_id]
        return sorted(found, key=lambda j: (j.created_at, j.seq), reverse=True)

    def active_job(self, provider_id: str) -> Job | None:
        """The provider's pending or running job (the partial unique index allows one)."""
        return next((j for j in self.jobs_of(provider_id) if j.active), None)

    def available_providers(self, tenant_id: str) -> list[ProviderRecord]:
        """``GetAvailableProviders`` (service.go): the selectable providers among the 20 newest online ones.

        It lists online providers with ``FindProvidersAll`` and no limit, which the repository turns into its
        default page (``LIMIT 20``, ``ORDER BY created_at DESC``, ``infrastructure_repository.go``), and never asks
        for a second page: an older provider is missing even when it is selectable.
        """
        online = sorted(
            (p for p in self.providers.values() if p.status == "online"), key=lambda p: p.created_at, reverse=True
        )
        return [p for p in online[:AVAILABLE_PROVIDERS_PAGE] if self.selectable(p, tenant_id)]

    def selectable(self, provider: ProviderRecord, tenant_id: str) -> bool:
        """Online, schedulable (k8s types), and owned, global or granted (the filter of ``GetAvailableProviders``)."""
        if provider.status != "online":
            return False
        if provider.provider_type in K8S_TYPES and not provider.is_schedulable:
            return False
        if provider.tenant_id == tenant_id or provider.is_global:
            return True
        at = self.now()
        return any(
            g.provider_id == provider.id
            and g.tenant_id == tenant_id
            and g.permission == "infrastructure:select"
            and g.live(at)
            for g in self.grants
        )

    def idle(self) -> bool:
        """True when no job is pending/running and no build is queued/running."""
        return not any(j.active for j in self.jobs.values()) and not any(
            b.status in ("queued", "running") for b in self.builds.values()
        )
