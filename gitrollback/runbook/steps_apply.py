"""Runbook §3.2 in installer mode: prove the change with a server-side dry run, apply it, prune our own leftovers.

It does what Image Factory's installer does for the same tree (``applyTektonAssetsToProvider`` in
imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/service.go``): ensure the namespace, then
server-side apply each object, namespaced objects without a namespace going to the target namespace. The field
manager defaults to the installer's own (``image-factory-tekton-installer``) with ``force``, so the rollback takes
over exactly the fields the failed upgrade wrote and a later installer run does not conflict with it. Three things
make it safer than the installer (``docs/installer-mode.md``); they run after ``render`` (which reads both
revisions' object sets) and ``preflight`` (which asked the API server for every verb below):

* ``dry-run`` (read-only, so ``plan`` runs it too) checks the whole object set against the namespace and kinds
  installer mode may touch (``gitrollback.scope``, from the API server's discovery) before anything is written,
  then asks the API server to apply every object with ``dryRun=All`` and builds the table of creates, updates,
  unchanged objects and conflicts (``gitrollback.change_plan``), plus the objects the bad revision added and which
  of them a prune would delete (``gitrollback.prune``). Any object the API server refuses stops the run here. Its
  result (``ChangesPlanned``) is journaled like every other; a resumed run runs it again while ``apply`` or
  ``prune`` has no result yet (``recheck_before``), because the world may have moved while nothing was running.
* ``apply`` sends one request per object, in dependency waves with bounded parallelism
  (``gitrollback.apply_waves``), and stops at the first failure saying what went in.
* ``prune`` (off by default, like the installer) deletes only the bad revision's own additions that an installer
  or rollback run wrote, each with its uid and resourceVersion as preconditions. Before each delete it journals
  what it deleted so far and what it deletes next (``PruneProgress``), so a resumed run neither repeats a finished
  prune nor loses track of what an interrupted one deleted.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from gitrollback.apply_waves import apply_in_waves
from gitrollback.change_plan import identity, object_change
from gitrollback.errors import (
    ApplyFailedError,
    ConflictError,
    GitRollbackError,
    NotFoundError,
    PreconditionFailedError,
    RemoteHTTPError,
    ServerError,
)
from gitrollback.models import ChangePlan, LiveObject, Manifest, ObjectChange, PlanStep
from gitrollback.ports import Cluster
from gitrollback.prune import select_prune
from gitrollback.runbook.context import StepContext
from gitrollback.runbook.results import (
    Applied,
    ChangesPlanned,
    KnownGoodChosen,
    Pruned,
    PruneProgress,
    Rendered,
    Skipped,
)
from gitrollback.scope import qualified_kind, resolve_scope
from gitrollback.settings import INSTALLER_FIELD_MANAGER

__all__ = ["ApplyStep", "DryRunStep", "PruneStep"]

logger = logging.getLogger(__name__)


def _cluster(ctx: StepContext, step: str) -> Cluster:
    """The provider's cluster; installer mode cannot run without one."""
    if ctx.ports.cluster is None:
        raise PreconditionFailedError(
            f"provider {ctx.settings.label} is in image_factory_installer mode, which applies to its cluster, "
            "but the config gives no cluster access",
            step=step,
            hint="set cluster.kubeconfig (and cluster.context) for the provider",
        )
    return ctx.ports.cluster


def _manifests(ctx: StepContext) -> tuple[Manifest, ...]:
    rendered = ctx.state.get(Rendered)
    return rendered.manifests if rendered is not None else ()


def _summary(plan: ChangePlan) -> str:
    counts = ", ".join(f"{plan.count(a)} {a}" for a in ("create", "update", "unchanged", "conflict"))
    added = f"; the bad revision added {len(plan.added)}" if plan.added else ""
    if plan.added:
        added += f" ({len(plan.to_prune)} to prune)" if plan.prune else " (prune is off)"
    return f"{counts}{added}"


