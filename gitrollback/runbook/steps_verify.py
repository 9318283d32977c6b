"""Installer validation, readiness, required objects, a smoke build, no active job.

These are the upstream runbook's §3.3-3.5 and §4 (imagefactoryoss/imagefactory
``docs/kubernetes-integration/TEKTON_INSTALLER_ROLLBACK_GUIDE.md``). Each check has explicit success conditions and
fails early with what it saw. Details of Image Factory shape them (``docs/imagefactory.md``): a validate job
"succeeds" even when its readiness refresh is not_ready (``RunNextTektonInstallerJob``), so readiness is read
separately afterwards; GET readiness checks pipelines only in pipelineRef mode, so gitrollback also checks the
required pipelines and tasks itself, in the namespace it applied to; and the background readiness watcher can take
the provider offline between two steps, so the smoke build first checks that the provider is still schedulable.
"""

from __future__ import annotations

from gitrollback.errors import VerificationFailedError
from gitrollback.models import PlanStep
from gitrollback.runbook.context import StepContext
from gitrollback.runbook.results import (
    BuildStarted,
    JobStarted,
    NoActiveJob,
    ObjectsVerified,
    ReadinessChecked,
    Rendered,
    Skipped,
    SmokeBuilt,
    StepResult,
    Validated,
)
from gitrollback.settings import required_pipelines_for

__all__ = [
    "NoActiveJobStep",
    "ObjectsStep",
    "ReadinessStep",
    "SmokeBuildStep",
    "ValidateStep",
    "require_still_schedulable",
]

_TEKTON = "tekton.dev/v1"


def _suffix(ctx: StepContext) -> str:
    """``-2``, ``-3``... for a retry after a failed attempt: a retry must not replay the failed job."""
    return f"-{ctx.attempt + 1}" if ctx.attempt else ""


class ValidateStep:
    """``POST .../tekton/validate`` and wait for the job (upstream runbook §3.3).

    The job's id is journaled (``JobStarted``) before waiting, so a resumed run follows that job instead of starting
    another; the idempotency key ``gitrollback-<run id>-validate`` covers a stop between the request and the
    journal write (Image Factory answers a replayed key with the job it first created).
    """

    name = "validate"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        skip = "" if ctx.settings.verify.installer_validate else " (disabled in config)"
        return PlanStep(
            self.name, f"start an installer validate job and wait for it{skip}", (f"provider {ctx.settings.id}",), True
        )

    def run(self, ctx: StepContext) -> StepResult:
        if not ctx.settings.verify.installer_validate:
            return Skipped("verify.installer_validate is false")
        api = ctx.ports.imagefactory
        started = ctx.state.get(JobStarted, self.name)
        if started is not None and started.attempt == ctx.attempt:
            job_id = started.job_id  # an earlier attempt of this run started it: follow it
        else:
            key = f"gitrollback-{ctx.options.run_id}-validate{_suffix(ctx)}" if ctx.options.run_id else None
            job_id = api.start_installer_job(ctx.settings.id, "validate", idempotency_key=key).id
            ctx.checkpoint(JobStarted(job_id, ctx.attempt, f"validate job {job_id} started"))
        job = api.wait_for_job(ctx.settings.id, job_id, timeout=ctx.settings.verify.job_timeout)
        if job.status != "succeeded":
            raise VerificationFailedError(
                f"validate job {job.id} ended {job.status}: {job.error_message or 'no error message'}",
                step=self.name,
                hint="check the provider's runtime_auth and cluster connectivity in Image Factory",
            )
        return Validated(job, f"validate job {job.id} succeeded")


class ReadinessStep:
    """Re-run the live readiness check (upstream runbook §3.4, §4.2)."""

    name = "readiness"
    reads_only = False  # GET readiness persists its result on the provider

    def plan(self, ctx: StepContext) -> PlanStep:
        v = ctx.settings.verify
        probes = [p for p, on in (("pvc", v.probe_pvc), ("rbac", v.probe_rbac)) if on]
        extra = f" with probes {', '.join(probes)}" if probes else ""
        return PlanStep(self.name, f"GET readiness{extra}; require status ready", (f"provider {ctx.settings.id}",))

    def run(self, ctx: StepContext) -> StepResult:
        v = ctx.settings.verify
        if not v.readiness:
            return Skipped("verify.readiness is false")
        readiness = ctx.ports.imagefactory.readiness(ctx.settings.id, probe_pvc=v.probe_pvc, probe_rbac=v.probe_rbac)
        if not readiness.ready:
            raise VerificationFailedError(
                "readiness is not_ready after the rollback: " + "; ".join(readiness.missing_prereqs),
                step=self.name,
                hint="fix what readiness lists (assess shows it again), then rerun: the run resumes here",
            )
        return ReadinessChecked(readiness, f"ready in namespace {readiness.tenant_namespace or ctx.assessed.namespace}")


