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


def _landing_step(ctx: RunContext) -> tuple[str, str]:
    """The step whose success means the known-good trees are live, and how to say so."""
    if ctx.mode != "gitops":
        return "apply", "applied"
    if ctx.settings.sync is not None and ctx.settings.sync.engine != "none":
        return "sync", "synced by the GitOps controller"
    return "merge", "in git"


def _follow_up(ctx: RunContext, error: str | None) -> list[str]:
    path = ctx.settings.assets.path
    items: list[str] = []
    if ctx.bad_info is not None:
        items.append(
            f"fix forward: correct {path} after {ctx.bad_info.short} and re-run the upgrade once it passes review"
        )
    if ctx.mode == "gitops":
        if ctx.change_request is not None:
            items.append(f"link the incident to {ctx.change_request.url}")
        items.append(
            f"{ctx.settings.assets.branch} now carries the known-good trees: a fix forward is a new change on top of "
            "it (reverting the rollback commit would bring the failure back)"
        )
    else:
        items.append(
            "Image Factory's installer reads assets from its own server file system: update them to the fixed (or "
            "known-good) revision before anyone starts install/upgrade/retry, or it re-applies the bad assets"
        )
    if ctx.leftovers:
        items.append(
            f"objects not in the known-good set are still in {ctx.namespace} (nothing pruned them): "
            + ", ".join(ctx.leftovers)
        )
    if error:
        items.append("rollback did not complete: resolve the error above and rerun gitrollback (it is safe to rerun)")
    return items


def build_incident(ctx: RunContext, records: Sequence[StepRecord], error: str | None) -> Incident:
    """The notes for this run."""
    path = ctx.settings.assets.path
    job = ctx.failed_job
    bad = _describe(ctx.bad_info, ctx.known_good.bad_revision[:12] if ctx.known_good else "unknown")
    failed_version = f"{path} at {bad}"
    if job is not None:
        failed_version += f", installed as profile {job.asset_version} by job {job.id}"
    good = _describe(ctx.good_info, ctx.known_good.revision[:12] if ctx.known_good else "not restored")
    step, how = _landing_step(ctx)
    if any(r.name == step and r.status is StepStatus.SUCCEEDED for r in records):
        at = f" as {ctx.synced_revision[:12]}" if ctx.mode == "gitops" and ctx.synced_revision else ""
        restored_version = f"{path} at {good} ({how}{at})"
    else:
        restored_version = f"{path} at {good} (NOT {how}: the run stopped before {step} finished)"

    causes: list[str] = []
    if job is not None:
        causes.append(f"installer job {job.id} failed: {job.error}")
    if ctx.readiness_before is not None and ctx.readiness_before.missing_prereqs:
        causes.append("readiness before rollback: " + "; ".join(ctx.readiness_before.missing_prereqs))
    if ctx.bad_info is not None:
        causes.append(f"the failing content came with {ctx.bad_info.short} {ctx.bad_info.summary!r}")
    if error:
        causes.append(f"rollback stopped: {error}")

    timeline = tuple(f"{r.finished_at.strftime('%H:%M:%S')} {r.name} {r.status.value}: {r.detail}" for r in records)
    return Incident(
        failed_version=failed_version,
        restored_version=restored_version,
        root_cause=". ".join(causes) if causes else "not determined",
        follow_up=tuple(_follow_up(ctx, error)),
        timeline=timeline,
    )
