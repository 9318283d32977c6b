"""``ImageFactorySimulator``: routing, lifecycle and deterministic ticks (seeding lives in ``seeding.py``).

A ``SimulatorServer`` subclass that serves the Image Factory routes the rollback runbook uses
(imagefactoryoss/imagefactory ``backend/internal/adapters/primary/rest/router_route_registration.go``) over a real
loopback socket, backed by ``SimState`` records and the shared in-process ``ClusterState``. Routing mirrors chi: an
unknown path is ``404 page not found``, a known path with another method is an empty 405, and every route runs
authentication, tenant context and its RBAC permission (``backend/internal/infrastructure/middleware/auth.go``)
before the handler. Asynchronous work (the installer dispatcher, the build dispatcher, the readiness watcher) runs
as repeating timers on the simulator's clock (``gitrollback.testing.clock``), registered by ``start()``: on a
shared ``FakeClock`` they run whenever the test or the client under test lets time pass; the same ticks are public
for step-by-step tests.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Self

from gitrollback.testing.clock import SimClock, TimerSet
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import routes_builds as rb
from gitrollback.testing.imagefactory import routes_installer as ri
from gitrollback.testing.imagefactory import routes_providers as rp
from gitrollback.testing.imagefactory.auth import (
    ACCESS_TOKEN_TTL,
    Caller,
    TokenSigner,
    authenticate,
    login,
    refresh,
)
from gitrollback.testing.imagefactory.builds import dispatch_tick
from gitrollback.testing.imagefactory.installer import Installer
from gitrollback.testing.imagefactory.readiness import ReadinessCheckFailed, persist, post_op_readiness
from gitrollback.testing.imagefactory.seeding import SimulatorSeeding
from gitrollback.testing.imagefactory.state import K8S_TYPES, Ctx, SimState
from gitrollback.testing.server import Request, Response, SimulatorServer

__all__ = ["DEFAULT_SECRET", "ImageFactorySimulator"]

logger = logging.getLogger(__name__)

DEFAULT_SECRET = "image-factory-simulator-secret"
Handler = Callable[[Ctx, Request, Caller, dict[str, str]], Response]

_P = "/api/v1/admin/infrastructure/providers"
_ID = r"(?P<id>[^/]+)"
_ROUTES: tuple[tuple[str, str, str, Handler], ...] = (
    ("GET", _P, "infrastructure:read", rp.list_providers),
    ("GET", rf"{_P}/{_ID}", "infrastructure:read", rp.get_provider),
    ("PUT", rf"{_P}/{_ID}", "infrastructure:update", rp.update_provider),
    ("PATCH", rf"{_P}/{_ID}/status", "infrastructure:update", rp.patch_provider_status),
    ("GET", rf"{_P}/{_ID}/readiness", "infrastructure:read", rp.provider_readiness),
    ("GET", rf"{_P}/{_ID}/permissions", "infrastructure:read", rp.permissions_list),
    ("POST", rf"{_P}/{_ID}/permissions", "infrastructure:update", rp.permissions_change),
    ("DELETE", rf"{_P}/{_ID}/permissions", "infrastructure:update", rp.permissions_change),
    ("POST", rf"{_P}/{_ID}/tekton/(?P<op>install|upgrade|validate)", "infrastructure:update", ri.start_job),
    ("POST", rf"{_P}/{_ID}/tekton/retry", "infrastructure:update", ri.retry_job),
    ("GET", rf"{_P}/{_ID}/tekton/status", "infrastructure:read", ri.tekton_status),
    ("GET", "/api/v1/infrastructure/providers/available", "infrastructure:select", rp.available_providers),
    ("POST", "/api/v1/builds", "build:create", rb.create_build),
    ("GET", "/api/v1/builds", "build:list", rb.list_builds),
    ("GET", rf"/api/v1/builds/{_ID}", "build:read", rb.get_build),
    ("GET", rf"/api/v1/builds/{_ID}/status", "build:read", rb.build_status),
    ("POST", rf"/api/v1/builds/{_ID}/(?P<action>start|retry)", "build:create", rb.build_action),
    ("POST", rf"/api/v1/builds/{_ID}/(?P<action>cancel)", "build:cancel", rb.build_action),
)
_COMPILED = tuple((m, re.compile(p + r"\Z"), perm, h) for m, p, perm, h in _ROUTES)


class ImageFactorySimulator(SimulatorSeeding, SimulatorServer):
    """Image Factory over loopback HTTP; see the package docstring for the seeding API.

    Args:
        cluster: the shared object store (the provider clusters all map onto it).
        job_tick: installer dispatcher poll interval in seconds (the real default is 5 s).
        build_tick: build dispatcher interval in seconds (a build runs from one tick to the next).
        asset_root: the "server filesystem" Tekton asset directory (holds ``kustomization.yaml``); None
            models a server where no asset root resolves.
        readiness_watcher_interval: run the readiness watcher once at ``start()`` and then every this many
            seconds; None (the default here) disables it. The real server runs it by default every 180 s
            (``IF_PROVIDER_READINESS_WATCHER_INTERVAL_SECONDS``, ``backend/cmd/server/main.go``); it is off here
            because a watcher pass at start-up would take every seeded provider whose cluster has no Tekton assets
            offline before a test could install them.
        secret: HMAC key for tokens.
        access_token_ttl: access token lifetime in seconds (the real ``DefaultAccessTokenTTL``: 15 minutes).
        clock: where time comes from (timestamps, token lifetimes, the dispatcher timers); a ``WallClock`` of
            its own, stopped by ``stop()``, when omitted.

    Example::

        clock = FakeClock()
        sim = ImageFactorySimulator(ClusterState(clock=clock), asset_root=fixture_root(), clock=clock)
        tenant = sim.add_tenant("acme")
        sim.add_user("ops@acme.test", "pw", tenant_id=tenant)
        with sim:
            token = sim.issue_token("ops@acme.test")
            headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": tenant}
            httpx.get(sim.url + "/api/v1/infrastructure/providers/available", headers=headers)
            clock.sleep(5)      # the installer dispatcher ticks once
    """

    def __init__(
        self,
        cluster: ClusterState,
        *,
        job_tick: float = 5.0,
        build_tick: float = 5.0,
        asset_root: Path | None = None,
        readiness_watcher_interval: float | None = None,
        secret: str = DEFAULT_SECRET,
        access_token_ttl: int = ACCESS_TOKEN_TTL,
        clock: SimClock | None = None,
    ) -> None:
        super().__init__()
        self._timers = TimerSet(clock)
        self.clock: SimClock = self._timers.clock
        self.cluster = cluster
        self.state = SimState(self.clock)
        self._ctx = Ctx(self.state, cluster)
        self._signer = TokenSigner(secret, access_ttl=access_token_ttl, clock=self.clock)
        self._asset_root = asset_root
        self._installer = Installer(self.state, cluster, lambda: self._asset_root)
        self._timers.add("imagefactory-installer", job_tick, self.run_installer_tick)
        self._timers.add("imagefactory-builds", build_tick, self.run_build_tick)
        self._watcher = readiness_watcher_interval is not None
        if readiness_watcher_interval is not None:
            self._timers.add(
                "imagefactory-readiness-watcher", readiness_watcher_interval, self.run_readiness_watch_tick
            )

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve HTTP and register the dispatcher timers on the clock (the watcher also runs once now, as
        ``StartProviderReadinessWatcher`` does before its first tick)."""
        super().start()
        if self._watcher:
            self.run_readiness_watch_tick()
        self._timers.start()
        return self

    def stop(self) -> None:
        """Cancel the timers (stopping the clock if the simulator made it), then the HTTP server."""
        self._timers.stop()
        super().stop()

    # -- HTTP -------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Route one request; a pending ``fail_next_response`` fault replaces the answer after the work is done."""
        response = self._route(request)
        with self.state.cond:
            for index, (method, pattern, status) in enumerate(self.state.response_faults):
                if method == request.method and re.search(pattern, request.path):
                    del self.state.response_faults[index]
                    # what a proxy in front of the server answers when it gives up waiting: the work happened
                    return Response.text(status, "upstream request timeout")
        return response

    def _route(self, request: Request) -> Response:
        """Route one request (chi semantics: 404 text for unknown paths, empty 405 for a wrong method)."""
        if request.path == "/api/v1/auth/login" and request.method == "POST":
            return login(self.state, self._signer, request)
        if request.path == "/api/v1/auth/refresh" and request.method == "POST":
            return refresh(self.state, self._signer, request)
        path_known = False
        for method, pattern, permission, handler in _COMPILED:
            match = pattern.match(request.path)
            if match is None:
                continue
            path_known = True
            if method != request.method:
                continue
            caller = authenticate(self.state, self._signer, request, permission)
            if isinstance(caller, Response):
                return caller
            return handler(self._ctx, request, caller, match.groupdict())
        if path_known or request.path in ("/api/v1/auth/login", "/api/v1/auth/refresh"):
            return Response.empty(405)
        return Response.text(404, "404 page not found")

    # -- deterministic ticks ----------------------------------------------------------------------------

    def run_installer_tick(self) -> str | None:
        """Claim and run the oldest pending job (MaxJobsPerTick=1); its id, or None when none was pending."""
        job = self._installer.claim_next()
        if job is None:
            return None
        self._installer.run(job)
        return job.id

    def run_build_tick(self) -> None:
        """One build dispatcher tick: finish builds started earlier, start queued ones."""
        dispatch_tick(self.state, self.cluster)

    def run_readiness_watch_tick(self) -> None:
        """One watcher pass (``RunProviderReadinessWatchTick``, service.go): the post-operation check
        (``refreshProviderReadinessAfterInstall``, pipelines always required) for every k8s-capable provider,
        offline ones too, persisted; a provider whose check cannot run (client config, Tekton detection) is
        counted as failed and nothing is saved for it."""
        with self.state.cond:
            providers = [copy.deepcopy(p) for p in self.state.providers.values() if p.provider_type in K8S_TYPES]
        for snapshot in providers:
            try:
                status, missing = post_op_readiness(snapshot, self.cluster)
            except ReadinessCheckFailed as exc:
                logger.info("simulated readiness watcher: provider %s failed: %s", snapshot.id, exc)
                continue
            with self.state.cond:
                live = self.state.providers.get(snapshot.id)
                if live is not None:
                    persist(live, status, missing, self.state.now())
                    self.state.changed()

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Let the clock's time pass until no job is pending/running and no build is queued/running.

        Needs ``start()`` (the dispatchers are timers it registers). On a ``FakeClock`` this steps simulated time.

        Raises:
            TimeoutError: still busy after ``timeout`` seconds of the clock's time.
        """

        def idle() -> bool:
            with self.state.cond:
                return self.state.idle()

        if not self.clock.wait_until(idle, timeout=timeout, poll=0.05):
            raise TimeoutError(f"image factory simulator still busy after {timeout}s")
