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

    def __init__(
        self, name: str, outcome: Any = None, *, reads_only: bool = False, recheck_before: tuple[str, ...] = ()
    ) -> None:
        self.name, self.outcome, self.reads_only, self.calls, self.attempts = name, outcome, reads_only, 0, []
        self.recheck_before = recheck_before

    def plan(self, ctx: StepContext) -> PlanStep:
        return PlanStep(self.name, f"do {self.name}", mutates=not self.reads_only)

    def run(self, ctx: StepContext) -> StepResult:
        self.calls += 1
        self.attempts.append(ctx.attempt)
        if isinstance(self.outcome, BaseException):
            ctx.checkpoint(Did("progress", (), f"{self.name} half done"))
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

    def result(
        self, step: str, result: StepResult, record: StepRecord, *, mutates: bool, recheck: bool = False
    ) -> None:
        self.events.append(("recheck" if recheck else "result", step))

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
    assert observer.events == [("result", "a"), ("checkpoint", "b"), ("failed", "b")]
    assert outcome.state.get(Did, "b") == Did("progress", (), "b half done")


def _prior(steps: list[Step], stop: str) -> Prior:
    """What a journal holds after ``steps`` ran up to (not including) ``stop``."""
    first = _runner([s for s in steps if s.name != stop]).run()
    names = [s.name for s in steps]
    upto = names.index(stop)
    done = {name: (result, record) for (name, result), record in zip(first.state.results, first.records, strict=True)}
    return Prior(done={n: done[n] for n in names[:upto]})


def test_resume_runs_a_recheck_step_again_while_a_step_it_names_has_no_result() -> None:
    """A finished read-only step with recheck_before runs again, in its place, while a step it names is still
    ahead; the results between it and the resume point are reused, and the observer hears it as a recheck."""

    def steps() -> list[Step]:
        return [Step("a"), Step("plan", reads_only=True, recheck_before=("apply", "prune")), Step("apply"),
                Step("prune"), Step("verify")]  # fmt: skip

    mid = steps()
    observer = Observer()
    outcome = _runner(mid, observer=observer).run(_prior(steps(), "prune"))
    assert [s.calls for s in mid] == [0, 1, 0, 1, 1] and outcome.resumed == ("a", "apply")
    assert observer.events == [("recheck", "plan"), ("result", "prune"), ("result", "verify")]
    assert [r.name for r in outcome.records] == ["a", "plan", "apply", "prune", "verify"]
    late = steps()
    outcome = _runner(late).run(_prior(steps(), "verify"))
    assert [s.calls for s in late] == [0, 0, 0, 0, 1] and outcome.resumed == ("a", "plan", "apply", "prune")


def test_a_resume_plan_lists_finished_steps_as_done_and_runs_the_recheck() -> None:
    """plan_resume describes the finished steps as done in the run, runs a due recheck for real, and plans the rest
    without running them."""

    def steps() -> list[Step]:
        return [Step("a"), Step("plan", reads_only=True, recheck_before=("apply",)), Step("apply"), Step("b")]

    fresh = steps()
    planned, state = _runner(fresh).plan_resume(_prior(steps(), "apply"), "r1")
    assert [p.description for p in planned] == ["done in run r1: did a", "do plan", "do apply", "do b"]
    assert [s.calls for s in fresh] == [0, 1, 0, 0] and state.get(Did, "plan") == Did("plan", ("a",), "did plan")


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
    assert observer.events == [("result", "a"), ("checkpoint", "b"), ("interrupted", "b KeyboardInterrupt")]


def test_plan_runs_only_read_only_steps() -> None:
    """plan calls run() on read-only steps only and describes every step with the facts gathered."""
    reader, writer = Step("read", reads_only=True), Step("write")
    planned, state = _runner([reader, writer]).plan()
    assert [p.name for p in planned] == ["read", "write"] and planned[1].mutates
    assert reader.calls == 1 and writer.calls == 0 and state.get(Did) is not None
