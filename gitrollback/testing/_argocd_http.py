"""The Argo CD simulator's API server half: content types, sessions, auth, and the application routes.

Routes (argoproj/argo-cd ``server/application/application.go``, ``server/session/session.go``, ``server/server.go``;
shapes from ``assets/swagger.json``): ``POST``/``DELETE /api/v1/session``,
``GET /api/v1/applications``, ``GET /api/v1/applications/{name}`` (``?refresh=`` blocks until the controller
applied the refresh, or until the request's context ends: 500 ``application refresh deadline exceeded``),
``POST .../sync``, ``POST .../rollback``, ``DELETE .../operation``, ``GET .../resource-tree``,
``GET /api/version``. Server-side rules reproduced: the 415 middleware runs before auth; bearer values count only
when JWT-shaped, else the ``argocd.token`` cookie, else 401 ``no session information``; a missing app is 403
``permission denied`` without a project and 404 with one; the sync checks run in the server's order (auto-sync
revision rule, revision resolution, then the one-operation rule), and revision resolution (``resolveRevision``)
does not look up a 40-character commit SHA at all: a sync to a commit the repository lacks is accepted and fails
later, in the controller; rollback is refused with auto-sync on and for an unknown history id; terminate needs a
started operation. The controller rules live in ``_argocd_controller``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from gitrollback.testing import _argocd_wire as wire
from gitrollback.testing._argocd_app import ARGOCD_NAMESPACE, SimApp
from gitrollback.testing._argocd_controller import Controller
from gitrollback.testing._argocd_git import RepoError
from gitrollback.testing.clock import SimClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.server import Request, Response

__all__ = ["ArgoCDHTTP"]

_IN_PROGRESS = (
    "error setting app operation: rpc error: code = FailedPrecondition desc = another operation is already in progress"
)
_NO_OPERATION = "Unable to terminate operation. No operation is in progress"
_APPS = "/api/v1/applications"


class ArgoCDHTTP:
    """Request handling for ``ArgoCDSimulator``; the simulator provides the state below."""

    cluster: ClusterState
    clock: SimClock
    controller: Controller
    admin_password: str
    refresh_deadline: float
    _tokens: dict[str, str]

    # -- entry point -------------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Content-type check, session login, auth, then the application routes."""
        refused = wire.content_type_refused(request)
        if refused is not None:
            return refused
        path = request.path.rstrip("/")
        if path == "/api/version" and request.method == "GET":
            return Response.json(200, {"Version": "v3.1.0+gitrollback-sim"})
        if path == "/api/v1/session":
            if request.method == "POST":
                return self._login(request)
            if request.method == "DELETE":
                return Response.json(200, {})
        user = self._authenticate(request)
        if isinstance(user, Response):
            return user
        if path == _APPS and request.method == "GET":
            return self._list(request)
        if not path.startswith(_APPS + "/"):
            return wire.error(wire.NOT_FOUND, "Not Found")
        parts = path[len(_APPS) + 1 :].split("/")
        name, rest = parts[0], "/".join(parts[1:])
        route: dict[tuple[str, str], Callable[[Request, str, str], Response]] = {
            ("GET", ""): self._get,
            ("POST", "sync"): self._sync,
            ("POST", "rollback"): self._rollback,
            ("DELETE", "operation"): self._terminate,
            ("GET", "resource-tree"): self._resource_tree,
        }
        handler = route.get((request.method, rest))
        if handler is None:
            if any(r == rest for _, r in route):
                return wire.error(wire.UNIMPLEMENTED, "Method Not Allowed")
            return wire.error(wire.NOT_FOUND, "Not Found")
        return handler(request, name, user)

    def _login(self, request: Request) -> Response:
        body = wire.json_body(request)
        if isinstance(body, Response):
            return body
        if body.get("token"):
            return wire.error(
                wire.UNAUTHENTICATED,
                "token-based session creation no longer supported. please upgrade argocd cli to v0.7+",
            )
        username, password = str(body.get("username") or ""), str(body.get("password") or "")
        if not username or not password:
            return wire.error(wire.UNAUTHENTICATED, "no credentials supplied")
        if username != "admin" or password != self.admin_password:
            return wire.error(wire.UNAUTHENTICATED, "Invalid username or password")
        token = wire.mint_token(username)
        with self.controller.cond:
            self._tokens[token] = username
        return Response.json(200, {"token": token})

    def _authenticate(self, request: Request) -> str | Response:
        token = ""
        auth = request.header("Authorization")
        if auth[:7].lower() == "bearer " and wire.looks_like_jwt(auth[7:].strip()):
            token = auth[7:].strip()
        if not token:
            for part in request.header("Cookie").split(";"):
                key, _, value = part.strip().partition("=")
                if key == "argocd.token" and value:
                    token = value
        if not token:
            return wire.error(wire.UNAUTHENTICATED, "no session information")
        with self.controller.cond:
            user = self._tokens.get(token)
        if user is None:
            return wire.error(wire.UNAUTHENTICATED, "invalid session: token signature is invalid")
        return user

    def _find(self, name: str, project: str | None) -> SimApp | Response:
        app = self.controller.apps.get(name)
        if not project:
            # existence must not leak without a project (GHSA-2q5c-qw9c-fmvq): admin gets 403 too (getAppEnforceRBAC)
            return app if app is not None else wire.error(wire.PERMISSION_DENIED, "permission denied")
        if app is None or app.project != project:
            return wire.error(wire.NOT_FOUND, f'applications.argoproj.io "{name}" not found')
        return app

    @staticmethod
    def _query_project(request: Request) -> str | Response | None:
        projects = request.query.get("projects", []) + request.query.get("project", [])
        if len(projects) > 1:
            return wire.error(
                wire.INVALID_ARGUMENT,
                "multiple projects specified - the get endpoint accepts either zero or one project",
            )
        return projects[0] if projects else None

    def _list(self, request: Request) -> Response:
        projects = set(request.query.get("projects", []) + request.query.get("project", []))
        wanted = request.query_value("name")
        with self.controller.cond:
            apps = sorted(self.controller.apps.values(), key=lambda a: a.name)
            items = [
                a.to_json()
                for a in apps
                if (not projects or a.project in projects) and (wanted is None or a.name == wanted)
            ]
            version = max((a.resource_version for a in apps), default=0)
        return Response.json(200, {"metadata": {"resourceVersion": str(version)}, "items": items})

    def _get(self, request: Request, name: str, user: str) -> Response:
        project = self._query_project(request)
        if isinstance(project, Response):
            return project
        refresh = request.query_value("refresh")
        with self.controller.cond:
            app = self._find(name, project)
            if isinstance(app, Response):
                return app
            if refresh is None:
                return Response.json(200, app.to_json())
            # the server patches the annotation, then waits until the controller has handled it
            target = self.controller.request_refresh(app, "hard" if refresh == "hard" else "normal")
            self.controller.cond.notify_all()

        def refreshed() -> bool:
            with self.controller.cond:
                return app.refreshes_done >= target

        # Wait on the clock with the lock released: on a FakeClock this very thread runs the controller's ticks.
        if not self.clock.wait_until(refreshed, timeout=self.refresh_deadline, poll=0.02):
            # server/application/application.go (Get, the ``<-ctx.Done()`` case of the refresh wait) returns
            # errors.New("application refresh deadline exceeded"): a plain error, so gRPC code Unknown, HTTP 500.
            # ``refresh_deadline`` stands for the request's context (a client or proxy timeout).
            return wire.error(wire.UNKNOWN, "application refresh deadline exceeded")
        with self.controller.cond:
            return Response.json(200, app.to_json())

    def _sync(self, request: Request, name: str, user: str) -> Response:
        body = wire.json_body(request)
        if isinstance(body, Response):
            return body
        with self.controller.cond:
            app = self._find(name, str(body.get("project") or "") or None)
            if isinstance(app, Response):
                return app
            app.sync_requests.append(copy.deepcopy(body))
            revision = str(body.get("revision") or "")
            target = app.target_revision or "HEAD"
            dry_run = bool(body.get("dryRun"))
            if app.auto_sync and not dry_run and revision and revision != target:
                return wire.error(
                    wire.FAILED_PRECONDITION,
                    f"Cannot sync to {revision}: auto-sync currently set to {app.target_revision}",
                )
            if wire.is_commit_sha(revision):
                sha = revision  # resolveRevision: "If it's already a commit SHA, then no need to look it up"
            else:
                try:
                    sha = app.git.resolve(revision or target)
                except RepoError as exc:
                    # resolveRevision wraps the repo-server's error; the server answers FailedPrecondition
                    message = f"error resolving repo revision: rpc error: code = Unknown desc = {exc}"
                    return wire.error(wire.FAILED_PRECONDITION, message)
            if app.operation is not None:
                return wire.error(wire.FAILED_PRECONDITION, _IN_PROGRESS)
            # Server.Sync puts the app's (single) source into the operation along with the resolved revision
            sync: dict[str, Any] = {"revision": sha, "source": copy.deepcopy(app.source)}
            for key in ("prune", "dryRun"):
                if body.get(key):
                    sync[key] = True
            if body.get("resources"):
                sync["resources"] = copy.deepcopy(body["resources"])
            if items := (body.get("syncOptions") or {}).get("items"):
                sync["syncOptions"] = list(items)
            if body.get("strategy"):
                sync["syncStrategy"] = copy.deepcopy(body["strategy"])
            operation: dict[str, Any] = {"sync": sync, "initiatedBy": {"username": user}}
            if body.get("retryStrategy"):
                operation["retry"] = copy.deepcopy(body["retryStrategy"])
            self.controller.start_operation(app, operation)
            self.controller.cond.notify_all()
            return Response.json(200, app.to_json())

    def _rollback(self, request: Request, name: str, user: str) -> Response:
        """``POST .../rollback`` (``Server.Rollback``): sync to a ``status.history`` entry; refused under auto-sync."""
        body = wire.json_body(request)
        if isinstance(body, Response):
            return body
        with self.controller.cond:
            app = self._find(name, str(body.get("project") or "") or None)
            if isinstance(app, Response):
                return app
            if app.auto_sync:
                return wire.error(wire.FAILED_PRECONDITION, "rollback cannot be initiated when auto-sync is enabled")
            raw_id = body.get("id", 0)  # int64: grpc-gateway takes a JSON number or a decimal string; absent is 0
            try:
                wanted = int(raw_id)
            except (TypeError, ValueError):
                return wire.error(wire.INVALID_ARGUMENT, f"invalid value for id: {raw_id!r}")
            entry = next((h for h in app.status.get("history", []) if h.get("id") == wanted), None)
            if entry is None:
                return wire.error(
                    wire.INVALID_ARGUMENT,
                    f"application {ARGOCD_NAMESPACE}/{name} does not have deployment with id {wanted}",
                )
            if app.operation is not None:
                return wire.error(wire.FAILED_PRECONDITION, _IN_PROGRESS)
            # strategy forced to apply (no hooks), revision and source from the history entry (Server.Rollback)
            sync: dict[str, Any] = {
                "revision": entry["revision"],
                "source": copy.deepcopy(entry.get("source") or app.source),
                "syncStrategy": {"apply": {}},
            }
            for key in ("prune", "dryRun"):
                if body.get(key):
                    sync[key] = True
            self.controller.start_operation(app, {"sync": sync, "initiatedBy": {"username": user}})
            self.controller.cond.notify_all()
            return Response.json(200, app.to_json())

    def _terminate(self, request: Request, name: str, user: str) -> Response:
        project = self._query_project(request)
        if isinstance(project, Response):
            return project
        with self.controller.cond:
            app = self._find(name, project)
            if isinstance(app, Response):
                return app
            state = app.status.get("operationState")
            if app.operation is None or not isinstance(state, dict):
                return wire.error(wire.INVALID_ARGUMENT, _NO_OPERATION)
            state["phase"] = "Terminating"
            app.bump()
            self.controller.cond.notify_all()
        return Response.json(200, {})

    def _resource_tree(self, request: Request, name: str, user: str) -> Response:
        project = self._query_project(request)
        if isinstance(project, Response):
            return project
        nodes: list[dict[str, Any]] = []
        with self.controller.cond:
            app = self._find(name, project)
            if isinstance(app, Response):
                return app
            for (group, kind, ns, obj_name), api_version in sorted(app.managed.items()):
                rt = self.cluster.type_for(api_version, kind)
                live = self.cluster.get(rt, ns or None, obj_name) if rt is not None else None
                if live is None:
                    continue
                meta = live["metadata"]
                node: dict[str, Any] = {
                    "group": group,
                    "version": api_version.rsplit("/", 1)[-1],
                    "kind": kind,
                    "name": obj_name,
                    "uid": meta.get("uid", ""),
                    "resourceVersion": meta.get("resourceVersion", ""),
                    "createdAt": meta.get("creationTimestamp"),
                    "health": {"status": "Healthy"},
                }
                if ns:
                    node["namespace"] = ns
                nodes.append(node)
        return Response.json(200, {"nodes": nodes, "hosts": [], "shardsCount": 1})
