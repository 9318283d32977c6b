"""The Flux simulator's controllers: source-controller for GitRepository, kustomize-controller for Kustomization.

Both read and write their objects in the shared ``ClusterState`` (so the Kubernetes simulator serves them to any
client, and the CRD schemas validate them), and both run from one tick on the world's clock. What they do follows
the real reconcilers:

* **GitRepository** (fluxcd/source-controller ``internal/controller/gitrepository_controller.go``): a suspended
  object only records the reconcile request it saw (the summarize helper's ``RecordReconcileReq`` runs in a defer);
  otherwise the ref (``branch``, default ``master``; ``tag``; ``commit``) is resolved in the real git repository the
  URL stands for, and the artifact's revision is ``<branch>@sha1:<sha>`` (fluxcd/pkg ``git`` ``Commit.String``),
  with ``ArtifactInStorage`` and ``Ready`` True ``stored artifact for revision '<rev>'``. A failure is ``FetchFailed``
  True and ``Ready`` False with the same message. It reconciles on a new generation, a new
  ``reconcile.fluxcd.io/requestedAt`` value and every ``spec.interval``.
* **Kustomization** (fluxcd/kustomize-controller ``internal/controller/kustomization_controller.go``): in
  ``Reconcile`` order, suspension (only ``finalizeStatus`` runs: the request is still recorded), cross-namespace
  source references when ``no_cross_namespace_refs`` is set (``AccessDenied``, Stalled), the source and its
  artifact (``ArtifactFailed``), ``dependsOn`` (``checkDependencies``: exists, observed generation, Ready, and the
  same source's revision; ``DependencyNotReady``, retried every 30 s, the controller's ``--requeue-dependency``
  default), then ``reconcile``: a first status patch (``Ready`` Unknown ``Reconciliation in progress``,
  ``Reconciling`` True ``Fetching manifests ...``), and on the next tick the build of ``spec.path`` with kustomize
  (``_argocd_git.build_path``; ``kustomize build failed: ...`` is ``BuildFailed``, a missing path
  ``ArtifactFailed``), a server-side dry run of every object and then the apply with field manager
  ``kustomize-controller`` and forced ownership (fluxcd/pkg ``ssa``; ``<Kind>/<ns>/<name> dry-run failed
  (<Reason>): <message>`` is ``ReconciliationFailed``), the owner labels, the inventory, garbage collection when
  ``spec.prune``, and ``Ready`` True ``Applied revision: <rev>`` with ``lastAppliedRevision``. ``finalizeStatus``
  copies the request into ``lastHandledReconcileAt``, and on success drops ``Reconciling`` and sets
  ``observedGeneration``; on failure ``Reconciling`` turns ``ProgressingWithRetry`` and the retry comes after
  ``spec.retryInterval`` (else ``spec.interval``). A change of the source's artifact revision queues every
  Kustomization using it (the controller's source watch).

Not modelled: health checks (``wait``, ``healthChecks``; objects are taken as ready once applied), post-build
substitution, SOPS, remote clusters and service-account impersonation, OCIRepository and Bucket sources.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gitrollback.testing._argocd_git import BuildError, GitReader, RenderedObject, RepoError, build_path
from gitrollback.testing._kube_catalog import ResourceType, StoreError
from gitrollback.testing.clock import SimClock
from gitrollback.testing.cluster_state import ClusterState

__all__ = [
    "FIELD_MANAGER",
    "REQUESTED_AT",
    "SOURCE_MANAGER",
    "Controllers",
    "go_duration",
    "parse_duration",
]

#: the kustomize-controller's ``--controller-name`` default, its server-side apply field manager
FIELD_MANAGER = "kustomize-controller"
SOURCE_MANAGER = "source-controller"
#: fluxcd/pkg ``apis/meta`` ``ReconcileRequestAnnotation``
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
KS_GROUP = "kustomize.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
#: kustomize-controller ``--requeue-dependency`` default
DEPENDENCY_REQUEUE = 30.0
#: where source-controller serves artifacts inside the cluster (its Service in flux-system)
ARTIFACT_HOST = "http://source-controller.flux-system.svc.cluster.local."
#: the temporary directory a Kustomization build runs in, as kustomize-controller's messages show it
BUILD_DIR = "/tmp/kustomization-1234567890"

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: fluxcd/pkg ``ssa`` ``ReconcileOrder``: kinds applied (and listed) first, in this order
_FIRST = (
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)


def parse_duration(text: str) -> float:
    """Seconds in a Go duration as Flux's specs write them (``1m30s``, ``500ms``)."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for whole seconds (``5m0s``, ``1h0m0s``, ``30s``)."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    status: dict[str, Any], kind: str, value: str, reason: str, message: str, *, generation: int, now: datetime
) -> None:
    """fluxcd/pkg ``runtime/conditions`` ``Set``: the transition time changes only with the status."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    for condition in conditions:
        if condition["type"] == kind:
            if condition["status"] != value:
                condition["lastTransitionTime"] = _stamp(now)
            condition.update(status=value, reason=reason, message=message, observedGeneration=generation)
            return
    conditions.append(
        {
            "type": kind,
            "status": value,
            "observedGeneration": generation,
            "lastTransitionTime": _stamp(now),
            "reason": reason,
            "message": message,
        }
    )


def get_condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """One condition of an object's status, or None."""
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == kind:
            return dict(condition)
    return None


