"""Reversible escalation: take a provider out of tenants' selection after repeated failed rollbacks, and undo it.

The upstream runbook: "If rollback fails repeatedly, disable provider selection for affected tenants until
resolved." Image Factory lets a tenant select a provider when it is online and schedulable and the tenant owns it,
or it is global, or the tenant holds an unexpired ``infrastructure:select`` grant (imagefactoryoss/imagefactory
``backend/internal/domain/infrastructure/service.go``, ``GetAvailableProviders``). The levers that last are the
grants and ``is_global``; setting the provider offline is not one, because the next ready readiness result (the
readiness watcher runs every 180 s) sets it online again. So escalation, when enabled and once a provider's
consecutive failed runs reach the threshold:

1. records what it is about to change in ``<state_dir>/escalations/<provider>.json`` (before changing it, so a
   crash half-way leaves a record ``restore`` can still act on);
2. revokes every ``infrastructure:select`` grant (``DELETE .../providers/{id}/permissions``,
   ``RevokeProviderPermission`` in ``rest/infrastructure_provider_handler.go``);
3. clears ``is_global`` (``PUT .../providers/{id} {"is_global": false}``, ``UpdateProvider``; with only that field
   set, ``config`` and the rest stay as they are).

The owner tenant keeps selecting the provider (ownership is not a lever), which the report says.

``restore_access`` undoes exactly that and nothing else: it re-grants (``POST .../permissions``,
``GrantProviderPermission``, idempotent on the server) each revoked grant that is still absent, leaves alone one
someone re-added meanwhile, skips one whose ``expires_at`` has passed since (it would have lapsed anyway), and sets
``is_global`` back to true only if escalation cleared it and it is still false. A restored record is marked, so a
second restore changes nothing. The grant API cannot set ``expires_at``, and a re-grant's ``granted_by`` and
``granted_at`` are the restorer's: both are said in the result.

Failed attempts are counted from the run journals under ``<state_dir>/runs/<provider>/``: the runs that ended
``failed`` since the last that ended ``rolled_back``. Refused runs and runs stopped by the pre-flight check (a
credential problem, not the provider's) neither count nor reset the count.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from gitrollback.errors import ConfigError, GitRollbackError, NotFoundError, ServerError
from gitrollback.models import Escalation, RevokedGrant, to_json
from gitrollback.ports import Clock, ProviderAccess

__all__ = [
    "AccessRestore",
    "escalate",
    "failed_attempts",
    "load_escalations",
    "restore_access",
]

logger = logging.getLogger(__name__)

SELECT = "infrastructure:select"
#: runs that stopped without a verdict on the rollback: a credential missing, another run holding the lock, or the
#: watch service stopping or losing its leadership mid-run (``gitrollback.watch.service``; the next leader resumes it)
_NOT_COUNTED = frozenset({"preflight_failed", "lock_held", "lock_lost", "watch_stopping", "leadership_lost"})


# -- counting -------------------------------------------------------------------------------------------------


def _outcomes(path: Path) -> list[tuple[str, str, str | None]]:
    """``(finished_at, outcome, error_kind)`` of every attempt of one run that ended (a resumed run ends once per
    attempt: each failed attempt counts), from the journal's ``end`` events (``gitrollback.runbook.journal``)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    ends = []
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("event") == "end":
            ends.append((str(data.get("at") or ""), str(data.get("status")), data.get("error_kind")))
    return ends


def failed_attempts(state_dir: Path, provider_id: str) -> int:
    """Consecutive runs of the provider that ended ``failed`` since the last one that ended ``rolled_back``."""
    runs = sorted(o for p in (state_dir / "runs" / provider_id).glob("*.jsonl") for o in _outcomes(p))
    count = 0
    for _, outcome, kind in reversed(runs):
        if outcome == "rolled_back":
            break
        if outcome == "failed" and kind not in _NOT_COUNTED:
            count += 1
    return count


# -- the record ---------------------------------------------------------------------------------------------


def _record_path(state_dir: Path, provider_id: str) -> Path:
    return state_dir / "escalations" / f"{provider_id}.json"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _from_json(data: dict[str, Any]) -> Escalation:
    return Escalation(
        provider_id=str(data["provider_id"]),
        run_id=str(data["run_id"]),
        escalated_at=_time(data["escalated_at"]) or datetime.min,
        failed_attempts=int(data["failed_attempts"]),
        revoked=tuple(
            RevokedGrant(
                tenant_id=str(g["tenant_id"]),
                granted_by=str(g.get("granted_by") or ""),
                granted_at=_time(g.get("granted_at")),
                expires_at=_time(g.get("expires_at")),
            )
            for g in data.get("revoked") or []
        ),
        was_global=bool(data.get("was_global")),
        cleared_global=bool(data.get("cleared_global")),
        restored_at=_time(data.get("restored_at")),
    )


