"""The runbook engine: ordering, records, skips, TemporaryError retries on the injected clock, plan mode."""

from __future__ import annotations

from typing import Any

import pytest

from gitrollback.errors import TemporaryError, VerificationFailedError
from gitrollback.models import PlanStep, StepRecord, StepStatus
from gitrollback.runbook.context import Ports, RunContext, RunOptions
from gitrollback.runbook.engine import Runner, Skipped, StepFailure
from gitrollback.settings import AssetSettings, ProviderSettings
from gitrollback.testing.clock import FakeClock


class Step:
    """A scripted step: returns or raises what it is told, counting calls."""

    def __init__(self, name: str, outcomes: list[Any], *, reads_only: bool = False, deadline: float = 0.0) -> None:
        self.name, self.outcomes, self.reads_only, self.deadline, self.calls = name, outcomes, reads_only, deadline, 0

    def plan(self, ctx: RunContext) -> PlanStep:
        return PlanStep(self.name, f"do {self.name}", mutates=not self.reads_only)

    def run(self, ctx: RunContext) -> str:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return str(outcome) if not isinstance(outcome, Skipped) else outcome


class Progress:
    """Records what the engine reports."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def step_started(self, name: str, description: str) -> None:
        self.events.append(f"start {name}")

    def step_finished(self, record: StepRecord) -> None:
        self.events.append(f"end {record.name} {record.status.value}")

    def waiting(self, what: str, elapsed: float, state: str) -> None:
        self.events.append(f"wait {what} {elapsed:.0f} {state}")


def _ctx(clock: FakeClock) -> RunContext:
    settings = ProviderSettings(id="p", assets=AssetSettings(repo="/r"))
    ports = Ports(imagefactory=None, cluster=None, assets=None, clock=clock)  # type: ignore[arg-type]
    return RunContext(settings=settings, ports=ports, options=RunOptions())


def test_steps_run_in_order_and_skips_are_recorded() -> None:
    """Each step gets a record in order; a Skipped return is recorded as skipped, not succeeded."""
    progress = Progress()
    steps = [Step("a", ["did a"]), Step("b", [Skipped("disabled")]), Step("c", ["did c"])]
    records = Runner(steps, progress=progress).run(_ctx(FakeClock()))
    assert [(r.name, r.status, r.detail) for r in records] == [
        ("a", StepStatus.SUCCEEDED, "did a"),
        ("b", StepStatus.SKIPPED, "disabled"),
        ("c", StepStatus.SUCCEEDED, "did c"),
    ]
    assert progress.events == ["start a", "end a succeeded", "start b", "end b skipped", "start c", "end c succeeded"]


def test_failure_stops_and_marks_the_rest_not_run() -> None:
    """The first failure raises StepFailure carrying the records, later steps are 'not run' and never called."""
    later = Step("c", ["never"])
    steps = [Step("a", ["ok"]), Step("b", [VerificationFailedError("bad", step="b")]), later]
    with pytest.raises(StepFailure) as info:
        Runner(steps).run(_ctx(FakeClock()))
    assert [r.status for r in info.value.records] == [StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED]
    assert info.value.records[2].detail == "not run: b failed"
    assert isinstance(info.value.error, VerificationFailedError) and later.calls == 0


def test_temporary_errors_are_retried_on_the_clock_until_the_deadline() -> None:
    """TemporaryError waits its delay on the injected clock and retries; past the deadline it fails."""
    clock = FakeClock()
    progress = Progress()
    flaky = Step("sync", [TemporaryError("busy", delay=5), TemporaryError("busy", delay=5), "done"], deadline=60)
    records = Runner([flaky], progress=progress).run(_ctx(clock))
    assert records[0].status is StepStatus.SUCCEEDED and flaky.calls == 3 and clock.sleeps == [5, 5]
    assert "wait sync 5 busy" in progress.events
    stuck = Step("sync", [TemporaryError("still busy", delay=30)], deadline=60)
    with pytest.raises(StepFailure, match="still busy"):
        Runner([stuck]).run(_ctx(FakeClock()))
    assert stuck.calls == 3  # at t=0, 30 and 60: a fourth try would end past the deadline


def test_plan_runs_only_read_only_steps() -> None:
    """plan calls run() on read-only steps only and describes every step."""
    reader, writer = Step("read", ["facts"], reads_only=True), Step("write", ["changed"])
    planned = Runner([reader, writer]).plan(_ctx(FakeClock()))
    assert [p.name for p in planned] == ["read", "write"] and planned[1].mutates
    assert reader.calls == 1 and writer.calls == 0
