"""Runs runbook steps in order and records what each one did.

A step is a small object with a ``name``, a ``plan(ctx)`` that says what it would do with concrete targets, and a
``run(ctx)`` that does it and returns a one-line detail. The engine owns ordering, records, retries and the
stop-on-failure rule; steps never sleep to retry: they raise ``TemporaryError(delay=...)`` and the engine waits
on the injected clock, up to the step's ``deadline`` (so tests never wait for real).

``plan`` runs only the steps marked ``reads_only`` (they gather the facts a plan needs: status, known-good
revision, manifests) and asks every other step for its ``PlanStep``; no mutating port method is called.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gitrollback.errors import GitRollbackError, TemporaryError
from gitrollback.models import PlanStep, StepRecord, StepStatus
from gitrollback.ports import Journal, ProgressSink
from gitrollback.runbook.context import RunContext

__all__ = ["Detail", "Runner", "Skipped", "Step", "StepFailure"]

logger = logging.getLogger(__name__)


class Step(Protocol):
    """One runbook step."""

    name: str
    #: True when the step changes nothing anywhere (it may run during ``plan``).
    reads_only: bool
    #: How long the engine keeps retrying ``TemporaryError`` before giving up, in seconds.
    deadline: float

    def plan(self, ctx: RunContext) -> PlanStep:
        """What the step would do, with concrete targets."""
        ...

    def run(self, ctx: RunContext) -> str:
        """Do it; return a one-line detail for the record."""
        ...


class Skipped(str):
    """Returned by a step that had nothing to do (disabled in config, or nothing to act on): recorded as skipped."""

    __slots__ = ()


class Detail(str):
    """Returned by a step whose record carries data besides its one-line detail (it goes into the journal)."""

    data: Mapping[str, Any]

    def __new__(cls, text: str, data: Mapping[str, Any]) -> Detail:
        detail = super().__new__(cls, text)
        detail.data = data
        return detail


class StepFailure(Exception):
    """Carries the records so far out of ``Runner.run`` together with the error that stopped it."""

    def __init__(self, error: GitRollbackError, records: tuple[StepRecord, ...]) -> None:
        super().__init__(str(error))
        self.error = error
        self.records = records


class _NullProgress:
    def step_started(self, name: str, description: str) -> None:
        return None

    def step_finished(self, record: StepRecord) -> None:
        return None

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        return None


class Runner:
    """Executes steps against a ``RunContext``.

    Args:
        steps: in order.
        progress: told about each step as it starts and ends.
        journal: receives each record as soon as the step ends (a crash leaves an account).
    """

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        progress: ProgressSink | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.steps = tuple(steps)
        self.progress: ProgressSink = progress or _NullProgress()
        self.journal = journal

    def plan(self, ctx: RunContext) -> tuple[PlanStep, ...]:
        """Gather facts with the read-only steps, then describe every step."""
        planned: list[PlanStep] = []
        for step in self.steps:
            if step.reads_only:
                self._attempt(step, ctx)
            planned.append(step.plan(ctx))
        return tuple(planned)

    def run(self, ctx: RunContext) -> tuple[StepRecord, ...]:
        """Run every step in order; on the first failure raise ``StepFailure`` with the records so far.

        Steps after a failure are recorded as skipped, so a report always lists the whole runbook.
        """
        records: list[StepRecord] = []
        for index, step in enumerate(self.steps):
            planned = step.plan(ctx)
            self.progress.step_started(step.name, planned.description)
            started = ctx.ports.clock.now()
            try:
                detail = self._attempt(step, ctx)
            except GitRollbackError as exc:
                record = StepRecord(step.name, StepStatus.FAILED, started, ctx.ports.clock.now(), str(exc))
                self._finish(ctx, record, records)
                for later in self.steps[index + 1 :]:
                    now = ctx.ports.clock.now()
                    skipped = StepRecord(later.name, StepStatus.SKIPPED, now, now, f"not run: {step.name} failed")
                    records.append(skipped)
                raise StepFailure(exc, tuple(records)) from exc
            status = StepStatus.SKIPPED if isinstance(detail, Skipped) else StepStatus.SUCCEEDED
            data = detail.data if isinstance(detail, Detail) else {}
            record = StepRecord(step.name, status, started, ctx.ports.clock.now(), str(detail), data)
            self._finish(ctx, record, records)
        return tuple(records)

    def _finish(self, ctx: RunContext, record: StepRecord, records: list[StepRecord]) -> None:
        records.append(record)
        logger.info("step %s %s: %s", record.name, record.status.value, record.detail)
        if self.journal is not None:
            self.journal.append(ctx.settings.id, record)
        self.progress.step_finished(record)

    def _attempt(self, step: Step, ctx: RunContext) -> str:
        clock = ctx.ports.clock
        start = clock.monotonic()
        while True:
            try:
                return step.run(ctx)
            except TemporaryError as exc:
                elapsed = clock.monotonic() - start
                if elapsed + exc.delay > step.deadline:
                    raise
                self.progress.waiting(step.name, elapsed, str(exc))
                clock.sleep(exc.delay)
