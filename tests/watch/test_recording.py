"""What is recorded as handled, and when: the rate limit's history survives a restart; an action cut short (another
run holds the provider's lock) stays unhandled and is retried; a finished action is recorded even when a stop was
asked meanwhile; ``--once`` in real-time mode takes part in the election."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitrollback.cli.watch import build_service
from gitrollback.config import parse_config
from gitrollback.errors import PreconditionFailedError
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld
from gitrollback.watch import service as service_module
from gitrollback.watch.handled import ANNOTATION, decode
from tests.watch.conftest import WATCH_NS, MakeService, watch_yaml
from tests.watch.test_remediation import _journals, _lease_handled, inject_failed_upgrade


def _lease_entries(world: SandboxWorld) -> list[Any]:
    rt = world.cluster.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    lease = world.cluster.get(rt, WATCH_NS, "gitrollback-watch")
    assert lease is not None
    return decode(lease["metadata"].get("annotations", {}).get(ANNOTATION))


def test_the_rate_limit_survives_a_restart_and_a_new_leader(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    """1 action per 600 s: the first leader acts and stops; a new replica (new identity, new process) finds the
    action on the Lease and holds back a second failure until the window has passed, then acts once."""
    first = make_service("watch-0")
    first.step()
    assert first.actions == 1
    (entry,) = _lease_entries(world)
    assert entry.job == world.failed_job_id and entry.at  # when the action started: the rate limit's history
    first.close()
    clock.advance(30)
    job = inject_failed_upgrade(world, "watch-test-after-restart")
    second = make_service("watch-1")
    second.step()
    assert second.elector is not None and second.elector.is_leader
    skipped = {"provider": "sandbox", "policy": "rollback", "reason": "rate_limited"}
    assert second.actions == 0 and second.metrics.get("gitrollback_watch_actions_skipped_total", skipped) == 1
    window_ends = datetime.fromisoformat(entry.at) + timedelta(seconds=600)
    while clock.now() + timedelta(seconds=30) < window_ends:
        clock.advance(30)
        second.step()
    assert second.actions == 0  # counted once per job, not once per poll
    assert second.metrics.get("gitrollback_watch_actions_skipped_total", skipped) == 1
    clock.advance(30)
    second.step()
    assert second.actions == 1 and _lease_handled(world) == [job, world.failed_job_id]


def test_an_action_cut_short_by_another_run_holding_the_lock_stays_unhandled(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old leader (or a manual run) still holds the provider's run lock: the new leader's attempt is refused
    with ``lock_held``; the job is not recorded and does not use up the rate limit, so the next poll acts."""
    real_act = service_module.act
    calls: list[str] = []

    def locked(*args: Any, **kw: Any) -> Any:
        calls.append("locked")
        raise PreconditionFailedError("provider sandbox is locked by run r-1 on ops-1", step="lock", kind="lock_held")

    monkeypatch.setattr(service_module, "act", locked)
    service = make_service("watch-0")
    service.step()
    cut = {"provider": "sandbox", "policy": "rollback", "reason": "cut_short"}
    assert calls == ["locked"] and service.metrics.get("gitrollback_watch_actions_skipped_total", cut) == 1
    assert _lease_entries(world) == [] and _journals(world) == []
    monkeypatch.setattr(service_module, "act", real_act)
    clock.advance(30)
    service.step()
    assert service.actions == 2 and _lease_handled(world) == [world.failed_job_id]
    assert len(_journals(world)) == 1


def test_a_finished_action_is_recorded_even_when_a_stop_was_asked_meanwhile(
    world: SandboxWorld, make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM during ``notify`` (which never waits): the replica still leads, so the outcome is recorded and the
    next leader does not notify again."""
    real_act = service_module.act
    service = make_service("watch-0", policy="notify")

    def stopped_meanwhile(*args: Any, **kw: Any) -> Any:
        service.stop.set()
        return real_act(*args, **kw)

    monkeypatch.setattr(service_module, "act", stopped_meanwhile)
    service.step()
    assert [(e.job, e.outcome) for e in _lease_entries(world)] == [(world.failed_job_id, "notified")]
    service.close()
    monkeypatch.setattr(service_module, "act", real_act)
    again = make_service("watch-1", policy="notify")
    again.step()
    assert again.actions == 0


def test_once_in_real_time_mode_takes_part_in_the_election(world: SandboxWorld, clock: FakeClock) -> None:
    """``watch --once`` in production runs ``step()`` with ``real_time`` and no renewal thread: it must tick the
    elector itself, lead, poll and act."""
    text = world.config_text + watch_yaml(world)
    settings = parse_config(text, source=str(world.config_path))
    service, close = build_service(
        settings,
        {**world.env, "POD_NAME": "watch-once"},
        read_file=lambda p: Path(p).read_text(encoding="utf-8"),
        clock=clock,
        real_time=True,
        stop=threading.Event(),
    )
    try:
        service.step()
        assert service.elector is not None and service.elector.is_leader
        assert service.metrics.get("gitrollback_watch_polls_total") == 1 and service.actions == 1
    finally:
        service.close()
        close()


def test_the_lease_is_renewed_until_a_stopping_action_has_drained(
    world: SandboxWorld, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while an action is inside a call that blocks: the renewal thread keeps the Lease until ``run()`` has
    returned (a follower must not take over and act meanwhile); then the Lease is released."""
    entered, release = threading.Event(), threading.Event()
    real_act = service_module.act

    def blocking(*args: Any, **kw: Any) -> Any:
        entered.set()
        release.wait(30)
        return real_act(*args, **kw)

    monkeypatch.setattr(service_module, "act", blocking)
    settings = parse_config(world.config_text + watch_yaml(world, policy="notify"), source=str(world.config_path))
    stop = threading.Event()
    service, close = build_service(
        settings,
        {**world.env, "POD_NAME": "watch-0"},
        read_file=lambda p: Path(p).read_text(encoding="utf-8"),
        clock=clock,
        real_time=True,
        stop=stop,
    )
    running = threading.Thread(target=service.run)
    running.start()
    try:
        assert entered.wait(30)
        renewer = service._renewer
        assert renewer is not None
        stop.set()  # what the SIGTERM handler does
        renewer.join(3)  # bounds a failure only: the renewal thread must still be running
        assert renewer.is_alive()
    finally:
        release.set()
        running.join(30)
        close()
    assert not running.is_alive() and service._renewer is None
    rt = world.cluster.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    lease = world.cluster.get(rt, WATCH_NS, "gitrollback-watch")
    assert lease is not None and not lease["spec"].get("holderIdentity")
    assert [e.outcome for e in _lease_entries(world)] == ["notified"]  # finished while stopping: recorded
