"""The Lease run lock (``gitrollback.run_lock``) through the lightkube adapter against the Kubernetes simulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gitrollback.adapters.kube import LightkubeCluster
from gitrollback.errors import ConflictError, PreconditionFailedError, StepError
from gitrollback.models import LeaseRecord
from gitrollback.run_lock import Holder, LeaseClock, LeaseLock, lease_name
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.kube import KubernetesSimulator

NS, PROVIDER = "image-factory-6f1c2a9e", "0b8e6f1e-7c2a-4d3b-8e9f-1a2b3c4d5e6f"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock(start=START)


@pytest.fixture(name="kube")
def _kube(clock: FakeClock) -> Iterator[KubernetesSimulator]:
    with KubernetesSimulator(ClusterState(namespaces=[NS], clock=clock)) as sim:
        yield sim


@pytest.fixture(name="cluster")
def _cluster(kube: KubernetesSimulator) -> Iterator[LightkubeCluster]:
    cluster = LightkubeCluster.from_kubeconfig(kube.kubeconfig())
    yield cluster
    cluster.close()


def _lock(cluster: Any, clock: FakeClock, run_id: str, *, host: str = "ops-1", pid: int = 100, **kw: Any) -> LeaseLock:
    return LeaseLock(
        cluster,
        namespace=NS,
        provider_id=PROVIDER,
        holder=Holder(run_id, host, pid),
        clock=clock,
        duration=30,
        is_alive=kw.pop("is_alive", lambda pid: True),
        **kw,
    )


def _stored(kube: KubernetesSimulator) -> dict[str, Any]:
    rt = kube.state.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    obj = kube.state.get(rt, NS, lease_name(PROVIDER))
    assert obj is not None
    return obj


def test_acquire_writes_the_holder_and_a_second_run_is_refused_naming_it(
    kube: KubernetesSimulator, cluster: LightkubeCluster, clock: FakeClock
) -> None:
    """The first run creates the Lease with its identity; a second run from another host is refused, named."""
    first = _lock(cluster, clock, "run-a")
    first.acquire()
    spec = _stored(kube)["spec"]
    assert spec["holderIdentity"] == "ops-1/100/run-a"
    assert spec["leaseDurationSeconds"] == 30 and spec["renewTime"] == "2026-03-01T09:00:00.000000Z"
    clock.advance(10)
    with pytest.raises(PreconditionFailedError) as refused:
        _lock(cluster, clock, "run-b", host="ops-2").acquire()
    assert refused.value.kind == "lock_held"
    assert "run run-a on ops-1 (pid 100), since 2026-03-01 09:00:00Z" in refused.value.message
    assert "valid until 2026-03-01 09:00:30Z" in refused.value.message


def test_takeover_only_after_expiry(kube: KubernetesSimulator, cluster: LightkubeCluster, clock: FakeClock) -> None:
    """A Lease whose renewTime + duration has passed is taken over, counting a transition; before that it is not."""
    _lock(cluster, clock, "run-a").acquire()  # never renewed, never released: its process died
    clock.advance(29)
    with pytest.raises(PreconditionFailedError):
        _lock(cluster, clock, "run-b", host="ops-2").acquire()
    clock.advance(2)
    taker = _lock(cluster, clock, "run-b", host="ops-2")
    taker.acquire()
    spec = _stored(kube)["spec"]
    assert spec["holderIdentity"] == "ops-2/100/run-b" and spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == "2026-03-01T09:00:31.000000Z"


def test_a_dead_process_on_this_host_is_taken_over_at_once(cluster: LightkubeCluster, clock: FakeClock) -> None:
    """On the holder's own host a holder pid that no longer exists frees the lock before expiry."""
    _lock(cluster, clock, "run-a", pid=4242).acquire()
    _lock(cluster, clock, "run-b", pid=4343, is_alive=lambda pid: pid != 4242).acquire()


class _RacingStore:
    """A LeaseStore that lets another run write between this run's read and its write."""

    def __init__(self, inner: LightkubeCluster, meanwhile: Any) -> None:
        self.inner, self.meanwhile = inner, meanwhile

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        found = self.inner.get_lease(namespace, name)
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return found

    def create_lease(self, lease: LeaseRecord) -> LeaseRecord:
        return self.inner.create_lease(lease)

    def replace_lease(self, lease: LeaseRecord) -> LeaseRecord:
        return self.inner.replace_lease(lease)


