"""Tekton installer routes: install/upgrade/validate, retry and the status view.

Follows ``startTektonInstallerJob``, ``retryTektonInstallerJob`` and the status handler
(imagefactoryoss/imagefactory ``rest/infrastructure_provider_handler.go``) and the service behind them
(``backend/internal/domain/infrastructure/service.go``, ``StartTektonInstallerJob``, ``RetryTektonInstallerJob``):
plain-text errors; the job's tenant is the *provider's* tenant; ``install_mode``/``asset_version`` resolve request →
provider config → default; an idempotency key is matched per (provider, operation, key) over all jobs by joining
the job's ``<op>.requested`` event (``FindInstallerJobByProviderAndIdempotencyKey``), and a replay answers 202 with
the old job *before* the one-active-job lock is checked (409 otherwise). The job row and its request event are two
separate inserts, and a failed event insert is only logged: the fault switch ``defer_next_request_event`` delays
or loses it, so a replay can find no event and get the 409 for its own job, and a job without the event fails
when it runs. Retry only accepts ``failed`` jobs whose operation resolves from their first event (else a 500) and
goes through ``StartTektonInstallerJob`` (so the new job's first event is ``<op>.requested`` and its mode and asset
version are resolved again), then adds ``job.retry.requested`` to it and ``job.retry.spawned`` to the source.
The status view lists jobs newest first, and shows events only for the active job (ascending by ``created_at``, at
most 200); the job JSON has no ``operation`` field.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from gitrollback.testing.imagefactory.auth import Caller
from gitrollback.testing.imagefactory.godecode import BodyError, decode_struct, go_atoi
from gitrollback.testing.imagefactory.installer import add_event, job_operation
from gitrollback.testing.imagefactory.readiness import REQUIRED_TASKS, handler_profile, required_pipelines
from gitrollback.testing.imagefactory.routes_providers import scoped_provider
from gitrollback.testing.imagefactory.state import (
    Ctx,
    Event,
    Job,
    ProviderRecord,
    SimState,
    new_id,
    parse_uuid,
    rfc3339,
)
from gitrollback.testing.server import Request, Response

__all__ = ["IN_PROGRESS", "create_job", "resolve_mode", "retry_job", "start_job", "tekton_status"]

logger = logging.getLogger(__name__)

IN_PROGRESS = "Another tekton install/upgrade/validate job is already in progress for this provider"
MODES = ("gitops", "image_factory_installer")


def resolve_mode(provider: ProviderRecord, requested: str) -> str:
    """Request value → ``config.tekton_install_mode`` (exactly a valid mode) → ``image_factory_installer``."""
    if requested:
        return requested
    configured = provider.config.get("tekton_install_mode")
    return configured if configured in MODES else "image_factory_installer"


def resolve_asset_version(provider: ProviderRecord, requested: str) -> str:
    """``resolveTektonAssetVersion``: a non-empty request value, trimmed and lowercased (so a blank one is stored
    as ""), else ``config.tekton_profile_version`` → ``v1``."""
    if requested != "":
        return requested.strip().lower()
    configured = provider.config.get("tekton_profile_version")
    if isinstance(configured, str) and configured.strip():
        return configured.strip().lower()
    return "v1"


def create_job(
    state: SimState,
    provider: ProviderRecord,
    *,
    requested_by: str,
    install_mode: str,
    asset_version: str,
    status: str = "pending",
    operation: str = "install",
    created_at: datetime | None = None,
) -> Job:
    """Insert a job row (lock held by the caller); the events are the caller's business."""
    stamp = created_at or state.now()
    job = Job(
        id=new_id(),
        provider_id=provider.id,
        tenant_id=provider.tenant_id,
        requested_by=requested_by,
        operation=operation,
        install_mode=install_mode,
        asset_version=asset_version,
        status=status,
        created_at=stamp,
        updated_at=stamp,
        seq=state.next_seq(),
    )
    state.jobs[job.id] = job
    state.changed()
    return job


_START_FIELDS = {"install_mode": str, "asset_version": str, "idempotency_key": str}
ASSET_VERSION_MAX = 128  # tekton_installer_jobs.asset_version VARCHAR(128) (migration 046)


