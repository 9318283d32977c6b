"""The route methods of ``ImageFactoryClient``: providers, Tekton installer, permissions, builds and waits.

They are written against one abstract ``_call(method, path, ...)`` that the httpx half
(``gitrollback.adapters.imagefactory``) implements with auth, retries and error translation; so this module
holds what each route means (paths, bodies, which calls may be retried, what to parse) and nothing about HTTP
mechanics, and needs no third-party import. Split out of the client to keep both halves readable.

Remote behaviour assumed (``docs/imagefactory.md``, read from imagefactoryoss/imagefactory
``backend/internal/``): the routes of ``adapters/primary/rest/router_route_registration.go``; the installer's
replay rule (``StartTektonInstallerJob``, ``domain/infrastructure/service.go``: a known ``(provider, operation,
idempotency_key)`` answers 202 with the same job, checked before the one-active-job lock), which makes installer
POSTs safe to retry, and its gap: the job and its request event are two inserts, so a replay can meet its own job
as a 409 (``_own_job_after_conflict``); ``active_job_events`` served only while the job is pending or running
(``GetTektonInstallerStatus``), so they are captured on every status read; ``recent_jobs`` newest first, at most
100; builds auto-queued on create (``domain/build/service_create.go``), terminal once completed/failed/cancelled,
and refused before they exist while the tenant's build limits are full (``service_tenant_limits.go``), which
``create_build`` waits out.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from gitrollback.adapters import _imagefactory_wire as wire
from gitrollback.adapters._poll import next_pause
from gitrollback.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    GitRollbackError,
    JobInProgressError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from gitrollback.models import (
    AccessNeeds,
    AccessProblem,
    Build,
    InstallerJob,
    JobEvent,
    Provider,
    ProviderPermission,
    Readiness,
    TektonStatus,
)
from gitrollback.ports import Clock, InstallerOperation

__all__ = ["ImageFactoryRoutes"]

logger = logging.getLogger(__name__)

_PROVIDERS = "/api/v1/admin/infrastructure/providers"
_OPERATIONS = ("install", "upgrade", "validate")
_INSTALL_MODES = ("gitops", "image_factory_installer")
#: Status reads after a retried POST's 409, one ``poll_interval`` apart, waiting for the job's request event.
_OWN_JOB_POLLS = 3


def _seg(value: str) -> str:
    """One path segment, percent-encoded so an id can never change the route."""
    return quote(value, safe="")


class ImageFactoryRoutes:
    """Route methods shared by ``ImageFactoryClient``; subclasses provide ``_call`` and the state below."""

    _clock: Clock
    _poll_interval: float
    _on_wait: Callable[[str, float, str], None] | None
    _lock: threading.RLock
    _events: dict[str, dict[str, JobEvent]]
    _operations: dict[str, str]

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        retry: bool | None = None,
        authenticated: bool = True,
        on_retry: Callable[[], None] | None = None,
    ) -> Any:
        """One API call; returns decoded JSON or None. ``retry=None`` means "retry GETs only"; ``on_retry`` is
        told when the request is sent again."""
        raise NotImplementedError

    @staticmethod
    def _bad(operation: str, message: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"Image Factory {message}",
            adapter=wire.ADAPTER,
            operation=operation,
            hint="check that base_url points at Image Factory and that its version matches the contract",
        )

    @contextmanager
    def _parsing(self, operation: str) -> Iterator[None]:
        try:
            yield
        except wire.BadPayload as exc:
            raise self._bad(operation, f"{operation}: unexpected response: {exc}") from exc

    def _provider_call(self, method: str, path: str, operation: str, body: Any = None) -> Provider:
        data = self._call(method, path, operation=operation, body=body)
        with self._parsing(operation):
            return wire.parse_provider(wire.member(data, "provider", "provider response"))

    def _list_of(self, data: Any, key: str, operation: str) -> list[Any]:
        with self._parsing(operation):
            items = wire.member(data, key, f"{operation} response")
            if not isinstance(items, list):
                raise wire.BadPayload(f"{key!r} is not a list")
            return items

    # ---------------------------------------------------------------------------------------- providers

    def get_provider(self, provider_id: str) -> Provider:
        """One provider (``GET .../providers/{id}``); its ``config`` is unredacted, so never log it."""
        return self._provider_call("GET", f"{_PROVIDERS}/{_seg(provider_id)}", "get_provider")

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        """The pre-flight check (docs/safety.md): an authenticated read of the provider.

        The token's expiry against the run's wait budget is checked by ``gitrollback.preflight`` through
        ``token_expires_at`` when the client provides it (``gitrollback.ports.TokenExpiry``).
        """
        try:
            self.get_provider(needs.provider_id)
        except AuthenticationError as exc:
            return [
                AccessProblem(
                    "imagefactory", f"Image Factory refuses the token (401): {exc.remote_message}", exc.hint or ""
                )
            ]
        except (PermissionDeniedError, NotFoundError) as exc:
            return [
                AccessProblem(
                    "imagefactory",
                    f"provider {needs.provider_id} is not readable with the token ({exc.status}): {exc.remote_message}",
                    exc.hint or "",
                )
            ]
        return []

    def list_providers(
        self, *, provider_type: str | None = None, status: str | None = None, page: int = 1, limit: int = 20
    ) -> list[Provider]:
        """One page of providers, newest first (``GET .../providers``)."""
        return self._provider_page(provider_type, status, page, limit)[0]

    def iter_providers(
        self, *, provider_type: str | None = None, status: str | None = None, page_size: int = 100
    ) -> Iterator[Provider]:
        """Every provider, page after page, following ``pagination.total_pages``."""
        page = 1
        while True:
            providers, total_pages = self._provider_page(provider_type, status, page, page_size)
            yield from providers
            if page >= total_pages or not providers:
                return
            page += 1

    def _provider_page(
        self, provider_type: str | None, status: str | None, page: int, limit: int
    ) -> tuple[list[Provider], int]:
        # include_prepare_summary=false: the rollback never reads latest_prepare_*, and it spares the server.
        params: dict[str, str | int] = {"page": page, "limit": limit, "include_prepare_summary": "false"}
        if provider_type:
            params["provider_type"] = provider_type
        if status:
            params["status"] = status
        data = self._call("GET", _PROVIDERS, operation="list_providers", params=params)
        items = self._list_of(data, "data", "list_providers")
        with self._parsing("list_providers"):
            pagination = wire.obj(data, "provider list").get("pagination")
            total = pagination.get("total_pages") if isinstance(pagination, dict) else None
            return [wire.parse_provider(p) for p in items], total if isinstance(total, int) else page

    def available_providers(self) -> list[Provider]:
        """Providers the configured ``tenant_id`` may select for builds (``GetAvailableProviders``).

        Capped: the server looks only at the 20 newest online providers and has no paging, so a selectable
        provider can be missing here. Do not use this list to find a provider; ``get_provider`` reads one by id.
        """
        path = "/api/v1/infrastructure/providers/available"
        items = self._list_of(
            self._call("GET", path, operation="available_providers"), "providers", "available_providers"
        )
        with self._parsing("available_providers"):
            return [wire.parse_provider(p) for p in items]

    def set_provider_enabled(self, provider_id: str, enabled: bool) -> Provider:
        """``PATCH .../status {"enabled"}``: online or offline, for all tenants.

        Not durable: the next ready readiness result (GET readiness or the 180 s background watcher,
        ``UpdateProviderReadiness``) sets an offline provider online again.
        """
        path = f"{_PROVIDERS}/{_seg(provider_id)}/status"
        return self._provider_call("PATCH", path, "set_provider_enabled", {"enabled": enabled})

    def update_provider(self, provider_id: str, fields: Mapping[str, Any]) -> Provider:
        """``PUT .../providers/{id}`` with ``fields`` as the body (``UpdateProvider``: absent fields stay as they are).

        Caveat (``UpdateProvider``): a ``config`` field **replaces the whole config map**; there is no merge. To
        change one key, take ``get_provider(id).config``, edit a copy and send the whole map back. Validation failures
        (``target_namespace``, auth config) come back as ``ServerError`` (500), not 400.
        """
        path = f"{_PROVIDERS}/{_seg(provider_id)}"
        return self._provider_call("PUT", path, "update_provider", dict(fields))

    def list_permissions(self, provider_id: str) -> list[ProviderPermission]:
        """Explicit, unexpired tenant grants of the provider (``GET .../permissions``; ``ListProviderPermissions`` in
        imagefactoryoss/imagefactory ``backend/internal/adapters/primary/rest/infrastructure_provider_handler.go``)."""
        path = f"{_PROVIDERS}/{_seg(provider_id)}/permissions"
        items = self._list_of(self._call("GET", path, operation="list_permissions"), "permissions", "list_permissions")
        with self._parsing("list_permissions"):
            return [wire.parse_permission(p) for p in items]

    def grant_permission(self, provider_id: str, tenant_id: str) -> None:
        """Grant ``infrastructure:select`` to a tenant (204; idempotent on the server: ``GrantProviderPermission``,
        saved ``ON CONFLICT DO NOTHING`` with no ``expires_at``)."""
        self._call(
            "POST",
            f"{_PROVIDERS}/{_seg(provider_id)}/permissions",
            operation="grant_permission",
            body={"tenant_id": tenant_id, "permission": "infrastructure:select"},
        )

    def revoke_permission(self, provider_id: str, tenant_id: str) -> None:
        """Revoke a tenant's grant (204, ``RevokeProviderPermission``); a grant that does not exist gives
        ``ServerError`` (500 ``Failed to revoke permission``: the repository's "permission not found")."""
        self._call(
            "DELETE",
            f"{_PROVIDERS}/{_seg(provider_id)}/permissions",
            operation="revoke_permission",
            body={"tenant_id": tenant_id, "permission": "infrastructure:select"},
        )

    # ---------------------------------------------------------------------------------------- tekton

    def tekton_status(self, provider_id: str, *, limit: int = 20) -> TektonStatus:
        """Persisted readiness plus the ``limit`` (1..100) newest installer jobs; keeps active-job events."""
        if not 1 <= limit <= 100:
            raise ConfigError(f"limit must be between 1 and 100, not {limit}", key="limit")
        data = self._call(
            "GET", f"{_PROVIDERS}/{_seg(provider_id)}/tekton/status", operation="tekton_status", params={"limit": limit}
        )
        with self._parsing("tekton_status"):
            status = wire.parse_tekton_status(data)
        if status.active_job_events:
            with self._lock:
                for event in status.active_job_events:
                    self._events.setdefault(event.job_id, {})[event.id] = event
        return status

    def last_job_events(self, job_id: str) -> tuple[JobEvent, ...]:
        """Every event of ``job_id`` this client has seen, oldest first (the server serves them only while the job
        is active, ``GetTektonInstallerStatus``)."""
        with self._lock:
            return tuple(self._events.get(job_id, {}).values())

    def job_operation(self, job_id: str) -> str | None:
        """The operation of a job this client started or retried (the job JSON does not carry it,
        ``toTektonInstallerJobResponse``)."""
        with self._lock:
            return self._operations.get(job_id)

    def readiness(self, provider_id: str, *, probe_pvc: bool = False, probe_rbac: bool = False) -> Readiness:
        """Run the live readiness check; the server persists it and may flip the provider's status
        (``GetProviderReadiness``, then ``UpdateProviderReadiness``)."""
        params = {k: "true" for k, on in (("probe_pvc", probe_pvc), ("probe_rbac", probe_rbac)) if on}
        data = self._call("GET", f"{_PROVIDERS}/{_seg(provider_id)}/readiness", operation="readiness", params=params)
        with self._parsing("readiness"):
            return wire.parse_readiness(data)

    def start_installer_job(
        self,
        provider_id: str,
        operation: InstallerOperation,
        *,
        install_mode: str | None = None,
        asset_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> InstallerJob:
        """Start install, upgrade or validate (``POST .../tekton/<operation>``, 202).

        Every request carries an idempotency key (``gitrollback-<op>-<uuid hex>`` when none is given). A
        replay of a key returns the job it first created, whatever its state (``StartTektonInstallerJob``), so
        this call is retried on transport errors and 502/503/504 with the same key. Pass a fresh key per attempt
        meant as new. A retried request that meets a 409 checks whether the active job is its own (the server
        inserts a job and its request event separately, so the replay may not find it by key yet) and returns it.

        Raises:
            ConfigError: an unknown operation or install mode, or a blank or over-long ``asset_version``.
            JobInProgressError: another job is pending or running (the hint names it when it can be read).
            ConflictError: (``kind="installer_request_event_lost"``) the server created this request's job without
                its request event; that job fails when it runs.
        """
        if operation not in _OPERATIONS:
            raise ConfigError(f"unknown installer operation {operation!r}", key="operation")
        if install_mode is not None and install_mode not in _INSTALL_MODES:
            raise ConfigError(f"unknown install_mode {install_mode!r}", key="install_mode")
        body = {"idempotency_key": idempotency_key or f"gitrollback-{operation}-{uuid.uuid4().hex}"}
        if install_mode is not None:
            body["install_mode"] = install_mode
        if asset_version is not None:
            # stored as strings.ToLower(strings.TrimSpace(v)) (resolveTektonAssetVersion) in a VARCHAR(128) column:
            # a blank value is stored as "" (not the provider's profile) and a longer one is an opaque 500, so
            # refuse both here with a clear message
            if asset_version != "" and not asset_version.strip():
                raise ConfigError(
                    "asset_version is blank; Image Factory would store it as an empty profile",
                    key="asset_version",
                    hint="omit asset_version to use the provider's tekton_profile_version",
                )
            if len(asset_version.strip()) > 128:
                raise ConfigError(
                    f"asset_version is {len(asset_version.strip())} characters; Image Factory stores at most 128",
                    key="asset_version",
                )
            body["asset_version"] = asset_version
        retried: list[bool] = []
        try:
            data = self._call(
                "POST",
                f"{_PROVIDERS}/{_seg(provider_id)}/tekton/{operation}",
                operation=f"start_{operation}",
                body=body,
                retry=True,
                on_retry=lambda: retried.append(True),
            )
        except JobInProgressError as exc:
            if retried:
                own = self._own_job_after_conflict(provider_id, operation, body["idempotency_key"])
                if own is not None:
                    return own
            self._name_active_job(provider_id, exc)
            raise
        return self._accepted_job(data, operation, f"start_{operation}")

    def _own_job_after_conflict(self, provider_id: str, operation: str, key: str) -> InstallerJob | None:
        """After a retried POST got 409: the active job when it is this request's, else None.

        The first attempt may have created the job before its answer was lost. Image Factory inserts the job and
        then, separately, its ``<op>.requested`` event carrying the key; the replay lookup joins on that event,
        so a replay that comes first gets the lock's 409 for its own job. The job is ours when that event, once
        it is there, carries our key; it is someone else's when it carries another.

        Raises:
            ConflictError: the active job still has no request event after a few polls (its insert failed); it
                is most likely ours and fails when it runs.
        """
        active: InstallerJob | None = None
        candidate: InstallerJob | None = None  # an active job seen without any request event
        for _ in range(_OWN_JOB_POLLS):
            self._clock.sleep(self._poll_interval)
            status = self.tekton_status(provider_id, limit=1)
            active = status.active_job
            if active is None:
                ended = next((j for j in status.recent_jobs if candidate and j.id == candidate.id), None)
                if ended is not None and ended.status == "failed":
                    raise self._lost_request_event(ended, operation)  # it already failed for want of the event
                return None  # the lock was someone else's and is free now: rerunning replays by key
            requests = [e for e in status.active_job_events if e.event_type.endswith(".requested")]
            if requests:
                if any(
                    e.event_type == f"{operation}.requested" and e.details.get("idempotency_key") == key
                    for e in requests
                ):
                    logger.info("Image Factory %s: the 409 came from this request's own job %s", operation, active.id)
                    with self._lock:
                        self._operations[active.id] = operation
                    return active
                return None
            candidate = active
        assert active is not None
        raise self._lost_request_event(active, operation)

    @staticmethod
    def _lost_request_event(job: InstallerJob, operation: str) -> ConflictError:
        """The error for a job created for our request whose ``<op>.requested`` event never landed."""
        fate = "failed" if job.status == "failed" else "will fail when it runs"
        return ConflictError(
            f"Image Factory created installer job {job.id} for this {operation} request without its "
            f"{operation}.requested event, so a replay cannot find it and the job {fate} (its operation cannot be "
            "resolved)",
            adapter=wire.ADAPTER,
            operation=f"start_{operation}",
            status=409,
            remote_message=wire.JOB_IN_PROGRESS_MESSAGE,
            hint=(
                f"wait for job {job.id} to fail (gitrollback assess shows it), then rerun; the rerun starts a new job"
            ),
            kind="installer_request_event_lost",
        )

    def install(self, provider_id: str, **options: str | None) -> InstallerJob:
        """``start_installer_job(provider_id, "install", **options)``."""
        return self.start_installer_job(provider_id, "install", **options)

    def upgrade(self, provider_id: str, **options: str | None) -> InstallerJob:
        """``start_installer_job(provider_id, "upgrade", **options)``: the API's own rollback path (an older
        ``asset_version``, if the server holds that profile folder)."""
        return self.start_installer_job(provider_id, "upgrade", **options)

    def validate(self, provider_id: str, **options: str | None) -> InstallerJob:
        """``start_installer_job(provider_id, "validate", **options)``."""
        return self.start_installer_job(provider_id, "validate", **options)

    def retry_job(self, provider_id: str, job_id: str) -> InstallerJob:
        """Re-run a failed job as a new pending job (``POST .../tekton/retry``).

        Never retried by the client: the route takes no idempotency key (``RetryTektonJob``), so a repeat could
        spawn two jobs. The answer says only ``"operation": "retry"``; when the source job is not one this client
        started, the new job's operation is read from its first event, the ``<op>.requested`` that
        ``RetryTektonInstallerJob`` writes through ``StartTektonInstallerJob`` before ``job.retry.requested``.

        Raises:
            ServerError: (``kind="installer_retry_unresolvable"``) Image Factory answered a bare 500, which is what it
                answers for a source job whose operation cannot be resolved (its request event was lost).
        """
        try:
            data = self._call(
                "POST",
                f"{_PROVIDERS}/{_seg(provider_id)}/tekton/retry",
                operation="retry_job",
                body={"job_id": job_id},
                retry=False,
            )
        except JobInProgressError as exc:
            self._name_active_job(provider_id, exc)
            raise
        except ServerError as exc:
            # RetryTektonInstallerJob resolves the source's operation from its first event before anything else; a
            # job whose <op>.requested event was lost starts with job.started, and that error is an unmapped 500.
            if exc.status == 500 and exc.remote_message == "Internal server error":
                exc.kind = "installer_retry_unresolvable"
                exc.hint = (
                    f"job {job_id} may have lost its request event (its first event is then job.started, and Image "
                    "Factory cannot tell its operation): start a new install, upgrade or validate instead"
                )
            raise
        with self._lock:
            source_op = self._operations.get(job_id)
        job = self._accepted_job(data, source_op or "retry", "retry_job")
        if source_op is None:
            learned = self._requested_operation(provider_id, job.id)
            if learned is not None:
                with self._lock:
                    self._operations[job.id] = learned
        return job

    def _requested_operation(self, provider_id: str, job_id: str) -> str | None:
        """The operation of an active job from its ``<op>.requested`` event, when the status shows it."""
        try:
            status = self.tekton_status(provider_id, limit=1)
        except GitRollbackError:
            return None
        for event in status.active_job_events:
            op = event.event_type.removesuffix(".requested")
            if event.job_id == job_id and op != event.event_type and op in _OPERATIONS:
                return op
        return None

    def _name_active_job(self, provider_id: str, exc: JobInProgressError) -> None:
        # Best effort: the 409 body does not say which job holds the lock. Only one job can be active and no
        # job can be created while it is (the partial unique index behind ``CreateInstallerJob``), so it is the
        # newest one.
        try:
            active = self.tekton_status(provider_id, limit=1).active_job
        except GitRollbackError:
            return
        if active is not None:
            exc.hint = f"wait for job {active.id} ({active.status}) to finish (gitrollback assess shows it) and rerun"

    def _accepted_job(self, data: Any, operation: str, op_name: str) -> InstallerJob:
        with self._parsing(op_name):
            job = wire.parse_job(wire.member(data, "job", "installer response"))
            reported = wire.obj(data, "installer response").get("operation")
        with self._lock:
            known = isinstance(reported, str) and reported != "retry"
            self._operations[job.id] = str(reported) if known else operation
        logger.info("Image Factory %s job %s for provider %s: %s", operation, job.id, job.provider_id, job.status)
        return job

    def wait_for_job(self, provider_id: str, job_id: str, *, timeout: float) -> InstallerJob:
        """Poll ``tekton/status`` until the job is succeeded, failed or cancelled, and return it.

        Events seen while the job is active are kept for ``last_job_events``; ``on_wait`` gets every poll.

        Raises:
            WaitTimeoutError: still active after ``timeout`` seconds (``last_state`` is its status).
            NotFoundError: the job is not among the provider's 100 newest jobs.
        """
        what = f"installer job {job_id}"
        start = self._clock.monotonic()
        while True:
            job = self._find_job(provider_id, job_id)
            elapsed = self._clock.monotonic() - start
            if job.is_terminal:
                logger.info("Image Factory %s ended %s after %.1fs", what, job.status, elapsed)
                return job
            self._waited(
                what,
                elapsed,
                job.status,
                timeout,
                hint=(
                    "the job may be stuck (Image Factory has no reaper: RunNextTektonInstallerJob claims only "
                    "pending jobs): check its events with "
                    f"gitrollback assess, or wait longer than {timeout:g}s"
                ),
            )

    def _find_job(self, provider_id: str, job_id: str) -> InstallerJob:
        for limit in (20, 100):
            status = self.tekton_status(provider_id, limit=limit)
            active = (status.active_job,) if status.active_job else ()
            for job in active + status.recent_jobs:
                if job.id == job_id:
                    return job
            if len(status.recent_jobs) < limit:
                break
        raise NotFoundError(
            f"Image Factory: installer job {job_id} is not among provider {provider_id}'s recent jobs",
            adapter=wire.ADAPTER,
            operation="wait_for_job",
            status=404,
            hint="check the job id and that it belongs to this provider",
        )

    def _waited(self, what: str, elapsed: float, state: str, timeout: float, *, hint: str) -> None:
        if self._on_wait is not None:
            self._on_wait(what, elapsed, state)
        if elapsed >= timeout:
            raise WaitTimeoutError(
                f"{what} still {state} after {elapsed:.0f}s", waited=elapsed, last_state=state, hint=hint
            )
        self._clock.sleep(next_pause(elapsed, interval=self._poll_interval, remaining=timeout - elapsed))

    # ---------------------------------------------------------------------------------------- builds

    def create_build(self, payload: Mapping[str, Any], *, limit_timeout: float = 0.0) -> Build:
        """``POST /builds`` (201, auto-queued) with ``{"tenant_id","project_id","manifest"}``.

        Not retried, except for the one refusal that clears by itself: while the tenant's concurrent-build or
        queue limit is full (a 400 ``... limit reached`` before any build exists), the call is repeated every
        ``poll_interval`` for up to ``limit_timeout`` seconds on the clock (``on_wait`` sees each wait).

        Raises:
            ConfigError: the body has no ``tenant_id`` (the server requires it and never takes X-Tenant-ID's).
            BadRequestError: a refusal of the build preflight; its ``kind`` and hint name the missing setting
                (``build_registry_auth_missing``, ``build_repository_auth_missing``, ``tenant_tekton_disabled``,
                ``build_infrastructure_type_missing``, ``build_limit_reached`` once ``limit_timeout`` ran out...).
        """
        if not payload.get("tenant_id"):
            raise ConfigError(
                "a build needs tenant_id in its body", key="tenant_id", hint="pass the tenant the build belongs to"
            )
        start = self._clock.monotonic()
        while True:
            try:
                data = self._call("POST", "/api/v1/builds", operation="create_build", body=dict(payload), retry=False)
            except BadRequestError as exc:
                elapsed = self._clock.monotonic() - start
                if not wire.is_limit_reached(exc) or elapsed >= limit_timeout:
                    raise
                if self._on_wait is not None:
                    self._on_wait("build creation (tenant build limit reached)", elapsed, exc.remote_message)
                logger.info("Image Factory create_build: %s; retrying", exc.remote_message)
                self._clock.sleep(min(self._poll_interval or 1.0, limit_timeout - elapsed))
                continue
            with self._parsing("create_build"):
                return wire.parse_build(data)

    def start_build(self, build_id: str) -> None:
        """``POST /builds/{id}/start``: queued→running (optional: the dispatcher claims queued builds)."""
        self._call("POST", f"/api/v1/builds/{_seg(build_id)}/start", operation="start_build", retry=False)

    def build_status(self, build_id: str) -> Build:
        """``GET /builds/{id}/status``: id, status and times (this route has no error message)."""
        data = self._call("GET", f"/api/v1/builds/{_seg(build_id)}/status", operation="build_status")
        with self._parsing("build_status"):
            return wire.parse_build_status(data)

    def get_build(self, build_id: str) -> Build:
        """``GET /builds/{id}``: the full build, including ``error_message``."""
        data = self._call("GET", f"/api/v1/builds/{_seg(build_id)}", operation="get_build")
        with self._parsing("get_build"):
            return wire.parse_build(data)

    def wait_for_build(self, build_id: str, *, timeout: float) -> Build:
        """Poll the build's status until completed, failed or cancelled; returns the full build.

        Raises:
            WaitTimeoutError: not terminal after ``timeout`` seconds.
        """
        what = f"build {build_id}"
        start = self._clock.monotonic()
        while True:
            build = self.build_status(build_id)
            elapsed = self._clock.monotonic() - start
            if build.is_terminal:
                logger.info("Image Factory %s ended %s after %.1fs", what, build.status, elapsed)
                return self.get_build(build_id)
            self._waited(
                what,
                elapsed,
                build.status,
                timeout,
                hint=("check that a build dispatcher runs and the provider is schedulable, or wait longer"),
            )
