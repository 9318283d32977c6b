"""Flux in the Kubernetes simulator: source-controller and kustomize-controller as timers on the shared clock.

Flux has no API server of its own: its objects are custom resources in the cluster, and ``flux reconcile`` is an
annotation plus a watch on their status. So ``FluxSimulator`` serves nothing; it runs the two controllers
(``_flux_controller``) over the same ``ClusterState`` the Kubernetes simulator serves, and any client (lightkube,
kubectl) drives it through the Kubernetes API as it would drive Flux. The cluster must serve Flux's kinds, which
come with their real CustomResourceDefinitions (``FLUX_TYPES``, from ``gitrollback/testing/specs/flux``): what an
API server with Flux installed refuses, the simulator refuses too.

GitRepository URLs stand for local git repositories (``add_repository``), read with the ``git`` CLI; Kustomizations
are built with kubectl's kustomize and applied with server-side apply under the ``kustomize-controller`` field
manager, like the real controllers do.

Usage::

    clock = FakeClock()
    cluster = ClusterState(CATALOG + FLUX_TYPES, namespaces=["flux-system", "apps"], clock=clock)
    with KubernetesSimulator(cluster).start() as kube, FluxSimulator(cluster, clock=clock).start() as flux:
        flux.add_git_repository("gitops", url="https://git.example/acme/gitops.git", repo_path=bare, branch="main")
        flux.add_kustomization("tekton", source="gitops", path="./backend/tekton", target_namespace="apps")
        flux.reconcile_all()   # converge now; afterwards the controllers tick every 3 s on the clock
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from gitrollback.testing._crd_schemas import FLUX_TYPES
from gitrollback.testing._flux_controller import FIELD_MANAGER, REQUESTED_AT, Controllers
from gitrollback.testing.clock import SimClock, TimerSet
from gitrollback.testing.cluster_state import ClusterState

__all__ = ["FIELD_MANAGER", "FLUX_TYPES", "REQUESTED_AT", "FluxSimulator"]

_SEED_MANAGER = "kubectl-client-side-apply"


class FluxSimulator:
    """source-controller and kustomize-controller over a ``ClusterState`` that serves ``FLUX_TYPES``.

    Args:
        cluster: where the Flux objects live and where Kustomizations apply (the Kubernetes simulator's store).
        tick: seconds between controller rounds; a Kustomization reconcile takes two rounds (its status first
            says it is in progress, as the real controller's first patch does).
        clock: the world's clock; a ``WallClock`` of its own, stopped by ``stop()``, when omitted.
        namespace: where ``add_git_repository`` and ``add_kustomization`` put objects by default.
    """

    def __init__(
        self,
        cluster: ClusterState,
        *,
        tick: float = 3.0,
        clock: SimClock | None = None,
        namespace: str = "flux-system",
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._timers = TimerSet(clock)
        self.clock: SimClock = self._timers.clock
        self._repositories: dict[str, Path] = {}
        self.controllers = Controllers(cluster, self.clock, self._repositories)
        self._paused = False
        self._timers.add("flux-controllers", tick, self._background_tick)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Register the controllers' timer on the clock."""
        self.cluster.ensure_namespace(self.namespace)
        self._timers.start()
        return self

    def stop(self) -> None:
        """Cancel the timer (stopping the clock if the simulator made it)."""
        self._timers.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _background_tick(self) -> None:
        if not self._paused:
            self.controllers.tick()

    def pause(self) -> None:
        """Stop reconciling (objects stay as they are; requests pile up unhandled)."""
        self._paused = True

    def resume(self) -> None:
        """Reconcile again."""
        self._paused = False

    @property
    def no_cross_namespace_refs(self) -> bool:
        """kustomize-controller's ``--no-cross-namespace-refs``: a source in another namespace is refused (Stalled)."""
        return self.controllers.no_cross_namespace_refs

    @no_cross_namespace_refs.setter
    def no_cross_namespace_refs(self, value: bool) -> None:
        self.controllers.no_cross_namespace_refs = value

    # -- seeding --------------------------------------------------------------------------------------------------

    def add_repository(self, url: str, repo_path: Path) -> None:
        """Make ``url`` stand for the local git repository at ``repo_path`` (bare or not)."""
        self._repositories[url] = Path(repo_path)

    def add_git_repository(
        self,
        name: str,
        *,
        url: str,
        repo_path: Path | None = None,
        branch: str = "main",
        interval: str = "1m",
        namespace: str | None = None,
        suspend: bool = False,
    ) -> dict[str, Any]:
        """Create a GitRepository (validated by its CRD) following ``branch`` of ``url``."""
        if repo_path is not None:
            self.add_repository(url, repo_path)
        spec: dict[str, Any] = {"url": url, "interval": interval, "ref": {"branch": branch}}
        if suspend:
            spec["suspend"] = True
        body = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace or self.namespace},
            "spec": spec,
        }
        return self.cluster.create(body, manager=_SEED_MANAGER)

    def add_kustomization(
        self,
        name: str,
        *,
        source: str,
        path: str,
        target_namespace: str | None = None,
        prune: bool = True,
        interval: str = "10m",
        retry_interval: str | None = None,
        depends_on: tuple[str, ...] = (),
        namespace: str | None = None,
        suspend: bool = False,
        extra_spec: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a Kustomization (validated by its CRD) building ``path`` of the GitRepository ``source``."""
        spec: dict[str, Any] = {
            "interval": interval,
            "path": path,
            "prune": prune,
            "sourceRef": {"kind": "GitRepository", "name": source},
        }
        if target_namespace:
            spec["targetNamespace"] = target_namespace
        if retry_interval:
            spec["retryInterval"] = retry_interval
        if depends_on:
            spec["dependsOn"] = [{"name": d} for d in depends_on]
        if suspend:
            spec["suspend"] = True
        spec.update(extra_spec or {})
        body = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace or self.namespace},
            "spec": spec,
        }
        return self.cluster.create(body, manager=_SEED_MANAGER)

    def reconcile_all(self, rounds: int = 4) -> None:
        """Run controller rounds now, without waiting for the timer (seeding; a Kustomization needs two)."""
        for _ in range(rounds):
            self.controllers.tick()

    # -- accessors --------------------------------------------------------------------------------------------------

    def kustomization(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The Kustomization as stored (KeyError when missing)."""
        found = self.cluster.get(self.controllers.ks_type, namespace or self.namespace, name)
        if found is None:
            raise KeyError(name)
        return found

    def git_repository(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The GitRepository as stored (KeyError when missing)."""
        found = self.cluster.get(self.controllers.gitrepo_type, namespace or self.namespace, name)
        if found is None:
            raise KeyError(name)
        return found

    def set_suspend(self, kind: str, name: str, suspend: bool, namespace: str | None = None) -> None:
        """``flux suspend``/``flux resume`` as a merge patch of ``spec.suspend`` (it bumps the generation)."""
        rt = self.controllers.ks_type if kind == "Kustomization" else self.controllers.gitrepo_type

        def change(live: dict[str, Any]) -> dict[str, Any]:
            spec = dict(live.get("spec") or {})
            spec["suspend"] = suspend
            return {**live, "spec": spec}

        self.cluster.patch(rt, namespace or self.namespace, name, change, manager="flux")
