"""The build dispatcher: queued builds start running, and running builds finish on a later tick.

A build runs a PipelineRun that references ``image-factory-build-v1-<method>`` by name in the tenant
namespace ``image-factory-<tenant[:8]>`` (imagefactoryoss/imagefactory ``backend/internal/domain/build/
method_tekton_executor.go``: the namespace is ``namespaceMgr.GetNamespace(build.TenantID())``, see
``tekton_namespaces.build_namespace``; the pipeline names in ``method_tekton_executor_templates.go`` do not
depend on the provider's profile). The simulator decides the outcome from the shared ``ClusterState``: the build
completes only when that Pipeline exists and every Task its stored spec references through ``taskRef``
exists in the same namespace; otherwise it fails with an ``error_message`` naming what is missing. On a
completed or task-failed run a PipelineRun object is recorded in the store, as a real run would leave one.
"""

from __future__ import annotations

import logging
from typing import Any

from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory.readiness import UNREACHABLE_ERROR
from gitrollback.testing.imagefactory.state import Build, SimState
from gitrollback.testing.imagefactory.tekton_namespaces import build_namespace

__all__ = ["build_method", "dispatch_tick", "start_build"]

logger = logging.getLogger(__name__)

_METHODS = {
    "docker": "docker",
    "container": "docker",
    "buildx": "buildx",
    "kaniko": "kaniko",
    "packer": "packer",
}


def build_method(manifest: dict[str, Any]) -> str:
    """``build_config.build_type`` (snake or camel case), else ``manifest.type``; container is docker."""
    config = manifest.get("build_config") or manifest.get("buildConfig") or {}
    raw = ""
    if isinstance(config, dict):
        raw = str(config.get("build_type") or config.get("buildType") or "")
    raw = (raw or str(manifest.get("type") or "container")).strip().lower()
    return _METHODS.get(raw, raw)


def start_build(state: SimState, build: Build) -> None:
    """Move a build to running now; it finishes on the next dispatcher tick (lock held by the caller)."""
    stamp = state.now()
    build.status = "running"
    build.started_at = stamp
    build.completed_at = None
    build.error_message = None
    build.result = None
    build.updated_at = stamp
    build.dispatched_tick = state.build_tick_count
    state.changed()


def _task_refs(pipeline: dict[str, Any]) -> list[str]:
    spec = pipeline.get("spec") or {}
    names: list[str] = []
    for entry in [*(spec.get("tasks") or []), *(spec.get("finally") or [])]:
        ref = entry.get("taskRef") if isinstance(entry, dict) else None
        name = ref.get("name") if isinstance(ref, dict) else None
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def _outcome(state: SimState, cluster: ClusterState, build: Build) -> tuple[str, str | None, dict[str, Any] | None]:
    method = build.method
    if method not in _METHODS.values():
        return "failed", f"unsupported build method for tekton executor: {method}", None
    with state.cond:
        provider = state.providers.get(build.provider_id)
        reachable = provider.cluster_reachable if provider else False
    if not reachable:
        return "failed", f"failed to create PipelineRun: {UNREACHABLE_ERROR}", None
    ns = build_namespace(build.tenant_id)
    pipeline_name = f"image-factory-build-v1-{method}"
    pipeline_rt = cluster.type_for_plural("tekton.dev", "v1", "pipelines")
    task_rt = cluster.type_for_plural("tekton.dev", "v1", "tasks")
    pipeline = cluster.get(pipeline_rt, ns, pipeline_name) if pipeline_rt else None
    if pipeline is None or task_rt is None:
        return "failed", f"tekton pipeline {pipeline_name} not found in namespace {ns}", None
    missing = [name for name in _task_refs(pipeline) if cluster.get(task_rt, ns, name) is None]
    run_name = f"{pipeline_name}-{build.id[:8]}"
    succeeded = not missing
    cluster.put(
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {
                "name": run_name,
                "namespace": ns,
                "labels": {"image-factory.io/build-id": build.id},
            },
            "spec": {"pipelineRef": {"name": pipeline_name}},
            "status": {
                "conditions": [
                    {
                        "type": "Succeeded",
                        "status": "True" if succeeded else "False",
                        "reason": "Succeeded" if succeeded else "CouldntGetTask",
                    }
                ]
            },
        }
    )
    result = {"pipeline_run": run_name, "pipeline": pipeline_name, "namespace": ns}
    if missing:
        return (
            "failed",
            f"tekton task(s) referenced by {pipeline_name} not found in namespace {ns}: {', '.join(missing)}",
            result,
        )
    return "completed", None, result


def dispatch_tick(state: SimState, cluster: ClusterState) -> None:
    """One dispatcher tick: finish builds started on earlier ticks, then start every queued build."""
    with state.cond:
        state.build_tick_count += 1
        tick = state.build_tick_count
        finishing = [b for b in state.builds.values() if b.status == "running" and b.dispatched_tick < tick]
        queued = sorted((b for b in state.builds.values() if b.status == "queued"), key=lambda b: (b.created_at, b.seq))
    for build in finishing:
        status, error, result = _outcome(state, cluster, build)
        with state.cond:
            if build.status != "running":  # cancelled meanwhile
                continue
            build.status, build.error_message, build.result = status, error, result
            build.completed_at = build.updated_at = state.now()
            state.changed()
        logger.info("simulated build %s finished: %s", build.id, status)
    with state.cond:
        for build in queued:
            if build.status == "queued":
                start_build(state, build)
                build.dispatched_tick = tick
