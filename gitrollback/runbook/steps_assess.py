"""Read-only steps: assess the failure, choose the known-good revision, render its manifests (and, in installer
mode, the objects the bad revision added, which the pre-flight, dry-run and prune steps need).

These are steps 1 ("Assess Failure") and 3.1 ("prepare the previous known-good assets") of the upstream runbook
(imagefactoryoss/imagefactory ``docs/kubernetes-integration/TEKTON_INSTALLER_ROLLBACK_GUIDE.md``). They change
nothing, so ``plan`` runs them for real. What the API can and cannot tell (imagefactoryoss/imagefactory
backend/internal/adapters/primary/rest/infrastructure_provider_handler.go, ``TektonInstallerJobResponse``;
``docs/imagefactory.md``): the job JSON has no ``operation``, events vanish once a job ends (only
``error_message`` survives), and ``asset_version`` is a profile folder name, not a git revision, so the revision
comes from git.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gitrollback import assets as asset_tree
from gitrollback.change_plan import added_objects
from gitrollback.errors import AdapterError, AssetError, PreconditionFailedError
from gitrollback.known_good import Evidence, find_known_good
from gitrollback.known_good.existing import find_existing_rollback
from gitrollback.models import (
    DeploymentRecord,
    FailedJob,
    InstallerJob,
    InstallMode,
    KnownGood,
    Manifest,
    PlanStep,
    Provider,
    Readiness,
    TektonStatus,
)
from gitrollback.namespaces import installer_namespace
from gitrollback.ports import DeploymentHistory
from gitrollback.runbook.context import StepContext
from gitrollback.runbook.results import Assessed, KnownGoodChosen, Rendered
from gitrollback.runbook.sync_engines import renders_with
from gitrollback.runbook.token_budget import check_token_budget
from gitrollback.settings import ProviderSettings

__all__ = ["AssessStep", "Finding", "KnownGoodStep", "RenderStep", "judge", "latest_failed_job"]

logger = logging.getLogger(__name__)


def latest_failed_job(status: TektonStatus) -> InstallerJob | None:
    """The newest failed job, if no job succeeded after it (jobs are newest first)."""
    for job in status.recent_jobs:
        if job.status == "succeeded":
            return None
        if job.status == "failed":
            return job
    return None


@dataclass(frozen=True)
class Finding:
    """Why a run would not go ahead: the assessment's verdict, a stable ``kind``, the message and the next action."""

    verdict: Literal["wait", "unsupported", "healthy"]
    kind: str
    message: str
    hint: str

    def error(self) -> PreconditionFailedError:
        """The refusal ``run`` and ``plan`` raise for it."""
        return PreconditionFailedError(self.message, step="assess", hint=self.hint, kind=self.kind)


def judge(
    settings: ProviderSettings,
    provider: Provider,
    status: TektonStatus,
    readiness: Readiness | None,
    *,
    force: bool = False,
    to: str | None = None,
) -> tuple[Assessed, Finding | None]:
    """Runbook §1 as a value: what the provider looks like, and the finding that stops a rollback (or None).

    Pure: the caller reads the provider, its status and (optionally) live readiness.
    """
    mode: InstallMode = settings.mode or provider.install_mode
    namespace = installer_namespace(
        target_namespace=provider.target_namespace, config=provider.config, provider_tenant=provider.tenant_id
    )
    missing = readiness.missing_prereqs if readiness else status.readiness_missing_prereqs
    ready = readiness.ready if readiness else status.readiness_status == "ready"
    failed = latest_failed_job(status)
    failed_job = (
        None
        if failed is None
        else FailedJob(
            id=failed.id,
            error=failed.error_message or "(no error message recorded)",
            asset_version=failed.asset_version,
            status=failed.status,
            completed_at=failed.completed_at,
        )
    )
    profile = settings.assets.profile or (failed.asset_version if failed else "") or provider.profile_version
    parts = [f"provider {provider.name} is {provider.status}", f"namespace {namespace}"]
    if failed_job is not None:
        parts.append(f"failed job {failed_job.id}: {failed_job.error}")
    parts.append("readiness ready" if ready else f"readiness not_ready ({len(missing)} missing)")
    assessed = Assessed(provider, status, readiness, failed_job, mode, namespace, profile, "; ".join(parts))
    label = settings.label
    finding: Finding | None = None
    configured = settings.cluster.namespace
    if status.active_job is not None:
        job = status.active_job
        finding = Finding(
            "wait",
            "job_active",
            f"installer job {job.id} is {job.status} for provider {label}; "
            "a rollback now would race it (Image Factory allows one active job per provider)",
            "wait for that job to finish (assess again to watch it), then roll back",
        )
    elif mode == "gitops" and settings.gitops is None:
        finding = Finding(
            "unsupported",
            "gitops_not_configured",
            f"provider {label} is in gitops mode but the config has no gitops: section",
            "add gitops: {scm: github|gitlab|direct, project: ...} and sync: {engine: argocd, ...} "
            "to the provider (docs/gitops.md)",
        )
    elif configured and configured != namespace:
        finding = Finding(
            "unsupported",
            "namespace_mismatch",
            f"cluster.namespace is {configured!r} but Image Factory installs provider {label} into {namespace!r}",
            f"set cluster.namespace to {namespace} (or remove it) in the config",
        )
    elif failed_job is None and ready and not force and to is None:
        finding = Finding(
            "healthy",
            "nothing_to_roll_back",
            f"provider {label} is ready and its last installer job did not fail: nothing to roll back",
            "name a revision and force the rollback to roll back anyway",
        )
    return assessed, finding