def drop_condition(status: dict[str, Any], kind: str) -> None:
    """Remove a condition."""
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != kind]


def _order(obj: RenderedObject) -> tuple[int, str, str, str, str]:
    kind = obj.kind
    index = _FIRST.index(kind) - len(_FIRST) if kind in _FIRST else (2 if "Webhook" in kind else 0)
    group = obj.api_version.rpartition("/")[0]
    return index, group, kind, obj.namespace or "", obj.name


@dataclass
class _Memory:
    """What a controller keeps in memory about one object (a work queue entry, in effect)."""

    next_at: float = 0.0
    generation: int = 0
    source_revision: str = ""
    started: bool = False


class Controllers:
    """source-controller and kustomize-controller over a ``ClusterState``; ``tick()`` is one round of both.

    Args:
        cluster: the store the objects live in (it must serve ``FLUX_TYPES``).
        clock: for timestamps and intervals.
        repositories: maps a GitRepository URL to the local repository it stands for.
    """

    def __init__(self, cluster: ClusterState, clock: SimClock, repositories: Mapping[str, Path]) -> None:
        self.cluster = cluster
        self.clock = clock
        self.repositories = repositories
        self.no_cross_namespace_refs = False
        gitrepo = cluster.type_for(f"{SOURCE_GROUP}/v1", "GitRepository")
        kustomization = cluster.type_for(f"{KS_GROUP}/v1", "Kustomization")
        if gitrepo is None or kustomization is None:
            raise ValueError("the cluster does not serve Flux's kinds: build it with types=CATALOG + FLUX_TYPES")
        self.gitrepo_type: ResourceType = gitrepo
        self.ks_type: ResourceType = kustomization
        self._memory: dict[tuple[str, str, str], _Memory] = {}
        self._readers: dict[Path, GitReader] = {}

    # -- the loop -----------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """One round: sources first (so a new artifact reaches the Kustomizations in the same round)."""
        for repo in self.cluster.list(self.gitrepo_type):
            if self._due(repo, "GitRepository"):
                self.reconcile_source(repo["metadata"]["namespace"], repo["metadata"]["name"])
        for ks in self.cluster.list(self.ks_type):
            if self._due(ks, "Kustomization"):
                self.reconcile_kustomization(ks["metadata"]["namespace"], ks["metadata"]["name"])

    def _memo(self, kind: str, namespace: str, name: str) -> _Memory:
        return self._memory.setdefault((kind, namespace, name), _Memory())

    def _due(self, obj: Mapping[str, Any], kind: str) -> bool:
        meta = obj["metadata"]
        memo = self._memo(kind, meta["namespace"], meta["name"])
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
        handled = (obj.get("status") or {}).get("lastHandledReconcileAt")
        if memo.started or (requested is not None and requested != handled):
            return True
        if int(meta.get("generation", 0)) != memo.generation:
            return True
        if kind == "Kustomization" and self._source_revision(obj) not in ("", memo.source_revision):
            return True  # the source watch: a new artifact queues its Kustomizations
        return self.clock.monotonic() >= memo.next_at

    def _source_revision(self, ks: Mapping[str, Any]) -> str:
        ref = (ks.get("spec") or {}).get("sourceRef") or {}
        source = self.cluster.get(
            self.gitrepo_type, ref.get("namespace") or ks["metadata"]["namespace"], ref.get("name", "")
        )
        return str(((source or {}).get("status") or {}).get("artifact", {}).get("revision") or "") if source else ""

    def _reader(self, path: Path) -> GitReader:
        if path not in self._readers:
            self._readers[path] = GitReader(path)
        return self._readers[path]

    def _patch_status(
        self, rt: ResourceType, namespace: str, name: str, manager: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        def transform(live: dict[str, Any]) -> dict[str, Any]:
            status = copy.deepcopy(live.get("status") or {})
            change(status)
            return {**live, "status": status}

        return self.cluster.patch(rt, namespace, name, transform, manager=manager, subresource="status")

    # -- source-controller --------------------------------------------------------------------------------------

    def reconcile_source(self, namespace: str, name: str) -> None:
        """One GitRepository reconcile (see the module docstring)."""
        obj = self.cluster.get(self.gitrepo_type, namespace, name)
        if obj is None:
            return
        meta, spec = obj["metadata"], obj.get("spec") or {}
        generation = int(meta.get("generation", 1))
        memo = self._memo("GitRepository", namespace, name)
        memo.generation = generation
        memo.next_at = self.clock.monotonic() + parse_duration(str(spec.get("interval", "1m")))
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
        now = self.clock.now()
        if spec.get("suspend"):
            self._patch_status(self.gitrepo_type, namespace, name, SOURCE_MANAGER, _record_request(requested))
            return
        url = str(spec.get("url", ""))
        ref = spec.get("ref") or {}
        try:
            revision = self._resolve(url, ref)
        except RepoError as exc:
            message = f"failed to checkout and determine revision: unable to clone '{url}': {exc}"

            def failed(status: dict[str, Any]) -> None:
                set_condition(
                    status, "FetchFailed", "True", "GitOperationFailed", message, generation=generation, now=now
                )
                set_condition(status, "Ready", "False", "GitOperationFailed", message, generation=generation, now=now)
                set_condition(
                    status, "Reconciling", "True", "ProgressingWithRetry", message, generation=generation, now=now
                )
                _record_request(requested)(status)

            self._patch_status(self.gitrepo_type, namespace, name, SOURCE_MANAGER, failed)
            return
        sha = revision.rpartition(":")[2]

        def stored(status: dict[str, Any]) -> None:
            artifact = status.get("artifact") or {}
            if artifact.get("revision") != revision:
                path = f"gitrepository/{namespace}/{name}/{sha}.tar.gz"
                status["artifact"] = {
                    "path": path,
                    "url": f"{ARTIFACT_HOST}/{path}",
                    "revision": revision,
                    "digest": "sha256:" + hashlib.sha256(f"{url}@{sha}".encode()).hexdigest(),
                    "lastUpdateTime": _stamp(now),
                    "size": 4096,
                }
            message = f"stored artifact for revision '{revision}'"
            for kind in ("FetchFailed", "Reconciling", "ArtifactOutdated"):
                drop_condition(status, kind)
            set_condition(status, "ArtifactInStorage", "True", "Succeeded", message, generation=generation, now=now)
            set_condition(status, "Ready", "True", "Succeeded", message, generation=generation, now=now)
            status["observedGeneration"] = generation
            _record_request(requested)(status)

        self._patch_status(self.gitrepo_type, namespace, name, SOURCE_MANAGER, stored)

    def _resolve(self, url: str, ref: Mapping[str, Any]) -> str:
        path = self.repositories.get(url)
        if path is None:
            raise RepoError("repository not found")
        reader = self._reader(path)
        if ref.get("commit"):
            try:
                return f"sha1:{reader.resolve(str(ref['commit']))}"
            except RepoError as exc:
                raise RepoError(f"object not found: {ref['commit']}") from exc
        if ref.get("tag"):
            tag = str(ref["tag"])
            try:
                return f"{tag}@sha1:{reader.resolve(f'refs/tags/{tag}')}"
            except RepoError as exc:
                raise RepoError(f'couldn\'t find remote ref "refs/tags/{tag}"') from exc
        branch = str(ref.get("branch") or "master")
        try:
            return f"{branch}@sha1:{reader.resolve(f'refs/heads/{branch}')}"
        except RepoError as exc:
            raise RepoError(f'couldn\'t find remote ref "refs/heads/{branch}"') from exc

    # -- kustomize-controller -----------------------------------------------------------------------------------

    def reconcile_kustomization(self, namespace: str, name: str) -> None:
        """One step of a Kustomization reconcile: the start patch, or (next tick) the build, apply and result."""
        obj = self.cluster.get(self.ks_type, namespace, name)
        if obj is None:
            return
        meta, spec = obj["metadata"], obj.get("spec") or {}
        generation = int(meta.get("generation", 1))
        memo = self._memo("Kustomization", namespace, name)
        memo.generation = generation
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
        interval = parse_duration(str(spec.get("interval", "10m")))
        retry = parse_duration(str(spec.get("retryInterval") or spec.get("interval", "10m")))
        timeout = parse_duration(str(spec.get("timeout") or spec.get("interval", "10m")))
        now = self.clock.now()
        if spec.get("suspend"):
            memo.started = False
            memo.next_at = self.clock.monotonic() + interval
            self._patch_status(self.ks_type, namespace, name, FIELD_MANAGER, _finalize(requested, generation))
            return
        outcome = self._check_before_build(obj, generation, now)
        if outcome is not None:
            change, delay, terminal = outcome
            memo.started = False
            memo.next_at = self.clock.monotonic() + (interval if terminal else delay if delay else retry)

            def early(status: dict[str, Any]) -> None:
                change(status)
                _finalize(requested, generation)(status)

            self._patch_status(self.ks_type, namespace, name, FIELD_MANAGER, early)
            return
        source = self._source(obj)
        assert source is not None  # _check_before_build refuses otherwise
        revision = str(source["status"]["artifact"]["revision"])
        memo.source_revision = revision
        if not memo.started:
            memo.started = True
            fetching = f"Fetching manifests for revision {revision} with a timeout of {go_duration(timeout)}"

            def start(status: dict[str, Any]) -> None:
                set_condition(
                    status,
                    "Ready",
                    "Unknown",
                    "Progressing",
                    "Reconciliation in progress",
                    generation=generation,
                    now=now,
                )
                set_condition(status, "Reconciling", "True", "Progressing", fetching, generation=generation, now=now)

            self._patch_status(self.ks_type, namespace, name, FIELD_MANAGER, start)
            return
        memo.started = False
        started = self.clock.monotonic()
        result = self._build_and_apply(obj, source, revision)
        memo.next_at = self.clock.monotonic() + (interval if result.ok else retry)

        def finish(status: dict[str, Any]) -> None:
            if result.reason != "ArtifactFailed":
                # reconcile sets it after the artifact is fetched and the path is found, before the build
                status["lastAttemptedRevision"] = revision
            if result.inventory is not None:
                status["inventory"] = {"entries": result.inventory}
            if result.digest:
                _upsert_history(
                    status,
                    result.digest,
                    now=now,
                    took=self.clock.monotonic() - started,
                    reason=result.reason,
                    revision=revision,
                )
            if result.ok:
                status["lastAppliedRevision"] = revision
                set_condition(status, "Ready", "True", result.reason, result.message, generation=generation, now=now)
            else:
                set_condition(status, "Ready", "False", result.reason, result.message, generation=generation, now=now)
            _finalize(requested, generation)(status)

        self._patch_status(self.ks_type, namespace, name, FIELD_MANAGER, finish)

    def _source(self, ks: Mapping[str, Any]) -> dict[str, Any] | None:
        ref = (ks.get("spec") or {}).get("sourceRef") or {}
        if ref.get("kind") != "GitRepository":
            return None
        return self.cluster.get(self.gitrepo_type, ref.get("namespace") or ks["metadata"]["namespace"], ref["name"])

    def _check_before_build(
        self, ks: Mapping[str, Any], generation: int, now: datetime
    ) -> tuple[Callable[[dict[str, Any]], None], float, bool] | None:
        """What ``Reconcile`` decides before ``reconcile``: (status change, requeue delay, terminal) or None."""
        namespace = ks["metadata"]["namespace"]
        ref = (ks.get("spec") or {}).get("sourceRef") or {}
        source_ns = ref.get("namespace") or namespace

        def ready_false(reason: str, message: str, *, stalled: bool = False) -> Callable[[dict[str, Any]], None]:
            def change(status: dict[str, Any]) -> None:
                set_condition(status, "Ready", "False", reason, message, generation=generation, now=now)
                if stalled:
                    set_condition(status, "Stalled", "True", reason, message, generation=generation, now=now)
                    status["observedGeneration"] = generation

            return change

        if self.no_cross_namespace_refs and source_ns != namespace:
            message = (
                f"can't access '{ref.get('kind')}/{source_ns}/{ref.get('name')}', cross-namespace references have been "
                "blocked"
            )
            return ready_false("AccessDenied", message, stalled=True), 0.0, True
        source = self._source(ks)
        if source is None:
            if ref.get("kind") != "GitRepository":
                message = f"source `{ref.get('name')}` kind '{ref.get('kind')}' not supported"
            else:
                message = f'gitrepositories.source.toolkit.fluxcd.io "{ref.get("name")}" not found'
            return ready_false("ArtifactFailed", message), 0.0, False
        if not (source.get("status") or {}).get("artifact"):
            message = f"Source artifact not found, retrying in {go_duration(DEPENDENCY_REQUEUE)}"
            return ready_false("ArtifactFailed", message), DEPENDENCY_REQUEUE, False
        problem = self._dependency_problem(ks, source)
        if problem is not None:
            return ready_false("DependencyNotReady", problem), DEPENDENCY_REQUEUE, False
        return None

    def _dependency_problem(self, ks: Mapping[str, Any], source: Mapping[str, Any]) -> str | None:
        """``checkDependencies``: the first dependency that is missing, not ready, or behind the same source."""
        namespace = ks["metadata"]["namespace"]
        spec = ks.get("spec") or {}
        revision = source["status"]["artifact"]["revision"]
        for dep_ref in spec.get("dependsOn") or ():
            dep_ns = dep_ref.get("namespace") or namespace
            label = f"{dep_ns}/{dep_ref['name']}"
            dep = self.cluster.get(self.ks_type, dep_ns, dep_ref["name"])
            if dep is None:
                return (
                    f"dependency '{label}' not found: kustomizations.kustomize.toolkit.fluxcd.io "
                    f'"{dep_ref["name"]}" not found'
                )
            status = dep.get("status") or {}
            ready = get_condition(dep, "Ready")
            observed = int(status.get("observedGeneration", -1))
            if not status.get("conditions") or observed != int(dep["metadata"].get("generation", 1)):
                return f"dependency '{label}' is not ready"
            if ready is None or ready.get("status") != "True":
                return f"dependency '{label}' is not ready"
            dep_source = (dep.get("spec") or {}).get("sourceRef") or {}
            same = (
                dep_source.get("name") == spec["sourceRef"]["name"]
                and (dep_source.get("namespace") or dep_ns) == (spec["sourceRef"].get("namespace") or namespace)
                and dep_source.get("kind") == spec["sourceRef"]["kind"]
            )
            if same and _hash(str(status.get("lastAppliedRevision", ""))) != _hash(revision):
                return f"dependency '{label}' revision is not up to date"
        return None

    def _build_and_apply(self, ks: Mapping[str, Any], source: Mapping[str, Any], revision: str) -> _Result:
        namespace, name = ks["metadata"]["namespace"], ks["metadata"]["name"]
        spec = ks.get("spec") or {}
        rel = str(spec.get("path") or "").strip("/").removeprefix("./").strip("/")
        url = str((source.get("spec") or {}).get("url", ""))
        repo = self.repositories.get(url)
        if repo is None:
            return _Result(False, "ArtifactFailed", f"failed to download artifact from {url}: 404 Not Found")
        sha = revision.rpartition(":")[2]
        try:
            objects = build_path(self._reader(repo), sha, rel, root=BUILD_DIR)
        except FileNotFoundError as exc:
            return _Result(False, "ArtifactFailed", f"kustomization path not found: {exc}")
        except BuildError as exc:
            return _Result(False, "BuildFailed", f"kustomize build failed: {exc}")
        rendered = "---\n".join(json.dumps(o.body, sort_keys=True) for o in objects)
        digest = "sha256:" + hashlib.sha256(rendered.encode()).hexdigest()
        target = spec.get("targetNamespace")
        prepared: list[tuple[RenderedObject, ResourceType | None, str | None, dict[str, Any]]] = []
        for obj in sorted(objects, key=_order):
            rt = self.cluster.type_for(obj.api_version, obj.kind)
            body = copy.deepcopy(obj.body)
            meta = body.setdefault("metadata", {})
            ns = obj.namespace
            if rt is not None and rt.namespaced and target:
                ns = str(target)
            if rt is not None and rt.namespaced and ns:
                meta["namespace"] = ns
            elif rt is not None and not rt.namespaced:
                meta.pop("namespace", None)
                ns = None
            labels = meta.setdefault("labels", {})
            labels[f"{KS_GROUP}/name"] = name  # ssa ResourceManager.SetOwnerLabels
            labels[f"{KS_GROUP}/namespace"] = namespace
            prepared.append((obj, rt, ns, body))
        for obj, rt, ns, body in prepared:  # ApplyAll dry-runs every object before applying any
            shown = f"{obj.kind}/{ns}/{obj.name}" if ns else f"{obj.kind}/{obj.name}"
            if rt is None:
                gv = obj.api_version
                return _Result(
                    False,
                    "ReconciliationFailed",
                    f'{shown} dry-run failed: no matches for kind "{obj.kind}" in version "{gv}"',
                    digest,
                )
            if rt.namespaced and not ns:
                message = f"{shown} namespace not specified: the server could not find the requested resource"
                return _Result(False, "ReconciliationFailed", message, digest)
            try:
                self.cluster.apply(body, namespace=ns, manager=FIELD_MANAGER, force=True, dry_run=True)
            except StoreError as exc:
                reason = f" ({exc.reason})" if exc.reason else ""
                return _Result(False, "ReconciliationFailed", f"{shown} dry-run failed{reason}: {exc.message}", digest)
        entries: list[dict[str, str]] = []
        for obj, rt, ns, body in prepared:
            assert rt is not None
            self.cluster.apply(body, namespace=ns, manager=FIELD_MANAGER, force=True)
            group, _, version = obj.api_version.rpartition("/")
            entries.append({"id": f"{ns or ''}_{obj.name}_{group}_{obj.kind}", "v": version})
        if spec.get("prune"):
            self._prune(ks, {e["id"] for e in entries})
        return _Result(True, "ReconciliationSucceeded", f"Applied revision: {revision}", digest, entries)

    def _prune(self, ks: Mapping[str, Any], keep: set[str]) -> None:
        """Garbage collection: delete what the last inventory has and the new one does not."""
        old = ((ks.get("status") or {}).get("inventory") or {}).get("entries") or ()
        for entry in old:
            if entry["id"] in keep:
                continue
            ns, name, group, kind = entry["id"].split("_", 3)
            rt = self.cluster.type_for(f"{group}/{entry['v']}" if group else entry["v"], kind)
            if rt is None:
                continue
            live = self.cluster.get(rt, ns or None, name)
            annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
            if live is None or annotations.get(f"{KS_GROUP}/prune") == "disabled":
                continue
            self.cluster.delete(rt, ns or None, name)


@dataclass
class _Result:
    ok: bool
    reason: str
    message: str
    digest: str = ""
    inventory: list[dict[str, str]] | None = None


def _hash(revision: str) -> str:
    """The commit hash of a revision (fluxcd/pkg ``git`` ``ExtractHashFromRevision``: after the last ``:`` or ``/``)."""
    return re.split(r"[:/]", revision)[-1] if revision else ""


def _record_request(requested: str | None) -> Callable[[dict[str, Any]], None]:
    def change(status: dict[str, Any]) -> None:
        if requested is not None:
            status["lastHandledReconcileAt"] = requested

    return change


def _finalize(requested: str | None, generation: int) -> Callable[[dict[str, Any]], None]:
    """kustomize-controller ``finalizeStatus``."""

    def change(status: dict[str, Any]) -> None:
        _record_request(requested)(status)
        ready = next((c for c in status.get("conditions") or () if c["type"] == "Ready"), None)
        if ready is not None and ready["status"] == "True":
            drop_condition(status, "Reconciling")
            drop_condition(status, "Stalled")
            status["observedGeneration"] = generation
        reconciling = next((c for c in status.get("conditions") or () if c["type"] == "Reconciling"), None)
        if ready is not None and ready["status"] == "False" and reconciling is not None:
            reconciling["reason"] = "ProgressingWithRetry"
        if not status.get("conditions"):
            status.pop("conditions", None)

    return change


def _upsert_history(
    status: dict[str, Any], digest: str, *, now: datetime, took: float, reason: str, revision: str
) -> None:
    """kustomize-controller ``api/v1`` ``History.Upsert``: newest first, one entry per digest and status, five kept."""
    history: list[dict[str, Any]] = status.setdefault("history", [])
    for entry in history:
        if entry["digest"] == digest and entry["lastReconciledStatus"] == reason:
            entry["lastReconciled"] = _stamp(now)
            entry["lastReconciledDuration"] = f"{took:.0f}s" if took >= 1 else "0s"
            entry["totalReconciliations"] = int(entry["totalReconciliations"]) + 1
            entry["metadata"] = {"revision": revision}
            history.remove(entry)
            history.insert(0, entry)
            break
    else:
        history.insert(
            0,
            {
                "digest": digest,
                "firstReconciled": _stamp(now),
                "lastReconciled": _stamp(now),
                "lastReconciledDuration": "0s",
                "lastReconciledStatus": reason,
                "totalReconciliations": 1,
                "metadata": {"revision": revision},
            },
        )
    del history[5:]
