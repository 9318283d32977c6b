"""Argo CD wire formats: Application JSON to models, the revision-exact wait verdict, error envelopes to errors.

This is the pure half of the Argo CD adapter (``gitrollback.adapters.argocd`` owns httpx and the HTTP
plumbing), so the rules that decide "done" and the error table can be read and tested with plain values.

Remote behaviour assumed (argoproj/argo-cd; shapes from ``assets/swagger.json``): errors are grpc-gateway's
``runtimeError`` envelope ``{"error", "code", "message"}`` or, for 415, a plain-text body (``server/server.go``,
enforceContentTypes); a missing app is 403 ``permission denied`` without a project and 404 with one
(``server/application/application.go``, getAppEnforceRBAC); ``operation`` is absent once an operation completed
and ``status.operationState`` keeps the last one, ``syncResult.revision`` being what it applied
(``controller/sync.go``, SyncAppState); ``status.sync.revision`` is only what the last comparison ran against
and ``reconciledAt`` lags the end of an operation (``controller/appcontroller.go``: the refresh after an
operation is requested, not done). A sync to a 40-character commit SHA is accepted without a lookup
(``resolveRevision``), so a commit the repository lacks shows up only as the operation's failure, a
``ComparisonError`` from the repo-server's checkout. Times are RFC 3339 at second precision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitrollback.errors import RemoteHTTPError, http_error_class
from gitrollback.models import DeployedObject, DeploymentRecord, SyncStatus

__all__ = [
    "ADAPTER",
    "IN_PROGRESS",
    "NO_OPERATION",
    "REFRESH_DEADLINE",
    "UNKNOWN_REVISION_HINT",
    "Verdict",
    "assess",
    "describe",
    "history",
    "http_error",
    "parse_resource",
    "sync_status",
]

ADAPTER = "argocd"
#: substring of the 400 a sync gets while another operation runs (the server wraps it: SetAppOperation)
IN_PROGRESS = "another operation is already in progress"
#: substring of the 400 for terminating when nothing runs (also while an operation is requested, not started)
NO_OPERATION = "no operation is in progress"
#: the 500 of ``GET ?refresh=`` when the request's context ends before the controller refreshed the app
REFRESH_DEADLINE = "application refresh deadline exceeded"
#: how the repo-server words a revision the repository does not have (checkoutRevision, LsRemote)
_UNKNOWN_REVISION = ("failed to checkout revision", "not our ref", "unable to resolve")
COMPLETED = frozenset({"Succeeded", "Failed", "Error"})

_TOKEN_HINT = (
    "Argo CD refused the credentials: set ARGOCD_AUTH_TOKEN (or the variable named in the config) to a valid "
    "token, e.g. from 'argocd account generate-token', or configure a username and password; tokens expire"
)


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 ``metav1.Time`` (``Z`` or offset), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def short(revision: str | None) -> str:
    """A commit id as people read it."""
    return (revision or "")[:12] or "-"


def auto_sync_enabled(app: Mapping[str, Any]) -> bool:
    """``spec.syncPolicy.automated`` set and not ``enabled: false`` (``IsAutomatedSyncEnabled``)."""
    automated = _get(app, "spec", "syncPolicy", "automated")
    return isinstance(automated, Mapping) and automated.get("enabled", True) is not False


def operation_running(app: Mapping[str, Any]) -> bool:
    """An operation is requested or running: top-level ``operation`` set, or a phase that is not completed."""
    phase = _get(app, "status", "operationState", "phase")
    return app.get("operation") is not None or (phase is not None and phase not in COMPLETED)


def requested_revision(app: Mapping[str, Any]) -> str:
    """The revision of the requested/running operation, else of the last one."""
    return str(
        _get(app, "operation", "sync", "revision")
        or _get(app, "status", "operationState", "operation", "sync", "revision")
        or ""
    )


def sync_status(name: str, app: Mapping[str, Any]) -> SyncStatus:
    """The model of one Application JSON.

    ``operation_phase`` is ``status.operationState.phase``, or ``"Pending"`` (gitrollback's word) while an
    operation is requested but the controller has not started it; ``operation_revision`` is
    ``syncResult.revision`` once the controller has one, else the operation's requested revision.
    """
    state = _get(app, "status", "operationState") or {}
    phase = state.get("phase") if isinstance(state, Mapping) else None
    if app.get("operation") is not None and phase in (None, *COMPLETED):
        phase = "Pending"
    return SyncStatus(
        app=name,
        sync_status=str(_get(app, "status", "sync", "status") or "Unknown"),
        health=str(_get(app, "status", "health", "status") or "Unknown"),
        revision=str(_get(app, "status", "sync", "revision") or ""),
        operation_phase=phase,
        operation_revision=str(_get(state, "syncResult", "revision") or requested_revision(app)) or None,
        operation_message=str(_get(state, "message") or ""),
        operation_finished_at=parse_time(_get(state, "finishedAt")),
        reconciled_at=parse_time(_get(app, "status", "reconciledAt")),
        auto_sync=auto_sync_enabled(app),
        engine="argocd",
    )


def deployed_objects(app: Mapping[str, Any]) -> list[DeployedObject]:
    """``status.resources``: the objects of the compared revision (those only awaiting pruning left out)."""
    out: list[DeployedObject] = []
    for item in _get(app, "status", "resources") or ():
        if not isinstance(item, Mapping) or item.get("requiresPruning"):
            continue
        group, version = str(item.get("group") or ""), str(item.get("version") or "")
        out.append(
            DeployedObject(
                f"{group}/{version}" if group else version,
                str(item.get("kind") or ""),
                str(item.get("name") or ""),
                str(item["namespace"]) if item.get("namespace") else None,
            )
        )
    return out


def history(app: Mapping[str, Any]) -> list[DeploymentRecord]:
    """``status.history`` as records, oldest first; ``source`` is ``"<repoURL> <path>"``."""
    records: list[DeploymentRecord] = []
    for entry in _get(app, "status", "history") or []:
        deployed = parse_time(_get(entry, "deployedAt"))
        if not isinstance(entry, Mapping) or deployed is None:
            continue
        source = " ".join(str(_get(entry, "source", k) or "") for k in ("repoURL", "path")).strip()
        records.append(
            DeploymentRecord(
                id=int(entry.get("id") or 0),
                revision=str(entry.get("revision") or ""),
                deployed_at=deployed,
                source=source,
            )
        )
    return sorted(records, key=lambda r: r.id)


def describe(app: Mapping[str, Any]) -> str:
    """One line for progress output: sync, health, compared revision, operation and its revision."""
    state = _get(app, "status", "operationState") or {}
    operation = "none"
    if app.get("operation") is not None or state:
        phase = sync_status("", app).operation_phase or "-"
        operation = f"{phase}@{short(requested_revision(app))}"
        if phase == "Running" and _get(state, "finishedAt"):
            operation += f" (retry {_get(state, 'retryCount') or 1})"
    return (
        f"{_get(app, 'status', 'sync', 'status') or 'Unknown'}/{_get(app, 'status', 'health', 'status') or 'Unknown'}"
        f" at {short(_get(app, 'status', 'sync', 'revision'))}, operation {operation}"
    )


@dataclass(frozen=True)
class Verdict:
    """What one look at the Application says about waiting for a revision."""

    done: bool = False
    failure: str | None = None
    failure_kind: str = ""
    operation_seen: bool = False
    controller_sees: bool = False


def assess(app: Mapping[str, Any], revision: str) -> Verdict:
    """Decide whether ``revision`` is applied, synced and healthy, has failed, or is still on its way.

    Done needs every one of: no operation running, the last operation Succeeded with ``syncResult.revision``
    equal to ``revision``, ``status.sync.revision`` equal to it and ``Synced``, health ``Healthy``, and
    ``reconciledAt`` not before ``finishedAt``. Equality is accepted because both are second-precision: a
    comparison at ``revision`` that reads Synced saw that revision's objects live, so it is the post-sync one.
    """
    state = _get(app, "status", "operationState") or {}
    phase = state.get("phase") if isinstance(state, Mapping) else None
    result_revision = _get(state, "syncResult", "revision")
    sync_revision = _get(app, "status", "sync", "revision")
    ours = requested_revision(app) == revision or result_revision == revision
    running = operation_running(app)
    controller_sees = sync_revision == revision
    if running:
        return Verdict(operation_seen=ours, controller_sees=controller_sees)
    if ours and phase in ("Failed", "Error"):
        message = str(_get(state, "message") or "no message")
        unknown = any(needle in message.lower() for needle in _UNKNOWN_REVISION)
        return Verdict(
            failure=f"the sync to {short(revision)} ended {phase}: {message}",
            failure_kind="unknown_revision" if unknown else "operation",
            operation_seen=True,
            controller_sees=controller_sees,
        )
    if not (phase == "Succeeded" and result_revision == revision):
        return Verdict(operation_seen=False, controller_sees=controller_sees)
    finished = parse_time(_get(state, "finishedAt"))
    reconciled = parse_time(_get(app, "status", "reconciledAt"))
    fresh = finished is not None and reconciled is not None and reconciled >= finished and controller_sees
    health = _get(app, "status", "health") or {}
    if fresh and health.get("status") == "Degraded":
        return Verdict(
            failure=f"{short(revision)} was applied but the application is Degraded: "
            f"{health.get('message') or 'no health message'}",
            failure_kind="degraded",
            operation_seen=True,
            controller_sees=True,
        )
    done = fresh and _get(app, "status", "sync", "status") == "Synced" and health.get("status") == "Healthy"
    return Verdict(done=done, operation_seen=True, controller_sees=controller_sees)


def parse_resource(spec: str) -> dict[str, str]:
    """``GROUP:KIND:NAME`` or ``GROUP:KIND:NAMESPACE/NAME`` (``argocd app sync --resource``) to a sync resource.

    Raises:
        ValueError: any other shape (the group may be empty for core kinds: ``:Service:registry``).
    """
    parts = spec.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError(f"not GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME: {spec!r}")
    group, kind, name = parts
    namespace, _, bare = name.rpartition("/")
    out = {"group": group, "kind": kind, "name": bare}
    if namespace:
        out["namespace"] = namespace
    return out


#: the next action when Argo CD's repository lacks the revision (a 400 on sync, or a failed operation)
UNKNOWN_REVISION_HINT = (
    "Argo CD's repository does not have this revision: check that the application's source repoURL is the "
    "repository gitrollback changed (assets.repo) and that the push or merge reached it, then rerun"
)

# (status, lower-case substring of the remote message or None for any, hint, kind or ""); first match wins.
_HINTS: tuple[tuple[int, str | None, str, str], ...] = (
    (401, None, _TOKEN_HINT, ""),
    (
        400,
        IN_PROGRESS,
        "another sync is running: wait for it, or set on_operation_in_progress to 'terminate'",
        "operation_in_progress",
    ),
    (
        400,
        "auto-sync currently set to",
        "auto-sync is on, so Argo CD only syncs its targetRevision: get the rollback commit onto that branch "
        "(merge the change request), then wait; auto-sync applies it",
        "auto_sync_revision",
    ),
    (400, NO_OPERATION, "the operation already finished (or has not started yet); read the app's state again", ""),
    (400, "unable to resolve", UNKNOWN_REVISION_HINT, "unknown_revision"),
    (415, None, "something between gitrollback and Argo CD rewrote the Content-Type; gitrollback sends JSON", ""),
    (
        500,
        REFRESH_DEADLINE,
        "the controller did not finish the refresh before the request ended: check the application controller "
        "and repo-server (and any proxy timeout), then retry",
        "refresh_deadline",
    ),
)
_SERVER_HINT = "Argo CD failed: check the argocd-server logs and retry"


def remote_message(body: bytes, content_type: str) -> str:
    """The remote's own error text: the envelope's ``message``/``error``, or the plain-text body."""
    text = body.decode("utf-8", "replace").strip()
    if "json" in content_type.lower():
        try:
            data = json.loads(text)
        except ValueError:
            return text[:300]
        if isinstance(data, Mapping):
            return str(data.get("message") or data.get("error") or "")[:300]
    return text[:300]


def http_error(
    status: int, body: bytes, content_type: str, *, operation: str, app: str | None, project: str | None
) -> RemoteHTTPError:
    """The gitrollback error for an Argo CD error reply, with a hint for the next action."""
    message = remote_message(body, content_type)
    subject = f"Argo CD application {app!r}" if app else "Argo CD"
    hint: str | None = None
    kind: str | None = None
    if status == 403 and app:
        hint = (
            f"the account lacks the Argo CD RBAC permission for this in project {project!r}: check its role"
            if project
            else "Argo CD answers 403 for applications that do not exist as well as for ones you may not see: "
            "check the application name and the account's RBAC; set the project to get 404 for a missing app"
        )
    elif status == 404 and app:
        hint = f"no application {app!r} in project {project!r}: check the application name and the project"
    else:
        lowered = message.lower()
        for row_status, needle, row_hint, row_kind in _HINTS:
            if row_status == status and (needle is None or needle in lowered):
                hint, kind = row_hint, row_kind or None
                break
        if hint is None and status >= 500:
            hint = _SERVER_HINT
    cls = http_error_class(status)
    return cls(
        f"{subject}: {operation}: HTTP {status}: {message or 'no message'}",
        adapter=ADAPTER,
        operation=operation,
        status=status,
        remote_message=message,
        hint=hint,
        kind=kind,
    )
