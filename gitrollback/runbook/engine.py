"""Runs runbook steps in order, records what each one returned, and resumes a run from its journal.

A step is a small object with a ``name``, a ``plan(ctx)`` that says what it would do with concrete targets, and a
``run(ctx)`` that does it and returns a typed result (``runbook/results.py``). The engine owns ordering, records,
the stop-on-failure rule and resuming: it hands each step a frozen ``StepContext`` holding the results so far, and
tells the ``RunObserver`` (the journal) about every result as soon as it exists. Steps never sleep to retry and
the engine does not retry them: waiting happens inside the adapters on the injected clock, and a step that fails
is retried by rerunning the command, which resumes the run.

``resume`` (a ``Prior``, read from the journal) makes ``run`` reuse the results an earlier attempt of the same run
produced, in order, and continue from the first step without one; that step and every later one look at the
world again before acting.

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

    def plan(self, ctx: StepContext) -> PlanStep:
        """What the step would do, with concrete targets."""
        ...

    def run(self, ctx: StepContext) -> StepResult:
        """Do it; return the result (``Skipped`` when there was nothing to do)."""
        ...


class RunObserver(Protocol):
    """Told about every result as soon as it exists (the journal implements it)."""

    def result(self, step: str, result: StepResult, record: StepRecord, *, mutates: bool) -> None:
        """A step finished with ``result``."""
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
    """Where a run ended: the state, one record per step, and the error that stopped it (None: it finished)."""

    state: RunState
    records: tuple[StepRecord, ...]
    error: GitRollbackError | None = None
    failed_step: str | None = None
    resumed: tuple[str, ...] = ()


class _Quiet:
    def step_started(self, name: str, description: str) -> None:
        return None

    def step_finished(self, record: StepRecord) -> None:
        return None

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        return None


class _NoJournal:
    def result(self, step: str, result: StepResult, record: StepRecord, *, mutates: bool) -> None:
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

    def _context(self, state: RunState, attempt: int = 0, step: str = "") -> StepContext:
        def checkpoint(result: StepResult) -> None:
            self.observer.checkpoint(step, result)

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

    def run(self, prior: Prior | None = None) -> RunOutcome:
        """Run every step in order, reusing ``prior``'s results for the steps it finished.

        Stops at the first failure: the outcome carries the error, and the later steps are recorded as skipped
        ("not run"), so a report always lists the whole runbook. ``KeyboardInterrupt`` and unexpected exceptions
        are told to the observer (``interrupted``) and propagate.
        """
        prior = prior or Prior()
        state = RunState()
        records: list[StepRecord] = []
        index = 0
        for step in self.steps:  # the finished prefix of an earlier attempt
            done = prior.done.get(step.name)
            if done is None:
                break
            state = state.add(step.name, done[0])
            records.append(done[1])
            resumed = getattr(self.progress, "step_resumed", None)
            if resumed is not None:
                resumed(done[1])
            index += 1
        reused = tuple(s.name for s in self.steps[:index])
        for name, result in prior.checkpoints:
            if name not in reused:
                state = state.add(name, result)
        current = self.steps[index].name if index < len(self.steps) else ""
        try:
            for position in range(index, len(self.steps)):
                step = self.steps[position]
                current = step.name
                ctx = self._context(state, prior.failures.get(step.name, 0), step.name)
                self.progress.step_started(step.name, step.plan(ctx).description)
                started = self.ports.clock.now()
                try:
                    result = step.run(ctx)
                except GitRollbackError as exc:
                    record = StepRecord(step.name, StepStatus.FAILED, started, self.ports.clock.now(), str(exc))
                    self.observer.failed(step.name, record, exc)
                    self._finished(record, records)
                    for later in self.steps[position + 1 :]:
                        now = self.ports.clock.now()
                        records.append(
                            StepRecord(later.name, StepStatus.SKIPPED, now, now, f"not run: {step.name} failed")
                        )
                    return RunOutcome(state, tuple(records), exc, step.name, reused)
                status = StepStatus.SKIPPED if isinstance(result, Skipped) else StepStatus.SUCCEEDED
                record = StepRecord(step.name, status, started, self.ports.clock.now(), result.detail)
                self.observer.result(step.name, result, record, mutates=not step.reads_only)
                state = state.add(step.name, result)
                if position + 1 < len(self.steps):
                    current = self.steps[position + 1].name
                self._finished(record, records)
        except BaseException as exc:
            self.observer.interrupted(current, type(exc).__name__)
            raise
        return RunOutcome(state, tuple(records), resumed=reused)

    def _finished(self, record: StepRecord, records: list[StepRecord]) -> None:
        records.append(record)
        logger.info("step %s %s: %s", record.name, record.status.value, record.detail)
        self.progress.step_finished(record)
