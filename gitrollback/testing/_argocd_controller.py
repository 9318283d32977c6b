"""The Argo CD simulator's application controller: refresh, sync operations, auto-sync and health, per tick.

Behaviour follows argoproj/argo-cd ``controller/appcontroller.go``, ``controller/sync.go``, ``controller/state.go``
(``persistRevisionHistory``) and ``gitops-engine/pkg/sync``, one controller tick at a time (a repeating timer on the
simulator's clock):

* **Operations** go Running -> (``operation_ticks`` ticks) -> Succeeded | Failed | Error. Executing renders the
  manifests at the operation's revision from git and applies them into the ``ClusterState`` with field manager
  ``argocd-controller`` in the destination namespace (force, as Argo CD's client-side apply overwrites and its
  server-side apply uses ``--force-conflicts``). Completion sets ``finishedAt``, ``message`` and ``syncResult``
  and clears ``operation`` in the same write; history grows only for successful, non-dry-run, full syncs; then a
  refresh is requested, which lands on the *next* tick, so ``reconciledAt`` lags the operation as in the real
  controller. A failed attempt with retries left stays ``Running`` with ``finishedAt`` set and a
  ``<message>. Retrying attempt #N at 3:04PM.`` message; when the retry starts, ``finishedAt`` and ``syncResult``
  are cleared and the message is ``Retrying operation. Attempt #N``; a final failure after retries gets
  `` (retried N times).`` appended (``processRequestedAppOperation`` in ``controller/appcontroller.go``).
  ``Terminating`` becomes ``Failed`` / ``Operation terminated``. A sync to a commit the repository does not
  have ends ``Error`` with the repo-server's checkout failure as a ``ComparisonError``.
* **Refresh** resolves ``targetRevision`` to the branch tip, renders it, compares it object by object with the
  live state (desired fields must be present and equal) and sets ``sync``, ``resources``, ``health`` and
  ``reconciledAt``, removing the refresh annotation. A periodic resync every ``resync_ticks`` ticks stands in
  for Argo CD's 120 s reconciliation timeout.
* **Auto-sync** (``autoSync`` and ``alreadyAttemptedSync`` in ``controller/appcontroller.go``) fires only when
  OutOfSync with no operation; it is skipped when the only differences are resources to prune and automated
  prune is off, and refused (condition ``SyncError``) when automated prune would delete every resource. It syncs
  ``status.sync.revision`` with ``initiatedBy.automated`` and the default ``retry.limit`` 5. "Already attempted"
  compares ``status.operationState.syncResult.revision`` and ``.source`` with the target (an operation that ended
  without a result counts as attempted): such a revision is never retried after a failure (condition
  ``SyncError`` ``Failed last sync attempt to [rev]: ...``), and after a success only with self-heal.
* **Health** comes from what was applied: Progressing right after an apply, Healthy once every managed object
  is live, Missing before anything was applied, Degraded when an apply failed or a fault says so.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gitrollback.testing._argocd_app import REFRESH_ANNOTATION, ObjectKey, SimApp
from gitrollback.testing._argocd_git import RenderedObject, RepoError
from gitrollback.testing._argocd_wire import rfc3339
from gitrollback.testing.clock import SimClock
from gitrollback.testing.cluster_state import ClusterState, ResourceType, StoreError

__all__ = ["FIELD_MANAGER", "Controller"]

FIELD_MANAGER = "argocd-controller"
SUCCESS_MESSAGE = "successfully synced (all tasks run)"
COMPLETED = frozenset({"Succeeded", "Failed", "Error"})
AUTO_SYNC_RETRY_LIMIT = 5


def _kitchen(when: datetime) -> str:
    """Go's ``time.Kitchen`` layout ("3:04PM"), in UTC."""
    when = when.astimezone(UTC)
    return f"{when.hour % 12 or 12}:{when.minute:02d}{'AM' if when.hour < 12 else 'PM'}"


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _version(api_version: str) -> str:
    return api_version.split("/", 1)[1] if "/" in api_version else api_version


