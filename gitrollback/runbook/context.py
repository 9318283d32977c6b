"""The state one rollback run accumulates as its steps go.

Steps read what earlier steps found and add what they find; the report and the incident notes are built from
this state and the step records only. It is engine-internal and mutable on purpose: a frozen value is made
from it at the end (``RunReport``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitrollback.models import (
    AppliedObject,
    Build,
    ChangeRequest,
    FailedJob,
    InstallerJob,
    KnownGood,
    Manifest,
    Provider,
    Readiness,
    RevisionInfo,
    RollbackCommit,
    SyncStatus,
    TektonStatus,
)
from gitrollback.ports import AssetSource, Clock, Cluster, ImageFactory, RollbackWorkspace, SourceHost, SyncEngine
from gitrollback.settings import ProviderSettings

__all__ = ["Ports", "RunContext", "RunOptions"]


@dataclass(frozen=True)
class Ports:
    """The adapters a run talks to."""

    imagefactory: ImageFactory
    cluster: Cluster | None
    assets: AssetSource
    clock: Clock
    workspace: RollbackWorkspace | None = None
    host: SourceHost | None = None
    sync: SyncEngine | None = None


@dataclass(frozen=True)
class RunOptions:
    """What the caller asked for.

    Args:
        to: roll back to this revision instead of resolving the known-good one.
        force: roll back even when assess finds nothing wrong (a healthy provider, no failed job).
        live_readiness: call the live readiness check during assess (it persists its result and can flip the
            provider online/offline, so ``plan`` turns it off and reads the persisted value instead).
        run_id: names the run in idempotency keys, so a rerun of the same run replays instead of duplicating.
        access_checks: extra ``gitrollback.ports.AccessCheck`` objects the pre-flight step asks too (the CLI's
            ``--notes`` path check).
        strict: refuse (instead of warning) when a credential would expire before the run's waits could end.
    """

    to: str | None = None
    force: bool = False
    live_readiness: bool = True
    run_id: str = ""
    access_checks: tuple[Any, ...] = ()
    strict: bool = False


@dataclass
class RunContext:
    """Everything the steps of one run share."""

    settings: ProviderSettings
    ports: Ports
    options: RunOptions
    provider: Provider | None = None
    status: TektonStatus | None = None
    readiness_before: Readiness | None = None
    failed_job: FailedJob | None = None
    namespace: str = ""
    profile: str = "v1"
    known_good: KnownGood | None = None
    good_info: RevisionInfo | None = None
    bad_info: RevisionInfo | None = None
    manifests: list[Manifest] = field(default_factory=list)
    applied: list[AppliedObject] = field(default_factory=list)
    validate_job: InstallerJob | None = None
    readiness_after: Readiness | None = None
    smoke_build: Build | None = None
    leftovers: list[str] = field(default_factory=list)
    rollback_commit: RollbackCommit | None = None
    change_request: ChangeRequest | None = None
    synced_revision: str | None = None
    sync_status: SyncStatus | None = None
    marker: str | None = None

    @property
    def mode(self) -> str:
        """The install mode: the config's, else the provider's."""
        if self.settings.mode:
            return self.settings.mode
        return self.provider.install_mode if self.provider else "image_factory_installer"
