"""The Tekton installer job runner: what one claimed job does to the cluster and to the records.

Follows ``RunNextTektonInstallerJob`` and ``applyTektonAssetsToProvider`` (contract ``imagefactory-api.md``
§4.2, §4.3, §6): the operation comes from the job's *first* event; ``image_factory_installer`` install and
upgrade check the bootstrap auth, run the Tekton API preflight, ensure the target namespace
(``installer_namespace``), read the asset tree from the simulator's ``asset_root`` (the "server filesystem";
clients cannot upload manifests), expand it with ``gitrollback.assets`` (resources list + profile rewrite,
not kustomize), and server-side apply every object in order with field manager
``image-factory-tekton-installer`` and ``force=True``, stopping at the first failure and never pruning.
``gitops`` only records ``<op>.delegated``; ``validate`` runs the connector test. Success ends with the
post-operation readiness refresh (the job succeeds even when that says not_ready); failure forces the
provider not_ready/offline with ``tekton <op> failed: <error>``.

Not modelled: the history-cleanup policy, task-image overrides and storage profiles of §6.1 step 6 (they
rewrite object bodies from server settings the simulator does not have), and the Tekton core install.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitrollback.assets import KUSTOMIZATION, expand_assets, resource_files
from gitrollback.errors import AssetError
from gitrollback.namespaces import installer_namespace
from gitrollback.testing.cluster_state import ClusterState, StoreError
from gitrollback.testing.imagefactory.readiness import (
    UNREACHABLE_ERROR,
    auth_config_ok,
    persist,
    post_op_readiness,
)
from gitrollback.testing.imagefactory.state import Event, Job, ProviderRecord, SimState, new_id

__all__ = ["FIELD_MANAGER", "Installer", "add_event"]

logger = logging.getLogger(__name__)

FIELD_MANAGER = "image-factory-tekton-installer"
GROUP_VERSIONS = ["tekton.dev/v1", "tekton.dev/v1beta1"]
REQUIRED_RESOURCES = ["tasks", "pipelines", "pipelineruns"]
OPERATIONS = ("install", "upgrade", "validate")


class _JobFailed(Exception):
    """Internal: the job fails with this error message."""


def add_event(
    state: SimState,
    job: Job,
    event_type: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    created_by: str | None = None,
) -> Event:
    """Append an event to a job (takes the lock)."""
    with state.cond:
        event = Event(new_id(), job.id, event_type, message, dict(details or {}), state.now(), created_by)
        job.events.append(event)
        state.changed()
        return event


def job_operation(job: Job) -> str | None:
    """The operation from the first event: details ``operation``, else the type prefix (§4.2 step 4)."""
    if not job.events:
        return None
    first = job.events[0]
    op = first.details.get("operation")
    if op in OPERATIONS:
        return str(op)
    prefix = first.event_type.split(".", 1)[0]
    return prefix if prefix in OPERATIONS else None


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _asset_error(exc: AssetError, root: Path) -> str:
    """Turn ``gitrollback.assets`` messages into the installer's ``error_message`` forms (§4.3, §6.1)."""
    if exc.message.startswith("tekton profile version"):
        return exc.message  # identical wording in the installer
    where = (root / exc.path).as_posix() if exc.path else root.as_posix()
    if exc.message.startswith("resource listed in"):
        # Go's os.ReadFile error; the exact prefix the installer adds is not in the contract (our choice).
        return f"failed to read tekton resource file {where}: open {where}: no such file or directory"
    return f"failed to parse tekton resource file {where}: {exc.message}"


