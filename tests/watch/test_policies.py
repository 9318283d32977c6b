"""The ``notify`` and ``propose`` policies, per-provider overrides, the file record of handled jobs without leader
election, and an action that raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld
from gitrollback.watch import service as service_module
from tests.watch.conftest import MakeService
from tests.watch.test_remediation import _journals


def _notes(world: SandboxWorld, what: str) -> Path:
    return world.directory / "state" / "watch" / "notes" / world.provider_id / f"{world.failed_job_id}-{what}.md"


def _handled_file(world: SandboxWorld) -> list[dict[str, str]]:
    data: list[dict[str, str]] = json.loads((world.directory / "state" / "watch" / "handled.json").read_text())
    return data


def test_notify_writes_the_assessment_once_and_changes_nothing(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    service = make_service(policy="notify", election=False)
    before = world.cluster.resource_version  # no leader election: nothing of ours writes to the cluster
    service.step()
    notes = _notes(world, "assessment").read_text()
    assert world.failed_job_id in notes and "verdict       rollback" in notes
    assert _journals(world) == []
    assert [(h["job"], h["policy"], h["outcome"]) for h in _handled_file(world)] == [
        (world.failed_job_id, "notify", "notified")
    ]
    # the failure is still there: later polls and a restart do not act on the same job again
    for _ in range(4):
        clock.advance(30)
        service.step()
    restarted = make_service("watch-1", policy="notify", election=False)
    restarted.step()
    assert service.actions == 1 and restarted.actions == 0
    assert len(_handled_file(world)) == 1
    assert world.cluster.resource_version == before


def test_propose_writes_the_plan_with_the_known_good_revision_and_changes_nothing(
    world: SandboxWorld, make_service: MakeService
) -> None:
    service = make_service(policy="propose", election=False)
    before = world.cluster.resource_version
    service.step()
    assert world.cluster.resource_version == before
    plan = _notes(world, "plan").read_text()
    assert f"known-good  {world.repo.good}" in plan and "Nothing was changed" in plan
    assert "[changes things]" in plan  # the steps run would take
    assert _journals(world) == []
    labels = {"provider": "sandbox", "policy": "propose"}
    assert service.metrics.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 1


def test_a_per_provider_policy_overrides_the_default(world: SandboxWorld, make_service: MakeService) -> None:
    service = make_service(policy="rollback", election=False, extra="  providers: {sandbox: notify}\n")
    service.step()
    assert _notes(world, "assessment").exists() and _journals(world) == []


def test_an_action_that_raises_is_counted_and_the_loop_goes_on(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kw: object) -> object:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service_module, "act", broken)
    service = make_service(policy="notify", election=False)
    service.step()
    labels = {"provider": "sandbox", "policy": "notify"}
    assert service.metrics.get("gitrollback_watch_rollbacks_failed_total", labels) == 1
    assert service.metrics.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 0
    assert [h["outcome"] for h in _handled_file(world)] == ["error"]
    clock.advance(30)
    service.step()  # the loop goes on (and the job stays handled: one attempt per failed job)
    assert service.metrics.get("gitrollback_watch_polls_total") == 2
    assert service.actions == 1
    assert service.health()[0] is True


def test_an_unreachable_image_factory_is_logged_and_the_loop_goes_on(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService, caplog: pytest.LogCaptureFixture
) -> None:
    service = make_service(policy="notify", election=False)
    world.imagefactory.fail(path="/providers/", status=500, times=None)
    service.step()
    assert service.actions == 0
    assert "assess failed" in caplog.text
    world.imagefactory.clear_faults()
    clock.advance(30)
    service.step()
    assert service.actions == 1


def test_a_handled_job_whose_record_fails_is_remembered_and_recorded_at_the_next_retry(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    """The Lease update that records the job answers 503: this replica remembers the job itself (no second notify)
    and writes the record at its next loop."""
    from tests.watch.test_remediation import _lease_handled

    service = make_service(policy="notify")
    fault = world.kube.fail(path="/leases/gitrollback-watch", method="PUT", status=503, times=1)
    service.step()  # create (POST), then the record's PUT fails
    assert fault.hits == 1 and service.actions == 1
    assert _lease_handled(world) == []
    clock.advance(2)
    service.step()
    assert _lease_handled(world) == [world.failed_job_id]
    for _ in range(40):
        clock.advance(2)
        service.step()
    assert service.actions == 1
