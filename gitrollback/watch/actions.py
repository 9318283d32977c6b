"""What each policy does with a provider whose installer job failed, through ``gitrollback.api.Rollback``.

* ``notify``: the assessment (what failed, readiness, the verdict) written as notes; nothing changes.
* ``propose``: in gitops mode with a pull/merge request, ``Rollback.propose``: the rollback commit is pushed to its
  branch and the change request opened, nothing merged; the run is journaled ``proposed`` and a later ``run`` (or
  the ``rollback`` policy for the provider's next failed job) resumes it with the same change request. Where there is
  nothing to propose (installer mode, ``scm: direct``; ``Rollback.propose`` refuses with ``cannot_propose``), the
  plan is written instead, saying why; nothing changes.
* ``rollback``: ``Rollback.run``, the full runbook, with the incident notes written by the run.

Every file goes to ``<notes_dir>/<provider id>/<failed job id>-<what>.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gitrollback.errors import PreconditionFailedError
from gitrollback.models import Assessment, RollbackPlan, RunReport
from gitrollback.report import render_assessment, render_plan

__all__ = ["ActionResult", "RollbackLike", "act", "notes_path"]


class RollbackLike(Protocol):
    """What the actions call on ``gitrollback.api.Rollback``."""

    def plan(self, *, to: str | None = None, force: bool = False, prune: bool | None = None) -> RollbackPlan:
        """See ``Rollback.plan``."""
        ...

    def run(self, *, notes: Path | None = None) -> RunReport:
        """See ``Rollback.run``."""
        ...

    def propose(self, *, notes: Path | None = None) -> RunReport:
        """See ``Rollback.propose``."""
        ...


@dataclass(frozen=True)
class ActionResult:
    """How an action ended: ``ok`` (its policy's intent reached), an ``outcome`` word, where its notes are, and the
    run's ``error_kind`` when it stopped on an error."""

    ok: bool
    outcome: str
    notes: Path | None = None
    detail: str = ""
    error_kind: str | None = None


def notes_path(notes_dir: Path, provider_id: str, job_id: str, what: str) -> Path:
    """``<notes_dir>/<provider id>/<job id>-<what>.md`` (the directory is created)."""
    directory = notes_dir / provider_id
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{job_id}-{what}.md"


def _write(path: Path, title: str, body: str) -> Path:
    path.write_text(f"# {title}\n\n```text\n{body}\n```\n", encoding="utf-8")
    return path


def act(policy: str, rollback: RollbackLike, assessment: Assessment, job_id: str, notes_dir: Path) -> ActionResult:
    """Do what ``policy`` says for the failed job ``job_id``; exceptions propagate (the loop counts them)."""
    provider = assessment.provider_id
    if policy == "notify":
        path = notes_path(notes_dir, provider, job_id, "assessment")
        title = f"Failed installer job {job_id}: provider {assessment.provider_name}"
        _write(path, title, render_assessment(assessment))
        return ActionResult(True, "notified", path, assessment.advice)
    if policy == "propose":
        return _propose(rollback, provider, job_id, notes_dir)
    if policy == "rollback":
        path = notes_path(notes_dir, provider, job_id, "incident")
        report = rollback.run(notes=path)
        detail = report.error or f"known-good {report.known_good.revision if report.known_good else '?'}"
        return ActionResult(report.status == "rolled_back", report.status, path, detail, report.error_kind)
    raise ValueError(f"unknown watch policy {policy!r}")


def _propose(rollback: RollbackLike, provider: str, job_id: str, notes_dir: Path) -> ActionResult:
    """Open the change request (``Rollback.propose``); where nothing can be proposed, write the plan and say why."""
    try:
        path = notes_path(notes_dir, provider, job_id, "proposal")
        report = rollback.propose(notes=path)
    except PreconditionFailedError as exc:
        if exc.kind != "cannot_propose":
            raise
        plan = rollback.plan()
        path = notes_path(notes_dir, provider, job_id, "plan")
        body = f"{render_plan(plan)}\nNothing was changed: {exc}. `gitrollback run` does this."
        _write(path, f"Proposed rollback for failed installer job {job_id}", body)
        return ActionResult(True, "planned", path, f"known-good {plan.known_good.revision}")
    cr = report.change_request
    detail = report.error or (f"change request {cr.url}" if cr is not None else "nothing to propose")
    return ActionResult(report.status == "proposed", report.status, path, detail, report.error_kind)