class Installer:
    """Runs installer jobs against a ``ClusterState``; ``asset_root`` is read at run time via a callable."""

    def __init__(self, state: SimState, cluster: ClusterState, asset_root: Callable[[], Path | None]) -> None:
        self._state = state
        self._cluster = cluster
        self._asset_root = asset_root

    def claim_next(self) -> Job | None:
        """Claim the oldest pending job (FIFO by ``created_at``): running, ``started_at``, ``job.started``."""
        with self._state.cond:
            pending = [j for j in self._state.jobs.values() if j.status == "pending"]
            if not pending:
                return None
            job = min(pending, key=lambda j: (j.created_at, j.seq))
            job.status = "running"
            job.started_at = job.started_at or self._state.now()
            job.updated_at = self._state.now()
        add_event(self._state, job, "job.started", "Tekton installer job started", {"status": "running"})
        return job

    def run(self, job: Job) -> None:
        """Execute a claimed job to a terminal status."""
        op = job_operation(job)
        if op is None:
            error = "unable to determine tekton installer operation"  # our wording (§4.2 step 4)
            self._finish(job, "failed", error)
            add_event(self._state, job, "job.failed", "Tekton installer job failed", {"error": error})
            return
        try:
            with self._state.cond:
                provider = copy.deepcopy(self._state.providers[job.provider_id])
            if op == "validate":
                self._validate(job, provider)
            elif job.install_mode == "gitops":
                add_event(
                    self._state,
                    job,
                    f"{op}.delegated",
                    f"Tekton {op} delegated to the GitOps controller",
                    {
                        "install_mode": job.install_mode,
                        "asset_version": job.asset_version,
                        "manual_action": "sync assets via GitOps controller",
                        "operation_type": op,
                    },
                )
            elif job.install_mode == "image_factory_installer":
                self._apply_assets(job, op, provider)
            else:
                raise _JobFailed(f"{op} operation is not implemented for install_mode={job.install_mode} yet")
        except _JobFailed as exc:
            self._fail(job, op, str(exc))
            return
        self._succeed(job, op)

    # -- outcomes ---------------------------------------------------------------------------------------

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        with self._state.cond:
            job.status = status
            job.error_message = error
            job.completed_at = job.updated_at = self._state.now()
            self._state.changed()

    def _fail(self, job: Job, op: str, error: str) -> None:
        logger.info("simulated installer job %s (%s) failed: %s", job.id, op, error)
        with self._state.cond:
            provider = self._state.providers.get(job.provider_id)
            if provider is not None:
                persist(provider, "not_ready", [f"tekton {op} failed: {error}"], self._state.now())
        self._finish(job, "failed", error)
        add_event(self._state, job, "job.failed", f"Tekton {op} failed", {"operation": op, "error": error})

    def _succeed(self, job: Job, op: str) -> None:
        with self._state.cond:
            provider = copy.deepcopy(self._state.providers.get(job.provider_id))
        if provider is not None:
            status, missing = post_op_readiness(provider, self._cluster, job_tenant=job.tenant_id)
            with self._state.cond:
                live = self._state.providers.get(job.provider_id)
                if live is not None:
                    persist(live, status, missing, self._state.now())
            add_event(
                self._state,
                job,
                "job.readiness.summary",
                f"Provider readiness after {op}: {status}",
                {"status": status, "missing_prereqs": missing},
            )
        self._finish(job, "succeeded")
        add_event(self._state, job, "job.succeeded", f"Tekton {op} succeeded", {"operation": op})

    # -- operations -------------------------------------------------------------------------------------

    def _validate(self, job: Job, provider: ProviderRecord) -> None:
        if provider.provider_type not in ("kubernetes", "build_nodes"):
            raise _JobFailed(
                f"failed to create provider connector: unsupported provider type: {provider.provider_type}"
            )
        auth = provider.config.get("runtime_auth")
        if not auth_config_ok(auth):
            raise _JobFailed("provider validation failed: invalid runtime auth config")  # our wording
        if not provider.cluster_reachable:
            raise _JobFailed(f"provider validation failed: failed to get server version: {UNREACHABLE_ERROR}")
        auth = dict(auth) if isinstance(auth, dict) else {}
        nodes = self._cluster.list(self._cluster_type("nodes"))
        namespaces = self._cluster.list(self._cluster_type("namespaces"))
        message = "Successfully connected to Kubernetes cluster"
        details = {
            "host": str(auth.get("endpoint") or auth.get("server") or "https://kubernetes.default.svc"),
            "auth_method": str(auth.get("auth_method") or "token"),
            "node_count": len(nodes),
            "nodes": [n["metadata"]["name"] for n in nodes],
            "namespace_count": len(namespaces),
            "server_version": "v1.31.0",
            "platform": "linux/amd64",
        }
        add_event(self._state, job, "validate.completed", message, {"message": message, "details": details})

    def _cluster_type(self, plural: str) -> Any:
        return self._cluster.type_for_plural("", "v1", plural)

    def _preflight(self, job: Job, op: str, provider: ProviderRecord) -> None:
        add_event(
            self._state,
            job,
            f"{op}.preflight.started",
            "Tekton API preflight started",
            {"group_versions": GROUP_VERSIONS},
        )
        present = [
            plural
            for plural in REQUIRED_RESOURCES
            if any(self._cluster.type_for_plural("tekton.dev", v, plural) for v in ("v1", "v1beta1"))
        ]
        error: str | None = None
        if not provider.cluster_reachable:
            error = UNREACHABLE_ERROR
        elif len(present) != len(REQUIRED_RESOURCES):
            # The real server would now install Tekton core (§6.1 step 2); the simulator cannot download
            # release manifests, so a cluster without tekton.dev fails here with our wording.
            source = provider.config.get("tekton_core_install_source") or "manifest"
            error = f"tekton APIs not available and core install via {source} is not supported by the simulator"
        if error:
            add_event(
                self._state,
                job,
                f"{op}.preflight.failed",
                "Tekton API preflight failed",
                {"group_versions": GROUP_VERSIONS, "error": error},
            )
            raise _JobFailed(f"tekton API preflight failed: {error}")
        add_event(
            self._state,
            job,
            f"{op}.preflight.passed",
            "Tekton API preflight passed",
            {
                "group_versions": GROUP_VERSIONS,
                "required_resources": REQUIRED_RESOURCES,
                "present_resources": present,
                "core_install": False,
            },
        )

    def _resolve_root(self) -> Path:
        root = self._asset_root()
        if root is None:
            # resolveTektonAssetRootDir found no candidate (§6.1 step 4); the message is our wording.
            raise _JobFailed("failed to resolve tekton assets directory: no candidate contains kustomization.yaml")
        root = root.resolve()
        if not (root / KUSTOMIZATION).is_file():
            raise _JobFailed(f"tekton assets dir {root.as_posix()} does not contain {KUSTOMIZATION}")
        return root

    def _apply_assets(self, job: Job, op: str, provider: ProviderRecord) -> None:
        if "bootstrap_auth" not in provider.config:
            raise _JobFailed(
                "invalid provider bootstrap auth config: bootstrap auth config is required (config.bootstrap_auth)"
            )
        if not auth_config_ok(provider.config.get("bootstrap_auth")):
            raise _JobFailed("invalid provider bootstrap auth config: bootstrap auth config could not be built")
        self._preflight(job, op, provider)
        ns = installer_namespace(
            target_namespace=provider.target_namespace,
            config=provider.config,
            provider_tenant=provider.tenant_id,
            job_tenant=job.tenant_id,
        )
        try:
            self._cluster.ensure_namespace(ns)
        except StoreError as exc:
            raise _JobFailed(f"failed to ensure target namespace {ns}: {exc.message}") from exc
        root = self._resolve_root()
        files = _read_tree(root)
        try:
            paths = resource_files(files, job.asset_version)
        except AssetError as exc:
            raise _JobFailed(_asset_error(exc, root)) from exc
        add_event(
            self._state,
            job,
            f"{op}.apply.started",
            f"Applying Tekton assets to namespace {ns}",
            {
                "asset_root": root.as_posix(),
                "target_namespace": ns,
                "resource_files": [(root / p).as_posix() for p in paths],
            },
        )
        applied: list[str] = []
        for path in paths:
            abs_path = (root / path).as_posix()
            single = {KUSTOMIZATION: json.dumps({"resources": [path]}).encode(), path: files[path]}
            try:
                manifests = expand_assets(single, "v1")  # already rewritten: parse this one file only
            except AssetError as exc:
                raise _JobFailed(_asset_error(exc, root)) from exc
            for manifest in manifests:
                rt = self._cluster.type_for(manifest.api_version, manifest.kind)
                obj_ns = (manifest.namespace or ns) if rt is not None and rt.namespaced else None
                base = {"resource_file": abs_path, "kind": manifest.kind, "name": manifest.name}
                if rt is None:
                    error = f'no matches for kind "{manifest.kind}" in version "{manifest.api_version}"'
                    add_event(
                        self._state,
                        job,
                        f"{op}.apply.failed",
                        "Failed to map manifest resource",
                        {**base, "error": error},
                    )
                    raise _JobFailed(f"failed to map resource {manifest.ref}: {error}")
                try:
                    self._cluster.apply(
                        copy.deepcopy(dict(manifest.body)),
                        namespace=obj_ns,
                        manager=FIELD_MANAGER,
                        force=True,
                    )
                except StoreError as exc:
                    details = {**base, "namespace": obj_ns or "", "error": exc.message}
                    add_event(self._state, job, f"{op}.apply.failed", "Failed to apply manifest object", details)
                    raise _JobFailed(f"failed to apply {manifest.ref} from {abs_path}: {exc.message}") from exc
                add_event(
                    self._state,
                    job,
                    f"{op}.apply.object",
                    f"Applied {manifest.ref}",
                    {**base, "namespace": obj_ns or ""},
                )
                applied.append(manifest.ref)
        add_event(
            self._state,
            job,
            f"{op}.apply.completed",
            f"Applied {len(applied)} Tekton objects",
            {"asset_root": root.as_posix(), "target_namespace": ns, "applied_objects": applied},
        )