def load_escalations(state_dir: Path, provider_id: str) -> list[Escalation]:
    """Every escalation recorded for the provider, oldest first.

    Raises:
        ConfigError: the record file is unreadable or not what gitrollback wrote.
    """
    path = _record_path(state_dir, provider_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", key="state_dir") from exc
    try:
        return [_from_json(item) for item in json.loads(text)["escalations"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not an escalation record gitrollback wrote: {exc}",
            key="state_dir",
            hint="restore the file from a backup, or restore access by hand (docs/safety.md)",
        ) from exc


def _save(state_dir: Path, provider_id: str, records: list[Escalation]) -> None:
    """Write the records atomically (a temporary file renamed over the old one)."""
    path = _record_path(state_dir, provider_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"escalations": [to_json(r) for r in records]}, indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{provider_id}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- escalate -------------------------------------------------------------------------------------------------


def escalate(
    access: ProviderAccess, *, state_dir: Path, provider_id: str, run_id: str, failures: int, clock: Clock
) -> Escalation | None:
    """Revoke the provider's select grants and clear ``is_global``, recording exactly what changed.

    Returns None when an earlier escalation of the provider is still in force (not restored): nothing is changed
    twice. A grant that vanished between the read and the revoke (the server's 500 "Failed to revoke permission")
    is dropped from the record, since nothing of it was changed.
    """
    records = load_escalations(state_dir, provider_id)
    if any(r.restored_at is None for r in records):
        logger.info("provider %s is already escalated; nothing more to do", provider_id)
        return None
    provider = access.get_provider(provider_id)
    grants = [g for g in access.list_permissions(provider_id) if g.permission == SELECT]
    planned = Escalation(
        provider_id=provider_id,
        run_id=run_id,
        escalated_at=clock.now(),
        failed_attempts=failures,
        revoked=tuple(
            RevokedGrant(g.tenant_id, g.granted_by, g.granted_at, g.expires_at)
            for g in sorted(grants, key=lambda g: g.tenant_id)
        ),
        was_global=provider.is_global,
        cleared_global=provider.is_global,
    )
    _save(state_dir, provider_id, [*records, planned])  # the intent first: a crash leaves a restorable record
    revoked: list[RevokedGrant] = []
    for grant in planned.revoked:
        try:
            access.revoke_permission(provider_id, grant.tenant_id)
        except ServerError:  # gone meanwhile: the repository's "permission not found" surfaces as a 500
            logger.info("grant of %s on %s was already gone", grant.tenant_id, provider_id)
            continue
        revoked.append(grant)
    if provider.is_global:
        access.update_provider(provider_id, {"is_global": False})
    done = replace(planned, revoked=tuple(revoked))
    _save(state_dir, provider_id, [*records, done])
    logger.warning(
        "escalated provider %s after %d failed rollbacks: revoked %d select grants%s",
        provider_id,
        failures,
        len(revoked),
        ", cleared is_global" if provider.is_global else "",
    )
    return done


# -- restore --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessRestore:
    """What ``restore_access`` did: ``regranted`` tenants, ``left_alone`` ``(tenant, why)``, the ``is_global``
    outcome, and ``warnings`` (what the API could not restore exactly)."""

    provider_id: str
    escalated_at: datetime | None
    already_restored: bool
    regranted: tuple[str, ...] = ()
    left_alone: tuple[tuple[str, str], ...] = ()
    is_global: str = "unchanged"
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``access restore --json`` document."""
        out: dict[str, Any] = to_json(self)
        out["left_alone"] = [{"tenant_id": t, "reason": why} for t, why in self.left_alone]
        return out


def restore_access(access: ProviderAccess, *, state_dir: Path, provider_id: str, clock: Clock) -> AccessRestore:
    """Undo the provider's latest escalation exactly, and nothing else; a second call changes nothing.

    Raises:
        ConfigError: no escalation was ever recorded for the provider in this state directory.
    """
    records = load_escalations(state_dir, provider_id)
    if not records:
        raise ConfigError(
            f"no escalation is recorded for provider {provider_id} in {state_dir}",
            key="state_dir",
            hint="run access restore on the machine (and with the state_dir) of the run that escalated",
        )
    pending = [i for i, r in enumerate(records) if r.restored_at is None]
    if not pending:
        last = records[-1]
        return AccessRestore(provider_id, last.escalated_at, already_restored=True)
    index = pending[-1]
    record = records[index]
    present = {g.tenant_id for g in access.list_permissions(provider_id) if g.permission == SELECT}
    now = clock.now()
    regranted: list[str] = []
    left: list[tuple[str, str]] = []
    warnings: list[str] = []
    for grant in record.revoked:
        if grant.tenant_id in present:
            left.append((grant.tenant_id, "granted again meanwhile"))
            continue
        if grant.expires_at is not None and grant.expires_at <= now:
            left.append((grant.tenant_id, f"its grant expired at {grant.expires_at:%Y-%m-%d %H:%M:%SZ}"))
            continue
        access.grant_permission(provider_id, grant.tenant_id)
        regranted.append(grant.tenant_id)
        if grant.expires_at is not None:
            warnings.append(
                f"tenant {grant.tenant_id}'s grant expired at {grant.expires_at:%Y-%m-%d %H:%M:%SZ}; the grant API "
                "sets no expiry, so the restored grant does not expire: revoke it then by hand"
            )
    is_global = "unchanged"
    if record.cleared_global:
        try:
            current = access.get_provider(provider_id)
        except NotFoundError as exc:
            raise GitRollbackError(f"provider {provider_id} no longer exists: {exc}") from exc
        if current.is_global:
            is_global = "already global"
        else:
            access.update_provider(provider_id, {"is_global": True})
            is_global = "restored"
    if regranted:
        warnings.append("re-granted grants carry the restorer as granted_by and now as granted_at")
    records[index] = replace(record, restored_at=now)
    _save(state_dir, provider_id, records)
    return AccessRestore(
        provider_id,
        record.escalated_at,
        already_restored=False,
        regranted=tuple(regranted),
        left_alone=tuple(left),
        is_global=is_global,
        warnings=tuple(warnings),
    )
