"""Runbook §2 (gitops mode): revert the GitOps source, get it merged, sync, and wait for the exact revision.

Argo CD's own rollback is refused while auto-sync is on and leaves git in the bad state, and ``argocd app wait``
can pass on the old revision right after a push (``docs/gitops.md``). So gitrollback changes git: it commits the
known-good trees on a rollback branch, proposes it as a pull/merge request (or pushes it directly where the repo's
policy allows), waits for the merge, then waits until the controller reports that exact commit applied and
healthy. Every step checks state first, so a rerun finds the branch, the commit and the change request of the
earlier run instead of making new ones.
"""

from __future__ import annotations

from gitrollback.errors import PreconditionFailedError, StepError, WaitTimeoutError
from gitrollback.models import ChangeRequest, PlanStep, RollbackCommit
from gitrollback.ports import ChangeRequestReader
from gitrollback.runbook.context import RunState, StepContext
from gitrollback.runbook.results import (
    ChangeRequestOpened,
    Committed,
    KnownGoodChosen,
    MarkerPending,
    MarkerRecorded,
    Merged,
    Pushed,
    ReadinessChecked,
    Skipped,
    SmokeBuilt,
    StepResult,
    Synced,
)
from gitrollback.runbook.sync_engines import controller_label
from gitrollback.settings import GitOpsSettings

__all__ = [
    "ChangeRequestStep",
    "CommitStep",
    "MarkerStep",
    "MergeStep",
    "PushStep",
    "SyncStep",
    "rollback_branch",
    "rollback_revision",
]


def rollback_branch(provider_id: str, bad: str, good: str) -> str:
    """The rollback branch name: ``gitrollback/<provider>/<bad-short>-to-<good-short>``."""
    return f"gitrollback/{provider_id}/{bad[:7]}-to-{good[:7]}"


def rollback_revision(state: RunState) -> str | None:
    """The commit the sync engine must reach: the merge commit, the pushed commit (``scm: direct``), or the tip
    that already carries the known-good trees."""
    merged = state.get(Merged)
    if merged is not None:
        return merged.revision
    commit = _commit(state)
    if commit is None:
        return None
    return commit.base if commit.already_rolled_back else commit.sha


def _commit(state: RunState) -> RollbackCommit | None:
    pushed = state.get(Pushed)
    if pushed is not None:
        return pushed.commit
    committed = state.get(Committed)
    return committed.commit if committed is not None else None


def _gitops(ctx: StepContext, step: str) -> GitOpsSettings:
    if ctx.settings.gitops is None:  # pragma: no cover - assess refuses a gitops provider without one
        raise PreconditionFailedError("gitops rollback needs a gitops config", step=step)
    return ctx.settings.gitops


class CommitStep:
    """Make the commit that restores the asset paths to the known-good trees."""

    name = "commit"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        chosen, g = ctx.state.get(KnownGoodChosen), ctx.settings.gitops
        if chosen is None or g is None:
            return PlanStep(self.name, "commit the known-good asset trees on a rollback branch", mutates=True)
        kg = chosen.known_good
        branch = rollback_branch(ctx.settings.id, kg.bad_revision or "0000000", kg.revision)
        return PlanStep(
            self.name,
            f"{g.strategy} {ctx.settings.assets.path} to {kg.revision[:12]} in a commit on {branch}",
            (f"base: tip of {ctx.settings.assets.branch}", "trailers: Rollback-Of, Rollback-To, Provider"),
            mutates=True,
        )

    def run(self, ctx: StepContext) -> Committed:
        g = _gitops(ctx, self.name)
        kg = ctx.state.require(KnownGoodChosen, self.name).known_good
        if ctx.ports.workspace is None:  # pragma: no cover - from_settings builds one for gitops providers
            raise PreconditionFailedError("no rollback workspace adapter", step=self.name)
        failed = ctx.assessed.failed_job
        commit = ctx.ports.workspace.prepare(
            provider_id=ctx.settings.id,
            bad=kg.bad_revision,
            good=kg.revision,
            paths=[ctx.settings.assets.path],
            strategy=g.strategy,
            failed_job=failed.id if failed else None,
            context=kg.reason,
        )
        if commit.already_rolled_back:
            detail = f"{ctx.settings.assets.branch} already carries the known-good trees: nothing to commit"
        else:
            reuse = "reused the commit from an earlier run" if not commit.created else "committed"
            detail = f"{reuse} {commit.sha[:12]} on {commit.branch} ({commit.strategy})"
        return Committed(commit, detail)


