"""``watch`` against a running sandbox: a failed upgrade is remediated exactly once, across polls and restarts."""

from __future__ import annotations

import json
from pathlib import Path

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld
from gitrollback.watch.handled import ANNOTATION, decode
from tests.watch.conftest import WATCH_NS, MakeService


def _journals(world: SandboxWorld) -> list[Path]:
    return sorted((world.directory / "state" / "runs" / world.provider_id).glob("*.jsonl"))


def _lease_handled(world: SandboxWorld) -> list[str]:
    rt = world.cluster.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    lease = world.cluster.get(rt, WATCH_NS, "gitrollback-watch")
    assert lease is not None
    return [h.job for h in decode(lease["metadata"].get("annotations", {}).get(ANNOTATION))]


def test_policy_rollback_remediates_the_failed_upgrade_exactly_once(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    service = make_service("watch-0")
    service.step()
    m = service.metrics
    labels = {"provider": "sandbox", "policy": "rollback"}
    assert m.get("gitrollback_watch_rollbacks_started_total", labels) == 1
    assert m.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 1
    assert m.get("gitrollback_watch_is_leader") == 1
    journals = _journals(world)
    assert len(journals) == 1
    ended = [json.loads(line) for line in journals[0].read_text().splitlines()][-1]
    assert (ended["event"], ended["status"]) == ("end", "rolled_back")
    assert _lease_handled(world) == [world.failed_job_id]
    notes = world.directory / "state" / "watch" / "notes" / world.provider_id / f"{world.failed_job_id}-incident.md"
    assert "Tekton rollback" in notes.read_text()
    # later polls find the provider healthy, and the handled job stays handled
    for _ in range(5):
        clock.advance(30)
        service.step()
    assert m.get("gitrollback_watch_rollbacks_started_total", labels) == 1
    assert m.get("gitrollback_watch_polls_total") == 6
    # a restart (a new process, a new identity) after the old one released: still one run
    service.close()
    clock.advance(2)
    again = make_service("watch-1")
    again.step()
    assert again.elector is not None and again.elector.is_leader
    assert again.actions == 0
    assert len(_journals(world)) == 1


def inject_failed_upgrade(world: SandboxWorld, key: str) -> str:
    """Start the broken upgrade again through Image Factory's real route; returns the new (failed) job's id."""
    from gitrollback.testing.sandbox import post_json

    started = post_json(
        f"{world.imagefactory.url}/api/v1/admin/infrastructure/providers/{world.provider_id}/tekton/upgrade",
        world.token,
        world.tenant_id,
        {"install_mode": "image_factory_installer", "asset_version": "v1", "idempotency_key": key},
    )
    world.imagefactory.wait_idle(timeout=120)
    return str(started["job"]["id"])


def test_a_new_failure_injected_later_is_remediated_once_after_the_rate_limit_window(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    """A second failure inside the rate-limit window (1 action per 600 s) waits for the window, is skipped with a
    counted reason meanwhile, and is then remediated once."""
    service = make_service("watch-0")
    service.step()
    labels = {"provider": "sandbox", "policy": "rollback"}
    assert service.metrics.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 1
    clock.advance(30)
    job = inject_failed_upgrade(world, "watch-test-second-failure")
    assert job != world.failed_job_id
    service.step()
    skipped = {**labels, "reason": "rate_limited"}
    assert service.metrics.get("gitrollback_watch_actions_skipped_total", skipped) == 1
    assert service.actions == 1
    while clock.monotonic() < 600:
        clock.advance(30)
        service.step()
    assert service.actions == 2
    assert service.metrics.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 2
    assert _lease_handled(world) == [job, world.failed_job_id]
    assert len(_journals(world)) == 2
    for _ in range(10):
        clock.advance(30)
        service.step()
    assert service.actions == 2
