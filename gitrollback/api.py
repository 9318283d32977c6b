"""The public Python API: assess, plan and run a rollback for one provider.

``Rollback`` is the composition point. Library users either hand it adapters they built (any objects satisfying
``gitrollback.ports``), or call ``Rollback.from_settings`` with a parsed config plus the environment mapping and a
file reader (the library itself never reads ``os.environ`` or files behind your back). The CLI is a thin layer
over this module.

Example::

    import os, pathlib, gitrollback

    settings = gitrollback.parse_config(pathlib.Path("gitrollback.yaml").read_text(), source="gitrollback.yaml")
    with gitrollback.Rollback.from_settings(settings, "prod-eks", env=os.environ,
                                           read_file=lambda p: pathlib.Path(p).expanduser().read_text()) as rb:
        print(rb.assess().advice)
        report = rb.run()
        print(report.status, report.known_good.revision if report.known_good else None)
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from gitrollback.clock import SystemClock
from gitrollback.errors import GitRollbackError, PreconditionFailedError
from gitrollback.escalation import escalate, failed_attempts, load_escalations
from gitrollback.journal import FileJournal
from gitrollback.locking import ProviderLock
from gitrollback.models import Assessment, RollbackPlan, RunReport, StepRecord, StepStatus
from gitrollback.ports import (
    AssetSource,
    Clock,
    Cluster,
    ImageFactory,
    Journal,
    ProgressSink,
    ProviderAccess,
    RollbackWorkspace,
    SourceHost,
    SyncEngine,
)
from gitrollback.run_guard import provider_lock
from gitrollback.run_lock import DEFAULT_LEASE_SECONDS, LeaseClock
from gitrollback.runbook.context import Ports, RunContext, RunOptions
from gitrollback.runbook.engine import Runner, Step, StepFailure
from gitrollback.runbook.incident import build_incident
from gitrollback.runbook.steps_apply import ApplyStep
from gitrollback.runbook.steps_assess import AssessStep, KnownGoodStep, RenderStep
from gitrollback.runbook.steps_gitops import ChangeRequestStep, CommitStep, MarkerStep, MergeStep, PushStep, SyncStep
from gitrollback.runbook.steps_preflight import PreflightStep
from gitrollback.runbook.steps_verify import NoActiveJobStep, ObjectsStep, ReadinessStep, SmokeBuildStep, ValidateStep
from gitrollback.secrets import FileReader
from gitrollback.settings import EscalationSettings, ProviderSettings, Settings
from gitrollback.wiring import build_adapters

__all__ = ["Rollback", "gitops_steps", "installer_steps"]

logger = logging.getLogger(__name__)


def installer_steps() -> list[Step]:
    """The ``image_factory_installer`` runbook, in order."""
    return [
        AssessStep(),
        KnownGoodStep(),
        RenderStep(),
        PreflightStep(),
        ApplyStep(),
        ValidateStep(),
        ReadinessStep(),
        ObjectsStep(),
        SmokeBuildStep(),
        NoActiveJobStep(),
    ]


def gitops_steps() -> list[Step]:
    """The ``gitops`` runbook, in order."""
    return [
        AssessStep(),
        KnownGoodStep(),
        RenderStep(),
        PreflightStep(),
        CommitStep(),
        PushStep(),
        ChangeRequestStep(),
        MergeStep(),
        SyncStep(),
        ReadinessStep(),
        ObjectsStep(),
        SmokeBuildStep(),
        NoActiveJobStep(),
        MarkerStep(),
    ]


class Rollback:
    """Assess, plan and run a rollback for one provider.

    Args:
        settings: the provider's settings.
        imagefactory, cluster, assets: the adapters (see ``gitrollback.ports``).
        workspace, host, sync: the gitops-mode adapters (a git workspace, a GitHub/GitLab host, a sync engine).
        clock: time source (tests pass a fake one).
        progress: told about each step as it starts and ends.
        journal: receives each step record as it is written.
        state_dir: when set, ``run`` also holds a per-machine lock under ``locks/`` there and writes each step
            record to ``runs/<provider>/<run id>.jsonl`` as it happens.
        steps: override the runbook (advanced; defaults to ``installer_steps()``).
        lease_seconds: how long the cross-machine run lock (a Lease in the provider's cluster) stays valid without
            a renewal (``docs/safety.md``).
        escalation: when enabled (and with a ``state_dir``), a failed run that brings the provider's consecutive
            failures to the threshold revokes its select grants and clears ``is_global`` (``gitrollback.escalation``).

    ``run`` holds the provider's cross-machine lock (``gitrollback.run_guard``): a Lease in the cluster when the
    cluster adapter serves them, else, in gitops mode, the rollback branch. Build the adapters with
    ``rollback.clock`` (``from_settings`` does) so that every wait renews the Lease.
    """

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        imagefactory: ImageFactory,
        cluster: Cluster | None,
        assets: AssetSource,
        workspace: RollbackWorkspace | None = None,
        host: SourceHost | None = None,
        sync: SyncEngine | None = None,
        clock: Clock | None = None,
        progress: ProgressSink | None = None,
        journal: Journal | None = None,
        state_dir: Path | None = None,
        steps: Sequence[Step] | None = None,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        escalation: EscalationSettings | None = None,
    ) -> None:
        self.settings = settings
        self.escalation = escalation or EscalationSettings()
        self.clock = clock if isinstance(clock, LeaseClock) else LeaseClock(clock or SystemClock())
        self.lease_seconds = lease_seconds
        self.ports = Ports(
            imagefactory=imagefactory,
            cluster=cluster,
            assets=assets,
            clock=self.clock,
            workspace=workspace,
            host=host,
            sync=sync,
        )
        self.progress = progress
        self.journal = journal
        self.state_dir = state_dir
        self._steps = list(steps) if steps is not None else None
        self._closers: list[Callable[[], None]] = []
        self._resolved_mode: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        provider: str | None = None,
        *,
        env: Mapping[str, str],
        read_file: FileReader | None = None,
        clock: Clock | None = None,
        progress: ProgressSink | None = None,
        imagefactory_transport: Any = None,
    ) -> Rollback:
        """Build the adapters a config names, resolving secrets from ``env`` and ``read_file``.

        Raises:
            ConfigError: unknown provider, missing token, unreadable kubeconfig.
        """
        lease_clock = LeaseClock(clock or SystemClock())
        wired = build_adapters(
            settings,
            provider,
            env=env,
            read_file=read_file,
            clock=lease_clock,
            on_wait=progress.waiting if progress is not None else None,
            imagefactory_transport=imagefactory_transport,
        )
        rollback = cls(
            wired.provider,
            imagefactory=wired.imagefactory,
            cluster=wired.cluster,
            assets=wired.assets,
            workspace=wired.workspace,
            host=wired.host,
            sync=wired.sync,
            clock=lease_clock,
            progress=progress,
            state_dir=wired.state_dir,
            lease_seconds=settings.lock.lease_seconds,
            escalation=settings.escalation,
        )
        rollback._closers.extend(wired.closers)
        return rollback

    # -- the three verbs --------------------------------------------------------------------------------

    def _context(self, options: RunOptions) -> RunContext:
        return RunContext(settings=self.settings, ports=self.ports, options=options)

    def _mode(self) -> str:
        if self._resolved_mode is None:
            self._resolved_mode = (
                self.settings.mode or self.ports.imagefactory.get_provider(self.settings.id).install_mode
            )
        return self._resolved_mode

    def _runner(self, journal: Journal | None = None, progress: ProgressSink | None = None) -> Runner:
        if self._steps is not None:
            steps = self._steps
        else:
            steps = gitops_steps() if self._mode() == "gitops" else installer_steps()
        return Runner(steps, progress=progress or self.progress, journal=journal or self.journal)

    def assess(self) -> Assessment:
        """Step 1 of the upstream rollback runbook (``TEKTON_INSTALLER_ROLLBACK_GUIDE.md``): what failed, what is
        active, what readiness says, and what to do."""
        ctx = self._context(RunOptions(force=True))
        step = AssessStep()
        verdict: Any = "rollback"
        try:
            step.run(ctx)
            advice = "run `gitrollback plan` to see what would change, then `gitrollback run`"
        except PreconditionFailedError as exc:
            if ctx.status is not None and ctx.status.active_job is not None:
                verdict = "wait"
            elif ctx.provider is not None and ctx.mode != "image_factory_installer":
                verdict = "unsupported"
            else:
                raise
            advice = f"{exc}. {exc.hint or ''}".strip()
        status, provider = ctx.status, ctx.provider
        if provider is None or status is None:  # pragma: no cover - assess raises before
            raise PreconditionFailedError("assess found no provider", step="assess")
        readiness = ctx.readiness_before
        ready_status = readiness.status if readiness else (status.readiness_status or "unknown")
        missing = readiness.missing_prereqs if readiness else status.readiness_missing_prereqs
        if verdict == "rollback" and ctx.failed_job is None and ready_status == "ready":
            verdict, advice = (
                "healthy",
                "nothing to roll back: the provider is ready and its last installer job did not fail",
            )
        return Assessment(
            provider_id=provider.id,
            provider_name=provider.name,
            mode=ctx.mode,
            provider_status=provider.status,
            target_namespace=ctx.namespace,
            readiness_status=ready_status,
            missing_prereqs=tuple(missing),
            active_job=status.active_job,
            failed_job=ctx.failed_job,
            recent_jobs=status.recent_jobs[:10],
            verdict=verdict,
            advice=advice,
        )

    def plan(self, *, to: str | None = None, force: bool = False) -> RollbackPlan:
        """Everything ``run`` would do, without changing anything (readiness is read, not re-run)."""
        ctx = self._context(RunOptions(to=to, force=force, live_readiness=False))
        steps = self._runner().plan(ctx)
        if ctx.known_good is None:  # pragma: no cover - the known-good step raises first
            raise PreconditionFailedError("no known-good revision found", step="known-good")
        return RollbackPlan(
            provider_id=self.settings.id,
            mode=ctx.mode,  # type: ignore[arg-type]
            target_namespace=ctx.namespace,
            failed_job=ctx.failed_job,
            known_good=ctx.known_good,
            steps=steps,
            manifests=tuple(ctx.manifests),
        )

    def run(
        self,
        *,
        to: str | None = None,
        force: bool = False,
        run_id: str | None = None,
        strict: bool = False,
        access_checks: Sequence[Any] = (),
    ) -> RunReport:
        """Roll back and verify. Never raises for a failed step: the report says what happened.

        Args:
            strict: turn the warning about a token that expires before the run's waits could end into a refusal.
            access_checks: extra ``gitrollback.ports.AccessCheck`` objects for the pre-flight step (the CLI passes
                one for the ``--notes`` path).

        Raises:
            PreconditionFailedError: another run holds this provider's lock (``lock_held``), here or on another
                machine, or the Lease's namespace is missing.
            PreflightFailedError: a credential was refused while taking the lock (every problem found is named).
        """
        run_id = run_id or uuid.uuid4().hex
        journal = self.journal or (FileJournal(self.state_dir / "runs", run_id) if self.state_dir else None)
        lock = ProviderLock(self.state_dir / "locks", self.settings.id) if self.state_dir else None
        options = RunOptions(to=to, force=force, run_id=run_id, strict=strict, access_checks=tuple(access_checks))
        if lock is not None:
            lock.acquire()
        try:
            with provider_lock(
                self.settings,
                self.ports,
                mode_of=self._mode,
                run_id=run_id,
                clock=self.clock,
                lease_seconds=self.lease_seconds,
                checks=options.access_checks,
            ) as ports:
                report = self._run(options, journal, ports)
                return self._finish(report, journal, run_id)
        finally:
            if lock is not None:
                lock.release()

    def _finish(self, report: RunReport, journal: Journal | None, run_id: str) -> RunReport:
        """Record the run's outcome in its journal and, when it is due, escalate (still under the lock)."""
        if isinstance(journal, FileJournal):
            journal.finish(self.settings.id, outcome=report.status, error_kind=report.error_kind, at=self.clock.now())
        access = self.ports.imagefactory
        if (
            report.status != "failed"
            or not self.escalation.enabled
            or self.state_dir is None
            or not isinstance(access, ProviderAccess)
        ):
            return report
        failures = failed_attempts(self.state_dir, self.settings.id)
        if failures < self.escalation.after_failures:
            return report
        try:
            done = escalate(
                access,
                state_dir=self.state_dir,
                provider_id=self.settings.id,
                run_id=run_id,
                failures=failures,
                clock=self.clock,
            )
        except GitRollbackError as exc:
            logger.error(
                "escalation of provider %s failed part-way (access restore undoes what was done): %s",
                self.settings.id,
                exc,
            )
            records = load_escalations(self.state_dir, self.settings.id)
            done = records[-1] if records and records[-1].run_id == run_id else None
        return dataclasses.replace(report, escalation=done) if done is not None else report

    def _run(self, options: RunOptions, journal: Journal | None, ports: Ports | None = None) -> RunReport:
        ctx = dataclasses.replace(self._context(options), ports=ports or self.ports)
        error: str | None = None
        error_kind: str | None = None
        status = "rolled_back"
        try:
            records = self._runner(journal, _RenewingProgress(self.progress, self.clock)).run(ctx)
        except StepFailure as failure:
            records, error, error_kind = failure.records, str(failure.error), failure.error.kind
            if failure.error.hint:
                error = f"{error} (next: {failure.error.hint})"
            status = "refused" if isinstance(failure.error, PreconditionFailedError) else "failed"
        now = self.ports.clock.now()
        incident = build_incident(ctx, records, error)
        records = (*records, StepRecord("incident", StepStatus.SUCCEEDED, now, now, "incident notes written"))
        return RunReport(
            status=status,  # type: ignore[arg-type]
            provider_id=self.settings.id,
            mode=ctx.mode,
            failed_job=ctx.failed_job,
            known_good=ctx.known_good,
            steps=records,
            incident=incident,
            error=error,
            change_request=ctx.change_request,
            rollback_commit=ctx.rollback_commit.sha if ctx.rollback_commit else None,
            synced_revision=ctx.synced_revision,
            error_kind=error_kind,
            sync=ctx.sync_status,
        )

    # -- lifecycle --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the adapters this object built."""
        for close in self._closers:
            close()
        self._closers.clear()

    def __enter__(self) -> Rollback:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _RenewingProgress:
    """Forwards progress and renews the run lock at every step boundary and wait report."""

    def __init__(self, inner: ProgressSink | None, clock: LeaseClock) -> None:
        self.inner = inner
        self.clock = clock

    def step_started(self, name: str, description: str) -> None:
        self.clock.renew()
        if self.inner is not None:
            self.inner.step_started(name, description)

    def step_finished(self, record: StepRecord) -> None:
        if self.inner is not None:
            self.inner.step_finished(record)

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        self.clock.renew()
        if self.inner is not None:
            self.inner.waiting(what, elapsed, state)
