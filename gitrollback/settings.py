"""Frozen, grouped settings: what a config file says, after validation. No I/O here.

Secrets are never values in the file: ``SecretRef`` names an environment variable or a file, and only the
composition root (the CLI, or a caller of ``Rollback.from_settings``) resolves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gitrollback.errors import ConfigError
from gitrollback.models import InstallMode

__all__ = [
    "CODE_REQUIRED_TASKS",
    "DEFAULT_KINDS",
    "RUNBOOK_REQUIRED_TASKS",
    "WATCH_POLICIES",
    "AssetLimits",
    "AssetSettings",
    "ClusterSettings",
    "EscalationSettings",
    "GitOpsSettings",
    "ImageFactorySettings",
    "LeaderElectionSettings",
    "LockSettings",
    "ProviderSettings",
    "SecretRef",
    "Settings",
    "SmokeBuildSettings",
    "SyncSettings",
    "VerifySettings",
    "WatchSettings",
    "required_pipelines_for",
]

#: The tasks Image Factory's readiness check requires (imagefactoryoss/imagefactory
#: ``backend/internal/adapters/primary/rest/infrastructure_provider_handler.go``, requiredTektonTaskNamesForReadiness).
CODE_REQUIRED_TASKS: tuple[str, ...] = (
    "git-clone",
    "docker-build",
    "buildx",
    "kaniko-no-push",
    "scan-image",
    "generate-sbom",
    "push-image",
    "packer",
)
#: The tasks the upstream rollback runbook lists (it disagrees with the code: ``kaniko`` instead of the others).
RUNBOOK_REQUIRED_TASKS: tuple[str, ...] = ("git-clone", "docker-build", "buildx", "kaniko", "packer")

INSTALLER_FIELD_MANAGER = "image-factory-tekton-installer"

#: The kinds installer mode may apply by default: exactly those in Image Factory's asset tree
#: (imagefactoryoss/imagefactory backend/tekton: tasks/v1, pipelines/v1, jobs/v1), as ``Kind`` for the core
#: group and ``Kind.group`` otherwise.
DEFAULT_KINDS: tuple[str, ...] = (
    "Task.tekton.dev",
    "Pipeline.tekton.dev",
    "CronJob.batch",
    "Deployment.apps",
    "Service",
    "PersistentVolumeClaim",
    "ServiceAccount",
    "Role.rbac.authorization.k8s.io",
    "RoleBinding.rbac.authorization.k8s.io",
)


def required_pipelines_for(profile: str) -> tuple[str, ...]:
    """The pipelines Image Factory requires for a profile (``image-factory-build-<v>-<method>``)."""
    return tuple(f"image-factory-build-{profile}-{m}" for m in ("docker", "buildx", "kaniko", "packer"))


@dataclass(frozen=True)
class SecretRef:
    """Where a secret comes from: an environment variable or a file (never the config itself)."""

    env: str | None = None
    file: str | None = None
    key: str = ""

    def describe(self) -> str:
        """Where to look, for error messages (never the value)."""
        if self.env:
            return f"environment variable {self.env}"
        return f"file {self.file}"


@dataclass(frozen=True)
class ImageFactorySettings:
    """How to reach and authenticate to the Image Factory API."""

    url: str
    tenant_id: str
    token: SecretRef | None = None
    email: str | None = None
    password: SecretRef | None = None
    all_tenants: bool = True
    timeout: float = 30.0
    poll_interval: float = 2.0
    verify_tls: bool = True
    ca_file: str | None = None
    adapter: str = "httpx"


@dataclass(frozen=True)
class AssetLimits:
    """Limits on the asset tree's YAML, checked before anything is applied (``docs/installer-mode.md``).

    The defaults are far above Image Factory's real tree (26 objects in 62 KiB; at most 7.5 KiB, 598 nodes and
    11 levels in one file). ``nodes`` counts expanded nodes per file, so an alias bomb cannot hide behind anchors.
    """

    file_bytes: int = 1 << 20
    total_bytes: int = 16 << 20
    documents: int = 1000
    depth: int = 64
    nodes: int = 100_000


@dataclass(frozen=True)
class AssetSettings:
    """Where the Tekton assets' history lives, and the limits its YAML must stay within."""

    repo: str
    branch: str = "main"
    path: str = "backend/tekton"
    profile: str | None = None
    tag_pattern: str | None = None
    limits: AssetLimits = field(default_factory=AssetLimits)
    stall_timeout: float = 60.0
    adapter: str = "git"


@dataclass(frozen=True)
class ClusterSettings:
    """How to reach the provider's cluster and how to apply to it."""

    kubeconfig: str | None = None
    context: str | None = None
    token: SecretRef | None = None
    namespace: str | None = None
    field_manager: str = INSTALLER_FIELD_MANAGER
    force: bool = True
    adapter: str = "lightkube"
    kinds: tuple[str, ...] = DEFAULT_KINDS
    cluster_scoped_kinds: tuple[str, ...] = ()
    prune: bool = False
    apply_parallelism: int = 8
    timeout: float = 30.0


@dataclass(frozen=True)
class VerifySettings:
    """What counts as verified after the rollback."""

    required_tasks: tuple[str, ...] = CODE_REQUIRED_TASKS
    required_pipelines: tuple[str, ...] | None = None
    installer_validate: bool = True
    readiness: bool = True
    probe_pvc: bool = False
    probe_rbac: bool = False
    job_timeout: float = 600.0