def _desired(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a comparison checks: everything but status and server-owned metadata."""
    out = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    meta = body.get("metadata") or {}
    kept = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    if kept:
        out["metadata"] = kept
    return out


def _contains(live: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(live, Mapping) and all(k in live and _contains(live[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(live, list) and len(live) == len(want) and all(map(_contains, live, want))
    return bool(live == want)


class Controller:
    """Drives every application one tick at a time; all state changes happen under ``cond``."""

    def __init__(self, cluster: ClusterState, clock: SimClock) -> None:
        self.cluster = cluster
        self.clock = clock
        self.cond = threading.Condition(threading.RLock())
        self.apps: dict[str, SimApp] = {}
        self.operation_ticks = 2
        self.retry_ticks = 1
        self.resync_ticks = 40
        self.ticks = 0

    def now(self) -> datetime:
        """The current time on the simulator's clock."""
        return self.clock.now()

    # -- the loop -------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """One controller pass over every application."""
        with self.cond:
            self.ticks += 1
            for app in list(self.apps.values()):
                self._tick_app(app)
            self.cond.notify_all()

    def _tick_app(self, app: SimApp) -> None:
        if app.stale_ticks > 0:
            app.stale_ticks -= 1
        if app.degraded is not None and app.degraded_ticks is not None:
            app.degraded_ticks -= 1
            if app.degraded_ticks <= 0:
                app.degraded, app.degraded_ticks = None, None
                self.request_refresh(app, "normal")
        self._advance_operation(app)
        if app.refresh_requested is not None:
            if app.refresh_delay > 0:
                app.refresh_delay -= 1
            else:
                self.refresh(app)
        elif self.resync_ticks > 0:
            app.resync_left -= 1
            if app.resync_left <= 0:
                self.refresh(app)
        self._auto_sync(app)

    # -- refresh ---------------------------------------------------------------------------------------------

    def request_refresh(self, app: SimApp, kind: str, *, delay: int = 0) -> int:
        """Set the refresh annotation; returns the refresh count the caller must see to know it was applied."""
        if app.refresh_requested != "hard":
            app.refresh_requested = "hard" if kind == "hard" else "normal"
        app.annotations[REFRESH_ANNOTATION] = app.refresh_requested
        app.refresh_delay = max(app.refresh_delay, delay, app.slow_refresh_ticks)
        app.bump()
        return app.refreshes_done + 1

    def refresh(self, app: SimApp) -> None:
        """Compare git with the live state now (the controller's CompareAppState)."""
        app.refresh_requested, app.refresh_delay = None, 0
        app.annotations.pop(REFRESH_ANNOTATION, None)
        app.resync_left = self.resync_ticks
        app.status["reconciledAt"] = rfc3339(self.now())
        app.refreshes_done += 1
        app.bump()
        previous = (app.status.get("sync") or {}).get("revision")
        try:
            # fault switch: while stale, the controller does not see new commits and compares the old one
            stale = app.stale_ticks > 0 and previous
            revision = str(previous) if stale else app.git.resolve(app.target_revision)
            rendering = app.git.render(revision, app.path, directory=app.directory)
        except RepoError as exc:
            app.status["sync"] = {"status": "Unknown", "comparedTo": self._compared_to(app)}
            self._set_condition(app, "ComparisonError", f"Failed to load target state: {exc}")
            return
        self._drop_condition(app, "ComparisonError")
        app.source_type = rendering.source_type
        resources, synced = self._compare(app, list(rendering.objects))
        app.status["sync"] = {
            "status": "Synced" if synced else "OutOfSync",
            "revision": revision,
            "comparedTo": self._compared_to(app),
        }
        app.status["resources"] = resources
        app.status["health"] = self._health(app)

    def _compared_to(self, app: SimApp) -> dict[str, Any]:
        return {"source": app.source, "destination": app.destination}

    def _locate(self, app: SimApp, manifest: RenderedObject) -> tuple[ResourceType | None, str | None]:
        rt = self.cluster.type_for(manifest.api_version, manifest.kind)
        if rt is None or not rt.namespaced:
            return rt, None
        return rt, manifest.namespace or app.namespace

    def _compare(self, app: SimApp, manifests: list[RenderedObject]) -> tuple[list[dict[str, Any]], bool]:
        resources: list[dict[str, Any]] = []
        wanted: set[ObjectKey] = set()
        all_synced = True
        for manifest in manifests:
            rt, ns = self._locate(app, manifest)
            live = self.cluster.get(rt, ns, manifest.name) if rt is not None else None
            synced = live is not None and _contains(live, _desired(manifest.body))
            all_synced = all_synced and synced
            group = _group(manifest.api_version)
            wanted.add((group, manifest.kind, ns or "", manifest.name))
            entry: dict[str, Any] = {
                "group": group,
                "version": _version(manifest.api_version),
                "kind": manifest.kind,
                "name": manifest.name,
                "status": "Synced" if synced else "OutOfSync",
                "health": {"status": "Healthy" if live is not None else "Missing"},
            }
            if ns:
                entry["namespace"] = ns
            resources.append(entry)
        for key, api_version in sorted(app.managed.items()):
            if key not in wanted:
                all_synced = False
                group, kind, ns, name = key
                extra: dict[str, Any] = {
                    "group": group,
                    "version": _version(api_version),
                    "kind": kind,
                    "name": name,
                    "status": "OutOfSync",
                    "requiresPruning": True,
                }
                if ns:
                    extra["namespace"] = ns
                resources.append(extra)
        return resources, all_synced

    def _health(self, app: SimApp) -> dict[str, Any]:
        if app.degraded is not None:
            return {"status": "Degraded", "message": app.degraded}
        if app.apply_error is not None:
            return {"status": "Degraded", "message": app.apply_error}
        if not app.managed:
            return {"status": "Missing"}
        for (_, kind, ns, name), api_version in app.managed.items():
            rt = self.cluster.type_for(api_version, kind)
            if rt is None or self.cluster.get(rt, ns or None, name) is None:
                return {"status": "Missing"}
        return {"status": "Healthy"}

    # -- operations ------------------------------------------------------------------------------------------

    def start_operation(self, app: SimApp, operation: dict[str, Any]) -> None:
        """What the API server's SetAppOperation does: set ``operation`` and null ``operationState``."""
        app.operation = operation
        app.status.pop("operationState", None)
        app.bump()

    def _advance_operation(self, app: SimApp) -> None:
        if app.operation is None:
            return
        state = app.status.get("operationState")
        if not isinstance(state, dict):
            app.status["operationState"] = {
                "operation": copy.deepcopy(app.operation),
                "phase": "Running",
                "startedAt": rfc3339(self.now()),
            }
            app.op_ticks_left = self.operation_ticks
            app.bump()
            return
        if state.get("phase") == "Terminating":
            app.hold_operation = False
            self._finish(app, state, "Failed", "Operation terminated", None)
            return
        if app.hold_operation:
            return
        if app.retry_ticks_left > 0:
            app.retry_ticks_left -= 1
            if app.retry_ticks_left > 0:
                return
            # the retry starts: "Get rid of sync results and null out previous operation completion time"; the
            # attempt then runs as long as a first one
            state.pop("finishedAt", None)
            state.pop("syncResult", None)
            state["message"] = f"Retrying operation. Attempt #{state.get('retryCount') or 1}"
            app.op_ticks_left = self.operation_ticks
            app.bump()
            return
        app.op_ticks_left -= 1
        if app.op_ticks_left > 0:
            return
        self._execute(app, state)

    def _execute(self, app: SimApp, state: dict[str, Any]) -> None:
        sync = state["operation"].get("sync") or {}
        revision = str(sync.get("revision") or "")
        result: dict[str, Any] = {"revision": revision, "source": app.source}
        if app.sync_failures:
            phase, message = app.sync_failures.pop(0)
        else:
            try:
                rendering = app.git.render(revision, app.path, directory=app.directory)
            except RepoError as exc:  # controller/sync.go: the ComparisonError condition, formatted
                phase, message = "Error", f"ComparisonError: Failed to load target state: {exc}"
            else:
                phase, message = self._apply(app, list(rendering.objects), sync, result)
        if phase != "Succeeded":
            limit = int((state["operation"].get("retry") or {}).get("limit") or 0)
            count = int(state.get("retryCount") or 0)
            if limit < 0 or count < limit:
                now = self.now()
                state["retryCount"] = count + 1
                state["finishedAt"] = rfc3339(now)
                state["message"] = f"{message}. Retrying attempt #{count + 1} at {_kitchen(now)}."
                state["syncResult"] = result
                app.retry_ticks_left = self.retry_ticks
                app.bump()
                return
            if count > 0:
                message = f"{message} (retried {count} times)."
        self._finish(app, state, phase, message, result)

    def _apply(
        self, app: SimApp, manifests: list[RenderedObject], sync: Mapping[str, Any], result: dict[str, Any]
    ) -> tuple[str, str]:
        selected = sync.get("resources") or []
        dry_run = bool(sync.get("dryRun"))
        options = set(sync.get("syncOptions") or [])
        if not dry_run and "CreateNamespace=true" in options:
            self.cluster.ensure_namespace(app.namespace)
        results: list[dict[str, Any]] = []
        errors: list[str] = []
        wanted: set[ObjectKey] = set()
        for manifest in manifests:
            rt, ns = self._locate(app, manifest)
            group = _group(manifest.api_version)
            key: ObjectKey = (group, manifest.kind, ns or "", manifest.name)
            wanted.add(key)
            if selected and not any(
                r.get("kind") == manifest.kind
                and (r.get("group") or "") == group
                and r.get("name") == manifest.name
                and (not r.get("namespace") or r.get("namespace") == (ns or ""))
                for r in selected
            ):
                continue
            entry: dict[str, Any] = {
                "group": group,
                "version": _version(manifest.api_version),
                "kind": manifest.kind,
                "namespace": ns or "",
                "name": manifest.name,
                "syncPhase": "Sync",
            }
            try:
                if rt is None:
                    raise StoreError(404, "NotFound", "the server could not find the requested resource")
                if not dry_run:
                    self.cluster.apply(dict(manifest.body), namespace=ns, manager=FIELD_MANAGER, force=True)
                    app.managed[key] = manifest.api_version
                entry.update(status="Synced", message=f"{manifest.kind.lower()}/{manifest.name} configured")
            except StoreError as exc:
                entry.update(status="SyncFailed", message=exc.message)
                errors.append(exc.message)
            results.append(entry)
        if bool(sync.get("prune")) and not selected and not dry_run:
            for key in [k for k in app.managed if k not in wanted]:
                group, kind, ns, name = key
                rt = self.cluster.type_for(app.managed[key], kind)
                try:
                    if rt is not None:
                        self.cluster.delete(rt, ns or None, name)
                except StoreError:
                    pass  # already gone: pruning is idempotent
                del app.managed[key]
                results.append(
                    {
                        "group": group,
                        "version": "",
                        "kind": kind,
                        "namespace": ns,
                        "name": name,
                        "status": "Pruned",
                        "message": "pruned",
                        "syncPhase": "Sync",
                    }
                )
        result["resources"] = results
        if dry_run:
            return "Succeeded", SUCCESS_MESSAGE
        if errors:
            app.apply_error = "one or more objects failed to apply, reason: " + ",".join(errors)
            return "Failed", app.apply_error
        app.apply_error = None
        return "Succeeded", SUCCESS_MESSAGE

    def _finish(
        self, app: SimApp, state: dict[str, Any], phase: str, message: str, result: dict[str, Any] | None
    ) -> None:
        now = self.now()
        state["phase"] = phase
        state["message"] = message
        state["finishedAt"] = rfc3339(now)
        if result is not None:
            state["syncResult"] = result
        sync = state["operation"].get("sync") or {}
        full = not sync.get("dryRun") and not sync.get("resources")
        if phase == "Succeeded" and full:
            history = app.status.setdefault("history", [])
            history.append(
                {
                    "id": history[-1]["id"] + 1 if history else 0,
                    "revision": sync.get("revision", ""),
                    "deployedAt": rfc3339(now),
                    "deployStartedAt": state.get("startedAt"),
                    "source": app.source,
                    "initiatedBy": copy.deepcopy(state["operation"].get("initiatedBy") or {}),
                }
            )
            del history[: -app.revision_history_limit]
            self._drop_condition(app, "SyncError")
        if not sync.get("dryRun") and result is not None:
            if app.apply_error is not None:
                app.status["health"] = {"status": "Degraded", "message": app.apply_error}
            elif phase == "Succeeded":
                app.status["health"] = {"status": "Progressing"}
                if app.degrade_armed is not None:
                    app.degraded, app.degraded_ticks = app.degrade_armed
                    app.degrade_armed = None
        app.operation = None
        app.bump()
        if not sync.get("dryRun"):
            self.request_refresh(app, "normal", delay=1)

    # -- auto-sync -------------------------------------------------------------------------------------------

    def _auto_sync(self, app: SimApp) -> None:
        if not app.auto_sync or app.operation is not None:
            return
        sync = app.status.get("sync") or {}
        revision = sync.get("revision")
        if sync.get("status") != "OutOfSync" or not revision:
            return
        resources = app.status.get("resources") or []
        if not app.prune and all(r.get("status") == "Synced" or r.get("requiresPruning") for r in resources):
            return  # "need to prune extra resources only but automated prune is disabled"
        last = app.status.get("operationState") or {}
        attempted, attempted_revision = self._already_attempted(app, last, str(revision))
        if attempted:
            if last.get("phase") != "Succeeded":
                self._set_condition(
                    app, "SyncError", f"Failed last sync attempt to [{attempted_revision}]: {last.get('message', '')}"
                )
                return
            if not app.self_heal:
                return
        if app.prune and resources and all(r.get("requiresPruning") for r in resources):
            self._set_condition(
                app, "SyncError", f"Skipping sync attempt to [{revision}]: auto-sync will wipe out all resources"
            )
            return
        operation: dict[str, Any] = {
            "sync": {"revision": revision, **({"prune": True} if app.prune else {})},
            "initiatedBy": {"automated": True},
            "retry": {"limit": AUTO_SYNC_RETRY_LIMIT},
        }
        self.start_operation(app, operation)

    @staticmethod
    def _already_attempted(app: SimApp, last: Mapping[str, Any], revision: str) -> tuple[bool, str]:
        """``alreadyAttemptedSync``: the last operation's ``syncResult`` names this revision and the current
        source; a completed operation without a result counts as attempted too. Returns (attempted, its revision).
        """
        if not last:
            return False, ""
        result = last.get("syncResult")
        if not isinstance(result, Mapping):
            return last.get("phase") in COMPLETED, ""
        if result.get("revision") != revision:
            return False, str(result.get("revision") or "")
        return result.get("source") == app.source, revision

    # -- conditions ------------------------------------------------------------------------------------------

    def _set_condition(self, app: SimApp, kind: str, message: str) -> None:
        current = app.status.get("conditions", [])
        if any(c.get("type") == kind and c.get("message") == message for c in current):
            return
        conditions = [c for c in current if c.get("type") != kind]
        conditions.append({"type": kind, "message": message, "lastTransitionTime": rfc3339(self.now())})
        app.status["conditions"] = conditions
        app.bump()

    def _drop_condition(self, app: SimApp, kind: str) -> None:
        conditions = [c for c in app.status.get("conditions", []) if c.get("type") != kind]
        if conditions != app.status.get("conditions", []):
            app.status["conditions"] = conditions
            app.bump()
