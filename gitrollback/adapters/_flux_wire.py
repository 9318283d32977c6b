"""What Flux's objects say, read from their JSON: revisions, conditions, the "applied X" verdict. No I/O here.

Flux has no rollback of its own (a ``git revert`` is the rollback) and ``flux reconcile kustomization NAME
--with-source`` (fluxcd/flux2 ``cmd/flux/reconcile.go``, ``reconcile_with_source.go``) only waits until the
request was handled and kstatus says Current: it never checks which revision was applied. gitrollback waits for
the exact rollback commit instead (``docs/flux.md``):

* a revision is ``<ref>@sha1:<hash>`` (or ``sha1:<hash>``, or the legacy ``<ref>/<hash>``); only the hash after the
  last ``:`` or ``/`` is compared (fluxcd/pkg ``git`` ``ExtractHashFromRevision``);
* the GitRepository is done when it handled our request (``status.lastHandledReconcileAt`` equals the
  ``reconcile.fluxcd.io/requestedAt`` value we wrote), is Ready for its current generation, and its
  ``status.artifact.revision`` carries the commit;
* the Kustomization is done when it handled our request, ``lastAppliedRevision`` carries the commit, and ``Ready`` is
  True for the current ``metadata.generation`` (``status.observedGeneration``, which kustomize-controller's
  ``finalizeStatus`` sets only on success);
* ``Stalled=True`` is a failure at once (kstatus Failed; kustomize-controller sets it for terminal errors);
  ``Ready=False`` with ``Reconciling=True`` (reason ``ProgressingWithRetry``) is Flux retrying: gitrollback keeps
  waiting and reports the ``Ready`` message, as the state and at the timeout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitrollback.models import DeployedObject, DeploymentRecord, SyncStatus

__all__ = [
    "ADAPTER",
    "REQUESTED_AT",
    "Verdict",
    "condition",
    "dependency_named",
    "deployed_objects",
    "history",
    "kustomization_verdict",
    "revision_hash",
    "short",
    "source_verdict",
    "sync_status",
]

ADAPTER = "flux"
#: fluxcd/pkg ``apis/meta`` ``ReconcileRequestAnnotation``
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
_DEPENDENCY = re.compile(r"dependency '([^'/]+)/([^']+)'")


def revision_hash(revision: str | None) -> str:
    """The commit hash of a Flux revision (``main@sha1:abc`` -> ``abc``; ``main/abc`` -> ``abc``)."""
    if not revision:
        return ""
    return re.split(r"[:/]", revision)[-1]


def short(revision: str | None) -> str:
    """A revision for messages: ``main@sha1:<12 hex>``."""
    if not revision:
        return "(none)"
    digest = revision_hash(revision)
    return revision[: len(revision) - len(digest)] + digest[:12]


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """One of ``status.conditions``, or None."""
    for item in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(item, Mapping) and item.get("type") == kind:
            return item
    return None


def _true(obj: Mapping[str, Any], kind: str) -> bool:
    found = condition(obj, kind)
    return found is not None and found.get("status") == "True"


def _generation(obj: Mapping[str, Any]) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 0)


def _observed(obj: Mapping[str, Any]) -> int:
    return int((obj.get("status") or {}).get("observedGeneration", -1))


def suspended(obj: Mapping[str, Any]) -> bool:
    """``spec.suspend``."""
    return bool((obj.get("spec") or {}).get("suspend"))


def _ready_state(obj: Mapping[str, Any]) -> str:
    ready = condition(obj, "Ready")
    if ready is None:
        return "no Ready condition yet"
    text = f"Ready={ready.get('status')} ({ready.get('reason', '')}): {ready.get('message', '')}"
    if ready.get("status") == "False" and _true(obj, "Reconciling"):
        text += "; Flux is retrying"
    return text


@dataclass(frozen=True)
class Verdict:
    """Done, failed (``failure``), or still waiting (``state`` says on what)."""

    done: bool
    state: str
    failure: str | None = None
    handled: bool = True


def _handled(obj: Mapping[str, Any], token: str | None) -> bool:
    return token is None or (obj.get("status") or {}).get("lastHandledReconcileAt") == token


def source_verdict(obj: Mapping[str, Any], revision: str, token: str | None) -> Verdict:
    """Has the GitRepository fetched ``revision`` for our request?"""
    artifact = str(((obj.get("status") or {}).get("artifact") or {}).get("revision") or "")
    handled = _handled(obj, token)
    if _true(obj, "Stalled"):
        stalled = condition(obj, "Stalled") or {}
        return Verdict(False, "stalled", f"Stalled ({stalled.get('reason', '')}): {stalled.get('message', '')}")
    if suspended(obj):
        return Verdict(False, "suspended: waiting for it to be resumed", handled=handled)
    fresh = handled and _observed(obj) == _generation(obj)
    if fresh and _true(obj, "Ready") and revision_hash(artifact) == revision_hash(revision):
        return Verdict(True, f"fetched {short(artifact)}")
    if not handled:
        return Verdict(False, "the request is not handled yet", handled=False)
    return Verdict(False, f"artifact {short(artifact)}; {_ready_state(obj)}")


def kustomization_verdict(obj: Mapping[str, Any], revision: str, token: str | None) -> Verdict:
    """Has the Kustomization applied ``revision``, Ready for its current generation, for our request?"""
    status = obj.get("status") or {}
    applied = str(status.get("lastAppliedRevision") or "")
    handled = _handled(obj, token)
    if _true(obj, "Stalled"):
        stalled = condition(obj, "Stalled") or {}
        return Verdict(False, "stalled", f"Stalled ({stalled.get('reason', '')}): {stalled.get('message', '')}")
    if suspended(obj):
        return Verdict(False, "suspended: waiting for it to be resumed", handled=handled)
    ready = condition(obj, "Ready") or {}
    current = _observed(obj) == _generation(obj) and int(
        ready.get("observedGeneration", _observed(obj))
    ) == _generation(obj)
    if handled and current and ready.get("status") == "True" and revision_hash(applied) == revision_hash(revision):
        return Verdict(True, f"applied {short(applied)}")
    if not handled:
        return Verdict(False, f"the request is not handled yet; {_ready_state(obj)}", handled=False)
    return Verdict(False, f"last applied {short(applied)}; {_ready_state(obj)}")


def dependency_named(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The dependency a ``DependencyNotReady`` Ready condition names, as (namespace, name)."""
    ready = condition(obj, "Ready")
    if ready is None or ready.get("reason") != "DependencyNotReady":
        return None
    found = _DEPENDENCY.search(str(ready.get("message", "")))
    return (found.group(1), found.group(2)) if found else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sync_status(name: str, obj: Mapping[str, Any]) -> SyncStatus:
    """The Kustomization as a ``SyncStatus``: ``Synced``/``Healthy`` when Ready for its current generation."""
    status = obj.get("status") or {}
    ready = condition(obj, "Ready") or {}
    applied = str(status.get("lastAppliedRevision") or "")
    current = _observed(obj) == _generation(obj)
    is_ready = ready.get("status") == "True" and current and not suspended(obj)
    if _true(obj, "Stalled"):
        health = "Degraded"
    elif is_ready:
        health = "Healthy"
    elif ready.get("status") == "False":
        health = "Degraded" if not _true(obj, "Reconciling") else "Progressing"
    else:
        health = "Progressing"
    return SyncStatus(
        app=name,
        sync_status="Synced" if is_ready and applied == status.get("lastAttemptedRevision", applied) else "OutOfSync",
        health=health,
        revision=revision_hash(applied),
        operation_phase=str(ready.get("reason") or "") or None,
        operation_revision=revision_hash(str(status.get("lastAttemptedRevision") or "")) or None,
        operation_message=str(ready.get("message") or ""),
        reconciled_at=_parse_time(ready.get("lastTransitionTime")),
        engine="flux",
    )