@dataclass(frozen=True)
class SmokeBuildSettings:
    """The small build that proves the provider builds again."""

    project_id: str
    manifest: Mapping[str, Any]
    tenant_id: str | None = None
    timeout: float = 900.0


@dataclass(frozen=True)
class GitOpsSettings:
    """How a gitops-mode rollback changes the GitOps repository."""

    scm: str  # github, gitlab, direct, or a plugin's name
    project: str | None = None
    base_url: str | None = None
    token: SecretRef | None = None
    strategy: Literal["restore", "revert"] = "restore"
    auto_merge: bool = False
    wait_for_merge: bool = True
    merge_timeout: float = 3600.0
    merge_when_pipeline_succeeds: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    author_name: str = "gitrollback"
    author_email: str = "gitrollback@localhost"
    markers: bool = True
    poll_interval: float = 5.0
    request_timeout: float = 30.0
    workspace: str = "git"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncSettings:
    """Which GitOps controller applies the repository, and how to wait for it.

    ``app`` names the Argo CD application or the Flux Kustomization (in ``namespace``); ``kubeconfig`` and
    ``context`` reach the cluster Flux runs in when it is not the provider's own.
    """

    engine: str  # argocd, flux, none, or a plugin's name
    app: str = ""
    url: str | None = None
    project: str | None = None
    token: SecretRef | None = None
    prune: bool = False
    on_operation_in_progress: Literal["wait", "terminate"] = "wait"
    timeout: float = 600.0
    verify_tls: bool = True
    ca_file: str | None = None
    poll_interval: float = 2.0
    request_timeout: float = 30.0
    namespace: str = "flux-system"
    kubeconfig: str | None = None
    context: str | None = None
    on_suspended: Literal["refuse", "warn"] = "refuse"
    wait_for_dependents: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderSettings:
    """One provider gitrollback may roll back."""

    id: str
    assets: AssetSettings
    name: str | None = None
    mode: InstallMode | None = None
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    verify: VerifySettings = field(default_factory=VerifySettings)
    smoke_build: SmokeBuildSettings | None = None
    gitops: GitOpsSettings | None = None
    sync: SyncSettings | None = None

    @property
    def label(self) -> str:
        """The name when set, else the id."""
        return self.name or self.id


@dataclass(frozen=True)
class LockSettings:
    """The cross-machine run lock (``docs/safety.md``)."""

    lease_seconds: int = 120


@dataclass(frozen=True)
class EscalationSettings:
    """Taking a provider out of tenants' selection after repeated failed rollbacks (off unless enabled)."""

    enabled: bool = False
    after_failures: int = 3


WatchPolicy = Literal["notify", "propose", "rollback"]
WATCH_POLICIES: tuple[str, ...] = ("notify", "propose", "rollback")


@dataclass(frozen=True)
class LeaderElectionSettings:
    """The watch service's leader election: one Lease, client-go's timing defaults (``docs/watch.md``).

    ``namespace`` falls back to the pod's namespace (``POD_NAMESPACE``, read by the CLI); ``kubeconfig`` and
    ``context`` reach the cluster the Lease lives in.
    """

    enabled: bool = False
    lease_name: str = "gitrollback-watch"
    namespace: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class WatchSettings:
    """``python -m gitrollback watch``: what it does for a provider whose installer job failed (``docs/watch.md``).

    ``providers`` maps a provider's name or id to its own policy; ``max_actions`` per ``window`` seconds is the
    per-provider rate limit; ``handled_history`` is how many handled job ids are kept (most recent first).
    """

    policy: WatchPolicy = "notify"
    providers: Mapping[str, WatchPolicy] = field(default_factory=dict)
    poll_interval: float = 60.0
    max_actions: int = 1
    window: float = 3600.0
    listen: str = "0.0.0.0:8080"
    notes_dir: str | None = None
    stuck_after: float = 900.0
    handled_history: int = 200
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)

    def policy_for(self, provider: ProviderSettings) -> WatchPolicy:
        """The provider's own policy (by id, then name), else the default."""
        for key in (provider.id, provider.name):
            if key is not None and key in self.providers:
                return self.providers[key]
        return self.policy


@dataclass(frozen=True)
class Settings:
    """A whole gitrollback configuration."""

    imagefactory: ImageFactorySettings
    providers: tuple[ProviderSettings, ...]
    state_dir: str | None = None
    source: str = "<config>"
    lock: LockSettings = field(default_factory=LockSettings)
    escalation: EscalationSettings = field(default_factory=EscalationSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)

    def provider(self, key: str | None) -> ProviderSettings:
        """The provider named or identified by ``key`` (the only one when ``key`` is None)."""
        if key is None:
            if len(self.providers) == 1:
                return self.providers[0]
            raise ConfigError(
                f"{len(self.providers)} providers are configured; say which one",
                path=self.source,
                key="providers",
                hint="pass --provider NAME_OR_ID (one of: " + ", ".join(p.label for p in self.providers) + ")",
            )
        for p in self.providers:
            if key in (p.id, p.name):
                return p
        raise ConfigError(
            f"unknown provider {key!r}",
            path=self.source,
            key="providers",
            hint="configured providers: " + ", ".join(f"{p.label} ({p.id})" for p in self.providers),
        )
