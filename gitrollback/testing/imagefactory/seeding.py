"""Seeding, fault switches and read accessors of ``ImageFactorySimulator`` (a mixin).

Tests set up the simulated server directly instead of through HTTP: tenants, users with roles, providers with a
working default config, projects, select grants and history jobs, plus the "server filesystem" asset root
(service.go ``resolveTektonAssetRootDir``) and a per-provider cluster reachability switch. The accessors return the
API's JSON shapes, and for jobs also what the API hides (``operation``, events of finished jobs), so tests can
assert on the resulting state.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from gitrollback.testing.imagefactory import routes_installer as ri
from gitrollback.testing.imagefactory.auth import TokenSigner
from gitrollback.testing.imagefactory.installer import add_event, job_operation
from gitrollback.testing.imagefactory.state import (
    NIL_UUID,
    PROVIDER_TYPES,
    Grant,
    Project,
    ProviderRecord,
    RegistryAuth,
    SimState,
    Tenant,
    TenantBuildConfig,
    User,
    new_id,
    parse_uuid,
)

__all__ = ["SimulatorSeeding"]


class SimulatorSeeding:
    """Set-up and inspection helpers; the simulator provides ``state``, ``_signer`` and ``_asset_root``."""

    state: SimState
    _signer: TokenSigner
    _asset_root: Path | None
    # -- seeding ----------------------------------------------------------------------------------------

    def add_tenant(self, name: str, tenant_id: str | None = None) -> str:
        """Create a tenant; returns its id."""
        tid = _canonical(tenant_id) if tenant_id else new_id()
        with self.state.cond:
            self.state.tenants[tid] = Tenant(tid, name)
        return tid

    def add_user(
        self,
        email: str,
        password: str,
        *,
        tenant_id: str,
        role: str = "Owner",
        system_admin: bool = False,
        must_change_password: bool = False,
    ) -> str:
        """Create a user with ``role`` in ``tenant_id`` ("System Administrator" implies ``system_admin``).

        ``must_change_password`` closes every route the rollback uses with 428 until it is cleared.
        """
        uid = new_id()
        admin = system_admin or role == "System Administrator"
        with self.state.cond:
            self.state.users[uid] = User(
                uid, email, password, {_canonical(tenant_id): role}, admin, must_change_password
            )
        return uid

    def add_membership(self, user_id: str, tenant_id: str, role: str = "Owner") -> None:
        """Give an existing user a role in another tenant."""
        with self.state.cond:
            self.state.users[user_id].roles[_canonical(tenant_id)] = role

    def issue_token(self, email: str, *, ttl: float | None = None) -> str:
        """A valid access token for ``email`` without ``/auth/login`` (negative ttl: expired)."""
        with self.state.cond:
            user = self.state.user_by_email(email)
        if user is None:
            raise KeyError(f"no simulated user {email}")
        return self._signer.issue(user, "access", ttl)[0]

    @staticmethod
    def default_provider_config(**overrides: Any) -> dict[str, Any]:
        """A working provider config: ``tekton_enabled`` plus runtime and bootstrap token auth."""
        auth = {"auth_method": "token", "endpoint": "https://kubernetes.sim.invalid:6443"}
        config: dict[str, Any] = {
            "tekton_enabled": True,
            "runtime_auth": {**auth, "token": "sim-runtime-token"},
            "bootstrap_auth": {**auth, "token": "sim-bootstrap-token"},
        }
        config.update(overrides)
        return config

    def add_provider(
        self,
        tenant_id: str,
        name: str,
        *,
        provider_type: str = "kubernetes",
        target_namespace: str | None = "image-factory-tekton",
        config: Mapping[str, Any] | None = None,
        status: str = "online",
        is_global: bool = False,
        provider_id: str | None = None,
        bootstrap_mode: str = "self_managed",
        is_schedulable: bool | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Create a provider; ``config`` replaces ``default_provider_config()`` entirely when given."""
        if provider_type not in PROVIDER_TYPES:
            raise ValueError(f"unknown provider type {provider_type}")
        pid = _canonical(provider_id) if provider_id else new_id()
        stamp = created_at or self.state.now()
        schedulable = (status == "online") if is_schedulable is None else is_schedulable
        record = ProviderRecord(
            id=pid,
            tenant_id=_canonical(tenant_id),
            name=name,
            provider_type=provider_type,
            config=copy.deepcopy(dict(config)) if config is not None else self.default_provider_config(),
            status=status,
            is_global=is_global,
            target_namespace=target_namespace,
            created_by=NIL_UUID,
            created_at=stamp,
            updated_at=stamp,
            bootstrap_mode=bootstrap_mode,
            is_schedulable=schedulable,
            schedulable_reason="provider is ready for scheduling" if schedulable else None,
            blocked_by=None,
        )
        with self.state.cond:
            self.state.providers[pid] = record
        return pid

    def add_project(
        self,
        tenant_id: str,
        name: str,
        git_url: str = "https://git.example.test/acme/app.git",
        *,
        git_branch: str = "main",
        repository_auth: bool = False,
    ) -> str:
        """Create a project in a tenant; returns its id.

        ``repository_auth`` gives it an active repository auth. Without one, a kubernetes container, kaniko,
        buildx or packer build needs an anonymous ``git ls-remote`` of ``git_url`` to work, which the simulator
        runs for real against local URLs only (``repo_probe``).
        """
        pid = new_id()
        with self.state.cond:
            self.state.projects[pid] = Project(
                pid, _canonical(tenant_id), name, git_url, git_branch, repository_auth=repository_auth
            )
        return pid

    def add_registry_auth(
        self, tenant_id: str, *, project_id: str | None = None, default: bool = True, active: bool = True
    ) -> str:
        """A registry authentication of the tenant (or of one project); returns its id.

        A default one (project first, then tenant-wide) is what a pushing build without ``registry_auth_id``
        resolves to (``registryauth.Service.ResolveForBuild``).
        """
        rid = new_id()
        with self.state.cond:
            self.state.registry_auths[rid] = RegistryAuth(
                rid, _canonical(tenant_id), _canonical(project_id) if project_id else None, active, default
            )
        return rid

    def set_build_config(
        self,
        tenant_id: str,
        *,
        max_concurrent_jobs: int | None = None,
        max_queue_size: int | None = None,
        tekton_enabled: bool | None = None,
    ) -> None:
        """Override the tenant's build settings (defaults: 10 concurrent, 100 queued, Tekton enabled)."""
        with self.state.cond:
            current = self.state.build_configs.setdefault(_canonical(tenant_id), TenantBuildConfig())
            if max_concurrent_jobs is not None:
                current.max_concurrent_jobs = max_concurrent_jobs
            if max_queue_size is not None:
                current.max_queue_size = max_queue_size
            if tekton_enabled is not None:
                current.tekton_enabled = tekton_enabled

    def add_grant(self, provider_id: str, tenant_id: str, *, expires_at: datetime | None = None) -> str:
        """Grant ``infrastructure:select`` on a provider to a tenant; returns the grant id."""
        gid = new_id()
        with self.state.cond:
            self.state.grants.append(
                Grant(
                    gid,
                    provider_id,
                    _canonical(tenant_id),
                    "infrastructure:select",
                    NIL_UUID,
                    self.state.now(),
                    expires_at,
                )
            )
        return gid

    def seed_job(
        self,
        provider_id: str,
        *,
        operation: str = "upgrade",
        status: str = "succeeded",
        install_mode: str = "image_factory_installer",
        asset_version: str = "v1",
        error_message: str | None = None,
        created_at: datetime | None = None,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
        requested_by: str = NIL_UUID,
        idempotency_key: str | None = None,
    ) -> str:
        """Record a job for history (a seeded ``running`` job models a stuck lock; ``pending`` gets run)."""
        with self.state.cond:
            provider = self.state.providers[provider_id]
            job = ri.create_job(
                self.state,
                provider,
                requested_by=requested_by,
                install_mode=install_mode,
                asset_version=asset_version,
                status=status,
                operation=operation,
                created_at=created_at,
            )
            terminal = status in ("succeeded", "failed", "cancelled")
            job.error_message = error_message
            if status != "pending":
                job.started_at = started_at or job.created_at
            if terminal:
                job.completed_at = completed_at or job.created_at
                job.updated_at = job.completed_at
            details: dict[str, Any] = {"operation": operation}
            if idempotency_key:
                details["idempotency_key"] = idempotency_key
            add_event(
                self.state,
                job,
                f"{operation}.requested",
                f"Tekton {operation} requested for provider",
                details,
            )
            if status != "pending":
                add_event(self.state, job, "job.started", "Installer job execution started", {"status": "running"})
            return job.id

    @property
    def asset_root(self) -> Path | None:
        """The server's Tekton asset directory; set it to model a server upgraded to other assets."""
        return self._asset_root

    @asset_root.setter
    def asset_root(self, value: Path | None) -> None:
        self._asset_root = value

    # -- fault switches ---------------------------------------------------------------------------------

    def set_cluster_reachable(self, provider_id: str, reachable: bool) -> None:
        """Make a provider's Kubernetes API (un)reachable for readiness, installer jobs and builds."""
        with self.state.cond:
            self.state.providers[provider_id].cluster_reachable = reachable

    def set_maintenance_mode(self, enabled: bool) -> None:
        """Turn the system-wide read-only maintenance mode on or off (non-admin writes get 503)."""
        with self.state.cond:
            self.state.maintenance_mode = enabled

    def set_setup_required(self, required: bool) -> None:
        """Turn the first-run setup gate on or off (system administrators get 409 on every route we use)."""
        with self.state.cond:
            self.state.setup_required = required

    def defer_next_request_event(self, delay: float | None) -> None:
        """The next installer job's ``<op>.requested`` event lands ``delay`` seconds of the clock later, or never
        (``None``: the insert failed, which ``StartTektonInstallerJob`` only logs)."""
        with self.state.cond:
            self.state.request_event_faults.append(delay)

    def fail_next_response(self, method: str, path_pattern: str, status: int = 504) -> None:
        """The next request matching ``method`` and the regex ``path_pattern`` is handled, but its answer is
        replaced by ``status`` (a proxy in front of Image Factory that gave up waiting)."""
        with self.state.cond:
            self.state.response_faults.append((method, path_pattern, status))

    # -- read accessors ---------------------------------------------------------------------------------

    def provider(self, provider_id: str) -> dict[str, Any]:
        """The provider as the API shows it (a snapshot)."""
        with self.state.cond:
            return copy.deepcopy(self.state.providers[provider_id].to_json())

    def jobs(self, provider_id: str | None = None) -> list[dict[str, Any]]:
        """Jobs newest first, with the ``operation`` the API hides and *all* events (finished jobs too)."""
        with self.state.cond:
            rows = sorted(self.state.jobs.values(), key=lambda j: (j.created_at, j.seq), reverse=True)
            return [
                {
                    **j.to_json(),
                    "operation": job_operation(j) or j.operation,
                    "events": [e.to_json() for e in j.events],
                }
                for j in rows
                if provider_id is None or j.provider_id == provider_id
            ]

    def job(self, job_id: str) -> dict[str, Any]:
        """One job as ``jobs()`` renders it."""
        return next(j for j in self.jobs() if j["id"] == job_id)

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """All events of a job, oldest first."""
        return list(self.job(job_id)["events"])

    def builds(self) -> list[dict[str, Any]]:
        """Every build as ``GET /builds/{id}`` shows it, oldest first."""
        with self.state.cond:
            rows = sorted(self.state.builds.values(), key=lambda b: (b.created_at, b.seq))
            return [copy.deepcopy(b.to_json()) for b in rows]

    def build(self, build_id: str) -> dict[str, Any]:
        """One build as ``GET /builds/{id}`` shows it."""
        with self.state.cond:
            return copy.deepcopy(self.state.builds[build_id].to_json())

    def grants(self, provider_id: str | None = None) -> list[dict[str, Any]]:
        """Select grants, optionally for one provider."""
        with self.state.cond:
            return [g.to_json() for g in self.state.grants if provider_id is None or g.provider_id == provider_id]

    @property
    def probes(self) -> list[tuple[str, str, str]]:
        """``(kind, namespace, name)`` of every readiness probe object created (and deleted) so far."""
        with self.state.cond:
            return list(self.state.probes)


def _canonical(value: str) -> str:
    parsed = parse_uuid(value)
    if parsed is None:
        raise ValueError(f"not a UUID: {value!r}")
    return parsed
