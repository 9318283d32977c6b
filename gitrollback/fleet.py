"""Roll back many providers at once: bounded concurrency, one outcome per provider, one summary (``docs/fleet.md``).

Each provider runs through its own ``Rollback`` (its own lock, journal and report), on a pool of at most ``parallel``
worker threads. Providers in gitops mode whose GitOps repository, branch and path are the same form a group: a group
runs its providers one after another in one worker, so the first makes the rollback commit and its change request
and the others find that rollback on the branch (``RunOptions.shared_with``) and sync and verify exactly it, instead
of racing pushes. Everything else runs in parallel.

Whatever one provider does (a failed step, a refusal, any exception) becomes that provider's ``ProviderOutcome``;
it never stops the others. Stopping (``FleetRunner.stop``, or Ctrl-C while ``run`` runs): no provider
starts after it, and those not started are reported ``not_started``; a second stop (``abort``) also interrupts the
running ones at their next wait, as Ctrl-C interrupts a single run (its journal lets a rerun resume it). ``run``
joins every worker before it returns.

Example::

    from gitrollback.fleet import FleetRunner, open_from_settings

    runner = FleetRunner(settings.providers, open_from_settings(settings, env=os.environ, read_file=read),
                         parallel=4, only_failed=True)
    report = runner.run()
    print(report.status, report.exit_code, [(o.label, o.status) for o in report.outcomes])
"""

from __future__ import annotations

import concurrent.futures
import logging
import posixpath
import re
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from gitrollback.clock import SystemClock
from gitrollback.errors import ConfigError, GitRollbackError, PreconditionFailedError
from gitrollback.models import Assessment, RunReport
from gitrollback.ports import Clock, ProgressSink
from gitrollback.secrets import FileReader
from gitrollback.settings import ProviderSettings, Settings

__all__ = [
    "EXIT_CODES",
    "FleetOptions",
    "FleetReport",
    "FleetRunner",
    "OutcomeStatus",
    "ProviderOutcome",
    "StopAwareClock",
    "group_providers",
    "needs_rollback",
    "open_from_settings",
    "repository_identity",
    "shared_target",
]

OutcomeStatus = Literal["rolled_back", "failed", "refused", "error", "skipped", "interrupted", "not_started"]
FleetStatus = Literal["rolled_back", "failed", "refused", "error", "interrupted", "nothing_to_do"]

#: each outcome's exit code, the CLI's (``docs/cli.md``): 0 ok, 1 failed, 2 usage or configuration (or a missing
#: credential), 3 refused, 130 interrupted
EXIT_CODES: Mapping[str, int] = {
    "rolled_back": 0,
    "skipped": 0,
    "failed": 1,
    "error": 1,
    "refused": 3,
    "interrupted": 130,
    "not_started": 130,
}
#: worst first: the fleet's exit code is that of its worst outcome in this order (interrupted, then configuration or
#: credentials, then failed, then refused, then ok)
_SEVERITY = (130, 2, 1, 3, 0)

logger = logging.getLogger(__name__)
#: ``FleetRunner._catch_sigint``'s answer when it installed no handler
_NOT_INSTALLED = object()


def needs_rollback(assessment: Assessment) -> bool:
    """Whether ``--all-failed`` rolls this provider back: the one predicate (the CLI and services use it).

    ``assess`` must say roll back (or resume an unfinished run), and either Image Factory's last installer job for
    the provider failed (no job succeeded after it), or a run of gitrollback's is unfinished (``resume``), or the
    provider is in gitops mode and not ready: there the installer only delegates to the GitOps controller, so its
    job succeeds and readiness is what fails. The ``watch`` service acts on the same finding.
    """
    if assessment.verdict not in ("rollback", "resume"):
        return False
    if assessment.failed_job is not None or assessment.unfinished_run:
        return True
    return assessment.mode == "gitops" and assessment.readiness_status != "ready"


_SCP = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?P<path>.*)$")  # git@github.com:acme/assets.git


