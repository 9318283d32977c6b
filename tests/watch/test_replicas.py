"""Two ``watch`` replicas against one sandbox: one acts, the other stays passive, and leadership moves safely."""

from __future__ import annotations

import json

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld
from tests.watch.conftest import MakeService
from tests.watch.test_remediation import _journals, _lease_handled


def test_the_second_replica_stays_passive_while_the_first_holds_the_lease_then_takes_over(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    a, b = make_service("watch-a", policy="notify"), make_service("watch-b", policy="notify")
    a.step()
    b.step()
    for _ in range(30):  # a minute of retry periods
        clock.advance(2)
        a.step()
        b.step()
    assert a.actions == 1 and b.actions == 0
    assert a.metrics.get("gitrollback_watch_is_leader") == 1 and b.metrics.get("gitrollback_watch_is_leader") == 0
    assert a.metrics.get("gitrollback_watch_polls_total") == 3  # every 30 s
    assert b.metrics.get("gitrollback_watch_polls_total") == 0
    assert b.health()[0] is True and b.health()[1]["holder"] == "watch-a"
    # the leader stops gracefully (releases): the follower takes over at its next retry and does not act again
    a.close()
    assert a.metrics.get("gitrollback_watch_is_leader") == 0
    clock.advance(2)
    b.step()
    assert b.metrics.get("gitrollback_watch_is_leader") == 1
    assert b.metrics.get("gitrollback_watch_polls_total") == 1
    assert b.actions == 0
    assert _lease_handled(world) == [world.failed_job_id]


def test_a_leader_that_cannot_renew_stops_mid_rollback_and_the_other_replica_resumes_the_same_run(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    """The Lease's API requests fail (503) while the leader is rolling back: at the first wait past the renew
    deadline the run stops (``leadership_lost``), the job is not recorded as handled, and the replica that takes
    over resumes that very run: one journal, rolled back once. Both replicas share the state directory here (a
    ReadWriteMany volume); with the shipped per-pod ``emptyDir`` the successor starts a new run (docs/watch.md)."""
    timing = ", lease_duration_seconds: 3, renew_deadline_seconds: 2, retry_period_seconds: 0.5"
    a, b = make_service("watch-a", timing=timing), make_service("watch-b", timing=timing)
    # a's first read (404: no Lease yet) passes, and its create is another path; every later Lease request fails
    world.kube.fail(path="/leases/gitrollback-watch", status=503, times=None, skip=1)
    a.step()
    labels = {"provider": "sandbox", "policy": "rollback"}
    assert a.metrics.get("gitrollback_watch_rollbacks_started_total", labels) == 1
    assert a.metrics.get("gitrollback_watch_rollbacks_failed_total", labels) == 1
    assert a.elector is not None and not a.elector.is_leader
    journals = _journals(world)
    assert len(journals) == 1
    events = [json.loads(line) for line in journals[0].read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["status"] == "failed"
    world.kube.clear_faults()
    # a stays cut off; b takes over once the Lease expired by its own observation (3 s), finds the same failed job
    # unhandled, and resumes the run
    b.step()
    assert b.metrics.get("gitrollback_watch_is_leader") == 0
    for _ in range(5):
        clock.advance(0.5)
        b.step()
    assert b.actions == 0, "taken over before the Lease expired by b's own observation"
    for _ in range(5):
        clock.advance(0.5)
        b.step()
    assert b.actions == 1
    # a comes back: it sees b holding the Lease and stays passive
    clock.advance(0.5)
    a.step()
    assert not a.leading and a.actions == 1
    assert b.metrics.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 1
    assert _journals(world) == journals  # the same run, resumed
    events = [json.loads(line) for line in journals[0].read_text().splitlines()]
    assert events[-1]["status"] == "rolled_back"
    # the failed job is gone from assess once the run's validate job succeeded: the unfinished run is the key
    assert _lease_handled(world) == [f"run/{journals[0].stem}"]