class PushStep:
    """Push the rollback branch (or, for ``scm: direct``, the commit onto the tracked branch)."""

    name = "push"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        g = ctx.settings.gitops
        direct = g is not None and g.scm == "direct"
        where = f"the tracked branch {ctx.settings.assets.branch}" if direct else "the rollback branch"
        return PlanStep(self.name, f"push {where} to {ctx.settings.assets.repo}", mutates=True)

    def run(self, ctx: StepContext) -> StepResult:
        g = _gitops(ctx, self.name)
        commit = ctx.state.require(Committed, self.name).commit
        if commit.already_rolled_back:
            return Skipped("nothing was committed")
        if ctx.ports.workspace is None:  # pragma: no cover
            raise PreconditionFailedError("no rollback workspace adapter", step=self.name)
        pushed = ctx.ports.workspace.push(commit, direct=g.scm == "direct")
        target = ctx.settings.assets.branch if g.scm == "direct" else pushed.branch
        return Pushed(pushed, f"pushed {pushed.sha[:12]} to {target}")


def _body(ctx: StepContext, commit: RollbackCommit) -> str:
    chosen = ctx.state.require(KnownGoodChosen, "change-request")
    kg, job, before = chosen.known_good, ctx.assessed.failed_job, ctx.assessed.readiness
    sync = ctx.settings.sync
    lines = [
        f"gitrollback restores `{ctx.settings.assets.path}` for Image Factory provider `{ctx.settings.label}` "
        f"(`{ctx.settings.id}`) to its last known-good revision.",
        "",
        f"- **Bad revision:** {kg.bad_revision}" + (f" ({chosen.bad.summary})" if chosen.bad else ""),
        f"- **Known-good revision:** {kg.revision} ({chosen.good.summary})",
        f"- **Why this revision:** {kg.reason} (evidence: {kg.source})",
    ]
    if job is not None:
        lines.append(f"- **Failed installer job:** `{job.id}`: {job.error}")
    if before is not None and before.missing_prereqs:
        lines.append("- **Readiness:** " + "; ".join(before.missing_prereqs))
    lines += [
        f"- **Rollback commit:** {commit.sha} ({commit.strategy})",
        "",
        "After merge: "
        + (
            f"the {controller_label(sync)} is reconciled to the merge commit and gitrollback waits until exactly that "
            "revision is applied and healthy, then re-checks readiness and runs a smoke build."
            if sync is not None and sync.engine != "none"
            else "your GitOps controller applies the merge commit; gitrollback then re-checks readiness and runs a "
            "smoke build."
        ),
        "",
        "<!-- gitrollback: do not edit the branch by hand; rerunning gitrollback updates this description -->",
    ]
    return "\n".join(lines)


