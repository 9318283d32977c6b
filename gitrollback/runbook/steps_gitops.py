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
from gitrollback.models import PlanStep
from gitrollback.runbook.context import RunContext
from gitrollback.runbook.engine import Skipped
from gitrollback.runbook.sync_engines import controller_label

__all__ = ["ChangeRequestStep", "CommitStep", "MarkerStep", "MergeStep", "PushStep", "SyncStep", "rollback_branch"]


def rollback_branch(provider_id: str, bad: str, good: str) -> str:
    """The rollback branch name: ``gitrollback/<provider>/<bad-short>-to-<good-short>``."""
    return f"gitrollback/{provider_id}/{bad[:7]}-to-{good[:7]}"


def _require(ctx: RunContext, step: str) -> None:
    if ctx.known_good is None or ctx.settings.gitops is None:  # pragma: no cover - earlier steps guarantee both
        raise PreconditionFailedError("gitops rollback needs a known-good revision and a gitops config", step=step)


class CommitStep:
    """Make the commit that restores the asset paths to the known-good trees."""

    name = "commit"
    reads_only = False
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        kg, g = ctx.known_good, ctx.settings.gitops
        if kg is None or g is None:
            return PlanStep(self.name, "commit the known-good asset trees on a rollback branch", mutates=True)
        branch = rollback_branch(ctx.settings.id, kg.bad_revision or "0000000", kg.revision)
        return PlanStep(
            self.name,
            f"{g.strategy} {ctx.settings.assets.path} to {kg.revision[:12]} in a commit on {branch}",
            (f"base: tip of {ctx.settings.assets.branch}", "trailers: Rollback-Of, Rollback-To, Provider"),
            mutates=True,
        )

    def run(self, ctx: RunContext) -> str:
        _require(ctx, self.name)
        assert ctx.known_good is not None and ctx.settings.gitops is not None and ctx.ports.workspace is not None
        kg = ctx.known_good
        commit = ctx.ports.workspace.prepare(
            provider_id=ctx.settings.id,
            bad=kg.bad_revision,
            good=kg.revision,
            paths=[ctx.settings.assets.path],
            strategy=ctx.settings.gitops.strategy,
            failed_job=ctx.failed_job.id if ctx.failed_job else None,
            context=kg.reason,
        )
        ctx.rollback_commit = commit
        if commit.already_rolled_back:
            return f"{ctx.settings.assets.branch} already carries the known-good trees: nothing to commit"
        reuse = "reused the commit from an earlier run" if not commit.created else "committed"
        return f"{reuse} {commit.sha[:12]} on {commit.branch} ({commit.strategy})"


class PushStep:
    """Push the rollback branch (or, for ``scm: direct``, the commit onto the tracked branch)."""

    name = "push"
    reads_only = False
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        g = ctx.settings.gitops
        direct = g is not None and g.scm == "direct"
        where = f"the tracked branch {ctx.settings.assets.branch}" if direct else "the rollback branch"
        return PlanStep(self.name, f"push {where} to {ctx.settings.assets.repo}", mutates=True)

    def run(self, ctx: RunContext) -> str:
        commit, g = ctx.rollback_commit, ctx.settings.gitops
        if commit is None or g is None or ctx.ports.workspace is None:  # pragma: no cover
            raise PreconditionFailedError("nothing to push", step=self.name)
        if commit.already_rolled_back:
            return Skipped("nothing was committed")
        pushed = ctx.ports.workspace.push(commit, direct=g.scm == "direct")
        ctx.rollback_commit = pushed
        target = ctx.settings.assets.branch if g.scm == "direct" else pushed.branch
        return f"pushed {pushed.sha[:12]} to {target}"


def _body(ctx: RunContext) -> str:
    kg, job, commit = ctx.known_good, ctx.failed_job, ctx.rollback_commit
    assert kg is not None and commit is not None
    sync = ctx.settings.sync
    lines = [
        f"gitrollback restores `{ctx.settings.assets.path}` for Image Factory provider `{ctx.settings.label}` "
        f"(`{ctx.settings.id}`) to its last known-good revision.",
        "",
        f"- **Bad revision:** {kg.bad_revision}" + (f" ({ctx.bad_info.summary})" if ctx.bad_info else ""),
        f"- **Known-good revision:** {kg.revision}" + (f" ({ctx.good_info.summary})" if ctx.good_info else ""),
        f"- **Why this revision:** {kg.reason} (evidence: {kg.source})",
    ]
    if job is not None:
        lines.append(f"- **Failed installer job:** `{job.id}`: {job.error}")
    if ctx.readiness_before is not None and ctx.readiness_before.missing_prereqs:
        lines.append("- **Readiness:** " + "; ".join(ctx.readiness_before.missing_prereqs))
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
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        g = ctx.settings.gitops
        if g is None or g.scm == "direct":
            return PlanStep(self.name, "no change request (scm: direct pushes straight to the tracked branch)")
        kind = "pull request" if g.scm == "github" else "merge request"
        extras = tuple(f"label {label}" for label in g.labels) + tuple(f"reviewer {r}" for r in g.reviewers)
        return PlanStep(
            self.name, f"open a {kind} on {g.project} into {ctx.settings.assets.branch}", extras, mutates=True
        )

    def run(self, ctx: RunContext) -> str:
        g, commit, host = ctx.settings.gitops, ctx.rollback_commit, ctx.ports.host
        if g is None or commit is None:  # pragma: no cover
            raise PreconditionFailedError("no rollback commit", step=self.name)
        if g.scm == "direct":
            return Skipped("scm is direct")
        if commit.already_rolled_back:
            return Skipped("nothing was committed")
        if host is None:  # pragma: no cover - from_settings builds one for github/gitlab
            raise PreconditionFailedError(f"no source host adapter for scm {g.scm}", step=self.name)
        assert ctx.known_good is not None
        title = f"Roll back {ctx.settings.assets.path} to {ctx.known_good.revision[:12]} ({ctx.settings.label})"
        cr = host.open_change_request(
            source_branch=commit.branch,
            target_branch=ctx.settings.assets.branch,
            title=title,
            body=_body(ctx),
            labels=g.labels,
            reviewers=g.reviewers,
        )
        ctx.change_request = cr
        verb = "opened" if cr.created else ("found (description updated)" if cr.body_updated else "found")
        refused = f"; could not request a review from {', '.join(cr.reviewers_refused)}" if cr.reviewers_refused else ""
        return f"{verb} {cr.url}{refused}"


