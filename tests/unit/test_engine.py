"""The runbook engine: ordering, typed results, skips, failures, plan mode, resuming, the observer (journal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gitrollback.errors import GitRollbackError, VerificationFailedError
from gitrollback.models import PlanStep, StepRecord, StepStatus
from gitrollback.runbook.context import Ports, RunOptions, StepContext
from gitrollback.runbook.engine import Prior, Runner
from gitrollback.runbook.results import Skipped, StepResult
from gitrollback.settings import AssetSettings, ProviderSettings
from gitrollback.testing.clock import FakeClock


@dataclass(frozen=True)
class Did(StepResult):
    """A scripted result."""

    what: str
    seen: tuple[str, ...]
    detail: str


class Step:
    """A scripted step: returns a ``Did`` naming the results it saw, or raises/returns what it is told."""

    def __init__(self, name: str, outcome: Any = None, *, reads_only: bool = False) -> None:
        self.name, self.outcome, self.reads_only, self.calls, self.attempts = name, outcome, reads_only, 0, []

    def plan(self, ctx: StepContext) -> PlanStep:
        return PlanStep(self.name, f"do {self.name}", mutates=not self.reads_only)

    def run(self, ctx: StepContext) -> StepResult:
        self.calls += 1
        self.attempts.append(ctx.attempt)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        if isinstance(self.outcome, StepResult):
            return self.outcome
        seen = tuple(name for name, _ in ctx.state.results)
        return Did(self.name, seen, f"did {self.name}")


class Progress:
    """Records what the engine reports."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def step_started(self, name: str, description: str) -> None:
        self.events.append(f"start {name}")

    def step_finished(self, record: StepRecord) -> None:
        self.events.append(f"end {record.name} {record.status.value}")

    def step_resumed(self, record: StepRecord) -> None:
        self.events.append(f"reused {record.name}")

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        return None


class Observer:
    """Records what the journal would be told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def result(self, step: str, result: StepResult, record: StepRecord, *, mutates: bool) -> None:
        self.events.append(("result", step))

    def checkpoint(self, step: str, result: StepResult) -> None:
        self.events.append(("checkpoint", step))

    def failed(self, step: str, record: StepRecord, error: GitRollbackError) -> None:
        self.events.append(("failed", step))

    def interrupted(self, step: str, reason: str) -> None:
        self.events.append(("interrupted", f"{step} {reason}"))


def _runner(steps: list[Step], **kwargs: Any) -> Runner:
    settings = ProviderSettings(id="p", assets=AssetSettings(repo="/r"))
    ports = Ports(imagefactory=None, cluster=None, assets=None, clock=FakeClock())  # type: ignore[arg-type]
    return Runner(steps, settings=settings, ports=ports, options=RunOptions(run_id="r1"), **kwargs)


def test_steps_run_in_order_see_earlier_results_and_skips_are_recorded() -> None:
    """Each step sees the results before it; a Skipped result is recorded as skipped; the observer hears each."""
    progress, observer = Progress(), Observer()
    steps = [Step("a"), Step("b", Skipped("disabled")), Step("c")]
    outcome = _runner(steps, progress=progress, observer=observer).run()
    assert [(r.name, r.status, r.detail) for r in outcome.records] == [
        ("a", StepStatus.SUCCEEDED, "did a"),
        ("b", StepStatus.SKIPPED, "disabled"),
        ("c", StepStatus.SUCCEEDED, "did c"),
    ]
    c = outcome.state.get(Did, "c")
    assert c is not None and c.seen == ("a", "b") and outcome.error is None
    assert progress.events == ["start a", "end a succeeded", "start b", "end b skipped", "start c", "end c succeeded"]
    assert observer.events == [("result", "a"), ("result", "b"), ("result", "c")]


def test_failure_stops_and_marks_the_rest_not_run() -> None:
    """The first failure ends the run with the error; later steps are 'not run' and never called."""
    later = Step("c")
    observer = Observer()
    steps = [Step("a"), Step("b", VerificationFailedError("bad", step="b")), later]
    outcome = _runner(steps, observer=observer).run()
    assert [r.status for r in outcome.records] == [StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED]
    assert outcome.records[2].detail == "not run: b failed" and later.calls == 0
    assert isinstance(outcome.error, VerificationFailedError) and outcome.failed_step == "b"
    assert observer.events == [("result", "a"), ("failed", "b")]


def test_resume_reuses_finished_steps_and_checkpoints_and_counts_attempts() -> None:
    """A prior attempt's finished steps are reused (not called), its checkpoints are in the state, and the step that
    failed before runs with attempt 1."""
    progress = Progress()
    first = _runner([Step("a"), Step("b", VerificationFailedError("bad", step="b")), Step("c")]).run()
    done = {"a": (first.state.results[0][1], first.records[0])}
    checkpoint = Did("job", (), "job 7 started")
    a, b, c = Step("a"), Step("b"), Step("c")
    prior = Prior(done=done, checkpoints=(("b", checkpoint),), failures={"b": 1})
    outcome = _runner([a, b, c], progress=progress).run(prior)
    assert a.calls == 0 and b.attempts == [1] and c.calls == 1 and outcome.resumed == ("a",)
    assert outcome.records[0] == first.records[0] and outcome.state.get(Did, "b") == Did("b", ("a", "b"), "did b")
    assert progress.events[0] == "reused a"


def test_an_interrupt_is_told_to_the_observer_and_propagates() -> None:
    """Ctrl-C inside a step marks the run interrupted in that step and is not swallowed."""
    observer = Observer()
    with pytest.raises(KeyboardInterrupt):
        _runner([Step("a"), Step("b", KeyboardInterrupt())], observer=observer).run()
    assert observer.events == [("result", "a"), ("interrupted", "b KeyboardInterrupt")]


def test_plan_runs_only_read_only_steps() -> None:
    """plan calls run() on read-only steps only and describes every step with the facts gathered."""
    reader, writer = Step("read", reads_only=True), Step("write")
    planned, state = _runner([reader, writer]).plan()
    assert [p.name for p in planned] == ["read", "write"] and planned[1].mutates
    assert reader.calls == 1 and writer.calls == 0 and state.get(Did) is not None