class ChangeRequestStep:
    """Open the pull/merge request (or find the one an earlier run opened)."""

    name = "change-request"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        g = ctx.settings.gitops
        if g is None or g.scm == "direct":
            return PlanStep(self.name, "no change request (scm: direct pushes straight to the tracked branch)")
        kind = "pull request" if g.scm == "github" else "merge request"
        extras = tuple(f"label {label}" for label in g.labels) + tuple(f"reviewer {r}" for r in g.reviewers)
        return PlanStep(
            self.name, f"open a {kind} on {g.project} into {ctx.settings.assets.branch}", extras, mutates=True
        )

    def run(self, ctx: StepContext) -> StepResult:
        g, host = _gitops(ctx, self.name), ctx.ports.host
        if g.scm == "direct":
            return Skipped("scm is direct")
        commit = _commit(ctx.state)
        if commit is None or commit.already_rolled_back:
            return Skipped("nothing was committed")
        if host is None:  # pragma: no cover - from_settings builds one for github/gitlab
            raise PreconditionFailedError(f"no source host adapter for scm {g.scm}", step=self.name)
        kg = ctx.state.require(KnownGoodChosen, self.name).known_good
        title = f"Roll back {ctx.settings.assets.path} to {kg.revision[:12]} ({ctx.settings.label})"
        cr = host.open_change_request(
            source_branch=commit.branch,
            target_branch=ctx.settings.assets.branch,
            title=title,
            body=_body(ctx, commit),
            labels=g.labels,
            reviewers=g.reviewers,
        )
        verb = "opened" if cr.created else ("found (description updated)" if cr.body_updated else "found")
        refused = f"; could not request a review from {', '.join(cr.reviewers_refused)}" if cr.reviewers_refused else ""
        return ChangeRequestOpened(cr, f"{verb} {cr.url}{refused}")


class MergeStep:
    """Merge the change request (``auto_merge``) or wait for a person to merge it.

    It reads the change request again first, so a rerun after someone merged it meanwhile goes straight on.
    """

    name = "merge"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        g = ctx.settings.gitops
        if g is None or g.scm == "direct":
            return PlanStep(self.name, "no merge needed (direct push)")
        how = "merge it (auto_merge)" if g.auto_merge else f"wait up to {g.merge_timeout:.0f}s for it to be merged"
        return PlanStep(self.name, how, mutates=g.auto_merge)

    def run(self, ctx: StepContext) -> StepResult:
        g, host = _gitops(ctx, self.name), ctx.ports.host
        opened = ctx.state.get(ChangeRequestOpened)
        if opened is None:
            return Skipped("nothing to merge")
        if host is None:  # pragma: no cover
            raise PreconditionFailedError("no source host adapter", step=self.name)
        cr: ChangeRequest = opened.change_request
        if isinstance(host, ChangeRequestReader):  # read it again: it may have been merged (or closed) meanwhile
            cr = host.get_change_request(cr.number)
        if cr.state == "closed":
            raise StepError(
                f"{cr.url} was closed without being merged",
                step=self.name,
                kind="change_request_closed",
                hint="reopen and merge it, then rerun (the run resumes here)",
            )
        if cr.state != "merged":
            if g.auto_merge:
                commit = _commit(ctx.state)
                sha = commit.sha[:12] if commit else cr.head_sha[:12]
                cr = host.merge(cr.number, message=f"Merge gitrollback rollback {sha}")
            elif g.wait_for_merge:
                cr = host.wait_merged(cr.number, timeout=g.merge_timeout)
            else:
                raise StepError(
                    f"{cr.url} is open and neither auto_merge nor wait_for_merge is set",
                    step=self.name,
                    kind="merge_required",
                    hint="merge it, then rerun: the run finds the merged change request and continues",
                )
        if not cr.merge_commit:  # pragma: no cover - hosts report it for merged change requests
            raise StepError(f"{cr.url} is merged but the host reports no merge commit", step=self.name)
        return Merged(cr, cr.merge_commit, f"merged as {cr.merge_commit[:12]}")