def repository_identity(location: str) -> str:
    """One spelling for every way of writing the same repository: for a URL (``https://``, ``ssh://``, scp-style
    ``git@host:org/repo``) the host and path in lower case (GitHub and GitLab treat both case-insensitively), without
    scheme, user, password, port, trailing ``/`` or ``.git``; for a local path its normalised form."""
    if "://" in location:
        parts = urlsplit(location)
        host, path = (parts.hostname or "").lower(), parts.path
    elif (m := _SCP.match(location)) is not None and not location.startswith(("/", ".")):
        host, path = m.group("host").lower(), m.group("path")
    else:
        return posixpath.normpath(location).rstrip("/").removesuffix(".git")
    path = posixpath.normpath("/" + path).strip("/").removesuffix(".git").lower()
    return f"{host}/{path}"


def _norm_path(path: str) -> str:
    """``./clusters//prod/`` -> ``clusters/prod``; the repository root is ``""``."""
    normal = posixpath.normpath("/" + path.strip()).strip("/")
    return "" if normal == "." else normal


def shared_target(provider: ProviderSettings) -> tuple[str, str, str] | None:
    """The GitOps repository (``repository_identity``), branch and path (normalised) a gitops provider's rollback
    commits to (None: not gitops)."""
    if provider.gitops is None or provider.mode not in (None, "gitops"):
        return None
    a = provider.assets
    return (repository_identity(a.repo), a.branch, _norm_path(a.path))


def _nested(a: str, b: str) -> bool:
    return a != b and (a == "" or b == "" or b.startswith(a + "/") or a.startswith(b + "/"))


def group_providers(providers: Sequence[ProviderSettings]) -> list[list[ProviderSettings]]:
    """Providers that share a GitOps repository, branch and path together, in config order; others alone.

    Raises:
        ConfigError: two providers roll back nested paths of one repository and branch (``clusters`` and
            ``clusters/prod``): one's rollback rewrites the other's tree, so they can neither run in parallel nor
            share one rollback.
    """
    groups: list[list[ProviderSettings]] = []
    by_target: dict[tuple[str, str, str], list[ProviderSettings]] = {}
    for provider in providers:
        target = shared_target(provider)
        if target is None:
            groups.append([provider])
            continue
        for (repo, branch, path), members in by_target.items():
            if (repo, branch) == target[:2] and _nested(path, target[2]):
                raise ConfigError(
                    f"providers {members[0].label} and {provider.label} roll back nested paths ({path or '/'} and "
                    f"{target[2] or '/'}) of one GitOps repository and branch",
                    key="assets.path",
                    hint="roll them back one at a time (`gitrollback run --provider NAME`), the outer path first",
                )
        if target in by_target:
            first = by_target[target][0]
            ours, theirs = (p.gitops.strategy if p.gitops else None for p in (first, provider))
            if ours != theirs:
                raise ConfigError(
                    f"providers {first.label} and {provider.label} share a GitOps repository and path but differ "
                    f"in gitops.strategy ({ours} and {theirs}): they share one rollback",
                    key="gitops.strategy",
                    hint="give them the same strategy, or roll them back one at a time (`gitrollback run --provider`)",
                )
            by_target[target].append(provider)
        else:
            by_target[target] = [provider]
            groups.append(by_target[target])
    return groups


def _name_thread(provider: ProviderSettings) -> None:
    """Name this worker thread after the provider it runs, ``gitrollback-fleet[<label>]``: log records carry it
    (``threadName``), so a log line can say which provider it is about (the CLI prefixes it)."""
    threading.current_thread().name = f"gitrollback-fleet[{provider.label}]"


class FleetMember(Protocol):
    """What the fleet needs of one provider's rollback (``gitrollback.Rollback`` is one)."""

    settings: ProviderSettings

    def assess(self) -> Assessment: ...

    def run(
        self,
        *,
        to: str | None = None,
        force: bool = False,
        prune: bool | None = None,
        strict: bool = False,
        shared_with: Sequence[str] = (),
    ) -> RunReport: ...

    def close(self) -> None: ...


Opener = Callable[[ProviderSettings, "StopAwareClock"], FleetMember]