def test_two_creators_at_once_exactly_one_wins(cluster: LightkubeCluster, clock: FakeClock) -> None:
    """Both see no Lease; the other creates first, so this create gets 409 AlreadyExists and refuses, naming it."""
    other = _lock(cluster, clock, "run-b", host="ops-2")
    mine = _lock(_RacingStore(cluster, other.acquire), clock, "run-a")
    with pytest.raises(PreconditionFailedError, match="run run-b on ops-2"):
        mine.acquire()
    assert other.held and not mine.held


def test_two_takers_of_an_expired_lease_exactly_one_wins(
    kube: KubernetesSimulator, cluster: LightkubeCluster, clock: FakeClock
) -> None:
    """Both read the expired Lease; the other replaces it first, so this stale replace gets 409 and refuses."""
    _lock(cluster, clock, "run-dead", host="gone").acquire()
    clock.advance(60)
    other = _lock(cluster, clock, "run-b", host="ops-2")
    mine = _lock(_RacingStore(cluster, other.acquire), clock, "run-a")
    with pytest.raises(PreconditionFailedError, match="run run-b on ops-2"):
        mine.acquire()
    assert _stored(kube)["spec"]["holderIdentity"] == "ops-2/100/run-b"


def test_renewal_and_release(kube: KubernetesSimulator, cluster: LightkubeCluster, clock: FakeClock) -> None:
    """renew_if_due rewrites renewTime only once a third of the lease has passed; release clears the holder."""
    lock = _lock(cluster, clock, "run-a")
    lock.acquire()
    clock.advance(5)
    lock.renew_if_due()
    assert _stored(kube)["spec"]["renewTime"] == "2026-03-01T09:00:00.000000Z"
    clock.advance(5)
    lock.renew_if_due()
    assert _stored(kube)["spec"]["renewTime"] == "2026-03-01T09:00:10.000000Z"
    lock.release()
    assert _stored(kube)["spec"]["holderIdentity"] == ""
    _lock(cluster, clock, "run-b", host="ops-2").acquire()  # free at once, no waiting for expiry


def test_a_lock_taken_over_meanwhile_is_lost_for_good(cluster: LightkubeCluster, clock: FakeClock) -> None:
    """When another run replaced the Lease, the next renewal raises lock_lost, and so does every later one."""
    lock = _lock(cluster, clock, "run-a")
    lock.acquire()
    current = cluster.get_lease(NS, lease_name(PROVIDER))
    assert current is not None
    cluster.replace_lease(replace(current, holder="ops-9/1/run-z", annotations={}))
    clock.advance(15)
    with pytest.raises(StepError) as lost:
        lock.renew_if_due()
    assert lost.value.kind == "lock_lost" and "ops-9/1/run-z" in lost.value.message
    with pytest.raises(StepError):
        lock.renew_if_due()


def test_lease_clock_renews_through_a_long_sleep(kube: KubernetesSimulator, cluster: LightkubeCluster) -> None:
    """One 300 s sleep on the LeaseClock is cut into pieces; the Lease never lapses during it (sampled each second)."""
    clock = FakeClock(start=START)
    lease_clock = LeaseClock(clock)
    lock = _lock(cluster, lease_clock, "run-a")
    lock.acquire()
    lease_clock.attach(lock)
    lapses: list[datetime] = []

    def sample() -> None:
        spec = _stored(kube)["spec"]
        renewed = datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00"))
        if renewed + timedelta(seconds=spec["leaseDurationSeconds"]) <= clock.now():
            lapses.append(clock.now())

    timer = clock.every(1.0, sample)
    lease_clock.sleep(300)
    timer.cancel()
    lease_clock.detach()
    assert lapses == [] and lock.renewals >= 300 / 10 - 1


def test_a_conflict_on_create_with_the_lease_gone_is_not_a_refusal(clock: FakeClock) -> None:
    """409 on create followed by no Lease at all is an error of its own, not a made-up holder."""

    class Vanishing:
        def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
            return None

        def create_lease(self, lease: LeaseRecord) -> LeaseRecord:
            raise ConflictError("exists", adapter="kubernetes", operation="create", status=409)

        def replace_lease(self, lease: LeaseRecord) -> LeaseRecord:  # pragma: no cover - never reached
            return lease

    with pytest.raises(ConflictError):
        _lock(Vanishing(), clock, "run-a").acquire()