class SyncStep:
    """Drive the GitOps controller and wait until exactly the rollback revision is applied and healthy."""

    name = "sync"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        s = ctx.settings.sync
        if s is None or s.engine == "none":
            return PlanStep(self.name, "no sync engine configured: rely on the controller's own polling")
        if s.engine == "argocd":
            return PlanStep(
                self.name,
                f"sync Argo CD application {s.app} to the rollback revision and wait until it is Synced and Healthy "
                f"at exactly that revision (timeout {s.timeout:.0f}s)",
                (f"prune={str(s.prune).lower()}", f"operation in progress: {s.on_operation_in_progress}"),
                mutates=True,
            )
        if s.engine == "flux":
            targets: tuple[str, ...] = (f"suspended GitRepository or Kustomization: {s.on_suspended}",)
            if s.wait_for_dependents:
                targets += ("then the Kustomizations that depend on it",)
            return PlanStep(
                self.name,
                f"reconcile the {controller_label(s)} with its GitRepository (reconcile.fluxcd.io/requestedAt) and "
                f"wait until it applied exactly the rollback revision and is Ready (timeout {s.timeout:.0f}s)",
                targets,
                mutates=True,
            )
        return PlanStep(
            self.name,
            f"sync {controller_label(s)} to the rollback revision and wait until it is applied and healthy "
            f"(timeout {s.timeout:.0f}s)",
            (f"prune={str(s.prune).lower()}",),
            mutates=True,
        )

    def run(self, ctx: StepContext) -> StepResult:
        s, engine, revision = ctx.settings.sync, ctx.ports.sync, rollback_revision(ctx.state)
        if s is None or s.engine == "none" or engine is None:
            return Skipped("no sync engine configured")
        if revision is None:  # pragma: no cover - merge/push/commit give one
            raise StepError("no revision to sync to", step=self.name)
        status = engine.status(s.app)
        if not (status.revision == revision and status.sync_status == "Synced" and status.health == "Healthy"):
            engine.sync(s.app, revision=revision, prune=s.prune)
        try:
            status = engine.wait_for_revision(s.app, revision, timeout=s.timeout)
        except WaitTimeoutError as exc:
            last = engine.status(s.app)
            if s.engine == "argocd" and not s.prune and last.revision == revision and last.sync_status == "OutOfSync":
                # the revision is applied but objects the bad release added are still live: only pruning fixes that
                raise StepError(
                    f"{s.app} applied {revision[:12]} but stays OutOfSync: the cluster still has objects that "
                    "revision no longer defines",
                    step=self.name,
                    kind="sync_needs_prune",
                    hint="set sync.prune: true (or delete those objects) and rerun; the rollback commit is reused",
                ) from exc
            raise
        state = "Synced and Healthy" if s.engine == "argocd" else "applied and ready"
        warnings = "".join(f"; WARNING: {w}" for w in status.warnings)
        return Synced(status, f"{controller_label(s)} is {state} at {status.revision[:12]}{warnings}")


class MarkerStep:
    """Record the verified revision as known-good (an annotated tag) for the next incident."""

    name = "marker"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        g = ctx.settings.gitops
        if g is None or not g.markers:
            return PlanStep(self.name, "no marker (gitops.markers is false)")
        return PlanStep(self.name, f"tag the verified revision gitrollback/verified/{ctx.settings.id}/<time>", (), True)

    def run(self, ctx: StepContext) -> StepResult:
        g, ws, revision = ctx.settings.gitops, ctx.ports.workspace, rollback_revision(ctx.state)
        if g is None or not g.markers or ws is None or revision is None:
            return Skipped("markers are off")
        chosen = ctx.state.get(KnownGoodChosen)
        build, readiness = ctx.state.get(SmokeBuilt), ctx.state.get(ReadinessChecked)
        failed = ctx.assessed.failed_job
        evidence = {
            "run_id": ctx.options.run_id,
            "failed_job": failed.id if failed else None,
            "restored_from": chosen.known_good.revision if chosen else None,
            "smoke_build": build.build.id if build else None,
            "readiness": readiness.readiness.status if readiness else None,
        }
        pending = ctx.state.get(MarkerPending, self.name)
        at = pending.at if pending is not None else ctx.ports.clock.now().replace(microsecond=0)
        if pending is None:
            ctx.checkpoint(MarkerPending(at, f"marker time {at.isoformat()}"))
        tag = ws.record_marker(revision, provider_id=ctx.settings.id, at=at, evidence=evidence)
        return MarkerRecorded(tag, f"recorded {tag}")
