"""Read-only steps: assess the failure, choose the known-good revision, render its manifests.

These are steps 1 ("Assess Failure") and 3.1 ("prepare the previous known-good assets") of the upstream runbook
(imagefactoryoss/imagefactory ``docs/kubernetes-integration/TEKTON_INSTALLER_ROLLBACK_GUIDE.md``). They change
nothing, so ``plan`` runs them for real. What the API can and cannot tell (imagefactoryoss/imagefactory
backend/internal/adapters/primary/rest/infrastructure_provider_handler.go, ``TektonInstallerJobResponse``;
``docs/imagefactory.md``): the job JSON has no ``operation``, events vanish once a job ends (only
``error_message`` survives), and ``asset_version`` is a profile folder name, not a git revision, so the revision
comes from git.
"""

from __future__ import annotations

import logging

from gitrollback import assets as asset_tree
from gitrollback.errors import AdapterError, AssetError, PreconditionFailedError
from gitrollback.known_good import Evidence, find_known_good
from gitrollback.models import DeploymentRecord, FailedJob, InstallerJob, PlanStep, TektonStatus
from gitrollback.namespaces import installer_namespace
from gitrollback.ports import DeploymentHistory
from gitrollback.runbook.context import RunContext
from gitrollback.runbook.sync_engines import renders_with
from gitrollback.runbook.token_budget import check_token_budget

__all__ = ["AssessStep", "KnownGoodStep", "RenderStep", "latest_failed_job"]

logger = logging.getLogger(__name__)


def latest_failed_job(status: TektonStatus) -> InstallerJob | None:
    """The newest failed job, if no job succeeded after it (jobs are newest first)."""
    for job in status.recent_jobs:
        if job.status == "succeeded":
            return None
        if job.status == "failed":
            return job
    return None


class AssessStep:
    """Upstream runbook step 1: installer status, failed job and error, readiness; refuse while a job is active."""

    name = "assess"
    reads_only = True
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        target = f"provider {ctx.settings.label} ({ctx.settings.id})"
        return PlanStep(
            self.name, "read installer status and readiness; refuse while a job is pending or running", (target,)
        )

    def run(self, ctx: RunContext) -> str:
        api = ctx.ports.imagefactory
        provider = api.get_provider(ctx.settings.id)
        ctx.provider = provider
        status = api.tekton_status(provider.id, limit=100)
        ctx.status = status
        if status.active_job is not None:
            job = status.active_job
            raise PreconditionFailedError(
                f"installer job {job.id} is {job.status} for provider {ctx.settings.label}; "
                "a rollback now would race it (Image Factory allows one active job per provider)",
                step=self.name,
                hint="wait for that job to finish (rerun `gitrollback assess` to watch it), then rerun",
            )
        if ctx.mode == "gitops" and ctx.settings.gitops is None:
            raise PreconditionFailedError(
                f"provider {ctx.settings.label} is in gitops mode but the config has no gitops: section",
                step=self.name,
                hint="add gitops: {scm: github|gitlab|direct, project: ...} and sync: {engine: argocd, ...} "
                "to the provider (docs/gitops.md)",
            )
        ctx.namespace = installer_namespace(
            target_namespace=provider.target_namespace,
            config=provider.config,
            provider_tenant=provider.tenant_id,
        )
        configured = ctx.settings.cluster.namespace
        if configured and configured != ctx.namespace:
            raise PreconditionFailedError(
                f"cluster.namespace is {configured!r} but Image Factory installs provider {ctx.settings.label} "
                f"into {ctx.namespace!r}",
                step=self.name,
                hint=f"set cluster.namespace to {ctx.namespace} (or remove it) in the config",
            )
        if ctx.options.live_readiness:
            ctx.readiness_before = api.readiness(provider.id)
        missing = ctx.readiness_before.missing_prereqs if ctx.readiness_before else status.readiness_missing_prereqs
        ready = ctx.readiness_before.ready if ctx.readiness_before else status.readiness_status == "ready"
        failed = latest_failed_job(status)
        if failed is not None:
            ctx.failed_job = FailedJob(
                id=failed.id,
                error=failed.error_message or "(no error message recorded)",
                asset_version=failed.asset_version,
                status=failed.status,
                completed_at=failed.completed_at,
            )
        ctx.profile = (
            ctx.settings.assets.profile or (failed.asset_version if failed else "") or provider.profile_version
        )
        if failed is None and ready and not ctx.options.force and ctx.options.to is None:
            raise PreconditionFailedError(
                f"provider {ctx.settings.label} is ready and its last installer job did not fail: nothing to roll back",
                step=self.name,
                hint="pass --to REV --force to roll back anyway",
            )
        parts = [f"provider {provider.name} is {provider.status}", f"namespace {ctx.namespace}"]
        if failed is not None:
            parts.append(f"failed job {failed.id}: {ctx.failed_job.error if ctx.failed_job else ''}")
        parts.append("readiness ready" if ready else f"readiness not_ready ({len(missing)} missing)")
        warning = check_token_budget(ctx, self.name)
        if warning:
            parts.append(warning)
        return "; ".join(parts)


