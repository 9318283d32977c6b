"""Runbook §3.2: server-side apply the known-good manifests into the provider's target namespace.

It does what Image Factory's installer does for the same tree (``applyTektonAssetsToProvider`` in
imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/service.go``): ensure the namespace, then
apply each object in resource-list order, namespaced objects without a namespace going to the target namespace. The
field manager defaults to the installer's own (``image-factory-tekton-installer``) with ``force``, so the rollback
takes over exactly the fields the failed upgrade wrote and a later installer run does not conflict with it.
Like the installer, it never prunes: objects the bad revision added are reported as leftovers, not deleted.
"""

from __future__ import annotations

from gitrollback.errors import AdapterError, ApplyFailedError, PreconditionFailedError
from gitrollback.models import PlanStep
from gitrollback.runbook.context import RunContext

__all__ = ["ApplyStep"]


class ApplyStep:
    """Apply every known-good object; stop at the first failure and say what did go in."""

    name = "apply"
    reads_only = False
    deadline = 0.0

    def plan(self, ctx: RunContext) -> PlanStep:
        c = ctx.settings.cluster
        targets = tuple(f"{m.kind}/{m.name} -> {m.namespace or ctx.namespace}" for m in ctx.manifests)
        return PlanStep(
            self.name,
            f"server-side apply {len(ctx.manifests)} objects to namespace {ctx.namespace} "
            f"(field manager {c.field_manager}, force={str(c.force).lower()})",
            targets,
            mutates=True,
        )

    def run(self, ctx: RunContext) -> str:
        cluster, c = ctx.ports.cluster, ctx.settings.cluster
        if cluster is None:
            raise PreconditionFailedError(
                f"provider {ctx.settings.label} is in image_factory_installer mode, which applies to its cluster, "
                "but the config gives no cluster access",
                step=self.name,
                hint="set cluster.kubeconfig (and cluster.context) for the provider",
            )
        created_ns = cluster.ensure_namespace(ctx.namespace, field_manager=c.field_manager)
        ctx.applied = []
        for manifest in ctx.manifests:
            try:
                ctx.applied.append(
                    cluster.apply(manifest, namespace=ctx.namespace, field_manager=c.field_manager, force=c.force)
                )
            except AdapterError as exc:
                done = tuple(f"{a.kind}/{a.name}" for a in ctx.applied)
                raise ApplyFailedError(
                    f"failed to apply {manifest.ref} from {manifest.source_file}: {exc} "
                    f"({len(done)} of {len(ctx.manifests)} objects applied before it)",
                    step=self.name,
                    applied=done,
                    hint=exc.hint or "fix the cause and rerun: applying is idempotent, nothing is applied twice",
                ) from exc
        created = sum(1 for a in ctx.applied if a.created)
        ns_note = " (namespace created)" if created_ns else ""
        return (
            f"applied {len(ctx.applied)} objects to {ctx.namespace}{ns_note}: "
            f"{created} created, {len(ctx.applied) - created} updated"
        )
