"""A loopback Argo CD API server with a tick-driven application controller, for the httpx Argo CD adapter.

``ArgoCDSimulator`` serves the slice of Argo CD's REST API gitrollback uses (argoproj/argo-cd
``server/application/application.go`` and ``server/session/session.go``; shapes from ``assets/swagger.json``):
``POST /api/v1/session``, ``GET /api/v1/applications`` (list), ``GET /api/v1/applications/{name}`` (with a
blocking ``?refresh=normal|hard``), ``POST .../{name}/sync``,
``POST .../{name}/rollback``, ``DELETE .../{name}/operation``, ``GET .../{name}/resource-tree`` and
``GET /api/version``. The server-side rules are the real ones: bearer tokens only when JWT-shaped (or the
``argocd.token`` cookie), 401 ``no session information``; a plain-text 415 for a non-GET whose Content-Type is
not exactly ``application/json``; 403 ``permission denied`` for a missing app unless a project is given (then
404); 400 ``another operation is already in progress``; 400 ``Cannot sync to <rev>: auto-sync currently set to
<targetRevision>``; the rollback and terminate rules. The controller that moves operations, refreshes,
auto-syncs and health along lives in ``_argocd_controller`` and ticks as a repeating timer on the simulator's
clock (``gitrollback.testing.clock``); the routes in ``_argocd_http``; git reading and rendering in
``_argocd_git``; the wire helpers in ``_argocd_wire``. This module holds the lifecycle, seeding, accessors for
assertions and the fault switches.

Applications point at real local git repositories; syncs apply the rendered objects into a shared
``ClusterState`` (the same store the Kubernetes simulator serves), so tests can check the cluster itself.

Usage::

    clock = FakeClock()
    with ArgoCDSimulator(ClusterState(clock=clock), clock=clock) as argo:     # the controller ticks every 3 s
        argo.add_app("tekton", repo_path=repo, path="backend/tekton", namespace="image-factory-tekton")
        engine = ArgoCDEngine(argo.url, token=argo.token, clock=clock, poll_interval=5)
        engine.sync("tekton", revision=sha)
        engine.wait_for_revision("tekton", sha, timeout=300)  # its sleeps step the controller
        argo.fail_next_sync("tekton", "hook failed")       # fault switches: see the methods below
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from gitrollback.testing import _argocd_wire as wire
from gitrollback.testing._argocd_app import SimApp
from gitrollback.testing._argocd_controller import COMPLETED, FIELD_MANAGER, Controller
from gitrollback.testing._argocd_git import GitReader
from gitrollback.testing._argocd_http import ArgoCDHTTP
from gitrollback.testing.clock import SimClock, TimerSet
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.server import SimulatorServer

__all__ = ["FIELD_MANAGER", "ArgoCDSimulator"]


class ArgoCDSimulator(ArgoCDHTTP, SimulatorServer):
    """Argo CD's API server plus application controller over a ``ClusterState``.

    Args:
        cluster: where syncs apply objects (shared with the Kubernetes simulator).
        tick: seconds between controller ticks. An operation runs ``operation_ticks`` ticks (default 2); the
            refresh after it lands one tick later; periodic resync every ``resync_ticks`` ticks (default 40, so
            120 s at the default tick: Argo CD's default ``timeout.reconciliation``).
        token: an API token to accept (like one from ``argocd account generate-token``); it must look like a
            JWT, as Argo CD ignores other bearer values. One is minted when omitted; read it from ``token``.
        admin_password: the ``admin`` account's password for ``POST /api/v1/session``.
        clock: where time comes from (timestamps, the controller timer, the ``?refresh`` wait); a ``WallClock``
            of its own, stopped by ``stop()``, when omitted.
    """

    def __init__(
        self,
        cluster: ClusterState,
        *,
        tick: float = 3.0,
        token: str | None = None,
        admin_password: str = "sim",
        clock: SimClock | None = None,
    ) -> None:
        super().__init__()
        if token is not None and not wire.looks_like_jwt(token):
            raise ValueError("Argo CD only uses JWT-shaped bearer tokens (three dot-separated parts)")
        self.cluster = cluster
        self.token = token or wire.mint_token("gitrollback")
        self.admin_password = admin_password
        self.refresh_deadline = 30.0
        self._timers = TimerSet(clock)
        self.clock: SimClock = self._timers.clock
        self.controller = Controller(cluster, self.clock)
        self._tokens: dict[str, str] = {self.token: "admin"}
        self._paused = False
        self._timers.add("argocd-controller", tick, self._background_tick)

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve HTTP and register the controller timer on the clock."""
        super().start()
        self._timers.start()
        return self

    def stop(self) -> None:
        """Cancel the controller timer (stopping the clock if the simulator made it), then the server."""
        self._timers.stop()
        super().stop()

    def _background_tick(self) -> None:
        if not self._paused:
            self.controller.tick()

    def pause(self) -> None:
        """Stop the background controller (requests are still served; ``?refresh`` then waits out its deadline)."""
        self._paused = True

    def resume(self) -> None:
        """Restart the background controller."""
        self._paused = False

    @property
    def operation_ticks(self) -> int:
        """Ticks a sync operation stays Running before it executes."""
        return self.controller.operation_ticks

    @operation_ticks.setter
    def operation_ticks(self, value: int) -> None:
        self.controller.operation_ticks = value

    @property
    def resync_ticks(self) -> int:
        """Ticks between periodic refreshes (0 turns them off)."""
        return self.controller.resync_ticks

    @resync_ticks.setter
    def resync_ticks(self, value: int) -> None:
        self.controller.resync_ticks = value

    # -- seeding and accessors ------------------------------------------------------------------------------

    def add_app(
        self,
        name: str,
        *,
        repo_path: Path,
        path: str,
        target_revision: str = "main",
        namespace: str,
        project: str = "default",
        auto_sync: bool = False,
        self_heal: bool = False,
        prune: bool = False,
        directory_recurse: bool | None = None,
    ) -> dict[str, Any]:
        """Create an Application for ``path`` in the git repository at ``repo_path``; returns its JSON.

        Argo CD renders the path with ``kustomize build`` when it holds a kustomization, else as a plain directory
        of manifests; ``directory_recurse`` sets ``spec.source.directory.recurse``, which makes it a Directory
        app either way (``_argocd_git``).

        The first comparison runs at once (the app starts OutOfSync/Missing, or Synced when the cluster already
        matches); with ``auto_sync`` the controller syncs it on its next tick.
        """
        app = SimApp(
            name=name,
            project=project,
            repo_url=Path(repo_path).resolve().as_uri(),
            path=path.strip("/"),
            target_revision=target_revision,
            namespace=namespace,
            auto_sync=auto_sync,
            self_heal=self_heal,
            prune=prune,
            git=GitReader(Path(repo_path)),
            created=self.clock.now(),
            directory=None if directory_recurse is None else {"recurse": directory_recurse},
        )
        with self.controller.cond:
            if name in self.controller.apps:
                raise ValueError(f"application {name!r} already exists")
            self.controller.apps[name] = app
            self.controller.refresh(app)
            self.controller.cond.notify_all()
            return app.to_json()

    def app(self, name: str) -> dict[str, Any]:
        """The Application JSON as the API returns it."""
        with self.controller.cond:
            return self.controller.apps[name].to_json()

    def history(self, name: str) -> list[dict[str, Any]]:
        """``status.history``, oldest first."""
        with self.controller.cond:
            return copy.deepcopy(self.controller.apps[name].status.get("history", []))

    def operation_state(self, name: str) -> dict[str, Any] | None:
        """``status.operationState`` (None before the first operation or right after a new one was requested)."""
        with self.controller.cond:
            state = self.controller.apps[name].status.get("operationState")
            return copy.deepcopy(state) if state else None

    def sync_requests(self, name: str) -> list[dict[str, Any]]:
        """Bodies of every ``POST .../sync`` received for the app, accepted or not."""
        with self.controller.cond:
            return copy.deepcopy(self.controller.apps[name].sync_requests)

    def managed_objects(self, name: str) -> list[tuple[str, str, str, str]]:
        """(group, kind, namespace, name) of every object the app has applied and not pruned."""
        with self.controller.cond:
            return sorted(self.controller.apps[name].managed)

    def wait_until(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 120.0
    ) -> dict[str, Any]:
        """Let the clock's time pass until ``predicate(app_json)`` holds (checked after every controller tick).

        Raises:
            TimeoutError: not reached within ``timeout`` seconds of the clock's time.
        """
        found: list[dict[str, Any]] = []

        def check() -> bool:
            with self.controller.cond:
                found[:] = [self.controller.apps[name].to_json()]
                return predicate(found[0])

        if not self.clock.wait_until(check, timeout=timeout, poll=0.02):
            raise TimeoutError(f"application {name}: condition not reached in {timeout}s: {found[0]['status']}")
        return found[0]

    def sync_now(self, name: str, revision: str | None = None, *, timeout: float = 120.0) -> dict[str, Any]:
        """Sync as ``admin`` without HTTP and wait until the operation and the refresh after it are done."""
        with self.controller.cond:
            app = self.controller.apps[name]
            sha = app.git.resolve(revision or app.target_revision)
            operation = {"sync": {"revision": sha}, "initiatedBy": {"username": "admin"}}
            self.controller.start_operation(app, operation)
            done_before = app.refreshes_done
        return self.wait_until(
            name,
            lambda a: (
                "operation" not in a
                and a["status"].get("operationState", {}).get("phase") in COMPLETED
                and self.controller.apps[name].refreshes_done > done_before
                and self.controller.apps[name].refresh_requested is None
            ),
            timeout=timeout,
        )

    # -- fault switches ---------------------------------------------------------------------------------------

    def hold_operation(
        self, name: str, *, revision: str | None = None, ticks: int | None = None, username: str = "someone-else"
    ) -> None:
        """Start a Running sync of ``revision`` (default: the tip) by another user, as if it began earlier.

        It executes after ``ticks`` ticks, or runs until terminated when ``ticks`` is None.
        """
        with self.controller.cond:
            app = self.controller.apps[name]
            operation = {
                "sync": {"revision": app.git.resolve(revision or app.target_revision)},
                "initiatedBy": {"username": username},
            }
            self.controller.start_operation(app, operation)
            app.status["operationState"] = {
                "operation": copy.deepcopy(operation),
                "phase": "Running",
                "startedAt": wire.rfc3339(self.clock.now()),
            }
            app.hold_operation = ticks is None
            app.op_ticks_left = ticks or 0
            self.controller.cond.notify_all()

    def slow_refresh(self, name: str, ticks: int) -> None:
        """Every requested refresh takes ``ticks`` extra controller ticks to apply (``?refresh=`` blocks meanwhile)."""
        with self.controller.cond:
            self.controller.apps[name].slow_refresh_ticks = ticks

    def stale_healthy(self, name: str, ticks: int) -> None:
        """For ``ticks`` ticks the controller does not see new commits: refreshes keep comparing the old revision,
        so the app stays Synced and Healthy on it (the state ``argocd app wait`` accepts right after a push)."""
        with self.controller.cond:
            self.controller.apps[name].stale_ticks = ticks

    def degrade(
        self, name: str, message: str = "Deployment has not become available", *, ticks: int | None = None
    ) -> None:
        """The next successful sync ends Degraded with ``message``; after ``ticks`` ticks (if given) Healthy again."""
        with self.controller.cond:
            self.controller.apps[name].degrade_armed = (message, ticks)

    def fail_next_sync(self, name: str, message: str, *, phase: str = "Failed", count: int = 1) -> None:
        """The next ``count`` sync attempts end in ``phase`` (Failed or Error) with ``message``, applying nothing."""
        with self.controller.cond:
            self.controller.apps[name].sync_failures.extend([(phase, message)] * count)