class AssessStep:
    """Upstream runbook step 1: installer status, failed job and error, readiness; refuse while a job is active."""

    name = "assess"
    reads_only = True

    def plan(self, ctx: StepContext) -> PlanStep:
        target = f"provider {ctx.settings.label} ({ctx.settings.id})"
        return PlanStep(
            self.name, "read installer status and readiness; refuse while a job is pending or running", (target,)
        )

    def run(self, ctx: StepContext) -> Assessed:
        api = ctx.ports.imagefactory
        provider = api.get_provider(ctx.settings.id)
        status = api.tekton_status(provider.id, limit=100)
        readiness = None
        if ctx.options.live_readiness and status.active_job is None:
            readiness = api.readiness(provider.id)
        assessed, finding = judge(ctx.settings, provider, status, readiness, force=ctx.options.force, to=ctx.options.to)
        if finding is not None:
            raise finding.error()
        warning = check_token_budget(ctx, self.name, mode=assessed.mode)
        return dataclasses.replace(assessed, detail=f"{assessed.detail}; {warning}") if warning else assessed


class KnownGoodStep:
    """Choose the revision to roll back to, from git evidence, and explain the choice.

    In gitops mode, when the tracked branch already carries gitrollback's rollback for this provider (the resolver
    refuses with ``already_rolled_back``) and no revision was named, the answer is that rollback's own
    ``Rollback-To``: the run goes on to sync and verify the existing rollback instead of refusing, since assess
    already found the provider broken (or was forced).
    """

    name = "known-good"
    reads_only = True

    def plan(self, ctx: StepContext) -> PlanStep:
        chosen = ctx.state.get(KnownGoodChosen)
        a = ctx.settings.assets
        targets: tuple[str, ...] = (f"{a.repo} {a.branch}:{a.path}",)
        if chosen is not None:
            kg = chosen.known_good
            targets += (
                f"restore {kg.revision[:12]} ({kg.source})",
                *(f"rejected {r.revision[:12]}: {r.why}" for r in kg.rejected),
            )
        return PlanStep(self.name, "choose the last known-good asset revision", targets)

    @staticmethod
    def _deployments(ctx: StepContext) -> tuple[DeploymentRecord, ...]:
        engine, sync = ctx.ports.sync, ctx.settings.sync
        if engine is None or sync is None or not sync.app or not isinstance(engine, DeploymentHistory):
            return ()
        try:
            return tuple(engine.history(sync.app))
        except AdapterError as exc:  # evidence is optional: say so and go on without it
            logger.warning("no deployment history from %s: %s", sync.app, exc)
            return ()

    def run(self, ctx: StepContext) -> KnownGoodChosen:
        a = ctx.settings.assets
        source = ctx.ports.assets
        evidence = Evidence(
            provider_id=ctx.settings.id,
            jobs=ctx.assessed.status.recent_jobs,
            deployments=self._deployments(ctx),
            tag_pattern=a.tag_pattern,
        )
        existing: str | None = None
        try:
            kg = find_known_good(source, branch=a.branch, paths=[a.path], to=ctx.options.to, evidence=evidence)
        except PreconditionFailedError as exc:
            found = None
            if exc.kind == "already_rolled_back" and ctx.mode == "gitops" and ctx.options.to is None:
                found = find_existing_rollback(
                    source,
                    branch=a.branch,
                    paths=[a.path],
                    provider_id=ctx.settings.id,
                    shared_with=ctx.options.shared_with,
                )
            if found is None:
                raise
            existing = found.commit
            whose = (
                "this provider"
                if found.provider_id in ("", ctx.settings.id)
                else f"provider {found.provider_id}, which shares this repository and path"
            )
            kg = KnownGood(
                revision=found.restored_to,
                trees={a.path: source.tree_id(found.restored_to, a.path) or ""},
                source="existing-rollback",
                reason=f"{a.branch} already carries gitrollback's rollback {found.commit[:12]} of "
                f"{found.rolled_back[:12]} to {found.restored_to[:12]} for {whose}; it is synced and verified",
                bad_revision=found.rolled_back,
            )
        good = source.describe(kg.revision)
        bad = source.describe(kg.bad_revision) if kg.bad_revision else None
        for warning in kg.warnings:
            logger.warning("known-good: %s", warning)
        detail = kg.reason + "".join(f"; WARNING: {warning}" for warning in kg.warnings)
        return KnownGoodChosen(kg, good, bad, detail, existing)


