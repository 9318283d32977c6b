"""A loopback simulator of the Image Factory API parts the Tekton rollback runbook uses.

``ImageFactorySimulator`` serves, over a real socket, login/refresh (15-minute JWTs), providers (list, get, PUT with
its whole-config replace and hidden 500, PATCH status), live readiness with persistence side effects, the Tekton
installer routes (install/upgrade/validate, retry, status) with the installer's job model and its non-atomic
idempotency, provider permissions, available providers (the 20 newest online ones), builds with the create
preflight, and the background readiness watcher — all faithful to imagefactoryoss/imagefactory's
``backend/internal/adapters/primary/rest`` handlers, ``backend/internal/infrastructure/middleware/auth.go``,
``backend/internal/domain/infrastructure/service.go`` and ``backend/internal/domain/build``, awkward bits
included. Kubernetes state lives in a shared in-process ``ClusterState``: the installer server-side applies the
asset tree into it, readiness reads it, builds succeed or fail on it.

Seeding API (no HTTP involved; all ids are UUID strings)::

    clock = FakeClock()                       # gitrollback.testing.clock; omit for a WallClock of its own
    sim = ImageFactorySimulator(ClusterState(clock=clock), job_tick=5.0, build_tick=5.0, clock=clock,
                                asset_root=Path(".../tekton"), readiness_watcher_interval=None, secret="...",
                                access_token_ttl=900)
    tenant = sim.add_tenant(name, tenant_id=None)                          # -> tenant id
    uid = sim.add_user(email, password, *, tenant_id, role="Owner", system_admin=False, must_change_password=False)
        # role: "Owner" | "Developer" | "Viewer" | "System Administrator Viewer" | "System Administrator"
    sim.add_membership(uid, other_tenant, role="Viewer")                   # more tenants for one user
    token = sim.issue_token(email, ttl=None)                  # access token; ttl<0 gives an expired one
    pid = sim.add_provider(tenant, name, *, provider_type="kubernetes",
                           target_namespace="image-factory-tekton", config=None, status="online",
                           is_global=False, provider_id=None, bootstrap_mode="self_managed",
                           is_schedulable=None, created_at=None)
        # config=None uses ImageFactorySimulator.default_provider_config(**overrides):
        #   {"tekton_enabled": True, "runtime_auth": {auth_method, endpoint, token}, "bootstrap_auth": {...}}
    project = sim.add_project(tenant, name, git_url=..., git_branch="main", repository_auth=False)
    sim.add_registry_auth(tenant, project_id=None, default=True, active=True)   # pushing builds need one
    sim.set_build_config(tenant, max_concurrent_jobs=10, max_queue_size=100, tekton_enabled=True)
    sim.add_grant(pid, other_tenant, expires_at=None)                      # infrastructure:select grant
    job = sim.seed_job(pid, operation="upgrade", status="succeeded", install_mode="image_factory_installer",
                       asset_version="v1", error_message=None, created_at=None, started_at=None,
                       completed_at=None, requested_by=NIL, idempotency_key=None)
    sim.asset_root = other_dir                                             # the "server filesystem" assets
    sim.set_cluster_reachable(pid, False)                                  # fault switches
    sim.set_maintenance_mode(True); sim.set_setup_required(True)
    sim.defer_next_request_event(1.0)          # the next job's <op>.requested lands 1 s later (None: never)
    sim.fail_next_response("POST", r"/tekton/validate$", 504)             # a proxy gives up after the work

Read accessors for assertions: ``provider(pid)`` (API JSON), ``jobs(pid=None)`` / ``job(id)`` (API JSON
plus ``operation`` and *all* ``events``), ``events(job_id)``, ``builds()``, ``build(id)``,
``grants(pid=None)``, ``probes`` (readiness probe objects created), ``requests`` (the HTTP log).
Time: the installer dispatcher, the build dispatcher and the readiness watcher are repeating timers on the
simulator's clock, registered by ``start()``; timestamps and token lifetimes come from the same clock. On a
``FakeClock`` shared with the client they run whenever the client (or the test) lets time pass. Deterministic
drivers: ``run_installer_tick()`` (claims and runs the oldest pending job; returns its id),
``run_build_tick()``, ``run_readiness_watch_tick()`` (the watcher also runs once at ``start()`` when enabled),
and ``wait_idle(timeout)``, which lets the clock's time
pass until nothing is pending (a seeded ``running`` job never finishes, so do not wait_idle on one).
"""

from __future__ import annotations

from gitrollback.testing.imagefactory.simulator import DEFAULT_SECRET, ImageFactorySimulator

__all__ = ["DEFAULT_SECRET", "ImageFactorySimulator"]
