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
from gitrollback.errors import ConfigError, GitRollbackError, PreconditionFailedError
from gitrollback.escalation import escalate, failed_attempts, load_escalations
from gitrollback.locking import ProviderLock
from gitrollback.models import (
    Assessment,
    PlanStep,
    RollbackPlan,
    RunReport,
    StepRecord,
    StepStatus,
)
from gitrollback.ports import (
    AssetSource,
    Clock,
    Cluster,
    ImageFactory,
    ProgressSink,
    ProviderAccess,
    RollbackWorkspace,
    SourceHost,
    SyncEngine,
)
from gitrollback.report import incident_markdown
from gitrollback.run_guard import provider_lock
from gitrollback.run_lock import DEFAULT_LEASE_SECONDS, LeaseClock
from gitrollback.runbook.context import Ports, RunOptions, RunState
from gitrollback.runbook.engine import Runner, RunOutcome, Step
from gitrollback.runbook.incident import build_incident
from gitrollback.runbook.journal import FileJournal, JournalView, find_unfinished, read_journal
from gitrollback.runbook.results import (
    Assessed,
    ChangeRequestOpened,
    ChangesPlanned,
    Committed,
    KnownGoodChosen,
    Merged,
    Pruned,
    PruneProgress,
    Pushed,
    Rendered,
    Synced,
)
from gitrollback.runbook.steps_apply import ApplyStep, DryRunStep, PruneStep
from gitrollback.runbook.steps_assess import AssessStep, KnownGoodStep, RenderStep, judge
from gitrollback.runbook.steps_gitops import (
    ChangeRequestStep,
    CommitStep,
    MarkerStep,
    MergeStep,
    PushStep,
    SyncStep,
    rollback_revision,
)
from gitrollback.runbook.steps_preflight import PreflightStep
from gitrollback.runbook.steps_verify import NoActiveJobStep, ObjectsStep, ReadinessStep, SmokeBuildStep, ValidateStep
from gitrollback.secrets import FileReader
from gitrollback.settings import EscalationSettings, ProviderSettings, Settings
from gitrollback.wiring import build_adapters

__all__ = ["Rollback", "gitops_steps", "installer_steps"]

logger = logging.getLogger(__name__)


def _write_notes(report: RunReport, path: Path) -> str | None:
    """Write the incident notes; the reason when the file cannot be written (None: written)."""
    if report.incident is None:  # pragma: no cover - every report has notes
        return "the run produced no incident notes"
    try:
        path.expanduser().write_text(incident_markdown(report.incident, report) + "\n", encoding="utf-8")
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _rollback_commit(state: RunState) -> str | None:
    """The rollback commit: the one this run made or found, or the earlier rollback the branch already carries."""
    chosen, pushed, committed = state.get(KnownGoodChosen), state.get(Pushed), state.get(Committed)
    commit = pushed.commit if pushed else committed.commit if committed else None
    if commit is None:
        return None
    if commit.already_rolled_back and chosen is not None and chosen.existing_rollback:
        return chosen.existing_rollback
    return commit.sha


def _pruned(state: RunState) -> tuple[str, ...]:
    """What the prune step deleted: its result, or (when it stopped part-way) its last checkpoint."""
    pruned, progress = state.get(Pruned), state.get(PruneProgress)
    return pruned.deleted if pruned is not None else progress.deleted if progress is not None else ()