class DryRunStep:
    """Scope check, then a server-side dry run of every object: the exact change, proven before anything changes."""

    name = "dry-run"
    reads_only = True  # dryRun=All persists nothing
    #: a resumed run runs this step again while one of these has no result: they act on its answer, and the world
    #: may have moved while nothing was running (``runbook/engine.py``)
    recheck_before = ("apply", "prune")

    def plan(self, ctx: StepContext) -> PlanStep:
        c = ctx.settings.cluster
        planned = ctx.state.get(ChangesPlanned)
        targets = () if planned is None else (_summary(planned.changes),)
        return PlanStep(
            self.name,
            f"check {len(_manifests(ctx))} objects against namespace {ctx.assessed.namespace} and {len(c.kinds)} "
            "allowed kinds, then server-side apply them with dryRun=All",
            targets,
        )

    def run(self, ctx: StepContext) -> ChangesPlanned:
        cluster, c = _cluster(ctx, self.name), ctx.settings.cluster
        rendered, chosen = ctx.state.require(Rendered, self.name), ctx.state.get(KnownGoodChosen)
        namespace = ctx.assessed.namespace
        manifests = rendered.manifests
        placed = resolve_scope(
            manifests,
            namespace=namespace,
            kinds=c.kinds,
            cluster_scoped_kinds=c.cluster_scoped_kinds,
            scopes=cluster.resource_scopes,
            step=self.name,
        )
        namespace_exists = cluster.exists("v1", "Namespace", namespace, namespace=None)
        added, notes = rendered.added, list(rendered.added_notes)
        live = self._live(cluster, ctx, [*manifests, *added]) if namespace_exists else {}
        if namespace_exists:
            rows = self._dry_run(cluster, ctx, manifests, placed, live)
        else:
            notes.append(
                f"namespace {namespace} does not exist yet: every object is created, and the API server "
                "cannot dry-run objects into a namespace that does not exist"
            )
            rows = [object_change(m, ns, live=None, proposed=None) for m, ns in zip(manifests, placed, strict=True)]
        scopes = {
            (m.group, m.kind): scope
            for m in added
            if (scope := cluster.resource_scopes(m.api_version).get(m.kind)) is not None
        }
        prune_rows = select_prune(
            added,
            live,
            namespace=namespace,
            namespaced=scopes,
            kinds=c.kinds,
            managers={INSTALLER_FIELD_MANAGER, c.field_manager},
            enabled=ctx.prune,
        )
        changes = ChangePlan(
            namespace=namespace,
            objects=tuple(rows),
            added=prune_rows,
            prune=ctx.prune,
            validated=namespace_exists,
            bad_revision=chosen.known_good.bad_revision if chosen is not None else "",
            notes=tuple(notes),
        )
        if changes.count("conflict") and not c.force:
            conflicts = [f"{r.file}:{r.line}: {r.ref}: {r.detail}" for r in rows if r.action == "conflict"]
            raise PreconditionFailedError(
                f"{len(conflicts)} objects conflict with another field manager and cluster.force is false; "
                "nothing was applied:\n  " + "\n  ".join(conflicts),
                step=self.name,
                kind="apply_conflict",
                hint="set cluster.force: true to take those fields over, as Image Factory's installer does",
            )
        to_prune = tuple(live[identity(r.api_version, r.kind, r.name)] for r in prune_rows if r.action == "prune")
        return ChangesPlanned(changes, to_prune, _summary(changes))

    @staticmethod
    def _live(cluster: Cluster, ctx: StepContext, manifests: list[Manifest]) -> dict[tuple[str, str, str], LiveObject]:
        """The live objects of every allowed kind in play, listed once per kind (in the namespace, if namespaced)."""
        c = ctx.settings.cluster
        live: dict[tuple[str, str, str], LiveObject] = {}
        kinds = dict.fromkeys((m.api_version, m.kind) for m in manifests)
        for api_version, kind in kinds:
            qualified = qualified_kind(kind, api_version.rpartition("/")[0])
            namespaced = cluster.resource_scopes(api_version).get(kind)
            if namespaced and qualified in c.kinds:
                where: str | None = ctx.assessed.namespace
            elif namespaced is False and qualified in c.cluster_scoped_kinds:
                where = None
            else:
                continue  # a kind installer mode may not touch is neither listed nor pruned
            for obj in cluster.list_objects(api_version, kind, namespace=where):
                live[identity(api_version, kind, obj.name)] = obj
        return live

    def _dry_run(
        self,
        cluster: Cluster,
        ctx: StepContext,
        manifests: tuple[Manifest, ...],
        placed: list[str | None],
        live: dict[tuple[str, str, str], LiveObject],
    ) -> list[ObjectChange]:
        c = ctx.settings.cluster

        def one(index: int) -> ObjectChange | str:
            m, ns = manifests[index], placed[index]
            current = live.get(identity(m.api_version, m.kind, m.name))
            try:
                result = cluster.apply(m, namespace=ns, field_manager=c.field_manager, force=False, dry_run=True)
                return object_change(m, ns, live=current, proposed=result.object)
            except ConflictError as exc:
                conflict = exc.remote_message or str(exc)
                if c.force:
                    try:
                        cluster.apply(m, namespace=ns, field_manager=c.field_manager, force=True, dry_run=True)
                    except RemoteHTTPError as forced:
                        return f"{m.where}: {m.ref}: {forced.remote_message or forced}"
                return object_change(m, ns, live=current, proposed=None, conflict=conflict)
            except RemoteHTTPError as exc:
                if isinstance(exc, ServerError):
                    raise
                return f"{m.where}: {m.ref}: {exc.remote_message or exc}"

        with ThreadPoolExecutor(max_workers=c.apply_parallelism, thread_name_prefix="dry-run") as pool:
            outcomes = list(pool.map(one, range(len(manifests))))
        refused = [o for o in outcomes if isinstance(o, str)]
        if refused:
            raise PreconditionFailedError(
                f"the API server refuses {len(refused)} of {len(outcomes)} known-good objects in a dry run; "
                "nothing was applied:\n  " + "\n  ".join(refused),
                step=self.name,
                kind="dry_run_refused",
                hint="the known-good revision does not apply to this cluster as it is: pick another revision, "
                "or fix what the API server names",
            )
        return [o for o in outcomes if isinstance(o, ObjectChange)]