def bad_revision_additions(
    ctx: StepContext, bad: str, known_good: Sequence[Manifest]
) -> tuple[list[Manifest], list[str]]:
    """The bad revision's objects that the known-good set lacks (through the same loader and limits); a note
    instead when there is no bad revision or its tree cannot be read (then nothing is pruned)."""
    if not bad:
        return [], ["no bad revision is known: the objects it added cannot be listed, and nothing is pruned"]
    a = ctx.settings.assets
    try:
        files = ctx.ports.assets.read_tree(bad, a.path)
        manifests = asset_tree.expand_assets(files, ctx.assessed.profile, a.limits)
    except (AssetError, AdapterError) as exc:
        return [], [f"the bad revision {bad[:12]}'s objects cannot be read ({exc}): nothing is pruned"]
    return added_objects(manifests, known_good), []


class RenderStep:
    """Read the known-good asset tree from git objects and expand it as the installer would; in installer mode
    also list what the bad revision added (for the pre-flight check, the dry-run table and prune)."""

    name = "render"
    reads_only = True

    def plan(self, ctx: StepContext) -> PlanStep:
        chosen, rendered = ctx.state.get(KnownGoodChosen), ctx.state.get(Rendered)
        assessed = ctx.state.get(Assessed)
        rev = chosen.known_good.revision[:12] if chosen else "?"
        if ctx.mode == "gitops":
            return PlanStep(
                self.name,
                f"read {ctx.settings.assets.path} at {rev}: the rollback commits this tree and "
                f"{renders_with(ctx.settings.sync)} (objects are checked as the controller reports them)",
            )
        kinds: dict[str, int] = {}
        for m in rendered.manifests if rendered else ():
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
        profile = assessed.profile if assessed else "?"
        return PlanStep(
            self.name,
            f"read {ctx.settings.assets.path} at {rev} and expand kustomization resources (profile {profile}); "
            "read the bad revision's tree for the objects it added",
            (summary,) if summary else (),
        )

    def run(self, ctx: StepContext) -> Rendered:
        kg = ctx.state.require(KnownGoodChosen, self.name).known_good
        profile = ctx.assessed.profile
        files = ctx.ports.assets.read_tree(kg.revision, ctx.settings.assets.path)
        source = f"{ctx.settings.assets.path}@{kg.revision[:12]}"
        if ctx.mode == "gitops":  # the controller renders the tree after the merge
            if not files:
                raise PreconditionFailedError(
                    f"the known-good revision has no files under {source}",
                    step=self.name,
                    hint="choose another revision, or fix assets.path in the config",
                )
            return Rendered((), f"{len(files)} files from {source}; {renders_with(ctx.settings.sync)} after the merge")
        try:
            manifests = asset_tree.expand_assets(files, profile, ctx.settings.assets.limits)
        except AssetError as exc:
            raise PreconditionFailedError(
                f"the known-good tree {kg.revision[:12]}:{ctx.settings.assets.path} cannot be applied: {exc}",
                step=self.name,
                hint=exc.hint or "choose another revision, or fix assets.path/profile in the config",
                kind=exc.kind,
            ) from exc
        added, notes = bad_revision_additions(ctx, kg.bad_revision, manifests)
        more = f"; the bad revision added {len(added)}" if added else ""
        return Rendered(
            tuple(manifests),
            f"{len(manifests)} objects from {source} (profile {profile}){more}",
            added=tuple(added),
            added_notes=tuple(notes),
        )