class MergeStep:
    """Merge the change request (``auto_merge``) or wait for a person to merge it."""

    name = "merge"
    reads_only = False
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        g = ctx.settings.gitops
        if g is None or g.scm == "direct":
            return PlanStep(self.name, "no merge needed (direct push)")
        how = "merge it (auto_merge)" if g.auto_merge else f"wait up to {g.merge_timeout:.0f}s for it to be merged"
        return PlanStep(self.name, how, mutates=g.auto_merge)

    def run(self, ctx: RunContext) -> str:
        g, cr, host, commit = ctx.settings.gitops, ctx.change_request, ctx.ports.host, ctx.rollback_commit
        if g is None or commit is None:  # pragma: no cover
            raise PreconditionFailedError("no rollback commit", step=self.name)
        if g.scm == "direct" or commit.already_rolled_back:
            ctx.synced_revision = commit.sha if not commit.already_rolled_back else commit.base
            return Skipped("nothing to merge")
        if cr is None or host is None:  # pragma: no cover
            raise PreconditionFailedError("no change request", step=self.name)
        if cr.state != "merged":
            if g.auto_merge:
                cr = host.merge(cr.number, message=f"Merge gitrollback rollback {commit.sha[:12]}")
            elif g.wait_for_merge:
                cr = host.wait_merged(cr.number, timeout=g.merge_timeout)
            else:
                raise StepError(
                    f"{cr.url} is open and neither auto_merge nor wait_for_merge is set",
                    step=self.name,
                    hint="merge it, then rerun gitrollback: it will find the merged change request and continue",
                )
        ctx.change_request = cr
        if not cr.merge_commit:  # pragma: no cover - hosts report it for merged change requests
            raise StepError(f"{cr.url} is merged but the host reports no merge commit", step=self.name)
        ctx.synced_revision = cr.merge_commit
        return f"merged as {cr.merge_commit[:12]}"


class SyncStep:
    """Drive the GitOps controller and wait until exactly the rollback revision is applied and healthy."""

    name = "sync"
    reads_only = False
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
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

    def run(self, ctx: RunContext) -> str:
        s, engine, revision = ctx.settings.sync, ctx.ports.sync, ctx.synced_revision
        if s is None or s.engine == "none" or engine is None:
            return Skipped("no sync engine configured")
        if revision is None:  # pragma: no cover - merge/push set it
            raise PreconditionFailedError("no revision to sync to", step=self.name)
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
                    hint="set sync.prune: true (or delete those objects) and rerun; the rollback commit is reused",
                ) from exc
            raise
        ctx.sync_status = status
        state = "Synced and Healthy" if s.engine == "argocd" else "applied and ready"
        warnings = "".join(f"; WARNING: {w}" for w in status.warnings)
        return f"{controller_label(s)} is {state} at {status.revision[:12]}{warnings}"


class MarkerStep:
    """Record the verified revision as known-good (an annotated tag) for the next incident."""

    name = "marker"
    reads_only = False
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        g = ctx.settings.gitops
        if g is None or not g.markers:
            return PlanStep(self.name, "no marker (gitops.markers is false)")
        return PlanStep(self.name, f"tag the verified revision gitrollback/verified/{ctx.settings.id}/<time>", (), True)

    def run(self, ctx: RunContext) -> str:
        g, ws, revision = ctx.settings.gitops, ctx.ports.workspace, ctx.synced_revision
        if g is None or not g.markers or ws is None or revision is None:
            return Skipped("markers are off")
        evidence = {
            "run_id": ctx.options.run_id,
            "failed_job": ctx.failed_job.id if ctx.failed_job else None,
            "restored_from": ctx.known_good.revision if ctx.known_good else None,
            "smoke_build": ctx.smoke_build.id if ctx.smoke_build else None,
            "readiness": ctx.readiness_after.status if ctx.readiness_after else None,
        }
        ctx.marker = ws.record_marker(
            revision, provider_id=ctx.settings.id, at=ctx.ports.clock.now(), evidence=evidence
        )
        return f"recorded {ctx.marker}"