@dataclass(frozen=True)
class FleetOptions:
    """What every provider's run is asked (``Rollback.run``'s options)."""

    to: str | None = None
    force: bool = False
    prune: bool | None = None
    strict: bool = False


@dataclass(frozen=True)
class ProviderOutcome:
    """What happened to one provider.

    ``report`` is its run's report (None when it did not run: skipped, not started, or an exception before or
    instead of a report); ``message`` and ``kind`` say why otherwise. ``group`` is the provider's label of the
    first provider of its group when it shares a GitOps repository and path with others (the one whose change
    request the group uses), else None.
    """

    provider_id: str
    label: str
    status: OutcomeStatus
    exit_code: int
    mode: str | None = None
    report: RunReport | None = None
    message: str | None = None
    kind: str | None = None
    group: str | None = None
    started_at: datetime | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True)
class FleetReport:
    """Every provider's outcome, in config order, and the fleet's status and exit code (the worst outcome)."""

    status: FleetStatus
    exit_code: int
    outcomes: tuple[ProviderOutcome, ...]
    parallel: int
    only_failed: bool
    interrupted: bool
    duration_seconds: float

    def counts(self) -> dict[str, int]:
        """How many outcomes of each status."""
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


class StopAwareClock:
    """A provider's clock: the fleet's, except that once the fleet aborts every wait raises ``KeyboardInterrupt``
    (what Ctrl-C does to a single run: it stops at once, its journal lets a rerun resume it)."""

    def __init__(self, inner: Clock, abort: threading.Event) -> None:
        self.inner = inner
        self.abort = abort

    def now(self) -> datetime:
        """The inner clock's time."""
        return self.inner.now()

    def monotonic(self) -> float:
        """The inner clock's monotonic time."""
        return self.inner.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep on the inner clock; raise ``KeyboardInterrupt`` once the fleet aborts. On the real clock the sleep
        is a wait on the abort itself, so an abort ends it at once rather than after the poll interval or a server's
        ``Retry-After``."""
        if self.abort.is_set():
            raise KeyboardInterrupt
        if isinstance(self.inner, SystemClock):
            if seconds > 0 and self.abort.wait(seconds):
                raise KeyboardInterrupt
            return
        self.inner.sleep(seconds)
        if self.abort.is_set():
            raise KeyboardInterrupt


def open_from_settings(
    settings: Settings,
    *,
    env: Mapping[str, str],
    read_file: FileReader | None = None,
    progress_for: Callable[[ProviderSettings], ProgressSink | None] | None = None,
) -> Opener:
    """An opener that builds each provider's ``Rollback`` from the config, as ``Rollback.from_settings`` does."""

    def opener(provider: ProviderSettings, clock: StopAwareClock) -> FleetMember:
        from gitrollback.api import Rollback

        progress = progress_for(provider) if progress_for is not None else None
        return Rollback.from_settings(
            settings, provider.id, env=env, read_file=read_file, clock=clock, progress=progress
        )

    return opener


def _error_outcome(provider: ProviderSettings, exc: BaseException) -> tuple[OutcomeStatus, int, str, str]:
    if isinstance(exc, KeyboardInterrupt):  # the fleet aborted (StopAwareClock) while this run waited
        return "interrupted", 130, "interrupted", "interrupted"
    if isinstance(exc, ConfigError):
        return "error", 2, str(exc), exc.kind
    if isinstance(exc, PreconditionFailedError):
        return "refused", 3, str(exc), exc.kind
    if isinstance(exc, GitRollbackError):
        return "error", 1, str(exc), exc.kind
    return "error", 1, f"internal error: {type(exc).__name__}: {exc}", "internal"


#: kinds of errors raised before a run changes anything (configuration, the per-provider lock, the pre-flight
#: access check): a group member that ended with one leaves nothing pending for the others
_BEFORE_CHANGE = frozenset({"config", "lock_held", "preflight_failed"})


