"""The watch loop: elect, poll Image Factory through ``Rollback.assess``, act once per failed job (``docs/watch.md``).

One thread acts (``run``, or ``step`` called by a test that steps a ``FakeClock``). Every ``retry_period`` the loop
ticks the leader election; every ``poll_interval`` the leader assesses each configured provider. A provider
qualifies when ``assess`` finds a failed installer job with nothing active and no success after it (verdict
``rollback``, or ``resume`` for an unfinished run): the same finding ``gitrollback assess`` reports. Its policy
(``notify``, ``propose``, ``rollback``) runs at most once per failed job id (``handled``), within the rate limit,
and only while this replica leads: the leadership is checked before each action and at every wait inside it (the
action's clock raises ``leadership_lost``, or ``watch_stopping`` once a stop was asked, which ends the run at a
safe point and leaves its journal for the next leader to resume).

With ``real_time`` (the CLI) the elector is also ticked from a thread, so the Lease is renewed during calls that
block without sleeping (a git clone); waits between loops end early when ``stop`` is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gitrollback.clock import SystemClock
from gitrollback.errors import GitRollbackError, StepError
from gitrollback.fleet import needs_rollback
from gitrollback.models import Assessment
from gitrollback.ports import Clock
from gitrollback.settings import ProviderSettings, Settings
from gitrollback.watch.actions import ActionResult, RollbackLike, act
from gitrollback.watch.handled import Handled, HandledStore, RateLimiter
from gitrollback.watch.leader import LeaderElector, leadership_lost
from gitrollback.watch.metrics import Metrics

__all__ = ["CUT_SHORT", "WatchService", "WatchedRollback", "qualifying_job"]

logger = logging.getLogger(__name__)

#: error kinds of an action that was cut short, not concluded: another run holds the provider's run lock, or the run
#: stopped at a wait because this replica stopped leading or is stopping. Its job is not recorded as handled.
CUT_SHORT = frozenset({"lock_held", "lock_lost", "leadership_lost", "watch_stopping"})


class WatchedRollback(RollbackLike, AbstractContextManager[Any], Protocol):
    """What the service needs from ``gitrollback.api.Rollback``: assess, plan, run, and close on exit."""

    def assess(self) -> Assessment:
        """See ``Rollback.assess``."""
        ...


#: builds the provider's ``Rollback`` on the given clock (the CLI: ``Rollback.from_settings``)
OpenRollback = Callable[[ProviderSettings, Clock], WatchedRollback]


def qualifying_job(assessment: Assessment) -> str | None:
    """What to act on, as its dedupe key: the failed job ``assess`` found when nothing is active and it advises a
    rollback (or a resume); or, when the failed job is gone from the findings (a later ``validate`` of an interrupted
    rollback succeeded) but a run is unfinished, ``run/<run id>``. The finding is ``run --all-failed``'s
    (``gitrollback.fleet.needs_rollback``); a gitops provider that is only not ready has no job to key on and waits
    for one (``docs/watch.md``)."""
    if assessment.active_job is not None or not needs_rollback(assessment):
        return None
    if assessment.failed_job is not None:
        return assessment.failed_job.id
    return f"run/{assessment.unfinished_run}" if assessment.unfinished_run else None


def _stopping() -> StepError:
    return StepError(
        "the watch service is stopping; the run stops here and its journal stays for the next run to resume",
        step="watch",
        kind="watch_stopping",
        hint="the next leader resumes it (or run `gitrollback run`)",
    )


class _ActionClock:
    """The clock an action runs on: sleeps in pieces no longer than ``retry_period``, and between them beats the
    health check, ticks the election and stops the action when leadership is lost or a stop was asked."""

    def __init__(self, service: WatchService) -> None:
        self.service = service
        self.inner = service.clock

    def now(self) -> datetime:
        return self.inner.now()

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def sleep(self, seconds: float) -> None:
        remaining = seconds
        while True:
            self.service.checkpoint()
            if remaining <= 0:
                return
            piece = min(remaining, self.service.retry_period)
            self.inner.sleep(piece)
            remaining -= piece


class _SystemActionClock(_ActionClock, SystemClock):
    """On the system clock: also a ``SystemClock``, so the run lock's ``LeaseClock`` keeps its renewal thread for the
    calls that block without sleeping (``gitrollback.run_lock``)."""


class WatchService:
    """The service. Build it, ``start_http()`` if wanted, then ``run()`` until ``stop`` is set; ``close()`` always.

    Args:
        settings: the whole config (its ``watch`` section and providers).
        open_rollback: builds a provider's ``Rollback`` on a clock.
        clock: the clock every wait and timestamp uses.
        handled: where handled job ids are kept (``LeaseHandled`` with an elector, else ``FileHandled``).
        notes_dir: where notes and plans are written.
        elector: the leader election; None acts without one (a single replica).
        metrics: the counters served at ``/metrics``.
        stop: set to stop the loop (the CLI's SIGTERM/SIGINT handler sets it).
        real_time: tick the elector from a thread too, and wait on ``stop`` between loops.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        open_rollback: OpenRollback,
        clock: Clock,
        handled: HandledStore,
        notes_dir: Path,
        elector: LeaderElector | None = None,
        metrics: Metrics | None = None,
        stop: threading.Event | None = None,
        real_time: bool = False,
    ) -> None:
        self.settings = settings
        self.watch = settings.watch
        self.open_rollback = open_rollback
        self.clock = clock
        self.handled = handled
        self.notes_dir = notes_dir
        self.elector = elector
        self.metrics = metrics or Metrics()
        self.stop = stop or threading.Event()
        self.real_time = real_time
        self.retry_period = elector.timing.retry_period if elector is not None else min(2.0, self.watch.poll_interval)
        self.limiter = RateLimiter(self.watch.max_actions, self.watch.window)
        self._renew_stop = threading.Event()
        self.actions = 0
        self._beat: float | None = None
        self._next_poll: float | None = None
        self._last_tick: float | None = None
        self._last_poll: datetime | None = None
        self._warned: set[str] = set()
        self._renewer: threading.Thread | None = None
        self._unrecorded: list[Handled] = []

    # -- leadership -------------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """True while this replica may act (always, without leader election)."""
        return self.elector is None or self.elector.is_leader

    def _ticks_itself(self) -> bool:
        """True when this thread ticks the elector: no renewal thread runs (a ``FakeClock``, or ``--once``)."""
        return self.elector is not None and self._renewer is None

    def _elect(self) -> bool:
        if self._ticks_itself():
            assert self.elector is not None
            self.elector.tick()
            self._last_tick = self.clock.monotonic()
        leading = self.leading
        self.metrics.set("gitrollback_watch_is_leader", 1.0 if leading else 0.0)
        return leading

    def checkpoint(self) -> None:
        """Between pieces of an action's waits: beat, tick the election when due, stop when told or not leading.

        Raises:
            StepError: ``watch_stopping`` or ``leadership_lost``.
        """
        now = self.clock.monotonic()
        self._beat = now
        due = self._last_tick is None or now - self._last_tick >= self.retry_period
        if self._ticks_itself() and due:
            self._elect()
        if self.stop.is_set():
            raise _stopping()
        if not self.leading:
            self.metrics.set("gitrollback_watch_is_leader", 0.0)
            raise leadership_lost(f"{self.elector.identity if self.elector else '?'} stopped leading mid-action")

    def _renew_loop(self) -> None:
        """Tick the elector until ``close()``: it keeps renewing while a stopping action drains (a follower must not
        take the Lease while this replica still acts); nothing it raises ends it."""
        assert self.elector is not None
        while not self._renew_stop.wait(self.retry_period):
            try:
                self.elector.tick()
            except Exception:  # a bug or odd Lease data must not leave a replica that never campaigns again
                logger.exception("watch: leader election tick failed")

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self) -> None:
        """Loop until ``stop`` is set, then release the Lease (``close``)."""
        if self.real_time and self.elector is not None and self._renewer is None:
            self.elector.tick()
            self._renewer = threading.Thread(target=self._renew_loop, name="gitrollback-watch-lease", daemon=True)
            self._renewer.start()
        try:
            while not self.stop.is_set():
                self.step()
                if self.real_time:
                    self.stop.wait(self.retry_period)
                else:
                    self.clock.sleep(self.retry_period)
        finally:
            self.close()

    def step(self) -> None:
        """One loop: beat, tick the election, and poll when this replica leads and a poll is due."""
        now = self.clock.monotonic()
        self._beat = now
        if not self._elect():
            return
        self._record_unrecorded()
        if self._next_poll is not None and now < self._next_poll:
            return
        self._next_poll = now + self.watch.poll_interval
        self.poll()

    def poll(self) -> None:
        """Assess every configured provider and act on the qualifying ones (leader only; stops when that ends)."""
        self.metrics.inc("gitrollback_watch_polls_total")
        self._last_poll = self.clock.now()
        for provider in self.settings.providers:
            if self.stop.is_set() or not self.leading:
                return
            try:
                self._poll_provider(provider)
            except Exception as exc:  # one provider's trouble never stops the loop
                logger.error("watch: provider %s: assess failed: %s: %s", provider.label, type(exc).__name__, exc)

    def _poll_provider(self, provider: ProviderSettings) -> None:
        action_clock = _SystemActionClock(self) if isinstance(self.clock, SystemClock) else _ActionClock(self)
        with self.open_rollback(provider, action_clock) as rb:
            assessment = rb.assess()
            job = qualifying_job(assessment)
            if job is None:
                logger.debug("watch: provider %s: %s", provider.label, assessment.verdict)
                return
            if job in {h.job for h in (*self.handled.entries(), *self._unrecorded)}:
                logger.debug("watch: provider %s: failed job %s already handled", provider.label, job)
                return
            policy = self.watch.policy_for(provider)
            labels = {"provider": provider.label, "policy": policy}
            now = self.clock.now()
            recorded = (*self.handled.entries(), *self._unrecorded)
            if not self.limiter.allows(provider.id, now, recorded):
                if job not in self._warned:  # counted and logged once per job, not once per poll
                    self._warned.add(job)
                    self.metrics.inc("gitrollback_watch_actions_skipped_total", {**labels, "reason": "rate_limited"})
                    logger.warning(
                        "watch: provider %s: failed job %s not handled yet: rate limit of %d action(s) per %gs "
                        "reached; next chance in %.0fs",
                        provider.label,
                        job,
                        self.watch.max_actions,
                        self.watch.window,
                        self.limiter.next_allowed(provider.id, now, recorded),
                    )
                return
            if not self.leading:
                return
            self._act(provider, policy, rb, assessment, job, labels)

    def _act(  # noqa: PLR0917 - private, called once
        self,
        provider: ProviderSettings,
        policy: str,
        rb: WatchedRollback,
        assessment: Assessment,
        job: str,
        labels: Mapping[str, str],
    ) -> None:
        started = self.limiter.record(provider.id, self.clock.now())
        self.metrics.inc("gitrollback_watch_rollbacks_started_total", labels)
        self.actions += 1
        logger.warning("watch: provider %s: failed job %s: policy %s starts", provider.label, job, policy)
        try:
            result = act(policy, rb, assessment, job, self.notes_dir)
        except Exception as exc:
            logger.error("watch: provider %s: %s failed: %s: %s", provider.label, policy, type(exc).__name__, exc)
            kind = exc.kind if isinstance(exc, GitRollbackError) else None
            result = ActionResult(False, "error", None, f"{type(exc).__name__}: {exc}", kind)
        if result.ok:
            self.metrics.inc("gitrollback_watch_rollbacks_succeeded_total", labels)
            self.metrics.set("gitrollback_watch_last_success_timestamp_seconds", self.clock.now().timestamp(),
                             {"provider": provider.label})  # fmt: skip
            logger.warning("watch: provider %s: %s %s (%s); notes %s", provider.label, policy, result.outcome,
                           result.detail, result.notes)  # fmt: skip
        else:
            self.metrics.inc("gitrollback_watch_rollbacks_failed_total", labels)
            logger.error("watch: provider %s: %s ended %s: %s", provider.label, policy, result.outcome, result.detail)
        if result.error_kind in CUT_SHORT or not self.leading:
            # another holder of the run lock (a follower that took over while this one was still in a call that
            # blocks, a manual run) or a stop mid-run: the run is unfinished, so the job must stay unhandled and the
            # next poll (or the next leader) resumes it; a definitive outcome is recorded, stopping or not
            why = "leadership lost" if not self.leading else f"cut short ({result.error_kind})"
            logger.warning("watch: failed job %s not recorded as handled (%s): the next poll decides again", job, why)
            self.metrics.inc("gitrollback_watch_actions_skipped_total", {**labels, "reason": "cut_short"})
            self.limiter.forget(provider.id, started)
            return
        self._unrecorded.append(Handled(provider.id, job, policy, result.outcome, started))
        self._record_unrecorded()

    def _record_unrecorded(self) -> None:
        """Record the handled jobs not recorded yet (a write that failed is tried again at the next poll; until then
        this replica remembers them itself). Entries are dropped when leadership is lost: the next leader decides."""
        if not self.leading:
            if self._unrecorded:
                logger.warning("watch: not leading: %d handled job(s) left unrecorded", len(self._unrecorded))
            self._unrecorded.clear()
            return
        while self._unrecorded:
            entry = self._unrecorded[0]
            try:
                self.handled.add(entry)
            except GitRollbackError as exc:
                logger.error("watch: could not record failed job %s as handled (will retry): %s", entry.job, exc)
                return
            self._unrecorded.pop(0)

    # -- health and shutdown ----------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, document)`` for ``/healthz``: unhealthy when the loop made no progress for ``stuck_after``,
        or when the Lease renewal thread should run but has died."""
        since = None if self._beat is None else self.clock.monotonic() - self._beat
        renewer = self._renewer
        renewing = renewer is None or renewer.is_alive()
        healthy = (since is None or since < self.watch.stuck_after) and renewing
        return healthy, {
            "status": "ok" if healthy else ("stuck" if renewing else "lease renewal stopped"),
            "leader": self.leading,
            "identity": self.elector.identity if self.elector is not None else None,
            "holder": self.elector.holder if self.elector is not None else None,
            "seconds_since_progress": since,
            "last_poll": self._last_poll.isoformat() if self._last_poll is not None else None,
            "actions": self.actions,
        }

    def close(self) -> None:
        """Stop the renewal thread and release the Lease (idempotent; call it once ``run()`` returned, so no action
        is running any more)."""
        self.stop.set()
        self._renew_stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)
            self._renewer = None
        if self.elector is not None:
            self.elector.release()
        self.metrics.set("gitrollback_watch_is_leader", 0.0)
