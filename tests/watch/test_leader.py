"""Leader election for ``watch`` (``gitrollback.watch.leader``): two candidates against one Kubernetes simulator.

Times are stepped on a ``FakeClock`` that the simulator shares; every expectation follows client-go's
``tools/leaderelection/leaderelection.go`` (lease 15 s, renew deadline 10 s, retry period 2 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gitrollback.adapters.kube import LightkubeCluster
from gitrollback.errors import StepError
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.kube import KubernetesSimulator
from gitrollback.watch.leader import LeaderElector

NS, NAME = "gitrollback", "gitrollback-watch"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock(start=START)


@pytest.fixture(name="kube")
def _kube(clock: FakeClock) -> Iterator[KubernetesSimulator]:
    with KubernetesSimulator(ClusterState(namespaces=[NS], clock=clock)) as sim:
        yield sim


@pytest.fixture(name="clients")
def _clients(kube: KubernetesSimulator) -> Iterator[list[LightkubeCluster]]:
    made = [LightkubeCluster.from_kubeconfig(kube.kubeconfig()) for _ in range(2)]
    yield made
    for c in made:
        c.close()


def _elector(cluster: LightkubeCluster, clock: FakeClock, identity: str) -> LeaderElector:
    return LeaderElector(cluster, namespace=NS, name=NAME, identity=identity, clock=clock)


def _stored(kube: KubernetesSimulator) -> dict[str, Any]:
    rt = kube.state.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    obj = kube.state.get(rt, NS, NAME)
    assert obj is not None
    return obj


def _run(clock: FakeClock, seconds: float, *electors: LeaderElector) -> None:
    """Both candidates tick every retry period (2 s) for ``seconds``."""
    for _ in range(round(seconds / 2)):
        clock.advance(2)
        for e in electors:
            e.tick()


def test_one_leads_and_the_other_stays_passive(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    assert a.tick() is True
    assert b.tick() is False
    _run(clock, 120, a, b)
    assert a.is_leader and not b.is_leader
    spec = _stored(kube)["spec"]
    assert spec["holderIdentity"] == "pod-a" and spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"] == "2026-03-01T09:02:00.000000Z"  # renewed every retry period
    assert spec["leaseTransitions"] == 0


def test_release_hands_over_at_the_followers_next_retry(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    a.tick()
    _run(clock, 10, a, b)
    a.release()
    assert _stored(kube)["spec"]["holderIdentity"] == ""
    assert not a.is_leader
    clock.advance(2)
    assert b.tick() is True
    assert _stored(kube)["spec"]["holderIdentity"] == "pod-b"
    assert _stored(kube)["spec"]["leaseTransitions"] == 1


def test_a_stale_but_unexpired_lease_is_not_taken_early_whatever_its_renew_time_says(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """A holder whose clock is an hour behind wrote a renewTime that looks long expired: the candidate still waits a
    full lease duration from when *it* saw the record change (observedTime), never trusting the remote renewTime."""
    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    a.tick()
    rt = kube.state.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    lease = _stored(kube)
    skewed = (START - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.state.put({**lease, "spec": {**lease["spec"], "renewTime": skewed, "acquireTime": skewed}})
    # pod-a stops renewing (hung, not released); pod-b first sees the record now
    assert b.tick() is False
    for _ in range(7):  # up to 14 s after pod-b's observation
        clock.advance(2)
        assert b.tick() is False
    clock.advance(1)  # 15 s: expired by pod-b's own observation
    assert b.tick() is True
    assert _stored(kube)["spec"]["holderIdentity"] == "pod-b"


def test_a_renewing_holder_is_never_taken_over(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    a.tick()
    b.tick()
    _run(clock, 60, a, b)
    assert a.is_leader and not b.is_leader


def test_a_leader_whose_renewals_fail_stands_down_within_the_renew_deadline(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """The API server answers 503 to every Lease request: the leader keeps leading through failed retries until the
    renew deadline (10 s) passes since its last renewal, then stops; the follower takes over once the fault clears
    and the Lease expired by its own observation."""
    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    a.tick()
    b.tick()
    fault = kube.fail(path="/leases/gitrollback-watch", status=503, times=None)
    for elapsed in (2, 4, 6, 8):
        clock.advance(2)
        assert a.tick() is True, f"still within the renew deadline at {elapsed} s"
    clock.advance(2)
    assert a.tick() is False  # 10 s without a renewal
    assert not a.is_leader
    with pytest.raises(StepError) as lost:
        a.require()
    assert lost.value.kind == "leadership_lost"
    assert fault.hits >= 5
    kube.clear_faults()
    # pod-b last saw the record at t=0; the next tick reads the same record, so it is expired (10 s + 6 s > 15 s)
    clock.advance(6)
    assert b.tick() is True
    assert a.tick() is False  # pod-a reads pod-b's holding and stays down
    assert _stored(kube)["spec"]["holderIdentity"] == "pod-b"


def test_a_leader_stands_down_without_ticking_once_the_deadline_passed(
    clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """``is_leader`` itself turns False when no renewal succeeded for the renew deadline (a blocked holder)."""
    a = _elector(clients[0], clock, "pod-a")
    a.tick()
    clock.advance(9.9)
    assert a.is_leader
    clock.advance(0.1)
    assert not a.is_leader


def test_a_lost_race_is_a_conflict_not_leadership(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """Two candidates see a released Lease; the second write quotes a stale resourceVersion and gets 409."""
    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    a.tick()
    a.release()
    clock.advance(2)
    # pod-b reads the released Lease, then pod-a takes it back before pod-b writes
    lease = clients[1].get_lease(NS, NAME)
    assert lease is not None and lease.holder == ""
    assert a.tick() is True
    from dataclasses import replace

    from gitrollback.errors import ConflictError

    with pytest.raises(ConflictError):
        clients[1].replace_lease(replace(lease, holder="pod-b"))
    assert b.tick() is False


def test_annotations_are_written_only_by_the_leader(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    a.tick()
    b.tick()
    a.write_annotations({"gitrollback.io/watch-handled": "[]"})
    assert _stored(kube)["metadata"]["annotations"] == {"gitrollback.io/watch-handled": "[]"}
    with pytest.raises(StepError):
        b.write_annotations({"x": "y"})
    # a renewal keeps them; a takeover keeps them
    _run(clock, 4, a, b)
    a.release()
    clock.advance(2)
    b.tick()
    assert b.annotations() == {"gitrollback.io/watch-handled": "[]"}