def installer_steps() -> list[Step]:
    """The ``image_factory_installer`` runbook, in order."""
    return [
        AssessStep(),
        KnownGoodStep(),
        RenderStep(),
        PreflightStep(),
        DryRunStep(),
        ApplyStep(),
        PruneStep(),
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
        state_dir: when set, ``run`` also holds a per-machine lock under ``locks/`` there and journals every step
            result to ``runs/<provider>/<run id>.jsonl`` as it is produced; a later ``run`` resumes an unfinished
            run from that journal.
        steps: override the runbook (advanced; defaults to ``installer_steps()`` or ``gitops_steps()``).
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

    def _mode(self) -> str:
        if self._resolved_mode is None:
            self._resolved_mode = (
                self.settings.mode or self.ports.imagefactory.get_provider(self.settings.id).install_mode
            )
        return self._resolved_mode

    def _steps_for_mode(self) -> list[Step]:
        if self._steps is not None:
            return self._steps
        return gitops_steps() if self._mode() == "gitops" else installer_steps()

    def _runner(
        self,
        options: RunOptions,
        journal: FileJournal | None = None,
        ports: Ports | None = None,
        *,
        renew: bool = False,
    ) -> Runner:
        return Runner(
            self._steps_for_mode(),
            settings=self.settings,
            ports=ports or self.ports,
            options=options,
            progress=_RenewingProgress(self.progress, self.clock) if renew else self.progress,
            observer=journal,
        )

    @property
    def _runs(self) -> Path | None:
        return self.state_dir / "runs" if self.state_dir is not None else None

    def unfinished_run(self) -> JournalView | None:
        """The provider's newest run that stopped before it finished (after changing something), or None."""
        return find_unfinished(self._runs, self.settings.id) if self._runs is not None else None

    def assess(self) -> Assessment:
        """Runbook §1: what failed, what is active, what readiness says, and what to do (a value; never refuses)."""
        api = self.ports.imagefactory
        provider = api.get_provider(self.settings.id)
        status = api.tekton_status(provider.id, limit=100)
        readiness = api.readiness(provider.id) if status.active_job is None else None
        assessed, finding = judge(self.settings, provider, status, readiness)
        unfinished = self.unfinished_run()
        verdict: Any = "rollback"
        kind: str | None = None
        advice = "roll back: plan the rollback to see what would change, then run it"
        if finding is not None:
            verdict, kind, advice = finding.verdict, finding.kind, f"{finding.message}. {finding.hint}"
        if unfinished is not None and verdict in ("rollback", "healthy"):
            verdict, kind = "resume", "unfinished_run"
            where = f"after {unfinished.last_step}" if unfinished.last_step else "before its first step finished"
            advice = f"run {unfinished.run_id} stopped {where}; rolling back again resumes it"
        ready_status = readiness.status if readiness else (status.readiness_status or "unknown")
        missing = readiness.missing_prereqs if readiness else status.readiness_missing_prereqs
        return Assessment(
            provider_id=provider.id,
            provider_name=provider.name,
            mode=assessed.mode,
            provider_status=provider.status,
            target_namespace=assessed.namespace,
            readiness_status=ready_status,
            missing_prereqs=tuple(missing),
            active_job=status.active_job,
            failed_job=assessed.failed_job,
            recent_jobs=status.recent_jobs[:10],
            verdict=verdict,
            advice=advice,
            kind=kind,
            unfinished_run=unfinished.run_id if unfinished else None,
        )

    def plan(self, *, to: str | None = None, force: bool = False, prune: bool | None = None) -> RollbackPlan:
        """Everything ``run`` would do, without changing anything (readiness is read, not re-run).

        In installer mode that includes a server-side dry run of every object (``changes``). ``prune`` overrides
        ``cluster.prune`` (None: the config decides). With an unfinished run to resume, the plan lists the steps it
        finished as done, takes the dry run again when ``apply`` or ``prune`` is still ahead (as the resumed run
        will), and plans the rest from its results.

        Raises:
            PreconditionFailedError: ``run`` would refuse.
        """
        unfinished = self.unfinished_run()
        if unfinished is not None and unfinished.to == to:
            return self._resume_plan(unfinished, prune)
        options = RunOptions(to=to, force=force, live_readiness=False, prune=prune)
        steps, state = self._runner(options).plan()
        return self._plan_value(state, steps)

    def _resume_plan(self, view: JournalView, prune: bool | None) -> RollbackPlan:
        options = RunOptions(
            to=view.to,
            force=view.force,
            live_readiness=False,
            run_id=view.run_id,
            prune=prune if prune is not None else view.prune,
        )
        steps, state = self._runner(options).plan_resume(view.prior, view.run_id)
        return self._plan_value(state, steps, resumes=view.run_id)

    def _plan_value(self, state: RunState, steps: tuple[PlanStep, ...], resumes: str | None = None) -> RollbackPlan:
        assessed = state.require(Assessed, "plan")
        chosen = state.require(KnownGoodChosen, "plan")
        rendered = state.get(Rendered)
        planned = state.get(ChangesPlanned)
        return RollbackPlan(
            provider_id=self.settings.id,
            mode=assessed.mode,
            target_namespace=assessed.namespace,
            failed_job=assessed.failed_job,
            known_good=chosen.known_good,
            steps=steps,
            manifests=rendered.manifests if rendered else (),
            changes=planned.changes if planned is not None else None,
            resumes=resumes,
        )

    def propose(
        self,
        *,
        to: str | None = None,
        force: bool = False,
        run_id: str | None = None,
        notes: Path | None = None,
        strict: bool = False,
        access_checks: Sequence[Any] = (),
        shared_with: Sequence[str] = (),
    ) -> RunReport:
        """Gitops mode with a pull/merge request: ``run`` up to and including opening the change request, then stop.

        The rollback commit is pushed to its rollback branch and the change request opened (or found: a rerun
        reuses the one an earlier run opened), but nothing is merged, synced or verified. The report's status is
        ``proposed`` and so is the end of the run's journal; a proposed run stays unfinished, so a later ``run``
        (or ``propose``) resumes it with the same run id: it reuses the commit and the change request, then
        merges or waits for the merge as ``gitops.auto_merge`` and ``wait_for_merge`` say (a person may merge it
        meanwhile), syncs and verifies. Arguments as for ``run``.

        Raises:
            PreconditionFailedError: kind ``cannot_propose``: the provider is not in gitops mode, or its
                ``gitops.scm`` is ``direct`` (a direct push lands on the tracked branch at once: there is nothing to
                propose; ``plan`` shows what ``run`` would do), or the unfinished run it would resume already merged;
                and whatever ``run`` raises.
        """
        g = self.settings.gitops
        if self._mode() != "gitops" or g is None or g.scm == "direct":
            why = (
                "its gitops.scm is direct: a direct push lands on the tracked branch at once"
                if self._mode() == "gitops"
                else "it is in image_factory_installer mode: the installer applies to the cluster at once"
            )
            raise PreconditionFailedError(
                f"provider {self.settings.label} cannot be proposed a rollback: {why}",
                step="propose",
                kind="cannot_propose",
                hint="plan the rollback to see what run would do, then run it",
            )
        unfinished = self.unfinished_run()
        if unfinished is not None and unfinished.to == to and run_id in (None, unfinished.run_id):
            past = [step for step in ("merge", "sync") if step in unfinished.prior.done]
            if past:
                raise PreconditionFailedError(
                    f"run {unfinished.run_id} of provider {self.settings.label} already got past its change request "
                    f"({past[-1]} finished): there is nothing left to propose",
                    step="propose",
                    kind="cannot_propose",
                    hint="run the rollback: it resumes that run",
                )
        return self._execute(
            to=to,
            force=force,
            run_id=run_id,
            resume=None,
            notes=notes,
            prune=None,
            strict=strict,
            access_checks=access_checks,
            stop_after="change-request",
            shared_with=shared_with,
        )

    def run(
        self,
        *,
        to: str | None = None,
        force: bool = False,
        run_id: str | None = None,
        resume: str | None = None,
        notes: Path | None = None,
        prune: bool | None = None,
        strict: bool = False,
        access_checks: Sequence[Any] = (),
        shared_with: Sequence[str] = (),
    ) -> RunReport:
        """Roll back and verify. Never raises for a failed step: the report says what happened.

        With a ``state_dir``, an unfinished run of this provider (one that stopped after changing something, by a
        kill, Ctrl-C or a failed step) is resumed: its finished steps are reused, and the run continues from the
        first step without a result, with the same run id (so idempotency keys replay). ``resume`` names the run
        to continue; ``run_id`` names a new run (or continues that one, if its journal exists). A request for
        another ``to`` than the unfinished run's starts a new run and marks the old one superseded.

        ``notes`` is a file the incident notes (Markdown) are written to before the run is journaled as ended, so a
        kill never leaves a finished run without its notes; a refused run (nothing changed) writes none, so it never
        overwrites the notes of the run that did the work. A file that cannot be written does not fail the run:
        the report says so (``notes_error``) and carries the notes itself (``incident``).

        ``prune`` overrides ``cluster.prune`` (None: the config decides; a resumed run keeps the ``prune`` its first
        attempt was given); the report lists what was deleted (``pruned``) and the dry-run table (``changes``).

        ``strict`` turns the warning about a token that expires before the run's waits could end into a refusal;
        ``access_checks`` are extra ``gitrollback.ports.AccessCheck`` objects for the pre-flight step (the CLI
        passes one for the ``--notes`` path).

        ``shared_with`` names providers whose GitOps repository, branch and path are this provider's (a fleet group,
        ``gitrollback.fleet``): a rollback one of them already landed on the branch is synced and verified here too,
        so the group gets one change request.

        Raises:
            PreconditionFailedError: another run holds this provider's lock (``lock_held``), here or on another
                machine, or ``resume`` names a run that already finished (``run_finished``).
            PreflightFailedError: a credential was refused while taking the lock (every problem found is named).
            ConfigError: ``resume`` names no run of this provider (``unknown_run``), or there is no state_dir.
        """
        return self._execute(
            to=to,
            force=force,
            run_id=run_id,
            resume=resume,
            notes=notes,
            prune=prune,
            strict=strict,
            access_checks=access_checks,
            stop_after=None,
            shared_with=shared_with,
        )

    def _execute(
        self,
        *,
        to: str | None,
        force: bool,
        run_id: str | None,
        resume: str | None,
        notes: Path | None,
        prune: bool | None,
        strict: bool,
        access_checks: Sequence[Any],
        stop_after: str | None,
        shared_with: Sequence[str] = (),
    ) -> RunReport:
        lock = ProviderLock(self.state_dir / "locks", self.settings.id) if self.state_dir else None
        if lock is not None:
            lock.acquire()
        try:
            view = self._find_run(to, run_id, resume)
            checks = tuple(access_checks)
            if view is not None:
                options = RunOptions(
                    to=view.to,
                    force=force or view.force,
                    run_id=view.run_id,
                    prune=prune if prune is not None else view.prune,
                    strict=strict,
                    access_checks=checks,
                    stop_after=stop_after,
                    shared_with=tuple(shared_with),
                )
            else:
                run_id = run_id or uuid.uuid4().hex
                options = RunOptions(
                    to=to,
                    force=force,
                    run_id=run_id,
                    prune=prune,
                    strict=strict,
                    access_checks=checks,
                    stop_after=stop_after,
                    shared_with=tuple(shared_with),
                )
            with provider_lock(
                self.settings,
                self.ports,
                mode_of=self._mode,
                run_id=options.run_id,
                clock=self.clock,
                lease_seconds=self.lease_seconds,
                checks=options.access_checks,
            ) as ports:
                journal = FileJournal(self._runs, self.settings.id, options.run_id) if self._runs else None
                if journal is not None:
                    journal.start(to=options.to, force=options.force, prune=options.prune, at=self.clock.now())
                runner = self._runner(options, journal, ports, renew=True)
                outcome = runner.run(view.prior if view is not None else None)
                report = self._report(outcome, options.run_id)
                # a refused run, or one the pre-flight check stopped, changed nothing (and the notes path may be the
                # problem): no notes, so they never overwrite the notes of the run that did the work
                if notes is not None and report.status != "refused" and report.error_kind != "preflight_failed":
                    report = dataclasses.replace(report, notes_path=str(notes), notes_error=_write_notes(report, notes))
                if journal is not None:
                    journal.end(report.status, error_kind=report.error_kind, at=self.clock.now())
                return self._escalate(report, options.run_id)
        finally:
            if lock is not None:
                lock.release()

    def _escalate(self, report: RunReport, run_id: str) -> RunReport:
        """When a failed run is due for it, escalate (still under the lock); the journal's end is already written."""
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

    def _find_run(self, to: str | None, run_id: str | None, resume: str | None) -> JournalView | None:
        runs = self._runs
        named = resume or run_id
        if runs is None:
            if resume is not None:
                raise ConfigError("resuming a run needs a state_dir (where run journals live)", kind="no_state_dir")
            return None
        if named is not None:
            path = runs / self.settings.id / f"{named}.jsonl"
            if not path.exists():
                if resume is None:
                    return None
                raise ConfigError(
                    f"no run {resume} for provider {self.settings.label} in {runs / self.settings.id}",
                    kind="unknown_run",
                    hint="leave out the run id: an unfinished run is found and resumed on its own",
                )
            try:
                view = read_journal(path)
            except (ValueError, KeyError) as exc:
                raise ConfigError(f"the journal of run {named} cannot be read: {exc}", kind="bad_journal") from exc
            if view.ended not in (None, "failed", "proposed"):
                raise PreconditionFailedError(
                    f"run {named} already ended ({view.ended}); there is nothing to resume",
                    step="resume",
                    kind="run_finished",
                    hint="roll back without a run id to start a new run",
                )
            return view
        unfinished = find_unfinished(runs, self.settings.id)
        if unfinished is not None and unfinished.to != to:
            FileJournal(runs, self.settings.id, unfinished.run_id).end("superseded")
            return None
        return unfinished

    def _report(self, outcome: RunOutcome, run_id: str) -> RunReport:
        state, error = outcome.state, outcome.error
        message: str | None = None
        status = "rolled_back"
        if error is not None:
            message = f"{error} (next: {error.hint})" if error.hint else str(error)
            status = "refused" if isinstance(error, PreconditionFailedError) else "failed"
        elif outcome.stopped_after is not None:
            status = "proposed"
        assessed = state.get(Assessed)
        mode = assessed.mode if assessed else (self.settings.mode or "image_factory_installer")
        now = self.ports.clock.now()
        incident = build_incident(self.settings, mode, state, outcome.records, message, proposed=status == "proposed")
        records = (*outcome.records, StepRecord("incident", StepStatus.SUCCEEDED, now, now, "incident notes written"))
        chosen, synced = state.get(KnownGoodChosen), state.get(Synced)
        merged, opened = state.get(Merged), state.get(ChangeRequestOpened)
        planned = state.get(ChangesPlanned)
        return RunReport(
            status=status,  # type: ignore[arg-type]
            provider_id=self.settings.id,
            mode=mode,
            failed_job=assessed.failed_job if assessed else None,
            known_good=chosen.known_good if chosen else None,
            steps=records,
            incident=incident,
            error=message,
            change_request=merged.change_request if merged else opened.change_request if opened else None,
            rollback_commit=_rollback_commit(state),
            synced_revision=self._landed_revision(state),
            error_kind=error.kind if error is not None else None,
            run_id=run_id,
            resumed=outcome.resumed,
            changes=planned.changes if planned is not None else None,
            pruned=_pruned(state),
            sync=synced.status if synced is not None else None,
        )

    def _landed_revision(self, state: RunState) -> str | None:
        """The revision on the tracked branch that carries the rollback (what the sync engine must reach)."""
        g = self.settings.gitops
        if state.get(Merged) is not None or (state.get(Pushed) is not None and g is not None and g.scm == "direct"):
            return rollback_revision(state)
        committed = state.get(Committed)
        return committed.commit.base if committed is not None and committed.commit.already_rolled_back else None

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

    def step_resumed(self, record: StepRecord) -> None:
        self.clock.renew()
        resumed = getattr(self.inner, "step_resumed", None)
        if resumed is not None:
            resumed(record)

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        self.clock.renew()
        if self.inner is not None:
            self.inner.waiting(what, elapsed, state)