class ApplyStep:
    """Apply every known-good object, one request each, in waves; stop at the first failure and say what went in."""

    name = "apply"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        c = ctx.settings.cluster
        manifests = _manifests(ctx)
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
        cluster, c = _cluster(ctx, self.name), ctx.settings.cluster
        manifests = ctx.state.require(Rendered, self.name).manifests
        namespace = ctx.assessed.namespace
        created_ns = cluster.ensure_namespace(namespace, field_manager=c.field_manager)
        done, failure = apply_in_waves(
            manifests,
            lambda m: cluster.apply(m, namespace=namespace, field_manager=c.field_manager, force=c.force),
            parallelism=c.apply_parallelism,
        )
        applied = tuple(result for _, result in done)
        if failure is not None:
            index, exc = failure
            manifest = manifests[index]
            names = tuple(f"{a.kind}/{a.name}" for a in applied)
            raise ApplyFailedError(
                f"failed to apply {manifest.ref} from {manifest.where}: {exc} "
                f"({len(names)} of {len(manifests)} objects applied before it stopped"
                + (f": {', '.join(names)})" if names else ")"),
                step=self.name,
                applied=names,
                hint=exc.hint or "fix the cause and rerun: applying is idempotent, nothing is applied twice",
            ) from exc
        created = sum(1 for a in applied if a.created)
        ns_note = " (namespace created)" if created_ns else ""
        updated = len(applied) - created
        detail = f"applied {len(applied)} objects to {namespace}{ns_note}: {created} created, {updated} updated"
        return Applied(applied, created_ns, detail)


class PruneStep:
    """Delete the bad revision's own additions (opt-in): exactly the objects the dry-run step listed, nothing else."""

    name = "prune"
    reads_only = False

    def plan(self, ctx: StepContext) -> PlanStep:
        planned = ctx.state.get(ChangesPlanned)
        if not ctx.prune:
            kept = [r.ref for r in planned.changes.added if r.action == "keep"] if planned else []
            detail = f"; left in place: {', '.join(kept)}" if kept else ""
            return PlanStep(self.name, f"off (cluster.prune, --prune){detail}")
        objects = planned.prune_objects if planned is not None else ()
        targets = tuple(f"delete {o.ref} in {o.namespace} (uid {o.uid})" for o in objects)
        return PlanStep(
            self.name,
            f"delete {len(targets)} objects the bad revision added that an installer or rollback run wrote",
            targets,
            mutates=bool(targets),
        )

    def run(self, ctx: StepContext) -> Pruned | Skipped:
        if not ctx.prune:
            return Skipped("prune is off (cluster.prune, --prune): the bad revision's additions stay")
        planned = ctx.state.require(ChangesPlanned, self.name)
        deleted = self._deleted_before(ctx, planned)
        if not planned.prune_objects:
            if deleted:
                return Pruned(deleted, f"deleted {len(deleted)} objects the bad revision added: {', '.join(deleted)}")
            return Skipped("nothing to prune")
        cluster = _cluster(ctx, self.name)
        for obj in planned.prune_objects:
            ctx.checkpoint(PruneProgress(deleted, obj.ref, f"deleting {obj.ref}"))
            try:
                cluster.delete(
                    obj.api_version,
                    obj.kind,
                    obj.name,
                    namespace=obj.namespace,
                    uid=obj.uid,
                    resource_version=obj.resource_version,
                )
            except NotFoundError:
                logger.info("%s is already gone", obj.ref)
                continue
            except GitRollbackError as exc:
                done = f" (deleted before it: {', '.join(deleted)})" if deleted else ""
                ctx.checkpoint(PruneProgress(deleted, "", f"failed to delete {obj.ref}"))
                raise ApplyFailedError(
                    f"failed to delete {obj.ref}: {exc}{done}",
                    step=self.name,
                    applied=deleted,
                    hint="it changed after the dry run (or the API server refused); nothing else was deleted. "
                    "Rerun: the dry run is taken again before the prune",
                ) from exc
            deleted = (*deleted, obj.ref)
        return Pruned(deleted, f"deleted {len(deleted)} objects the bad revision added: {', '.join(deleted)}")

    @staticmethod
    def _deleted_before(ctx: StepContext, planned: ChangesPlanned) -> tuple[str, ...]:
        """What an interrupted attempt of this run deleted: its journaled list, plus the object it was deleting
        when it stopped if that is gone now (the dry run taken again on resume no longer finds it)."""
        progress = ctx.state.get(PruneProgress)
        if progress is None:
            return ()
        deleted = progress.deleted
        gone = {r.ref for r in planned.changes.added if r.action == "absent"}
        if progress.deleting and progress.deleting in gone and progress.deleting not in deleted:
            deleted = (*deleted, progress.deleting)
        return deleted
