"""Incident notes, as runbook §4.4 asks for them: failed version, restored version, root cause, follow-up.

Built from the run's results and step records only, so the notes say what happened, not what was planned.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitrollback.models import Incident, RevisionInfo, StepRecord, StepStatus
from gitrollback.runbook.context import RunState
from gitrollback.runbook.results import Assessed, ChangeRequestOpened, KnownGoodChosen, Merged, ObjectsVerified
from gitrollback.runbook.steps_gitops import rollback_revision
from gitrollback.settings import ProviderSettings

__all__ = ["build_incident"]


def _describe(info: RevisionInfo | None, fallback: str) -> str:
    if info is None:
        return fallback
    tags = f" ({', '.join(info.tags)})" if info.tags else ""
    return f"{info.short}{tags} {info.summary!r}"


def _landing_step(settings: ProviderSettings, mode: str) -> tuple[str, str]:
    """The step whose success means the known-good trees are live, and how to say so."""
    if mode != "gitops":
        return "apply", "applied"
    if settings.sync is not None and settings.sync.engine != "none":
        return "sync", "synced by the GitOps controller"
    return "merge", "in git"


def _follow_up(settings: ProviderSettings, mode: str, state: RunState, error: str | None, proposed: bool) -> list[str]:
    path = settings.assets.path
    chosen, assessed = state.get(KnownGoodChosen), state.get(Assessed)
    items: list[str] = []
    if chosen is not None and chosen.bad is not None:
        items.append(
            f"fix forward: correct {path} after {chosen.bad.short} and re-run the upgrade once it passes review"
        )
    if mode == "gitops" and proposed:
        opened = state.get(ChangeRequestOpened)
        where = f"review and merge {opened.change_request.url}" if opened else "nothing was committed"
        items.append(
            f"the rollback is proposed, not done: {where}; then `gitrollback run` resumes this run (it reuses the "
            "change request, waits for or makes the merge as gitops.auto_merge says, syncs and verifies)"
        )
    elif mode == "gitops":
        merged, opened = state.get(Merged), state.get(ChangeRequestOpened)
        cr = merged.change_request if merged else opened.change_request if opened else None
        if cr is not None:
            items.append(f"link the incident to {cr.url}")
        items.append(
            f"{settings.assets.branch} now carries the known-good trees: a fix forward is a new change on top of "
            "it (reverting the rollback commit would bring the failure back)"
        )
    else:
        items.append(
            "Image Factory's installer reads assets from its own server file system: update them to the fixed (or "
            "known-good) revision before anyone starts install/upgrade/retry, or it re-applies the bad assets"
        )
    verified = state.get(ObjectsVerified)
    if verified is not None and verified.leftovers:
        namespace = assessed.namespace if assessed else "the target namespace"
        items.append(
            f"objects not in the known-good set are still in {namespace} (nothing pruned them): "
            + ", ".join(verified.leftovers)
        )
    if error:
        items.append("rollback did not complete: resolve the error above and roll back again (the run resumes)")
    return items


def build_incident(
    settings: ProviderSettings,
    mode: str,
    state: RunState,
    records: Sequence[StepRecord],
    error: str | None,
    *,
    proposed: bool = False,
) -> Incident:
    """The notes for this run (``proposed``: it stopped, as asked, once its change request was open)."""
    path = settings.assets.path
    chosen, assessed = state.get(KnownGoodChosen), state.get(Assessed)
    job = assessed.failed_job if assessed else None
    kg = chosen.known_good if chosen else None
    bad = _describe(chosen.bad if chosen else None, kg.bad_revision[:12] if kg else "unknown")
    failed_version = f"{path} at {bad}"
    if job is not None:
        failed_version += f", installed as profile {job.asset_version} by job {job.id}"
    good = _describe(chosen.good if chosen else None, kg.revision[:12] if kg else "not restored")
    step, how = _landing_step(settings, mode)
    if any(r.name == step and r.status is StepStatus.SUCCEEDED for r in records):
        revision = rollback_revision(state)
        at = f" as {revision[:12]}" if mode == "gitops" and revision else ""
        restored_version = f"{path} at {good} ({how}{at})"
    else:
        restored_version = f"{path} at {good} (NOT {how}: the run stopped before {step} finished)"

    causes: list[str] = []
    if job is not None:
        causes.append(f"installer job {job.id} failed: {job.error}")
    if assessed is not None and assessed.readiness is not None and assessed.readiness.missing_prereqs:
        causes.append("readiness before rollback: " + "; ".join(assessed.readiness.missing_prereqs))
    if chosen is not None and chosen.bad is not None:
        causes.append(f"the failing content came with {chosen.bad.short} {chosen.bad.summary!r}")
    if error:
        causes.append(f"rollback stopped: {error}")

    timeline = tuple(f"{r.finished_at.strftime('%H:%M:%S')} {r.name} {r.status.value}: {r.detail}" for r in records)
    return Incident(
        failed_version=failed_version,
        restored_version=restored_version,
        root_cause=". ".join(causes) if causes else "not determined",
        follow_up=tuple(_follow_up(settings, mode, state, error, proposed)),
        timeline=timeline,
    )