def deployed_objects(obj: Mapping[str, Any]) -> list[DeployedObject]:
    """``status.inventory.entries``: ids ``<namespace>_<name>_<group>_<kind>`` with the version in ``v``.

    (fluxcd/cli-utils ``object.ObjMetadata.String``; a ``:`` in a name is written as ``__``.)
    """
    out: list[DeployedObject] = []
    entries = (((obj.get("status") or {}).get("inventory") or {}).get("entries")) or ()
    for entry in entries:
        parts = str(entry.get("id", "")).split("_")
        if len(parts) < 4:
            continue
        kind, group = parts[-1], parts[-2]
        namespace, name = parts[0], "_".join(parts[1:-2]).replace("__", ":")
        version = str(entry.get("v") or "")
        out.append(DeployedObject(f"{group}/{version}" if group else version, kind, name, namespace or None))
    return out


def history(obj: Mapping[str, Any]) -> list[DeploymentRecord]:
    """``status.history`` entries that applied successfully, oldest first (Flux keeps the last five)."""
    records: list[DeploymentRecord] = []
    entries = list((obj.get("status") or {}).get("history") or ())
    for index, entry in enumerate(reversed(entries)):
        if entry.get("lastReconciledStatus") != "ReconciliationSucceeded":
            continue
        revision = revision_hash(str((entry.get("metadata") or {}).get("revision") or ""))
        at = _parse_time(entry.get("firstReconciled")) or _parse_time(entry.get("lastReconciled"))
        if not revision or at is None:
            continue
        source = str((obj.get("spec") or {}).get("path") or "")
        records.append(DeploymentRecord(id=index, revision=revision, deployed_at=at, source=source, controller="Flux"))
    return records
