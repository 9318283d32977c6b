"""Runbook §3.2: server-side apply the known-good manifests into the provider's target namespace.

It does what Image Factory's installer does for the same tree (imagefactoryoss/imagefactory
backend/internal/domain/infrastructure/service.go, ``applyTektonAssetsToProvider``): ensure the namespace, then apply
each object in resource-list order, namespaced objects without a namespace going to the target namespace. The
field manager defaults to the installer's own (``image-factory-tekton-installer``) with ``force``, so the rollback
takes over exactly the fields the failed upgrade wrote and a later installer run does not conflict with it.
Like the installer, it never prunes: objects the bad revision added are reported as leftovers, not deleted.
"""

from __future__ import annotations

from gitrollback.errors import AdapterError, ApplyFailedError, PreconditionFailedError
from gitrollback.models import AppliedObject, PlanStep
from gitrollback.runbook.context import StepContext
from gitrollback.runbook.results import Applied, Rendered

__all__ = ["ApplyStep"]


class ApplyStep:
    """Apply every known-good object; stop at the first failure and say what did go in."""

    name = "apply"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        c = ctx.settings.cluster
        rendered = ctx.state.get(Rendered)
        manifests = rendered.manifests if rendered else ()
        namespace = ctx.assessed.namespace
        targets = tuple(f"{m.kind}/{m.name} -> {m.namespace or namespace}" for m in manifests)
        return PlanStep(
            self.name,
            f"server-side apply {len(manifests)} objects to namespace {namespace} "
            f"(field manager {c.field_manager}, force={str(c.force).lower()})",
            targets,
            mutates=True,
        )

    def run(self, ctx: StepContext) -> Applied:
        cluster, c = ctx.ports.cluster, ctx.settings.cluster
        manifests = ctx.state.require(Rendered, self.name).manifests
        namespace = ctx.assessed.namespace
        if cluster is None:
            raise PreconditionFailedError(
                f"provider {ctx.settings.label} is in image_factory_installer mode, which applies to its cluster, "
                "but the config gives no cluster access",
                step=self.name,
                hint="set cluster.kubeconfig (and cluster.context) for the provider",
            )
        created_ns = cluster.ensure_namespace(namespace, field_manager=c.field_manager)
        applied: list[AppliedObject] = []
        for manifest in manifests:
            try:
                applied.append(
                    cluster.apply(manifest, namespace=namespace, field_manager=c.field_manager, force=c.force)
                )
            except AdapterError as exc:
                done = tuple(f"{a.kind}/{a.name}" for a in applied)
                raise ApplyFailedError(
                    f"failed to apply {manifest.ref} from {manifest.source_file}: {exc} "
                    f"({len(done)} of {len(manifests)} objects applied before it)",
                    step=self.name,
                    applied=done,
                    hint=exc.hint or "fix the cause and rerun: applying is idempotent, nothing is applied twice",
                ) from exc
        created = sum(1 for a in applied if a.created)
        ns_note = " (namespace created)" if created_ns else ""
        updated = len(applied) - created
        detail = f"applied {len(applied)} objects to {namespace}{ns_note}: {created} created, {updated} updated"
        return Applied(tuple(applied), created_ns, detail)
