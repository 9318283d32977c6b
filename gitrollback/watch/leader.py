"""Leader election on a ``coordination.k8s.io/v1`` Lease, following client-go's ``leaderelection`` package.

The semantics are those of k8s.io/client-go ``tools/leaderelection/leaderelection.go`` (``tryAcquireOrRenew``,
``acquire``, ``renew``, ``release``):

* **acquire** when the Lease is absent (create it), held by this candidate, released (empty ``holderIdentity``) or
  expired. Expiry is judged on this candidate's own observation: ``observed_at`` is the local monotonic time at
  which this candidate last saw the record *change*, and the Lease has expired when ``observed_at +
  leaseDurationSeconds`` is past. Another node's ``renewTime`` is never compared with the local clock, so clock skew
  between nodes cannot hand the Lease over early.
* **renew** every ``retry_period`` while leading; when no renewal succeeded for ``renew_deadline`` seconds the
  candidate stops leading (client-go's ``renew`` loop gives up when its ``RenewDeadline`` context expires).
  ``is_leader`` also says False once ``renew_deadline`` passed since the last successful renewal, so a holder that
  is blocked and cannot tick stops acting anyway. Beyond client-go, a candidate that reads the Lease held by
  someone else stands down at once.
* **optimistic concurrency**: every update quotes the ``resourceVersion`` read; a 409 Conflict means the race was
  lost (``replace_lease`` on ``gitrollback.ports.LeaseStore``, the run lock's adapter).
* **release** on a graceful stop (client-go ``tryRelease`` with ``ReleaseOnCancel``): the Lease is read again and,
  if it still names this candidate, written with ``holderIdentity`` cleared, ``leaseDurationSeconds`` 1 and
  ``acquireTime``/``renewTime`` now (a conflict is retried), so a follower takes over at its next retry.
* **what counts as a change** for the expiry: only the election record (holder, duration, acquire and renew times,
  transitions), as client-go compares its ``LeaderElectionRecord``; a third party touching the Lease's metadata
  does not keep a dead holder alive.
* **timestamps**: a successful write renews the deadline from the moment the request was *sent*, so a response
  that arrives late never stretches the leader's belief past the followers' expiry.

Locks: ``_mutex`` serialises the Lease requests; ``_state`` guards the in-memory state and is never held across a
request, so ``is_leader`` (and ``/healthz``) answer at once while a request is in flight.

The Lease also carries the service's state every replica must see (``annotations``, written only by the leader
through ``write_annotations``, which is a renewal too). All timing goes through the injected clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace

from gitrollback.errors import ConflictError, GitRollbackError, NotFoundError, StepError
from gitrollback.models import LeaseRecord
from gitrollback.ports import Clock, LeaseStore

__all__ = ["LeaderElector", "LeaseTiming", "leadership_lost"]

logger = logging.getLogger(__name__)


def leadership_lost(message: str) -> StepError:
    """The error of a replica that no longer holds the watch Lease (kind ``leadership_lost``): raised into an action
    from its clock, it stops the run at its next wait like the run lock's ``lock_lost``."""
    return StepError(
        message,
        step="watch",
        kind="leadership_lost",
        hint="another replica leads now; it sees the same failed job and decides again",
    )


