"""Render assessments, plans and run reports as text for people and as JSON for machines. No printing here.

The JSON shapes are the documented ``--json`` schemas (``docs/cli.md``); keys are only ever added, never renamed.
"""

from __future__ import annotations

from typing import Any

from gitrollback.models import (
    Assessment,
    ChangePlan,
    Escalation,
    Incident,
    RollbackPlan,
    RunReport,
    StepStatus,
    to_json,
)

__all__ = [
    "assessment_json",
    "escalation_lines",
    "incident_markdown",
    "plan_json",
    "render_assessment",
    "render_changes",
    "render_plan",
    "render_report",
    "report_json",
]

_MARK = {
    StepStatus.SUCCEEDED: "ok",
    StepStatus.FAILED: "FAILED",
    StepStatus.SKIPPED: "skipped",
    StepStatus.PLANNED: "planned",
}


def report_json(report: RunReport) -> dict[str, Any]:
    """The run report: ``status, provider_id, mode, failed_job, known_good, steps, incident`` (+ ``error``,
    ``error_kind``). ``known_good`` carries the resolver's ``warnings``."""
    kg = report.known_good
    return {
        "status": report.status,
        "provider_id": report.provider_id,
        "mode": report.mode,
        "failed_job": to_json(report.failed_job),
        "known_good": to_json(kg),
        "steps": [
            {
                "name": r.name,
                "status": r.status.value,
                "started_at": to_json(r.started_at),
                "finished_at": to_json(r.finished_at),
                "detail": r.detail,
            }
            for r in report.steps
        ],
        "incident": to_json(report.incident),
        "error": report.error,
        "error_kind": report.error_kind,
        "change_request": None
        if report.change_request is None
        else {
            "host": report.change_request.host,
            "url": report.change_request.url,
            "number": report.change_request.number,
            "state": report.change_request.state,
        },
        "rollback_commit": report.rollback_commit,
        "synced_revision": report.synced_revision,
        "changes": to_json(report.changes),
        "pruned": list(report.pruned),
        "sync": None
        if report.sync is None
        else {
            "engine": report.sync.engine,
            "app": report.sync.app,
            "revision": report.sync.revision,
            "sync_status": report.sync.sync_status,
            "health": report.sync.health,
            "message": report.sync.operation_message,
            "warnings": list(report.sync.warnings),
        },
        "escalation": to_json(report.escalation),
        "run_id": report.run_id,
        "resumed": list(report.resumed),
        "notes": None
        if report.notes_path is None
        else {"path": report.notes_path, "written": report.notes_error is None, "error": report.notes_error},
    }


def escalation_lines(e: Escalation) -> list[str]:
    """What escalation changed, for the text report and the incident notes."""
    tenants = ", ".join(g.tenant_id for g in e.revoked) or "none"
    return [
        f"Escalation: after {e.failed_attempts} failed rollbacks, provider {e.provider_id} was taken out of tenants' "
        f"selection at {to_json(e.escalated_at)}",
        f"  revoked infrastructure:select grants: {tenants}",
        f"  is_global: {'cleared (was true)' if e.cleared_global else 'unchanged (was false)'}",
        "  its owner tenant can still select it; undo with: gitrollback access restore --provider " + e.provider_id,
    ]


def plan_json(plan: RollbackPlan) -> dict[str, Any]:
    """The plan: the facts gathered and each step with its concrete targets."""
    return {
        "status": "planned",
        "provider_id": plan.provider_id,
        "mode": plan.mode,
        "target_namespace": plan.target_namespace,
        "failed_job": to_json(plan.failed_job),
        "known_good": to_json(plan.known_good),
        "steps": [to_json(s) for s in plan.steps],
        "resumes": plan.resumes,
        "objects": [
            {"kind": m.kind, "name": m.name, "namespace": m.namespace or plan.target_namespace, "file": m.source_file}
            for m in plan.manifests
        ],
        "changes": to_json(plan.changes),
    }


def assessment_json(a: Assessment) -> dict[str, Any]:
    """The assessment as JSON."""
    return to_json(a)  # type: ignore[no-any-return]


def render_assessment(a: Assessment) -> str:
    """A short human summary of ``assess``."""
    lines = [
        f"provider      {a.provider_name} ({a.provider_id}), {a.mode}, status {a.provider_status}",
        f"namespace     {a.target_namespace}",
        f"readiness     {a.readiness_status}",
    ]
    lines += [f"  missing     {m}" for m in a.missing_prereqs]
    if a.active_job is not None:
        lines.append(
            f"active job    {a.active_job.id} {a.active_job.status} (since {to_json(a.active_job.created_at)})"
        )
    if a.failed_job is not None:
        lines.append(f"failed job    {a.failed_job.id} (profile {a.failed_job.asset_version})")
        lines.append(f"  error       {a.failed_job.error}")
    for job in a.recent_jobs[:5]:
        lines.append(
            f"  job         {to_json(job.created_at)} {job.status:<9} {job.install_mode} {job.asset_version} {job.id}"
        )
    lines.append(f"verdict       {a.verdict}: {a.advice}")
    return "\n".join(lines)