def _report_outcome(report: RunReport) -> tuple[OutcomeStatus, int]:
    if report.status == "rolled_back":
        return "rolled_back", 0
    if report.error_kind == "preflight_failed":  # a credential or permission is missing: nothing was changed
        return "failed", 2
    if report.status == "refused":
        return "refused", 3
    return "failed", 1


class FleetRunner:
    """Run many providers' rollbacks with at most ``parallel`` at a time (see the module docstring).

    Args:
        providers: which providers, in the order the summary lists them.
        opener: builds one provider's rollback on the clock it is given (``open_from_settings``); called in the
            worker thread, so an error building it is that provider's outcome.
        parallel: the most providers (groups) running at once.
        options: what each run is asked.
        only_failed: assess each provider first and run only those ``needs_rollback`` says need it; the rest are
            ``skipped`` with the assessment's advice.
        clock: the clock every provider's rollback waits on (default: the system clock).
        on_outcome: called (from a worker thread) with each outcome as it is known.

    A runner runs once: build a new one for another fleet run.
    """

    def __init__(
        self,
        providers: Sequence[ProviderSettings],
        opener: Opener,
        *,
        parallel: int = 4,
        options: FleetOptions | None = None,
        only_failed: bool = False,
        clock: Clock | None = None,
        on_outcome: Callable[[ProviderOutcome], None] | None = None,
        on_stop: Callable[[int], None] | None = None,
    ) -> None:
        if parallel < 1:
            raise ConfigError(f"parallel must be at least 1, got {parallel}", key="--parallel")
        self.providers = tuple(providers)
        self.opener = opener
        self.parallel = parallel
        self.options = options or FleetOptions()
        self.only_failed = only_failed
        self.clock = clock or SystemClock()
        self.on_outcome = on_outcome
        self.on_stop = on_stop
        self._stops = 0
        self.stopping = threading.Event()
        self.aborting = threading.Event()
        self._outcomes: dict[str, ProviderOutcome] = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Start no further provider; a second call also interrupts the running ones at their next wait. Each call
        is passed to ``on_stop`` with its count (1, 2, 3, ...), so a caller can say what happens."""
        if self.stopping.is_set():
            self.aborting.set()
        self.stopping.set()
        self._stops += 1
        if self.on_stop is not None:
            try:
                self.on_stop(self._stops)
            except Exception:  # a caller's message must not break stopping
                logger.warning("on_stop failed", exc_info=True)

    def run(self) -> FleetReport:
        """Run every provider; returns once every worker has finished.

        Called from the main thread, it handles Ctrl-C (SIGINT) itself while it runs: each one is a ``stop``
        (the first stops starting providers, the second interrupts the running ones), and the previous handler is
        put back before it returns. Off the main thread no signal reaches it: the caller calls ``stop()`` from its
        own handler (twice to interrupt the running providers).
        """
        previous = self._catch_sigint()
        try:
            return self._run()
        finally:
            if previous is not _NOT_INSTALLED:
                # None: the previous handler was not set from Python; Python's default is the closest there is
                signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)

    def _catch_sigint(self) -> Any:
        """Make SIGINT a ``stop`` (so no ``KeyboardInterrupt`` can land between starting and joining a worker);
        the handler it replaced, or ``_NOT_INSTALLED`` when this is not the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return _NOT_INSTALLED
        try:
            return signal.signal(signal.SIGINT, lambda signum, frame: self.stop())
        except ValueError:  # not the main interpreter
            return _NOT_INSTALLED

    def _run(self) -> FleetReport:
        started = self.clock.monotonic()
        groups = group_providers(self.providers)
        workers = max(1, min(self.parallel, len(groups)))
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gitrollback-fleet")
        futures: list[concurrent.futures.Future[None]] = []
        try:
            try:
                for group in groups:  # a group never submitted is reported not_started
                    if not self.stopping.is_set():
                        futures.append(pool.submit(self._run_group, group))
            except KeyboardInterrupt:
                self.stop()
            self._join(futures)
        finally:
            pool.shutdown(wait=True)
        return self._report(self.clock.monotonic() - started)

    def _join(self, futures: Sequence[concurrent.futures.Future[None]]) -> None:
        """Wait for every worker; Ctrl-C (in this thread) stops the fleet and the wait goes on."""
        pending = set(futures)
        while pending:
            try:
                _, pending = concurrent.futures.wait(pending, timeout=0.5)
            except KeyboardInterrupt:
                self.stop()

    def _record(self, outcome: ProviderOutcome) -> None:
        with self._lock:
            self._outcomes[outcome.provider_id] = outcome
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:  # a caller's progress printer must not cost the group its other providers
                logger.warning("on_outcome failed for provider %s", outcome.label, exc_info=True)

    def _run_group(self, group: Sequence[ProviderSettings]) -> None:
        """One worker (``_run_members``); an exception it did not turn into a provider's outcome (a bug) is logged
        and becomes the outcome (``error``, ``internal``) of every member of the group not yet recorded, so it
        never looks like an interrupt."""
        name = threading.current_thread().name
        try:
            self._run_members(group)
        except BaseException as exc:
            logger.error("the fleet's worker for %s failed", ", ".join(p.label for p in group), exc_info=True)
            leader = group[0].label if len(group) > 1 else None
            now = self.clock.monotonic()
            for provider in group:
                with self._lock:
                    known = provider.id in self._outcomes
                if not known:
                    self._record(self._failure(provider, exc, leader, now, self.clock.now()))
        finally:
            threading.current_thread().name = name

    def _run_members(self, group: Sequence[ProviderSettings]) -> None:
        """One worker: a provider alone, or a group sharing a GitOps repository and path, one after another.

        Every member of a group is assessed before the first one runs: once the group's rollback lands, the
        controller may apply it to all of them and a member's own assessment would find it healthy. A member chosen
        by that first assessment runs with ``force`` after the first run of the group, so it syncs and verifies the
        group's rollback instead of refusing as healthy.
        """
        leader = group[0].label if len(group) > 1 else None
        ids = [p.id for p in group]
        chosen: list[tuple[ProviderSettings, FleetMember, Assessment | None, float, datetime]] = []
        for provider in group:
            if self.stopping.is_set():
                self._record(ProviderOutcome(provider.id, provider.label, "not_started", 130, group=leader))
                continue
            _name_thread(provider)
            began, at = self.clock.monotonic(), self.clock.now()
            member: FleetMember | None = None
            try:
                member = self.opener(provider, StopAwareClock(self.clock, self.aborting))
                assessment = member.assess() if self.only_failed or leader is not None else None
            except BaseException as exc:  # anything at all is this provider's outcome, never the fleet's
                if member is not None:
                    self._close(member)
                self._record(self._failure(provider, exc, leader, began, at))
                continue
            if self.only_failed and assessment is not None and not needs_rollback(assessment):
                self._close(member)
                self._record(
                    ProviderOutcome(
                        provider.id,
                        provider.label,
                        "skipped",
                        0,
                        mode=assessment.mode,
                        message=f"not failed ({assessment.verdict}): {assessment.advice}",
                        kind=assessment.kind or assessment.verdict,
                        group=leader,
                        started_at=at,
                        duration_seconds=self.clock.monotonic() - began,
                    )
                )
                continue
            if leader is None:  # alone: run now (the assessment above is this provider's latest)
                self._record(
                    self._execute(provider, member, shared=(), group=None, began=began, at=at, force=self.options.force)
                )
                continue
            chosen.append((provider, member, assessment, began, at))
        ran = False
        stuck: ProviderOutcome | None = None  # a run of the group that changed something and did not finish
        for provider, member, assessment, began, at in chosen:
            if self.stopping.is_set() or stuck is not None:
                self._close(member)
                self._record(self._held_back(provider, leader, stuck))
                continue
            _name_thread(provider)
            force = self.options.force or (ran and assessment is not None and needs_rollback(assessment))
            shared = tuple(i for i in ids if i != provider.id)
            outcome = self._execute(provider, member, shared=shared, group=leader, began=began, at=at, force=force)
            self._record(outcome)
            ran = True
            r = outcome.report
            if outcome.status != "rolled_back" and r is not None and (r.rollback_commit or r.change_request):
                stuck = outcome
            elif r is None and outcome.status == "error" and outcome.kind not in _BEFORE_CHANGE:
                stuck = outcome  # it ended without a report: whether it changed something is unknown

    @staticmethod
    def _held_back(provider: ProviderSettings, group: str | None, stuck: ProviderOutcome | None) -> ProviderOutcome:
        """A group member that does not run: the fleet stopped, or an earlier member's change did not land (a
        second change request for the same path would compete with it)."""
        if stuck is None:
            return ProviderOutcome(provider.id, provider.label, "not_started", 130, group=group)
        return ProviderOutcome(
            provider.id,
            provider.label,
            "refused",
            3,
            mode=provider.mode,
            message=f"provider {stuck.label}'s rollback of the shared repository and path did not finish "
            f"({stuck.status}); rerunning the fleet resumes it, then this provider syncs and verifies it",
            kind="group_change_pending",
            group=group,
        )

    @staticmethod
    def _close(member: FleetMember) -> None:
        try:
            member.close()
        except Exception:  # closing is best effort: the outcome is already known
            logger.warning("closing the adapters of provider %s failed", member.settings.label, exc_info=True)

    def _failure(
        self, provider: ProviderSettings, exc: BaseException, group: str | None, began: float, at: datetime
    ) -> ProviderOutcome:
        status, code, message, kind = _error_outcome(provider, exc)
        return ProviderOutcome(
            provider.id,
            provider.label,
            status,
            code,
            mode=provider.mode,
            message=message,
            kind=kind,
            group=group,
            started_at=at,
            duration_seconds=self.clock.monotonic() - began,
        )

    def _execute(
        self,
        provider: ProviderSettings,
        member: FleetMember,
        *,
        shared: tuple[str, ...],
        group: str | None,
        began: float,
        at: datetime,
        force: bool,
    ) -> ProviderOutcome:
        """Run one provider's rollback (and close it); whatever happens is its outcome."""
        o = self.options
        try:
            report = member.run(to=o.to, force=force, prune=o.prune, strict=o.strict, shared_with=shared)
        except BaseException as exc:  # anything at all is this provider's outcome, never the fleet's
            return self._failure(provider, exc, group, began, at)
        finally:
            self._close(member)
        status, code = _report_outcome(report)
        return ProviderOutcome(
            provider.id,
            provider.label,
            status,
            code,
            mode=report.mode,
            report=report,
            message=report.error,
            kind=report.error_kind,
            group=group,
            started_at=at,
            duration_seconds=self.clock.monotonic() - began,
        )

    def _missing(self, provider: ProviderSettings) -> ProviderOutcome:
        """A provider without an outcome: never started because the fleet stopped, else lost to a bug (reported as
        an error, never as an interrupt)."""
        if self.stopping.is_set():
            return ProviderOutcome(provider.id, provider.label, "not_started", 130)
        message = "internal error: the fleet recorded no outcome for this provider"
        return ProviderOutcome(provider.id, provider.label, "error", 1, mode=provider.mode, message=message,
                               kind="internal")  # fmt: skip

    def _report(self, duration: float) -> FleetReport:
        with self._lock:
            outcomes = tuple(self._outcomes.get(p.id) or self._missing(p) for p in self.providers)
        codes = {o.exit_code for o in outcomes}
        code = next((c for c in _SEVERITY if c in codes), 0)
        status: FleetStatus
        if outcomes and all(o.status == "skipped" for o in outcomes):
            status, code = "nothing_to_do", 3
        elif code == 130:
            status = "interrupted"
        else:
            worst = [o for o in outcomes if o.exit_code == code and o.status != "skipped"]
            status = worst[0].status if worst else "rolled_back"  # type: ignore[assignment]
        return FleetReport(
            status=status,
            exit_code=code,
            outcomes=outcomes,
            parallel=self.parallel,
            only_failed=self.only_failed,
            interrupted=self.stopping.is_set(),
            duration_seconds=duration,
        )