class KnownGoodStep:
    """Choose the revision to roll back to, from git evidence, and explain the choice."""

    name = "known-good"
    reads_only = True
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        kg = ctx.known_good
        a = ctx.settings.assets
        targets: tuple[str, ...] = (f"{a.repo} {a.branch}:{a.path}",)
        if kg is not None:
            targets += (
                f"restore {kg.revision[:12]} ({kg.source})",
                *(f"rejected {r.revision[:12]}: {r.why}" for r in kg.rejected),
            )
        return PlanStep(self.name, "choose the last known-good asset revision", targets)

    @staticmethod
    def _deployments(ctx: RunContext) -> tuple[DeploymentRecord, ...]:
        engine, sync = ctx.ports.sync, ctx.settings.sync
        if engine is None or sync is None or not sync.app or not isinstance(engine, DeploymentHistory):
            return ()
        try:
            return tuple(engine.history(sync.app))
        except AdapterError as exc:  # evidence is optional: say so and go on without it
            logger.warning("no deployment history from %s: %s", sync.app, exc)
            return ()

    def run(self, ctx: RunContext) -> str:
        a = ctx.settings.assets
        source = ctx.ports.assets
        evidence = Evidence(
            provider_id=ctx.settings.id,
            jobs=ctx.status.recent_jobs if ctx.status is not None else (),
            deployments=self._deployments(ctx),
            tag_pattern=a.tag_pattern,
        )
        kg = find_known_good(source, branch=a.branch, paths=[a.path], to=ctx.options.to, evidence=evidence)
        ctx.known_good = kg
        ctx.good_info = source.describe(kg.revision)
        if kg.bad_revision:
            ctx.bad_info = source.describe(kg.bad_revision)
        for warning in kg.warnings:
            logger.warning("known-good: %s", warning)
        return kg.reason + "".join(f"; WARNING: {warning}" for warning in kg.warnings)


class RenderStep:
    """Read the known-good asset tree from git objects and expand it as the installer would."""

    name = "render"
    reads_only = True
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        rev = ctx.known_good.revision[:12] if ctx.known_good else "?"
        if ctx.mode == "gitops":
            return PlanStep(
                self.name,
                f"read {ctx.settings.assets.path} at {rev}: the rollback commits this tree and "
                f"{renders_with(ctx.settings.sync)} (objects are checked as the controller reports them)",
            )
        kinds: dict[str, int] = {}
        for m in ctx.manifests:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
        return PlanStep(
            self.name,
            f"read {ctx.settings.assets.path} at {rev} and expand kustomization resources (profile {ctx.profile})",
            (summary,) if summary else (),
        )

    def run(self, ctx: RunContext) -> str:
        if ctx.known_good is None:  # pragma: no cover - the engine stops before
            raise PreconditionFailedError("no known-good revision", step=self.name)
        files = ctx.ports.assets.read_tree(ctx.known_good.revision, ctx.settings.assets.path)
        source = f"{ctx.settings.assets.path}@{ctx.known_good.revision[:12]}"
        if ctx.mode == "gitops":
            if not files:
                raise PreconditionFailedError(
                    f"the known-good revision has no files under {source}",
                    step=self.name,
                    hint="choose another revision with --to, or fix assets.path in the config",
                )
            return f"{len(files)} files from {source}; {renders_with(ctx.settings.sync)} after the merge"
        try:
            ctx.manifests = asset_tree.expand_assets(files, ctx.profile)
        except AssetError as exc:
            raise PreconditionFailedError(
                f"the known-good tree {ctx.known_good.revision[:12]}:{ctx.settings.assets.path} "
                f"cannot be applied: {exc}",
                step=self.name,
                hint="choose another revision with --to, or fix assets.path/profile in the config",
            ) from exc
        return f"{len(ctx.manifests)} objects from {source} (profile {ctx.profile})"
