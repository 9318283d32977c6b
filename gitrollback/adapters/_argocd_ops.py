"""The SyncEngine half of ``ArgoCDEngine``: refresh, sync with the one-operation rule, and the revision wait.

Written against one abstract ``_call(method, path, ...)`` that the httpx half (``gitrollback.adapters.argocd``)
implements with auth, content types and error translation, so this module holds what each Argo CD route means
and the waiting policy, and needs no third-party import (the split mirrors ``_imagefactory_routes``).

Remote behaviour assumed (argoproj/argo-cd ``server/application/application.go`` and the swagger's
``ApplicationService``): the project goes in the query for GET/DELETE and in the body for POST (grpc-gateway
``body: "*"``); ``GET ?refresh=`` blocks until the controller applied the refresh, and answers 500 ``application
refresh deadline exceeded`` when the request's context ends first, which only means "not yet": the app is read
without a refresh instead and the wait goes on; a sync while an operation runs is a 400 (SetAppOperation),
answered by waiting or terminating (``DELETE .../operation`` is asynchronous and is refused while an operation is
only requested); with auto-sync on, a sync to anything but ``targetRevision`` is refused, so the revision is left
out once a hard refresh shows the tip is ours; a sync to a commit SHA is accepted without a lookup
(``resolveRevision``), so a commit Argo CD's repository lacks fails as the operation, and is reported as such
(kind ``unknown_revision``); ``argocd app wait`` can pass on the previous revision (``cmd/argocd/commands/app.go``
checks no revision), hence the verdict in ``_argocd_wire.assess``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

from gitrollback.adapters import _argocd_wire as wire
from gitrollback.errors import (
    AdapterError,
    BadRequestError,
    ConfigError,
    ServerError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from gitrollback.models import DeployedObject, DeploymentRecord, SyncStatus
from gitrollback.ports import Clock

__all__ = ["ArgoCDOperations"]

logger = logging.getLogger(__name__)

_SYNC_ATTEMPTS = 3
_FAILURE_HINTS = {
    "operation": "look at the failing resources (argocd app get APP); fix the cause, then roll back again",
    "unknown_revision": wire.UNKNOWN_REVISION_HINT,
    "degraded": "the rollback commit is live but unhealthy: check the Degraded resources (argocd app get APP) "
    "before deciding to roll back further",
}
_FAILURE_KINDS = {"operation": "sync_failed", "unknown_revision": "unknown_revision", "degraded": "degraded"}


class ArgoCDOperations:
    """SyncEngine and DeploymentHistory methods; subclasses provide ``_call`` and the state below."""

    _clock: Clock
    _poll_interval: float
    _project: str | None
    _on_op: Literal["wait", "terminate"]
    _on_wait: Callable[[str, float, str], None] | None
    operation_wait_timeout: float
    auto_sync_grace: float

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        app: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        authenticated: bool = True,
    ) -> Any:
        raise NotImplementedError  # pragma: no cover

    def _app_path(self, app: str, suffix: str = "") -> str:
        return f"/api/v1/applications/{quote(app, safe='')}{suffix}"

    def _params(self, **extra: str) -> dict[str, str]:
        params = {"project": self._project} if self._project else {}
        params.update(extra)
        return params

    def _get_app(self, app: str, *, refresh: str | None = None, operation: str = "get application") -> dict[str, Any]:
        params = self._params(**({"refresh": refresh} if refresh else {}))
        data = self._call("GET", self._app_path(app), operation=operation, app=app, params=params)
        if not isinstance(data, dict) or not isinstance(data.get("status", {}), dict):
            raise UnexpectedResponseError(
                f"Argo CD application {app!r}: not an Application object", adapter=wire.ADAPTER, operation=operation
            )
        return data

    def _get_refreshed(self, app: str, refresh: str) -> dict[str, Any]:
        """``GET ?refresh=``; when Argo CD gives up waiting for its controller (500 refresh deadline), the app as
        it is: the refresh stays requested and lands later, and the caller polls on."""
        try:
            return self._get_app(app, refresh=refresh, operation="refresh")
        except ServerError as exc:
            if wire.REFRESH_DEADLINE not in exc.remote_message.lower():
                raise
            logger.warning("Argo CD %s: the %s refresh did not land in time; reading the app as it is", app, refresh)
            return self._get_app(app)

    # ------------------------------------------------------------------------------------------- SyncEngine

    def status(self, app: str) -> SyncStatus:
        """The application's current sync, health and operation state (no refresh)."""
        return wire.sync_status(app, self._get_app(app))

    def refresh(self, app: str, *, hard: bool = True) -> SyncStatus:
        """Make Argo CD re-read git (``?refresh=hard|normal``); returns once the refresh was applied."""
        return wire.sync_status(app, self._get_app(app, refresh="hard" if hard else "normal", operation="refresh"))

    def history(self, app: str) -> list[DeploymentRecord]:
        """``status.history``: successful full syncs, oldest first (Argo CD keeps ``revisionHistoryLimit``)."""
        return wire.history(self._get_app(app, operation="read history"))

    def deployed(self, app: str) -> list[DeployedObject]:
        """``status.resources``: the objects of the revision Argo CD compared (those only awaiting pruning left out)."""
        return wire.deployed_objects(self._get_app(app, operation="read resources"))

    def sync(self, app: str, *, revision: str, prune: bool = False, resources: Sequence[str] = ()) -> SyncStatus:
        """Hard refresh, then sync ``app`` to ``revision``; returns the state with the operation requested.

        ``resources`` limits the sync to ``GROUP:KIND:NAME`` or ``GROUP:KIND:NAMESPACE/NAME`` entries. A running
        operation is waited for or terminated (``on_operation_in_progress``); one that already targets
        ``revision`` (e.g. auto-sync right after the push) is accepted as is,
        and so is a revision auto-sync has already applied.

        Raises:
            ConfigError: a malformed ``resources`` entry.
            BadRequestError: Argo CD refused the sync (its message and a hint say why).
            WaitTimeoutError: the other operation did not end within ``operation_wait_timeout``.
        """
        return self._sync(app, revision, prune, resources, self._clock.monotonic() + self.operation_wait_timeout)

    def _sync(self, app: str, revision: str, prune: bool, resources: Sequence[str], deadline: float) -> SyncStatus:
        try:
            refs = [wire.parse_resource(r) for r in resources]
        except ValueError as exc:
            raise ConfigError(str(exc), key="sync.resources") from exc
        data = self._get_refreshed(app, "hard")
        for attempt in range(1, _SYNC_ATTEMPTS + 1):
            if wire.operation_running(data) and wire.requested_revision(data) == revision:
                logger.info("Argo CD %s: an operation for %s is already running", app, wire.short(revision))
                return wire.sync_status(app, data)
            verdict = wire.assess(data, revision)
            applied = verdict.operation_seen and verdict.failure_kind not in ("operation", "unknown_revision")
            if wire.auto_sync_enabled(data) and applied:
                # auto-sync already applied it; another sync would only add a history entry
                logger.info("Argo CD %s: auto-sync already applied %s", app, wire.short(revision))
                return wire.sync_status(app, data)
            body: dict[str, Any] = {"prune": prune}
            # with auto-sync Argo CD refuses any revision but targetRevision: when the refreshed tip is ours, sync
            # the tip; otherwise send it and let Argo CD's refusal (with our hint) explain
            tip = (data.get("status", {}).get("sync") or {}).get("revision")
            if not (wire.auto_sync_enabled(data) and tip == revision):
                body["revision"] = revision
            if self._project:
                body["project"] = self._project
            if refs:
                body["resources"] = refs
            try:
                data = self._call("POST", self._app_path(app, "/sync"), operation="sync", app=app, body=body)
            except BadRequestError as exc:
                if wire.IN_PROGRESS not in exc.remote_message.lower() or attempt == _SYNC_ATTEMPTS:
                    raise
                data = self._get_app(app)
                if wire.requested_revision(data) == revision and wire.operation_running(data):
                    return wire.sync_status(app, data)
                data = self._await_no_operation(app, deadline, terminate=self._on_op == "terminate")
                continue
            logger.info("Argo CD %s: sync to %s requested", app, wire.short(revision))
            return wire.sync_status(app, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _await_no_operation(self, app: str, deadline: float, *, terminate: bool) -> dict[str, Any]:
        """Poll until no operation runs, terminating it first when asked; returns the app JSON."""
        start = self._clock.monotonic()
        terminated = False
        while True:
            data = self._get_app(app)
            if not wire.operation_running(data):
                return data
            if terminate and not terminated:
                terminated = self._terminate(app)
            state = wire.describe(data)
            elapsed = self._clock.monotonic() - start
            if self._on_wait is not None:
                self._on_wait(f"Argo CD {app}: the running operation to end", elapsed, state)
            if self._clock.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"Argo CD application {app!r}: another operation is still running ({state})",
                    waited=elapsed,
                    last_state=state,
                    hint="let it finish or stop it (argocd app terminate-op), or set on_operation_in_progress "
                    "to 'terminate', then rerun",
                )
            self._clock.sleep(min(self._poll_interval, max(deadline - self._clock.monotonic(), 0.0)))

    def _terminate(self, app: str) -> bool:
        """``DELETE .../operation``; False when Argo CD says nothing runs yet (requested, not started)."""
        try:
            self._call(
                "DELETE",
                self._app_path(app, "/operation"),
                operation="terminate operation",
                app=app,
                params=self._params(),
            )
        except BadRequestError as exc:
            if wire.NO_OPERATION in exc.remote_message.lower():
                return False
            raise
        logger.warning("Argo CD %s: terminating the running operation", app)
        return True

    def wait_for_revision(self, app: str, revision: str, *, timeout: float) -> SyncStatus:
        """Wait until exactly ``revision`` is applied, Synced and Healthy; see ``_argocd_wire.assess``.

        Refreshes (normal) while Argo CD has not compared ``revision`` yet. When no operation for ``revision``
        shows up within ``auto_sync_grace`` (auto-sync off, or on but not firing because nothing differs),
        triggers one sync.

        Raises:
            AdapterError: the operation for ``revision`` failed or errored (its message), or it was applied and
                the application is Degraded.
            WaitTimeoutError: not there within ``timeout`` seconds.
        """
        start = self._clock.monotonic()
        deadline = start + timeout
        what = f"Argo CD {app} at {wire.short(revision)}"
        refresh: str | None = "normal"
        quiet_since: float | None = None
        triggered = False
        while True:
            data = self._get_refreshed(app, refresh) if refresh else self._get_app(app)
            verdict = wire.assess(data, revision)
            state = wire.describe(data)
            now = self._clock.monotonic()
            if self._on_wait is not None:
                self._on_wait(what, now - start, state)
            if verdict.failure is not None:
                raise AdapterError(
                    f"Argo CD application {app!r}: {verdict.failure}",
                    adapter=wire.ADAPTER,
                    operation="wait_for_revision",
                    hint=_FAILURE_HINTS[verdict.failure_kind],
                    kind=_FAILURE_KINDS[verdict.failure_kind],
                )
            if verdict.done:
                logger.info("Argo CD %s: %s is synced and healthy", app, wire.short(revision))
                return wire.sync_status(app, data)
            running = wire.operation_running(data)
            # with auto-sync on, a sync can only target the tip Argo CD sees, so only trigger once it sees ours
            eligible = verdict.controller_sees or not wire.auto_sync_enabled(data)
            if verdict.operation_seen or running or not eligible:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif not triggered and now - quiet_since >= self.auto_sync_grace:
                logger.info(
                    "Argo CD %s: no operation for %s after %.0fs, starting a sync",
                    app,
                    wire.short(revision),
                    now - quiet_since,
                )
                triggered = True
                self._sync(app, revision, False, (), deadline)
                continue
            refresh = None if verdict.controller_sees or running else "normal"
            if now >= deadline:
                raise WaitTimeoutError(
                    f"Argo CD application {app!r} did not reach {wire.short(revision)} synced and healthy "
                    f"within {timeout:.0f}s (last: {state})",
                    waited=now - start,
                    last_state=state,
                    hint="check the application (argocd app get APP); if the rollout is just slow, raise the "
                    "sync timeout and rerun, which resumes the wait",
                )
            self._clock.sleep(min(self._poll_interval, max(deadline - now, 0.0)))
