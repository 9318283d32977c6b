"""Runs runbook steps in order, records what each one returned, and resumes a run from its journal.

A step is a small object with a ``name``, a ``plan(ctx)`` that says what it would do with concrete targets, and a
``run(ctx)`` that does it and returns a typed result (``runbook/results.py``). The engine owns ordering, records,
the stop-on-failure rule and resuming: it hands each step a frozen ``StepContext`` holding the results so far, and
tells the ``RunObserver`` (the journal) about every result as soon as it exists. Steps never sleep to retry and
the engine does not retry them: waiting happens inside the adapters on the injected clock, and a step that fails
is retried by rerunning the command, which resumes the run.

``resume`` (a ``Prior``, read from the journal) makes ``run`` reuse the results an earlier attempt of the same run
produced, in order, and continue from the first step without one; that step and every later one look at the
world again before acting. A finished read-only step can ask to run again on resume (``recheck_before``: the steps
that act on its answer): the dry-run step does while ``apply`` or ``prune`` has no result, because the cluster may
have moved while nothing was running.

``plan`` runs only the steps marked ``reads_only`` (they gather the facts a plan needs: status, known-good
revision, manifests) and asks every other step for its ``PlanStep``; no mutating port method is called.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gitrollback.errors import GitRollbackError
from gitrollback.models import PlanStep, StepRecord, StepStatus
from gitrollback.ports import ProgressSink
from gitrollback.runbook.context import Ports, RunOptions, RunState, StepContext
from gitrollback.runbook.results import Skipped, StepResult
from gitrollback.settings import ProviderSettings

__all__ = ["Prior", "RunObserver", "RunOutcome", "Runner", "Step"]

logger = logging.getLogger(__name__)


class Step(Protocol):
    """One runbook step."""

    name: str
    #: True when the step changes nothing anywhere (it may run during ``plan``).
    reads_only: bool
    # optional: ``recheck_before: tuple[str, ...]``, read-only steps only. A resumed run runs the step again, in its
    # place, while one of the named steps has no result (they act on its answer).

    def plan(self, ctx: StepContext) -> PlanStep:
        """What the step would do, with concrete targets."""
        ...

    def run(self, ctx: StepContext) -> StepResult:
        """Do it; return the result (``Skipped`` when there was nothing to do)."""
        ...


class RunObserver(Protocol):
    """Told about every result as soon as it exists (the journal implements it)."""

    def result(
        self, step: str, result: StepResult, record: StepRecord, *, mutates: bool, recheck: bool = False
    ) -> None:
        """A step finished with ``result`` (``recheck``: a finished step that a resumed run ran again)."""
        ...

    def checkpoint(self, step: str, result: StepResult) -> None:
        """A step produced ``result`` before finishing (a job or build id, written before waiting)."""
        ...

    def failed(self, step: str, record: StepRecord, error: GitRollbackError) -> None:
        """A step failed."""
        ...

    def interrupted(self, step: str, reason: str) -> None:
        """The run stopped inside ``step`` without a result (Ctrl-C, an unexpected exception)."""
        ...


@dataclass(frozen=True)
class Prior:
    """What earlier attempts of this run did, as their journal tells it.

    ``done`` maps a step to its final result and record; ``checkpoints`` are results of steps that did not finish;
    ``failures`` counts each step's failed attempts.
    """

    done: Mapping[str, tuple[StepResult, StepRecord]] = field(default_factory=dict)
    checkpoints: tuple[tuple[str, StepResult], ...] = ()
    failures: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    """Where a run ended: the state, one record per step, and the error that stopped it (None: it finished, or it
    stopped as asked after ``stopped_after``)."""

    state: RunState
    records: tuple[StepRecord, ...]
    error: GitRollbackError | None = None
    failed_step: str | None = None
    resumed: tuple[str, ...] = ()
    stopped_after: str | None = None


class _Quiet:
    def step_started(self, name: str, description: str) -> None:
        return None

    def step_finished(self, record: StepRecord) -> None:
        return None

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        return None


class _NoJournal:
    def result(
        self, step: str, result: StepResult, record: StepRecord, *, mutates: bool, recheck: bool = False
    ) -> None:
        return None

    def checkpoint(self, step: str, result: StepResult) -> None:
        return None

    def failed(self, step: str, record: StepRecord, error: GitRollbackError) -> None:
        return None

    def interrupted(self, step: str, reason: str) -> None:
        return None


class Runner:
    """Executes steps for one provider.

    Args:
        steps: in order.
        settings, ports, options: what every step is given.
        progress: told about each step as it starts and ends (and, if it has ``step_resumed``, about each step a
            resumed run reuses).
        observer: told about every result as soon as it exists (the journal).
    """

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        settings: ProviderSettings,
        ports: Ports,
        options: RunOptions,
        progress: ProgressSink | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        self.steps = tuple(steps)
        self.settings = settings
        self.ports = ports
        self.options = options
        self.progress: ProgressSink = progress or _Quiet()
        self.observer: RunObserver = observer or _NoJournal()

    def _context(
        self,
        state: RunState,
        attempt: int = 0,
        step: str = "",
        produced: list[tuple[str, StepResult]] | None = None,
    ) -> StepContext:
        def checkpoint(result: StepResult) -> None:
            self.observer.checkpoint(step, result)
            if produced is not None:
                produced.append((step, result))

        return StepContext(self.settings, self.ports, self.options, state, attempt, checkpoint)

    def plan(self) -> tuple[tuple[PlanStep, ...], RunState]:
        """Gather facts with the read-only steps, then describe every step."""
        planned: list[PlanStep] = []
        state = RunState()
        for step in self.steps:
            if step.reads_only:
                state = state.add(step.name, step.run(self._context(state)))
            planned.append(step.plan(self._context(state)))
        return tuple(planned), state

    def _resume_point(self, prior: Prior) -> tuple[int, frozenset[str]]:
        """The first step without a result, and the finished steps before it that run again: a read-only step whose
        ``recheck_before`` names a step that has no result yet (its answer is about a world that may have moved)."""
        index = next((i for i, s in enumerate(self.steps) if s.name not in prior.done), len(self.steps))
        pending = {s.name for s in self.steps[index:]}
        rechecked = frozenset(
            s.name
            for s in self.steps[:index]
            if s.reads_only and pending.intersection(getattr(s, "recheck_before", ()))
        )
        return index, rechecked

    def plan_resume(self, prior: Prior, run_id: str) -> tuple[tuple[PlanStep, ...], RunState]:
        """The plan of what a resumed run still does: the finished steps as done, the rechecked ones run again (they
        only read), the rest planned from the results."""
        index, rechecked = self._resume_point(prior)
        state = RunState()
        planned: list[PlanStep] = []
        for position, step in enumerate(self.steps):
            if position == index:
                state = self._with_checkpoints(state, prior, index)
            done = prior.done.get(step.name)
            if position < index and step.name not in rechecked and done is not None:
                state = state.add(step.name, done[0])
                planned.append(PlanStep(step.name, f"done in run {run_id}: {done[1].detail}"))
                continue
            if step.name in rechecked:
                state = state.add(step.name, step.run(self._context(state)))
            planned.append(step.plan(self._context(state)))
        return tuple(planned), state

    def _with_checkpoints(self, state: RunState, prior: Prior, index: int) -> RunState:
        finished = {s.name for s in self.steps[:index]}
        for name, result in prior.checkpoints:
            if name not in finished:
                state = state.add(name, result)
        return state

    def run(self, prior: Prior | None = None) -> RunOutcome:
        """Run every step in order, reusing ``prior``'s results for the steps it finished.

        Of the finished steps, those a later unfinished step depends on for a fresh look at the world
        (``recheck_before``) run again in their place. Stops at the first failure: the outcome carries the error
        and the failed step's checkpoints, and the later steps are recorded as skipped ("not run"), so a report
        always lists the whole runbook. ``KeyboardInterrupt`` and unexpected exceptions are told to the observer
        (``interrupted``) and propagate.
        """
        prior = prior or Prior()
        index, rechecked = self._resume_point(prior)
        state = RunState()
        records: list[StepRecord] = []
        reused = tuple(s.name for s in self.steps[:index] if s.name not in rechecked)
        current = self.steps[0].name if self.steps else ""
        try:
            for position, step in enumerate(self.steps):
                current = step.name
                if position == index:
                    state = self._with_checkpoints(state, prior, index)
                if step.name in reused:
                    result, record = prior.done[step.name]
                    state = state.add(step.name, result)
                    records.append(record)
                    resumed = getattr(self.progress, "step_resumed", None)
                    if resumed is not None:
                        resumed(record)
                    if step.name == self.options.stop_after:
                        return self._stopped(step.name, position, state, records, reused)
                    continue
                produced: list[tuple[str, StepResult]] = []
                ctx = self._context(state, prior.failures.get(step.name, 0), step.name, produced)
                self.progress.step_started(step.name, step.plan(ctx).description)
                started = self.ports.clock.now()
                try:
                    result = step.run(ctx)
                except GitRollbackError as exc:
                    record = StepRecord(step.name, StepStatus.FAILED, started, self.ports.clock.now(), str(exc))
                    self.observer.failed(step.name, record, exc)
                    for name, checkpoint in produced:
                        state = state.add(name, checkpoint)
                    self._finished(record, records)
                    for later in self.steps[position + 1 :]:
                        now = self.ports.clock.now()
                        records.append(
                            StepRecord(later.name, StepStatus.SKIPPED, now, now, f"not run: {step.name} failed")
                        )
                    return RunOutcome(state, tuple(records), exc, step.name, reused)
                status = StepStatus.SKIPPED if isinstance(result, Skipped) else StepStatus.SUCCEEDED
                record = StepRecord(step.name, status, started, self.ports.clock.now(), result.detail)
                self.observer.result(
                    step.name, result, record, mutates=not step.reads_only, recheck=step.name in rechecked
                )
                state = state.add(step.name, result)
                if position + 1 < len(self.steps):
                    current = self.steps[position + 1].name
                self._finished(record, records)
                if step.name == self.options.stop_after:
                    return self._stopped(step.name, position, state, records, reused)
        except BaseException as exc:
            self.observer.interrupted(current, type(exc).__name__)
            raise
        return RunOutcome(state, tuple(records), resumed=reused)

    def _stopped(
        self, name: str, position: int, state: RunState, records: list[StepRecord], reused: tuple[str, ...]
    ) -> RunOutcome:
        """The run ends after ``name`` as ``RunOptions.stop_after`` asked: the later steps are recorded as not run
        (nothing is journaled for them, so a rerun without ``stop_after`` resumes at the next step)."""
        for later in self.steps[position + 1 :]:
            now = self.ports.clock.now()
            records.append(StepRecord(later.name, StepStatus.SKIPPED, now, now, f"not run: the run stops after {name}"))
        return RunOutcome(state, tuple(records), resumed=reused, stopped_after=name)

    def _finished(self, record: StepRecord, records: list[StepRecord]) -> None:
        records.append(record)
        logger.info("step %s %s: %s", record.name, record.status.value, record.detail)
        self.progress.step_finished(record)
