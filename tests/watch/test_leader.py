"""Leader election for ``watch`` (``gitrollback.watch.leader``): two candidates against one Kubernetes simulator.

Times are stepped on a ``FakeClock`` that the simulator shares; every expectation follows client-go's
``tools/leaderelection/leaderelection.go`` (lease 15 s, renew deadline 10 s, retry period 2 s).
"""

from __future__ import annotations

import threading
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


class _Hooked:
    """A ``LeaseStore`` that runs ``before_replace`` (once) between an elector's read and its write, or
    ``during_replace`` inside each write (a slow response)."""

    def __init__(self, inner: LightkubeCluster) -> None:
        self.inner = inner
        self.before_replace: Any = None
        self.during_replace: Any = None
        self.on_get: Any = None

    def get_lease(self, namespace: str, name: str) -> Any:
        if self.on_get is not None:
            self.on_get()
        return self.inner.get_lease(namespace, name)

    def create_lease(self, lease: Any) -> Any:
        return self.inner.create_lease(lease)

    def replace_lease(self, lease: Any) -> Any:
        hook, self.before_replace = self.before_replace, None
        if hook is not None:
            hook()
        written = self.inner.replace_lease(lease)
        if self.during_replace is not None:
            self.during_replace()
        return written


def test_a_lost_race_is_a_conflict_not_leadership(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """Both see the released Lease; pod-a takes it between pod-b's read and pod-b's write: pod-b's own write gets
    the 409 and pod-b does not lead; pod-a keeps leading."""
    a = _elector(clients[0], clock, "pod-a")
    hooked = _Hooked(clients[1])
    b = LeaderElector(hooked, namespace=NS, name=NAME, identity="pod-b", clock=clock)  # type: ignore[arg-type]
    a.tick()
    a.release()
    clock.advance(2)
    hooked.before_replace = a.tick
    assert b.tick() is False and not b.is_leader
    assert a.is_leader and _stored(kube)["spec"]["holderIdentity"] == "pod-a"
    assert hooked.before_replace is None  # the race did happen inside b's tick


def test_a_late_response_does_not_stretch_the_leaders_deadline(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """A renewal committed at t whose response comes 8 s later: the leader counts its 10 s deadline from t (when it
    sent it), so it stops leading before a follower that saw the change at t could take over (t + 15)."""
    hooked = _Hooked(clients[0])
    a = LeaderElector(hooked, namespace=NS, name=NAME, identity="pod-a", clock=clock)  # type: ignore[arg-type]
    assert a.tick() is True
    clock.advance(2)
    hooked.during_replace = lambda: clock.advance(8)
    a.tick()
    hooked.during_replace = None
    clock.advance(2.5)  # 10.5 s after the renewal was sent
    assert not a.is_leader


def test_is_leader_answers_while_a_lease_request_is_in_flight(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """``/healthz`` asks ``is_leader``: it must not wait for a tick whose Lease request hangs."""
    hooked = _Hooked(clients[0])
    a = LeaderElector(hooked, namespace=NS, name=NAME, identity="pod-a", clock=clock)  # type: ignore[arg-type]
    assert a.tick() is True
    entered, release = threading.Event(), threading.Event()

    def hang() -> None:
        entered.set()
        release.wait(30)

    hooked.on_get = hang
    ticking = threading.Thread(target=a.tick)
    ticking.start()
    try:
        assert entered.wait(30)
        answers: list[bool] = []
        asking = threading.Thread(target=lambda: answers.append(a.is_leader))
        asking.start()
        asking.join(10)  # only bounds a failure: without the fix this thread waits for the hanging request
        assert answers == [True]
    finally:
        release.set()
        ticking.join(30)


def test_a_third_party_touching_the_lease_metadata_does_not_keep_a_dead_holder_alive(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """pod-a dies; something annotates the Lease every 2 s (new resourceVersion, same election record): pod-b takes
    over 15 s after it last saw the record change, as client-go would."""
    from dataclasses import replace

    a, b = _elector(clients[0], clock, "pod-a"), _elector(clients[1], clock, "pod-b")
    a.tick()
    b.tick()
    for i in range(8):
        clock.advance(2)
        lease = clients[0].get_lease(NS, NAME)
        assert lease is not None
        clients[0].replace_lease(replace(lease, annotations={**lease.annotations, "touched": str(i)}))
        b.tick()
    assert b.is_leader and _stored(kube)["spec"]["holderIdentity"] == "pod-b"


def test_release_reads_the_lease_again_and_releases_it_when_its_version_moved(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """The Lease changed since pod-a last saw it (a metadata write): the release still clears the holder."""
    from dataclasses import replace

    a = _elector(clients[0], clock, "pod-a")
    a.tick()
    lease = clients[1].get_lease(NS, NAME)
    assert lease is not None
    clients[1].replace_lease(replace(lease, annotations={"touched": "yes"}))
    clock.advance(1)
    a.release()
    spec = _stored(kube)["spec"]
    assert spec["holderIdentity"] in ("", None) and spec["leaseDurationSeconds"] == 1
    assert spec["acquireTime"] == spec["renewTime"]


def test_a_conflicting_annotation_write_by_the_leader_itself_is_written_again(
    kube: KubernetesSimulator, clients: list[LightkubeCluster], clock: FakeClock
) -> None:
    """A 409 on the leader's annotation write while the Lease still names it (its earlier write committed, or a
    metadata change): it reads the Lease again and writes once more, and keeps leading."""
    from dataclasses import replace

    a = _elector(clients[0], clock, "pod-a")
    a.tick()
    lease = clients[1].get_lease(NS, NAME)
    assert lease is not None
    clients[1].replace_lease(replace(lease, annotations={"touched": "yes"}))
    a.write_annotations({"gitrollback.io/watch-handled": "[]"})
    assert a.is_leader
    assert _stored(kube)["metadata"]["annotations"]["gitrollback.io/watch-handled"] == "[]"


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