@dataclass(frozen=True)
class LeaseTiming:
    """client-go's ``LeaderElectionConfig`` durations, in seconds (defaults: 15, 10, 2)."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    """One candidate for the watch Lease. Call ``tick()`` every ``retry_period``; ``is_leader`` says whether to act.

    Thread-safe: a renewal thread and the acting loop may share it.
    """

    def __init__(
        self,
        store: LeaseStore,
        *,
        namespace: str,
        name: str,
        identity: str,
        clock: Clock,
        timing: LeaseTiming | None = None,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.clock = clock
        self.timing = timing or LeaseTiming()
        self._mutex = threading.RLock()
        self._state = threading.RLock()
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._leading = False
        self._renewed_at = 0.0
        self.transitions = 0

    # -- state ------------------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this candidate holds the Lease and renewed it less than ``renew_deadline`` ago."""
        with self._state:
            if self._leading and self.clock.monotonic() - self._renewed_at >= self.timing.renew_deadline:
                self._stand_down(f"no renewal for {self.timing.renew_deadline:g}s (renew deadline)")
            return self._leading

    @property
    def record(self) -> LeaseRecord | None:
        """The Lease as this candidate last read or wrote it."""
        return self._observed

    @property
    def holder(self) -> str:
        """Who holds the Lease, as last observed (empty when released or never seen)."""
        return self._observed.holder if self._observed is not None else ""

    def annotations(self) -> Mapping[str, str]:
        """The Lease's annotations as last observed."""
        return dict(self._observed.annotations) if self._observed is not None else {}

    def require(self) -> None:
        """Raise ``StepError`` (``leadership_lost``) unless this candidate leads."""
        if not self.is_leader:
            raise leadership_lost(f"{self.identity} does not hold Lease {self.namespace}/{self.name}")

    # -- the loop ---------------------------------------------------------------------------------------

    def tick(self) -> bool:
        """Try to acquire or renew once (``tryAcquireOrRenew``); returns ``is_leader`` afterwards.

        Errors reading or writing the Lease are logged and count as a failed attempt: a leader keeps leading until
        ``renew_deadline`` has passed without a successful renewal.
        """
        with self._mutex:
            try:
                self._try_acquire_or_renew()
            except GitRollbackError as exc:
                logger.warning("leader election: Lease %s/%s: %s", self.namespace, self.name, exc)
            return self.is_leader

    def _observe(self, lease: LeaseRecord) -> None:
        with self._state:
            seen = self._observed
            if seen is None or _election_record(seen) != _election_record(lease):
                self._observed_at = self.clock.monotonic()
            self._observed = lease

    def _try_acquire_or_renew(self) -> None:
        now = self.clock.now()
        lease = self.store.get_lease(self.namespace, self.name)
        if lease is None:
            sent = self.clock.monotonic()
            created = self.store.create_lease(
                LeaseRecord(
                    namespace=self.namespace,
                    name=self.name,
                    holder=self.identity,
                    duration_seconds=int(self.timing.lease_duration),
                    acquire_time=now,
                    renew_time=now,
                    transitions=0,
                )
            )
            self._became_leader(created, "created the Lease", sent)
            return
        self._observe(lease)
        held_by_other = bool(lease.holder) and lease.holder != self.identity
        if held_by_other:
            if self._leading:
                self._stand_down(f"the Lease is held by {lease.holder}")
            duration = lease.duration_seconds or self.timing.lease_duration
            if self._observed_at + duration > self.clock.monotonic():
                return  # a live holder, as far as this candidate has seen
        ours = lease.holder == self.identity
        record = replace(
            lease,
            holder=self.identity,
            duration_seconds=int(self.timing.lease_duration),
            renew_time=now,
            acquire_time=lease.acquire_time if ours and lease.acquire_time else now,
            transitions=lease.transitions if ours else lease.transitions + 1,
        )
        sent = self.clock.monotonic()
        try:
            written = self.store.replace_lease(record)
        except ConflictError:
            logger.info("leader election: lost the race for Lease %s/%s (409)", self.namespace, self.name)
            return
        with self._state:
            if ours and self._leading:
                self._renewed(written, sent)
                return
        why = "renewed its own Lease" if ours else f"took over from {lease.holder or 'nobody (released)'}"
        self._became_leader(written, why, sent)

    def _renewed(self, lease: LeaseRecord, sent: float) -> None:
        """A write of ours succeeded: the deadline counts from when it was sent."""
        with self._state:
            self._observed = lease
            self._observed_at = self._renewed_at = sent

    def _became_leader(self, lease: LeaseRecord, why: str, sent: float) -> None:
        with self._state:
            self._renewed(lease, sent)
            self._leading = True
            self.transitions += 1
        logger.info("leader election: %s leads (Lease %s/%s: %s)", self.identity, self.namespace, self.name, why)

    def _stand_down(self, why: str) -> None:
        with self._state:
            was, self._leading = self._leading, False
        if was:
            logger.warning("leader election: %s stopped leading: %s", self.identity, why)

    # -- the leader's writes ----------------------------------------------------------------------------

    def write_annotations(self, annotations: Mapping[str, str]) -> None:
        """Replace the Lease's annotations (a renewal too), only while leading.

        A 409 is answered by reading the Lease again: when it still names this candidate (an earlier write of ours
        that committed although its response was lost), the write is made once more on the fresh record.

        Raises:
            StepError: ``leadership_lost``: this candidate does not lead, or the Lease changed hands.
        """
        with self._mutex:
            self.require()
            assert self._observed is not None
            current = self._observed
            for attempt in range(2):
                now = self.clock.now()
                record = replace(current, annotations=dict(annotations), holder=self.identity, renew_time=now)
                sent = self.clock.monotonic()
                try:
                    written = self.store.replace_lease(record)
                except (ConflictError, NotFoundError) as exc:
                    fresh = self.store.get_lease(self.namespace, self.name) if isinstance(exc, ConflictError) else None
                    if attempt == 0 and fresh is not None and fresh.holder == self.identity:
                        self._observe(fresh)
                        current = fresh
                        continue
                    self._stand_down(f"the Lease changed under it ({exc.kind})")
                    raise leadership_lost(
                        f"{self.identity} lost Lease {self.namespace}/{self.name} while recording its state"
                    ) from exc
                self._renewed(written, sent)
                return

    def release(self, attempts: int = 3) -> None:
        """Give the Lease up if it still names this candidate (client-go ``tryRelease``): read it, clear the holder,
        retry a conflict up to ``attempts`` times. Never raises: an unreleased Lease lapses on its own."""
        with self._mutex:
            self._stand_down("released")
            if self._observed is None:
                return  # never saw the Lease: nothing of ours to release
            for _ in range(attempts):
                try:
                    lease = self.store.get_lease(self.namespace, self.name)
                    if lease is None or lease.holder != self.identity:
                        return
                    now = self.clock.now()
                    released = replace(lease, holder="", duration_seconds=1, renew_time=now, acquire_time=now)
                    self._observe(self.store.replace_lease(released))
                except ConflictError:
                    continue
                except GitRollbackError as exc:
                    logger.warning("leader election: could not release Lease %s/%s: %s", self.namespace, self.name, exc)
                    return
                logger.info("leader election: %s released Lease %s/%s", self.identity, self.namespace, self.name)
                return
            logger.warning("leader election: Lease %s/%s not released: it kept changing", self.namespace, self.name)


def _election_record(lease: LeaseRecord) -> tuple[object, ...]:
    """What client-go compares to tell a change (``LeaderElectionRecord``): not the metadata."""
    return (lease.holder, lease.duration_seconds, lease.acquire_time, lease.renew_time, lease.transitions)
