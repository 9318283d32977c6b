"""One rollback per provider across machines: a ``coordination.k8s.io/v1`` Lease in the provider's cluster.

The Lease is named ``gitrollback-<provider id>`` and lives in the provider's target namespace (where Image Factory
installs its Tekton assets, resolved as the installer resolves it), so its key is the provider, whatever machine,
user or state directory a run comes from. The protocol is the one Kubernetes leader election uses (client-go
``tools/leaderelection/resourcelock``), with the API server's optimistic concurrency as the referee:

* **acquire**: create the Lease (a second creator gets 409 AlreadyExists); or, when it exists, take it over only
  when it is released (empty ``holderIdentity``) or expired (``renewTime + leaseDurationSeconds`` is past), or
  when its holder is a process on this very host that no longer exists. A takeover replaces the Lease quoting
  the ``resourceVersion`` it read, so of two runs taking over at once exactly one wins (the other gets 409).
* **refuse**: a live holder is named: its run id, host, pid, since when it holds the lock and until when.
* **renew**: ``renewTime`` is rewritten every ``renew_every`` seconds while the run goes on: at step boundaries, on
  every sleep the run makes (``LeaseClock``, which every wait and retry goes through), and, on the system clock, from
  a timer thread for the long calls that do not sleep (a git fetch). A renewal that meets 409 means another run
  took the lock over: the run stops with a ``StepError`` of kind ``lock_lost``.
* **release**: at the end and on Ctrl-C the holder clears ``holderIdentity`` (the Lease object stays, with its
  ``leaseTransitions`` count), so the next run takes it without waiting for expiry.

Times come from the injected clock; clocks across machines are assumed to agree to well within the lease
duration (NTP), as Kubernetes' own leases assume.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType

from gitrollback.errors import ConflictError, GitRollbackError, PreconditionFailedError, StepError
from gitrollback.models import LeaseRecord
from gitrollback.ports import Clock, LeaseStore

__all__ = ["DEFAULT_LEASE_SECONDS", "Holder", "LeaseClock", "LeaseLock", "lease_name", "pid_alive"]

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 120
_ANNOTATION = "gitrollback.io/"


def lease_name(provider_id: str) -> str:
    """The Lease's name for a provider: ``gitrollback-<provider id>``."""
    return f"gitrollback-{provider_id}"


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this host (or cannot be told apart from one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: the run, the host and the process."""

    run_id: str
    host: str
    pid: int

    @property
    def identity(self) -> str:
        """``spec.holderIdentity``: ``<host>/<pid>/<run id>``."""
        return f"{self.host}/{self.pid}/{self.run_id}"

    def annotations(self) -> dict[str, str]:
        """The Lease annotations that carry the same, field by field."""
        return {
            f"{_ANNOTATION}run-id": self.run_id,
            f"{_ANNOTATION}host": self.host,
            f"{_ANNOTATION}pid": str(self.pid),
        }

    @classmethod
    def of(cls, lease: LeaseRecord) -> Holder | None:
        """The holder a Lease names, or None when it is released or was not written by gitrollback."""
        if not lease.holder:
            return None
        a = lease.annotations
        try:
            return cls(a[f"{_ANNOTATION}run-id"], a[f"{_ANNOTATION}host"], int(a[f"{_ANNOTATION}pid"]))
        except (KeyError, ValueError):
            return cls(lease.holder, "", 0)

    def describe(self) -> str:
        """``run R on host H (pid P)``."""
        if not self.host:
            return f"holder {self.run_id!r}"
        return f"run {self.run_id} on {self.host} (pid {self.pid})"


def _stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at is not None else "an unknown time"


class LeaseLock:
    """The provider's run lock in its cluster. ``acquire`` or refuse, ``renew_if_due`` while running, ``release``.

    Args:
        store: the cluster (``LeaseStore``).
        namespace: the provider's target namespace.
        provider_id: whose lock it is (the Lease is ``gitrollback-<provider id>``).
        holder: this run.
        clock: the run's clock.
        duration: ``leaseDurationSeconds``: how long the Lease stays valid without a renewal.
        renew_every: seconds between renewals (a third of ``duration`` by default).
        is_alive: tells whether a pid on this host still exists.
    """

    def __init__(
        self,
        store: LeaseStore,
        *,
        namespace: str,
        provider_id: str,
        holder: Holder,
        clock: Clock,
        duration: int = DEFAULT_LEASE_SECONDS,
        renew_every: float | None = None,
        is_alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.name = lease_name(provider_id)
        self.provider_id = provider_id
        self.holder = holder
        self.clock = clock
        self.duration = duration
        self.renew_every = renew_every if renew_every is not None else duration / 3
        self._is_alive = is_alive
        self._lease: LeaseRecord | None = None
        self._renewed_at = 0.0
        self._lost: StepError | None = None
        self._mutex = threading.RLock()
        self.renewals = 0

    @property
    def held(self) -> bool:
        """True between a successful ``acquire`` and ``release``."""
        return self._lease is not None

    @property
    def lease(self) -> LeaseRecord | None:
        """The Lease as last written by this lock."""
        return self._lease

    # -- acquire ----------------------------------------------------------------------------------------

    def _record(self, *, now: datetime, base: LeaseRecord | None) -> LeaseRecord:
        transitions = base.transitions if base is not None else 0
        if base is not None and base.holder != self.holder.identity:
            transitions += 1
        return LeaseRecord(
            namespace=self.namespace,
            name=self.name,
            holder=self.holder.identity,
            duration_seconds=self.duration,
            acquire_time=now,
            renew_time=now,
            transitions=transitions,
            annotations={**(dict(base.annotations) if base else {}), **self.holder.annotations()},
            resource_version=base.resource_version if base is not None else "",
        )

    def expires_at(self, lease: LeaseRecord) -> datetime | None:
        """When a Lease lapses without a renewal (None when it never was renewed)."""
        if lease.renew_time is None:
            return None
        return lease.renew_time + timedelta(seconds=lease.duration_seconds)

    def _stale_reason(self, lease: LeaseRecord, now: datetime) -> str | None:
        """Why a held Lease may be taken over, or None while its holder is alive."""
        holder = Holder.of(lease)
        if holder is None:
            return "released"
        if holder.run_id == self.holder.run_id:
            return "held by this run"
        expires = self.expires_at(lease)
        if expires is None or expires <= now:
            return f"expired at {_stamp(expires)}"
        if holder.host == self.holder.host and holder.pid and not self._is_alive(holder.pid):
            return f"its process {holder.pid} on this host is gone"
        return None

    def _refusal(self, lease: LeaseRecord) -> PreconditionFailedError:
        holder = Holder.of(lease)
        who = holder.describe() if holder else "another run"
        expires = self.expires_at(lease)
        return PreconditionFailedError(
            f"another gitrollback run holds provider {self.provider_id}: {who}, since {_stamp(lease.acquire_time)} "
            f"(Lease {self.namespace}/{self.name}, renewed {_stamp(lease.renew_time)}, valid until {_stamp(expires)})",
            step="lock",
            hint="wait for that run to finish; if it died, its lock lapses at "
            f"{_stamp(expires)} and a rerun then takes over",
            kind="lock_held",
        )

    def acquire(self) -> None:
        """Take the lock, or raise ``PreconditionFailedError`` (``lock_held``) naming the live holder.

        Raises:
            PreconditionFailedError: another live run holds it, or won the race for it.
            AdapterError: the cluster refused or failed (401, 403, a missing namespace, transport).
        """
        with self._mutex:
            now = self.clock.now()
            lease = self.store.get_lease(self.namespace, self.name)
            try:
                if lease is None:
                    self._lease = self.store.create_lease(self._record(now=now, base=None))
                    logger.info("took the run lock: Lease %s/%s", self.namespace, self.name)
                else:
                    reason = self._stale_reason(lease, now)
                    if reason is None:
                        raise self._refusal(lease)
                    self._lease = self.store.replace_lease(self._record(now=now, base=lease))
                    logger.info("took over the run lock %s/%s (%s)", self.namespace, self.name, reason)
            except ConflictError:
                # someone created or replaced it between our read and our write: they hold it now
                current = self.store.get_lease(self.namespace, self.name)
                if current is None:
                    raise
                raise self._refusal(current) from None
            self._renewed_at = self.clock.monotonic()

    # -- renew ------------------------------------------------------------------------------------------

    def renew(self) -> None:
        """Rewrite ``renewTime`` now.

        Raises:
            StepError: ``lock_lost``: the Lease changed hands (409 on our resourceVersion); raised again by every
                later renewal, so the run stops at its next sleep or step.
        """
        with self._mutex:
            if self._lost is not None:
                raise self._lost
            if self._lease is None:
                return
            renewed = replace(self._lease, renew_time=self.clock.now())
            try:
                self._lease = self.store.replace_lease(renewed)
            except ConflictError:
                lease, self._lease = self._lease, None
                current = self.store.get_lease(self.namespace, self.name)
                taker = Holder.of(current) if current is not None else None
                who = taker.describe() if taker is not None else "nobody"
                self._lost = StepError(
                    f"lost the run lock of provider {self.provider_id}: Lease {lease.namespace}/{lease.name} "
                    f"changed hands (now {who}); stopping before changing anything more",
                    step="lock",
                    hint="this run was not renewing its lock in time (suspended, or the API server was unreachable "
                    "for longer than the lease); check who holds it now, then rerun",
                    kind="lock_lost",
                )
                raise self._lost from None
            self._renewed_at = self.clock.monotonic()
            self.renewals += 1

    def renew_if_due(self) -> None:
        """Renew when ``renew_every`` seconds passed since the last renewal; a transport failure waits for the
        next chance (the lease outlasts a few missed renewals)."""
        with self._mutex:
            if self._lost is not None:
                raise self._lost
            if self._lease is None or self.clock.monotonic() - self._renewed_at < self.renew_every:
                return
            try:
                self.renew()
            except StepError:
                raise
            except GitRollbackError as exc:
                logger.warning("could not renew the run lock (will retry): %s", exc)

    # -- release ----------------------------------------------------------------------------------------

    def release(self) -> None:
        """Give the lock up (clear the holder); never raises: an unreleased lock lapses on its own."""
        with self._mutex:
            lease, self._lease = self._lease, None
            if lease is None:
                return
            try:
                self.store.replace_lease(replace(lease, holder="", renew_time=self.clock.now()))
                logger.info("released the run lock %s/%s", self.namespace, self.name)
            except GitRollbackError as exc:
                logger.warning(
                    "could not release the run lock %s/%s (it lapses on its own): %s", lease.namespace, lease.name, exc
                )

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class LeaseClock:
    """A ``Clock`` that keeps a run's lock alive: every sleep is cut into pieces no longer than the lock's
    renewal interval, and the lock is renewed between them.

    Every wait and retry of the run sleeps on the injected clock (adapters poll on it, the engine backs off on
    it), so while a lock is attached (``attach``) its Lease is renewed at least every ``renew_every`` seconds of
    that clock, whatever the wait. On the system clock a timer thread also renews it, for the calls that block
    without sleeping. With nothing attached it is the wrapped clock.
    """

    def __init__(self, inner: Clock) -> None:
        self.inner = inner
        self._lock: LeaseLock | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def now(self) -> datetime:
        """The wrapped clock's time."""
        return self.inner.now()

    def monotonic(self) -> float:
        """The wrapped clock's monotonic time."""
        return self.inner.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep on the wrapped clock, renewing the attached lock as often as it needs."""
        lock = self._lock
        if lock is None:
            self.inner.sleep(seconds)
            return
        remaining = seconds
        while True:
            lock.renew_if_due()
            if remaining <= 0:
                return
            piece = min(remaining, lock.renew_every)
            self.inner.sleep(piece)
            remaining -= piece

    def renew(self) -> None:
        """Renew the attached lock if it is due (a step boundary, a wait report)."""
        lock = self._lock
        if lock is not None:
            lock.renew_if_due()

    def attach(self, lock: LeaseLock) -> None:
        """Renew ``lock`` from now on (and from a timer thread when the wrapped clock is the system clock)."""
        from gitrollback.clock import SystemClock

        self._lock = lock
        if isinstance(self.inner, SystemClock):
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._renew_loop, args=(lock,), name="gitrollback-lease", daemon=True
            )
            self._thread.start()

    def detach(self) -> None:
        """Stop renewing."""
        self._lock = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _renew_loop(self, lock: LeaseLock) -> None:
        while not self._stop.wait(max(lock.renew_every / 4, 0.5)):
            try:
                lock.renew_if_due()
            except StepError as exc:  # lock_lost: the run notices at its next sleep or step
                logger.error("%s", exc)
                return
