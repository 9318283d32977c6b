"""One simulated Argo CD Application: its stored fields, its JSON form, and its fault switches.

The stored shape follows ``v1alpha1Application`` in Argo CD's swagger and argoproj/argo-cd
``pkg/apis/application/v1alpha1/types.go``: top-level
``operation`` (present only while an operation is requested or running), ``spec.source``/``destination``/
``syncPolicy``, and ``status`` with ``sync``, ``health``, ``operationState``, ``reconciledAt``, ``history``,
``resources`` and ``conditions``. Go's ``omitempty`` tags decide what is left out: a cleared ``operation``
disappears from the JSON rather than turning into ``null``, false booleans are not sent, empty lists vanish.

The controller (``_argocd_controller``) mutates these records under the simulator's lock; this module only
holds state and renders it, so the rules of the controller stay readable in one place.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitrollback.testing._argocd_git import GitReader
from gitrollback.testing._argocd_wire import rfc3339

__all__ = ["ARGOCD_NAMESPACE", "REFRESH_ANNOTATION", "SimApp"]

REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
#: (group, kind, namespace, name) of an object an application manages
ObjectKey = tuple[str, str, str, str]


@dataclass
class SimApp:
    """The simulator's record of one Application plus the controller's private bookkeeping."""

    name: str
    project: str
    repo_url: str
    path: str
    target_revision: str
    namespace: str
    auto_sync: bool
    self_heal: bool
    prune: bool
    git: GitReader
    created: datetime
    directory: dict[str, Any] | None = None  # spec.source.directory: makes the app a Directory app
    source_type: str = "Kustomize"  # status.sourceType, from the last manifest generation
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    resource_version: int = 1
    revision_history_limit: int = 10
    annotations: dict[str, str] = field(default_factory=dict)
    operation: dict[str, Any] | None = None
    status: dict[str, Any] = field(default_factory=dict)
    # -- controller bookkeeping -----------------------------------------------------------------------------
    refresh_requested: str | None = None
    refresh_delay: int = 0
    refreshes_done: int = 0
    resync_left: int = 0
    op_ticks_left: int = 0
    retry_ticks_left: int = 0
    managed: dict[ObjectKey, str] = field(default_factory=dict)  # -> apiVersion, for pruning
    apply_error: str | None = None
    sync_requests: list[dict[str, Any]] = field(default_factory=list)
    # -- fault switches ---------------------------------------------------------------------------------------
    hold_operation: bool = False
    slow_refresh_ticks: int = 0
    stale_ticks: int = 0
    sync_failures: list[tuple[str, str]] = field(default_factory=list)
    degrade_armed: tuple[str, int | None] | None = None
    degraded: str | None = None
    degraded_ticks: int | None = None

    def bump(self) -> None:
        """Every write to the CR bumps its resourceVersion."""
        self.resource_version += 1

    @property
    def source(self) -> dict[str, Any]:
        """``spec.source``."""
        source: dict[str, Any] = {"repoURL": self.repo_url, "path": self.path, "targetRevision": self.target_revision}
        if self.directory is not None:
            source["directory"] = copy.deepcopy(self.directory)
        return source

    @property
    def destination(self) -> dict[str, Any]:
        """``spec.destination``."""
        return {"server": IN_CLUSTER, "namespace": self.namespace}

    @property
    def phase(self) -> str | None:
        """``status.operationState.phase``, if any."""
        state = self.status.get("operationState")
        return state.get("phase") if isinstance(state, dict) else None

    def to_json(self) -> dict[str, Any]:
        """The Application as ``GET /api/v1/applications/{name}`` returns it."""
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": ARGOCD_NAMESPACE,
            "uid": self.uid,
            "resourceVersion": str(self.resource_version),
            "generation": 1,
            "creationTimestamp": rfc3339(self.created),
        }
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        spec: dict[str, Any] = {
            "source": self.source,
            "destination": self.destination,
            "project": self.project,
        }
        if self.auto_sync:
            automated: dict[str, Any] = {}
            if self.prune:
                automated["prune"] = True
            if self.self_heal:
                automated["selfHeal"] = True
            spec["syncPolicy"] = {"automated": automated}
        out: dict[str, Any] = {"metadata": meta, "spec": spec}
        if self.operation is not None:
            out["operation"] = copy.deepcopy(self.operation)
        status = {k: copy.deepcopy(v) for k, v in self.status.items() if v not in (None, [], {})}
        status.setdefault("sync", {"status": "Unknown"})
        status.setdefault("health", {"status": "Unknown"})
        status["sourceType"] = self.source_type
        status["controllerNamespace"] = ARGOCD_NAMESPACE
        out["status"] = status
        return out