class ObjectsStep:
    """Required Tasks and Pipelines exist in the target namespace; note objects the rollback left behind."""

    name = "verify-objects"
    reads_only = False

    def _required(self, ctx: StepContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
        v = ctx.settings.verify
        return v.required_tasks, v.required_pipelines or required_pipelines_for(ctx.assessed.profile)

    def plan(self, ctx: StepContext) -> PlanStep:
        tasks, pipelines = self._required(ctx)
        return PlanStep(
            self.name,
            f"require {len(tasks)} Tasks and {len(pipelines)} Pipelines in {ctx.assessed.namespace}",
            tuple(f"Task/{t}" for t in tasks) + tuple(f"Pipeline/{p}" for p in pipelines),
        )

    @staticmethod
    def _known_good_set(ctx: StepContext) -> tuple[set[tuple[str, str]], str] | None:
        """(kind, name) of the known-good objects and their Tekton API version; None when nobody can say.

        In installer mode that is what ``render`` expanded; in gitops mode the controller renders the path, so it
        is what the sync engine reports it applied (Argo CD's ``status.resources``, Flux's inventory).
        """
        s, engine, namespace = ctx.settings.sync, ctx.ports.sync, ctx.assessed.namespace
        if ctx.mode != "gitops":
            manifests = ctx.state.require(Rendered, "verify-objects").manifests
            objects = [(m.kind, m.name, m.api_version, m.namespace) for m in manifests]
        elif s is not None and s.engine != "none" and engine is not None:
            objects = [(o.kind, o.name, o.api_version, o.namespace) for o in engine.deployed(s.app)]
        else:
            return None
        here = [o for o in objects if o[3] in (None, namespace)]
        api_version = next((o[2] for o in here if o[0] in ("Task", "Pipeline")), _TEKTON)
        return {(kind, name) for kind, name, _, _ in here}, api_version

    def run(self, ctx: StepContext) -> StepResult:
        tasks, pipelines = self._required(ctx)
        cluster, namespace = ctx.ports.cluster, ctx.assessed.namespace
        if cluster is None:
            return Skipped("no cluster access configured: Image Factory's readiness check covers Tasks and Pipelines")
        known = self._known_good_set(ctx)
        # read through the version the assets are written in (v1beta1 today), which the cluster must serve
        api_version = known[1] if known is not None else _TEKTON
        present_tasks = set(cluster.list_names(api_version, "Task", namespace=namespace))
        present_pipelines = set(cluster.list_names(api_version, "Pipeline", namespace=namespace))
        missing = [f"Task/{t}" for t in tasks if t not in present_tasks]
        missing += [f"Pipeline/{p}" for p in pipelines if p not in present_pipelines]
        wanted = (
            known[0]
            if known is not None
            else {("Task", t) for t in present_tasks} | {("Pipeline", p) for p in present_pipelines}
        )
        leftovers = sorted(
            [f"Task/{t}" for t in present_tasks if ("Task", t) not in wanted]
            + [f"Pipeline/{p}" for p in present_pipelines if ("Pipeline", p) not in wanted]
        )
        if missing:
            raise VerificationFailedError(
                f"missing in namespace {namespace}: {', '.join(missing)}",
                step=self.name,
                hint="the known-good tree does not define them; check verify.required_tasks or choose another revision",
            )
        note = f"; not in the known-good set (left in place): {', '.join(leftovers)}" if leftovers else ""
        detail = f"{len(tasks)} Tasks and {len(pipelines)} Pipelines present in {namespace}{note}"
        return ObjectsVerified(tuple(leftovers), detail)


class SmokeBuildStep:
    """Run a small build and require it to complete (upstream runbook §3.5, §4.3).

    The build's id is journaled (``BuildStarted``) as soon as Image Factory returns it, before waiting, so a resumed
    run follows that build instead of starting a second one.
    """

    name = "smoke-build"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        sb = ctx.settings.smoke_build
        if sb is None:
            return PlanStep(self.name, "no smoke build configured (smoke_build is not set)")
        return PlanStep(
            self.name,
            f"create a {sb.manifest.get('type')} build on the provider and wait for it to complete",
            (f"project {sb.project_id}",),
            mutates=True,
        )

    def run(self, ctx: StepContext) -> StepResult:
        sb = ctx.settings.smoke_build
        if sb is None:
            return Skipped("no smoke_build in the config")
        api = ctx.ports.imagefactory
        started = ctx.ports.clock.monotonic()
        begun = ctx.state.get(BuildStarted, self.name)
        if begun is not None and begun.attempt == ctx.attempt:
            build_id = begun.build_id  # an earlier attempt of this run created it: follow it
        else:
            tenant = sb.tenant_id or ctx.assessed.provider.tenant_id
            suffix = ctx.options.run_id[:8] if ctx.options.run_id else "check"
            manifest = {
                **sb.manifest,
                "name": f"{sb.manifest.get('name')}-{suffix}{_suffix(ctx)}",
                "infrastructure_type": sb.manifest.get("infrastructure_type", "kubernetes"),
                "infrastructure_provider_id": ctx.settings.id,
            }
            require_still_schedulable(ctx, self.name)
            body = {"tenant_id": tenant, "project_id": sb.project_id, "manifest": manifest}
            build_id = api.create_build(body, limit_timeout=sb.timeout).id  # a full tenant queue is waited out
            ctx.checkpoint(BuildStarted(build_id, ctx.attempt, f"smoke build {build_id} created"))
        build = api.wait_for_build(build_id, timeout=max(sb.timeout - (ctx.ports.clock.monotonic() - started), 0.0))
        if build.status != "completed":
            raise VerificationFailedError(
                f"smoke build {build.id} ended {build.status}: {build.error_message or 'no error message'}",
                step=self.name,
                hint="open the build's logs in Image Factory; the Tekton objects it needs may still be wrong",
            )
        return SmokeBuilt(build, f"smoke build {build.id} completed")


def require_still_schedulable(ctx: StepContext, step: str) -> None:
    """Fail clearly when the provider went offline or unschedulable since the readiness step.

    Image Factory's background readiness watcher (``provider_readiness_watcher.go``, every 180 s by default) runs
    the post-operation check, which always requires the pipelines and looks in the installer's namespace, and
    persists it: it can take a provider offline between our readiness step and the smoke build, and a build on
    it would then be refused as "not available". ``get_provider`` reads the persisted state without re-running
    (and so without flipping) anything.
    """
    provider = ctx.ports.imagefactory.get_provider(ctx.settings.id)
    if provider.status == "online" and provider.is_schedulable:
        return
    checked = ctx.state.get(ReadinessChecked)
    before = checked.readiness if checked is not None else None
    was = f"readiness said {before.status} at {before.checked_at:%H:%M:%SZ}, " if before is not None else ""
    listed = "; ".join(provider.readiness_missing_prereqs) or "nothing listed"
    raise VerificationFailedError(
        f"provider {ctx.settings.label} flipped to {provider.status} before the smoke build: {was}now Image Factory "
        f"records readiness {provider.readiness_status or 'unknown'} ({listed})",
        step=step,
        kind="readiness_flipped",
        hint=(
            "Image Factory's background readiness watcher re-checks every provider (every 180 s by default; the "
            "pipelines are always required) and took this one offline; fix what it lists, then rerun (no smoke "
            "build was started)"
        ),
    )


class NoActiveJobStep:
    """Confirm no installer job is left pending or running (upstream runbook §4.1)."""

    name = "no-active-job"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        return PlanStep(self.name, "confirm no installer job is pending or running", (f"provider {ctx.settings.id}",))

    def run(self, ctx: StepContext) -> NoActiveJob:
        status = ctx.ports.imagefactory.tekton_status(ctx.settings.id, limit=20)
        if status.active_job is not None:
            job = status.active_job
            raise VerificationFailedError(
                f"installer job {job.id} is still {job.status}",
                step=self.name,
                hint="wait for it to finish and check its result before closing the incident",
            )
        return NoActiveJob("no installer job is pending or running")
