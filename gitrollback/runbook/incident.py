"""Incident notes, as runbook §4.4 asks for them: failed version, restored version, root cause, follow-up.

Built from the run's context and step records only, so the notes say what happened, not what was planned.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitrollback.models import Incident, RevisionInfo, StepRecord, StepStatus
from gitrollback.runbook.context import RunContext

__all__ = ["build_incident"]


def _describe(info: RevisionInfo | None, fallback: str) -> str:
    if info is None:
        return fallback
    tags = f" ({', '.join(info.tags)})" if info.tags else ""
    return f"{info.short}{tags} {info.summary!r}"


def build_incident(ctx: RunContext, records: Sequence[StepRecord], error: str | None) -> Incident:
    """The notes for this run."""
    path = ctx.settings.assets.path
    job = ctx.failed_job
    bad = _describe(ctx.bad_info, ctx.known_good.bad_revision[:12] if ctx.known_good else "unknown")
    failed_version = f"{path} at {bad}"
    if job is not None:
        failed_version += f", installed as profile {job.asset_version} by job {job.id}"
    good = _describe(ctx.good_info, ctx.known_good.revision[:12] if ctx.known_good else "not restored")
    restored_ok = any(r.name == "apply" and r.status is StepStatus.SUCCEEDED for r in records)
    restored_version = f"{path} at {good}" + (
        "" if restored_ok else " (NOT applied: the run stopped before or during apply)"
    )

    causes: list[str] = []
    if job is not None:
        causes.append(f"installer job {job.id} failed: {job.error}")
    if ctx.readiness_before is not None and ctx.readiness_before.missing_prereqs:
        causes.append("readiness before rollback: " + "; ".join(ctx.readiness_before.missing_prereqs))
    if ctx.bad_info is not None:
        causes.append(f"the failing content came with {ctx.bad_info.short} {ctx.bad_info.summary!r}")
    if error:
        causes.append(f"rollback stopped: {error}")
    root_cause = ". ".join(causes) if causes else "not determined"

    follow_up: list[str] = []
    if ctx.bad_info is not None:
        follow_up.append(
            f"fix forward: correct {path} after {ctx.bad_info.short} and re-run the upgrade once it passes review"
        )
    follow_up.append(
        "Image Factory's installer reads assets from its own server file system: update them to the fixed (or "
        "known-good) revision before anyone starts install/upgrade/retry, or it re-applies the bad assets"
    )
    if ctx.leftovers:
        follow_up.append(
            f"objects not in the known-good set are still in {ctx.namespace} (the installer never prunes): "
            + ", ".join(ctx.leftovers)
        )
    if error:
        follow_up.append(
            "rollback did not complete: resolve the error above and rerun gitrollback (it is safe to rerun)"
        )
    timeline = tuple(f"{r.finished_at.strftime('%H:%M:%S')} {r.name} {r.status.value}: {r.detail}" for r in records)
    return Incident(
        failed_version=failed_version,
        restored_version=restored_version,
        root_cause=root_cause,
        follow_up=tuple(follow_up),
        timeline=timeline,
    )