def render_changes(changes: ChangePlan) -> list[str]:
    """The dry-run table: one line per object with its action, changed fields, file and line."""
    how = "server-side dry run" if changes.validated else "NOT validated by the API server"
    lines = [f"Changes in namespace {changes.namespace} ({how}):"]
    width = max((len(c.ref) for c in (*changes.objects, *changes.added)), default=10)
    for c in changes.objects:
        extra = f"  {', '.join(c.fields)}" if c.fields else ""
        lines.append(f"  {c.action:<9} {c.ref:<{width}}  {c.file}:{c.line}{extra}")
        if c.action == "conflict":
            lines.append(f"            {c.detail}".rstrip())
    counts = ", ".join(f"{changes.count(a)} {a}" for a in ("create", "update", "unchanged", "conflict"))
    lines.append(f"  = {counts}")
    if changes.added:
        bad = f" {changes.bad_revision[:12]}" if changes.bad_revision else ""
        lines.append(f"Added by the bad revision{bad}, not in the known-good one:")
        for c in changes.added:
            lines.append(f"  {c.action:<9} {c.ref:<{width}}  {c.detail}")
    lines += [f"  note: {note}" for note in changes.notes]
    return lines


def render_plan(plan: RollbackPlan) -> str:
    """The plan as numbered steps with their targets."""
    kg = plan.known_good
    lines = [f"Plan for provider {plan.provider_id} ({plan.mode}), namespace {plan.target_namespace}"]
    if plan.resumes:
        lines.append(f"  resumes     run {plan.resumes} (its finished steps are not repeated)")
    if plan.failed_job is not None:
        lines.append(f"  failed job  {plan.failed_job.id}: {plan.failed_job.error}")
    lines.append(f"  known-good  {kg.revision} ({kg.source})")
    lines.append(f"              {kg.reason}")
    lines += [f"  WARNING     {warning}" for warning in kg.warnings]
    for r in kg.rejected:
        lines.append(f"  rejected    {r.revision[:12]}: {r.why}")
    for i, step in enumerate(plan.steps, 1):
        marker = " [changes things]" if step.mutates else ""
        lines.append(f"{i:>2}. {step.name}: {step.description}{marker}")
        lines += [f"      - {t}" for t in step.targets]
    if plan.changes is not None:
        lines += render_changes(plan.changes)
    return "\n".join(lines)


def incident_markdown(incident: Incident, report: RunReport) -> str:
    """Incident notes in Markdown, ready to paste into a ticket."""
    lines = [
        f"## Tekton rollback: provider {report.provider_id} ({report.status})",
        "",
        f"- **Failed version:** {incident.failed_version}",
        f"- **Restored version:** {incident.restored_version}",
        f"- **Root cause:** {incident.root_cause}",
        "",
        "### Follow-up",
        *[f"- {item}" for item in incident.follow_up],
        "",
        "### Timeline (UTC)",
        *[f"- {item}" for item in incident.timeline],
    ]
    return "\n".join(lines)


def render_report(report: RunReport) -> str:
    """The human summary of a run: outcome, chosen revision, and the incident notes."""
    lines = [f"Result: {report.status}"]
    if report.resumed:
        lines.append(f"Resumed: run {report.run_id} (reused {', '.join(report.resumed)})")
    if report.error:
        lines.append(f"Error:  {report.error}")
    if report.known_good is not None:
        lines.append(f"Known-good: {report.known_good.revision} ({report.known_good.source})")
        lines += [f"Warning: {warning}" for warning in report.known_good.warnings]
    if report.change_request is not None:
        lines.append(f"Change request: {report.change_request.url}")
    if report.rollback_commit is not None:
        lines.append(f"Rollback commit: {report.rollback_commit}")
    if report.synced_revision is not None:
        lines.append(f"Synced revision: {report.synced_revision}")
    if report.pruned:
        lines.append(f"Pruned: {', '.join(report.pruned)}")
    if report.changes is not None:
        lines += render_changes(report.changes)
    if report.escalation is not None:
        lines += escalation_lines(report.escalation)
    if report.incident is not None:
        lines += ["", incident_markdown(report.incident, report)]
    return "\n".join(lines)
