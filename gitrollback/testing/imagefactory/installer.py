"""The Tekton installer job runner: what one claimed job does to the cluster and to the records.

Follows imagefactoryoss/imagefactory ``backend/internal/domain/infrastructure/service.go``:
``RunNextTektonInstallerJob`` (the operation comes from the job's *first* event,
``getInstallerJobOperation``), ``executeInstallOrUpgradeInstallerJob`` and ``applyTektonAssetsToProvider``.
``image_factory_installer`` install and upgrade check the bootstrap auth, run the Tekton API preflight, ensure
the target namespace (``tekton_namespaces.tekton_target_namespace``), read the asset tree from the simulator's
``asset_root`` (the server's file system, as ``IF_TEKTON_ASSETS_DIR`` names it; clients cannot upload
manifests), expand it with the simulator's own reading of the Go code (``tekton_assets``: resources list and
profile rewrite, not kustomize), and server-side apply every object in order with field manager
``image-factory-tekton-installer`` and ``force=True``, parsing each file just before its objects are applied,
stopping at the first failure and never pruning. ``gitops`` only records ``<op>.delegated``; ``validate`` runs
the connector test. Success ends with the post-operation readiness refresh (the job succeeds even when that says
not_ready); failure forces the provider not_ready/offline with ``tekton <op> failed: <error>``.

Not modelled: the history-cleanup policy, task-image overrides and storage profiles that
``applyTektonAssetsToProvider`` applies to each file's objects (they rewrite object bodies from server settings
the simulator does not have), and the Tekton core install (``ensureTektonAPIsOrInstall``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitrollback.testing.cluster_state import ClusterState, StoreError
from gitrollback.testing.imagefactory.connector import rest_config_error
from gitrollback.testing.imagefactory.readiness import (
    UNREACHABLE_ERROR,
    ReadinessCheckFailed,
    persist,
    post_op_readiness,
)
from gitrollback.testing.imagefactory.state import Event, Job, ProviderRecord, SimState, new_id
from gitrollback.testing.imagefactory.tekton_assets import (
    KUSTOMIZATION,
    InstallerError,
    file_exists,
    file_objects,
    go_join,
    nested_string,
    object_namespace,
    resource_files_for_job,
)
from gitrollback.testing.imagefactory.tekton_namespaces import tekton_target_namespace

__all__ = ["FIELD_MANAGER", "Installer", "add_event"]

logger = logging.getLogger(__name__)

FIELD_MANAGER = "image-factory-tekton-installer"
GROUP_VERSIONS = ["tekton.dev/v1", "tekton.dev/v1beta1"]
REQUIRED_RESOURCES = ["tasks", "pipelines", "pipelineruns"]
OPERATIONS = ("install", "upgrade", "validate")


def _node_ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


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


def resolve_job_operation(job: Job) -> tuple[str | None, str]:
    """``getInstallerJobOperation``: ``(operation, "")``, or ``(None, error)`` when it cannot be resolved.

    The first event's ``details.operation`` (lowercased) if it names an operation, else its type's prefix
    before ``.requested``.
    """
    if not job.events:
        return None, "missing installer job request event"
    first = job.events[0]
    raw = first.details.get("operation")
    if isinstance(raw, str) and raw.lower() in OPERATIONS:
        return raw.lower(), ""
    if first.event_type.endswith(".requested"):
        op = first.event_type.lower().removesuffix(".requested")
        if op in OPERATIONS:
            return op, ""
    return None, f'unsupported installer job operation from event type "{first.event_type}"'


def job_operation(job: Job) -> str | None:
    """The job's operation as ``getInstallerJobOperation`` resolves it, or None."""
    return resolve_job_operation(job)[0]


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
        add_event(self._state, job, "job.started", "Installer job execution started", {"status": "running"})
        return job

    def run(self, job: Job) -> None:
        """Execute a claimed job to a terminal status."""
        op, error = resolve_job_operation(job)
        if op is None:
            self._finish(job, "failed", error)
            add_event(
                self._state, job, "job.failed", "Installer job failed to resolve requested operation", {"error": error}
            )
            return
        try:
            with self._state.cond:
                provider = copy.deepcopy(self._state.providers[job.provider_id])
            mode = job.install_mode or "image_factory_installer"  # executeInstallOrUpgradeInstallerJob's default
            if op == "validate":
                self._validate(job, provider)
            elif mode == "gitops":
                add_event(
                    self._state,
                    job,
                    f"{op}.delegated",
                    "GitOps mode selected; Image Factory does not apply Tekton assets directly",
                    {
                        "install_mode": job.install_mode,
                        "asset_version": job.asset_version,
                        "manual_action": "sync assets via GitOps controller",
                        "operation_type": op,
                    },
                )
            elif mode == "image_factory_installer":
                self._apply_assets(job, op, provider)
            else:
                raise _JobFailed(f"{op} operation is not implemented for install_mode={mode} yet")
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
        add_event(self._state, job, "job.failed", "Installer job failed", {"operation": op, "error": error})

    def _succeed(self, job: Job, op: str) -> None:
        """The post-operation refresh, then ``succeeded`` (``RunNextTektonInstallerJob``: a readiness that is not
        ready, or a check that could not run and saved nothing, never fails the job)."""
        with self._state.cond:
            provider = copy.deepcopy(self._state.providers.get(job.provider_id))
        if provider is not None:
            try:
                status, missing = post_op_readiness(provider, self._cluster, job_tenant=job.tenant_id)
            except ReadinessCheckFailed as exc:
                add_event(
                    self._state,
                    job,
                    "job.readiness.failed",
                    "Post-operation readiness check failed",
                    {"status": "", "missing_prereqs": None, "error": str(exc)},
                )
            else:
                with self._state.cond:
                    live = self._state.providers.get(job.provider_id)
                    if live is not None:
                        persist(live, status, missing, self._state.now())
                add_event(
                    self._state,
                    job,
                    "job.readiness.summary",
                    "Post-operation readiness check completed",
                    {"status": status, "missing_prereqs": missing},
                )
        self._finish(job, "succeeded")
        add_event(self._state, job, "job.succeeded", "Installer job completed successfully", {"operation": op})

    # -- operations -------------------------------------------------------------------------------------

    def _validate(self, job: Job, provider: ProviderRecord) -> None:
        """``executeValidateInstallerJob``: the connector of ``ConnectorFactory.CreateConnector`` (kubernetes and
        build_nodes only, ``connectors/connector.go``) and its ``TestConnection``."""
        if provider.provider_type not in ("kubernetes", "build_nodes"):
            raise _JobFailed(
                f"failed to create provider connector: unsupported provider type: {provider.provider_type}"
            )
        if provider.provider_type == "build_nodes":
            self._validate_build_nodes(job, provider)
            return
        # KubernetesConnector.TestConnection (connectors/connector.go) reports these as a failed result.
        config_error = rest_config_error(provider.config)
        if config_error is not None:
            raise _JobFailed(f"provider validation failed: invalid runtime auth config: {config_error}")
        if not provider.cluster_reachable:
            raise _JobFailed(f"provider validation failed: failed to get server version: {UNREACHABLE_ERROR}")
        auth = provider.config["runtime_auth"]
        nodes = self._cluster.list(self._cluster_type("nodes"))
        namespaces = self._cluster.list(self._cluster_type("namespaces"))
        message = "Successfully connected to Kubernetes cluster"
        details = {
            "host": next((auth[k] for k in ("apiServer", "endpoint", "cluster_endpoint") if auth.get(k)), ""),
            "auth_method": auth["auth_method"],
            "node_count": len(nodes),
            "nodes": [{"name": n["metadata"]["name"], "ready": _node_ready(n)} for n in nodes],  # getNodeSummary
            "namespace_count": len(namespaces),
            "server_version": "v1.31.0",
            "platform": "linux/amd64",
        }
        add_event(
            self._state,
            job,
            "validate.completed",
            "Provider connectivity validation succeeded",
            {"message": message, "details": details},
        )

    def _validate_build_nodes(self, job: Job, provider: ProviderRecord) -> None:
        """``BuildNodesConnector.TestConnection``: only checks that ``config.endpoint`` is a string."""
        config = provider.config
        endpoint = config.get("endpoint")
        if not isinstance(endpoint, str):
            raise _JobFailed("provider validation failed: endpoint is required in config")
        details: dict[str, Any] = {"endpoint": endpoint}
        auth = "api_key" if isinstance(config.get("api_key"), str) else None
        details["auth_method"] = auth or ("token" if isinstance(config.get("token"), str) else "none")
        if isinstance(config.get("region"), str):
            details["region"] = config["region"]
        message = "Successfully connected to build nodes"
        add_event(
            self._state,
            job,
            "validate.completed",
            "Provider connectivity validation succeeded",
            {"message": message, "details": details},
        )

    def _cluster_type(self, plural: str) -> Any:
        return self._cluster.type_for_plural("", "v1", plural)

    def _preflight(self, job: Job, op: str, provider: ProviderRecord) -> None:
        add_event(
            self._state,
            job,
            f"{op}.preflight.started",
            "Running Tekton API preflight checks",
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
            # The real server would now install Tekton core (ensureTektonAPIsOrInstall); the simulator cannot
            # download release manifests, so a cluster without tekton.dev fails here with our wording.
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
                "core_install": None,  # installDetails: nil when the APIs were there already
            },
        )

    def _ensure_namespace(self, namespace: str) -> None:
        """``ensureNamespace`` (service.go): a GET, then a create labelled ``app`` and ``managedBy``
        ``image-factory`` (client-go's default field manager is the binary's name, ``server``)."""
        if self._cluster.namespace_exists(namespace):
            return
        labels = {"app": "image-factory", "managedBy": "image-factory"}
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
        self._cluster.put({**body, "status": {"phase": "Active"}}, manager="server")

    def _resolve_root(self) -> str:
        """``resolveTektonAssetRootDir`` with the simulator's ``asset_root`` in the role of ``IF_TEKTON_ASSETS_DIR``."""
        root = self._asset_root()
        if root is None:
            # No override and no candidate directory: the Go text lists the candidates it checked.
            checked = "backend/tekton, tekton, /app/tekton"
            raise _JobFailed(f"failed to resolve tekton asset root directory (checked {checked})")
        path = str(root)
        if not file_exists(go_join(path, KUSTOMIZATION)):
            raise _JobFailed(f"IF_TEKTON_ASSETS_DIR is set but kustomization.yaml not found in {path}")
        return path

    def _apply_assets(self, job: Job, op: str, provider: ProviderRecord) -> None:
        bootstrap_error = rest_config_error(provider.config, "bootstrap")
        if bootstrap_error is not None:
            raise _JobFailed(f"invalid provider bootstrap auth config: {bootstrap_error}")
        self._preflight(job, op, provider)
        ns = tekton_target_namespace(
            target_namespace=provider.target_namespace,
            config=provider.config,
            provider_tenant=provider.tenant_id,
            tenant_id=job.tenant_id,
        )
        try:
            self._ensure_namespace(ns)
        except StoreError as exc:
            raise _JobFailed(f"failed to ensure target namespace {ns}: {exc.message}") from exc
        root = self._resolve_root()
        try:
            paths = resource_files_for_job(root, job.asset_version)
        except InstallerError as exc:
            raise _JobFailed(str(exc)) from exc
        add_event(
            self._state,
            job,
            f"{op}.apply.started",
            "Applying Tekton asset manifests",
            {"asset_root": root, "target_namespace": ns, "resource_files": paths},
        )
        applied: list[str] = []
        for path in paths:
            try:
                objects = file_objects(path)
            except InstallerError as exc:
                raise _JobFailed(str(exc)) from exc
            for obj in objects:
                applied.append(self._apply_object(job, op, path, obj, ns))
        add_event(
            self._state,
            job,
            f"{op}.apply.completed",
            "Applied Tekton asset manifests successfully",
            {"asset_root": root, "target_namespace": ns, "applied_objects": applied},
        )

    def _apply_object(self, job: Job, op: str, path: str, obj: dict[str, Any], ns: str) -> str:
        """Map, place and server-side apply one object (the loop body of ``applyTektonAssetsToProvider``)."""
        api_version, kind = nested_string(obj, "apiVersion"), nested_string(obj, "kind")
        name = nested_string(obj, "metadata", "name")
        ref = f"{kind}/{name}"
        base = {"resource_file": path, "kind": kind, "name": name}
        rt = self._cluster.type_for(api_version, kind)
        if rt is None:
            error = f'no matches for kind "{kind}" in version "{api_version}"'
            details = {**base, "error": error}
            add_event(self._state, job, f"{op}.apply.failed", "Failed to map manifest resource", details)
            raise _JobFailed(f"failed to map resource {ref}: {error}")
        obj_ns = object_namespace(obj, namespaced=rt.namespaced, target_namespace=ns)
        try:
            self._cluster.apply(obj, namespace=obj_ns, manager=FIELD_MANAGER, force=True)
        except StoreError as exc:
            # obj.GetNamespace() after the placement: what the body says (empty for most cluster-scoped objects).
            details = {**base, "namespace": nested_string(obj, "metadata", "namespace"), "error": exc.message}
            add_event(self._state, job, f"{op}.apply.failed", "Failed to apply manifest object", details)
            raise _JobFailed(f"failed to apply {ref} from {path}: {exc.message}") from exc
        details = {**base, "namespace": nested_string(obj, "metadata", "namespace")}
        add_event(self._state, job, f"{op}.apply.object", "Applied manifest object", details)
        return ref