def start_job(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``POST .../tekton/{install|upgrade|validate}`` → 202 ``{"job", "operation"}``."""
    op = params["op"]
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    try:  # io.EOF is tolerated: an empty body means "all defaults"
        fields = decode_struct(request.body, _START_FIELDS, allow_empty=True)
    except BodyError:
        return Response.text(400, "Invalid request body")
    mode_in = str(fields.get("install_mode", ""))
    if mode_in and mode_in not in MODES:
        return Response.text(400, "Invalid install_mode")
    key = str(fields.get("idempotency_key", ""))
    with ctx.state.cond:
        if key:
            for job in ctx.state.jobs_of(provider.id):  # newest first: the newest match wins
                if any(
                    e.event_type == f"{op}.requested" and e.details.get("idempotency_key") == key for e in job.events
                ):
                    return Response.json(202, {"job": job.to_json(), "operation": op})
        asset_version = resolve_asset_version(provider, str(fields.get("asset_version", "")))
        if len(asset_version) > ASSET_VERSION_MAX:
            # Postgres refuses the over-long value while building the row, before the partial unique index
            # is consulted, so this 500 wins over the 409 (the handler maps DB errors to 500).
            return Response.text(500, "Internal server error")
        if ctx.state.active_job(provider.id) is not None:
            return Response.text(409, IN_PROGRESS)
        job = create_job(
            ctx.state,
            provider,
            requested_by=caller.user.id,
            install_mode=resolve_mode(provider, mode_in),
            asset_version=asset_version,
            operation=op,
        )
        _request_event(ctx.state, job, op, key, caller.user.id)
        return Response.json(202, {"job": job.to_json(), "operation": op})


def _request_event(state: SimState, job: Job, op: str, key: str, user_id: str) -> None:
    """Insert the ``<op>.requested`` event, or (fault switch) insert it later or never (lock held)."""
    details: dict[str, Any] = {"operation": op}
    if key:
        details["idempotency_key"] = key
    stamp = job.created_at  # the Go code stamps it with the job's ``now``, whenever the insert lands
    fault = state.request_event_faults.pop(0) if state.request_event_faults else 0.0

    def insert() -> None:
        with state.cond:
            event = Event(new_id(), job.id, f"{op}.requested", f"Tekton {op} requested for provider", details, stamp)
            event.created_by = user_id
            # ``ListInstallerJobEvents`` orders by created_at, so a late insert still reads first
            position = next((i for i, e in enumerate(job.events) if e.created_at > stamp), len(job.events))
            job.events.insert(position, event)
            state.changed()

    if fault is None:
        logger.info("simulated installer: request event of job %s lost (the insert failed)", job.id)
    elif fault > 0:
        state.clock.after(fault, insert, name=f"imagefactory-request-event-{job.id}")
    else:
        insert()


def retry_job(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``POST .../tekton/retry {"job_id"}``: a new pending job from a failed one."""
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    try:  # the body is required here: io.EOF is an error
        body = decode_struct(request.body, {"job_id": str}, allow_empty=False)
    except BodyError:
        return Response.text(400, "Invalid request body")
    job_id = parse_uuid(body.get("job_id"))
    if job_id is None:
        return Response.text(400, "Invalid job_id")
    with ctx.state.cond:
        source = ctx.state.jobs.get(job_id)
        if source is None or source.provider_id != provider.id:
            return Response.text(404, "Tekton installer job not found")
        if source.status != "failed":
            return Response.text(400, "Tekton installer job is not retryable (only failed jobs can be retried)")
        # getInstallerJobOperation on the source, before the lock: a source whose first event is not its request
        # (the request event was lost) cannot be retried; the wrapped error is not mapped, so a 500.
        op = job_operation(source)
        if op is None:
            return Response.text(500, "Internal server error")
        if ctx.state.active_job(provider.id) is not None:
            return Response.text(409, IN_PROGRESS)
        job = create_job(
            ctx.state,
            provider,
            requested_by=caller.user.id,
            install_mode=resolve_mode(provider, source.install_mode),
            # StartTektonInstallerJob resolves it again: the "" a blank request stored becomes the profile
            asset_version=resolve_asset_version(provider, source.asset_version),
            operation=op,
        )
        _request_event(ctx.state, job, op, "", caller.user.id)  # StartTektonInstallerJob, without a key
        add_event(
            ctx.state,
            job,
            "job.retry.requested",
            "Installer job created from failed job retry",
            {"source_job_id": source.id, "operation": op},
            created_by=caller.user.id,
        )
        add_event(
            ctx.state,
            source,
            "job.retry.spawned",
            "Retry job created from this failed installer job",
            {"retry_job_id": job.id},
            created_by=caller.user.id,
        )
        return Response.json(202, {"job": job.to_json(), "operation": "retry"})


def tekton_status(ctx: Ctx, request: Request, caller: Caller, params: dict[str, str]) -> Response:
    """``GET .../tekton/status?limit=N``: persisted readiness plus recent jobs; nothing is re-checked."""
    provider = scoped_provider(ctx, request, caller, params["id"])
    if isinstance(provider, Response):
        return provider
    raw = request.query_value("limit")
    limit = 20
    if raw:
        parsed = go_atoi(raw)  # strconv.Atoi: " 5" and "1_0" are errors, "+5" is 5
        if parsed is None or not 1 <= parsed <= 100:
            return Response.text(400, "Invalid limit (must be between 1 and 100)")
        limit = parsed
    with ctx.state.cond:
        jobs = ctx.state.jobs_of(provider.id)[:limit]
        active = next((j for j in jobs if j.active), None)
        payload: dict[str, Any] = {
            "provider_id": provider.id,
            "readiness_status": provider.readiness_status,
            "readiness_last_checked": rfc3339(provider.readiness_last_checked),
            "readiness_missing_prereqs": provider.readiness_missing_prereqs or None,
            "required_tasks": list(REQUIRED_TASKS),
            "required_pipelines": required_pipelines(handler_profile(provider.config)),
            "active_job": active.to_json() if active else None,
            "recent_jobs": [j.to_json() for j in jobs],
            "active_job_events": [e.to_json() for e in active.events[:200]] if active and active.events else None,
        }
    return Response.json(200, {k: v for k, v in payload.items() if v is not None})
