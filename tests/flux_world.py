"""A small Flux world for the simulator and adapter tests: a real git repository, the Kubernetes simulator serving
Flux's CRDs, and the Flux controllers, all on one ``FakeClock`` (the controllers tick every 3 s)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrollback.adapters.flux import FluxEngine
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import CATALOG, ClusterState
from gitrollback.testing.flux import FLUX_TYPES, FluxSimulator
from gitrollback.testing.kube import KubernetesSimulator

URL = "https://git.example.test/acme/gitops.git"
APPS = "apps"
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  release: "{release}"
"""
TASK = """apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: {name}
spec:
  steps:
    - name: run
      image: alpine:3.20
      script: echo {name}
"""
KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
{resources}
"""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; stdout."""
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class FluxWorld:
    """The running world; ``commit`` adds a commit on main, ``engine`` builds a client on the world's clock."""

    clock: FakeClock
    cluster: ClusterState
    kube: KubernetesSimulator
    flux: FluxSimulator
    repo: Path
    engines: list[FluxEngine] = field(default_factory=list)

    def commit(self, files: Mapping[str, str | None], message: str = "change") -> str:
        """Write (or, for None, delete) files under the repository and commit them on main; the new sha."""
        for name, text in files.items():
            path = self.repo / name
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", message)
        return git(self.repo, "rev-parse", "HEAD")

    def engine(self, **options: Any) -> FluxEngine:
        """A ``FluxEngine`` on the world's clock, polling every 5 s."""
        options.setdefault("poll_interval", 5.0)
        engine = FluxEngine.from_kubeconfig(self.kube.kubeconfig(), clock=self.clock, **options)
        self.engines.append(engine)
        return engine

    def task_names(self) -> list[str]:
        """Task names in the apps namespace."""
        rt = self.cluster.type_for("tekton.dev/v1", "Task")
        assert rt is not None
        return [o["metadata"]["name"] for o in self.cluster.list(rt, APPS)]


def release(number: int, tasks: tuple[str, ...] = ("build",)) -> dict[str, str]:
    """The files of one release of ``deploy/``: a ConfigMap and some Tasks, listed in a kustomization."""
    files = {"deploy/settings.yaml": CONFIGMAP.format(release=number)}
    for name in tasks:
        files[f"deploy/task-{name}.yaml"] = TASK.format(name=name)
    resources = "\n".join(f"  - {Path(n).name}" for n in sorted(files))
    files["deploy/kustomization.yaml"] = KUSTOMIZATION.format(resources=resources)
    return files


@contextmanager
def flux_world(tmp: Path, *, kustomization: bool = True) -> Iterator[FluxWorld]:
    """Start the world with release 1 committed and (by default) a Kustomization ``apps`` applied from it."""
    clock = FakeClock()
    repo = tmp / "gitops"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    cluster = ClusterState(CATALOG + FLUX_TYPES, namespaces=["flux-system", APPS], clock=clock)
    kube = KubernetesSimulator(cluster, clock=clock).start()
    flux = FluxSimulator(cluster, clock=clock).start()
    world = FluxWorld(clock, cluster, kube, flux, repo)
    try:
        world.commit(release(1), "release 1")
        flux.add_git_repository("gitops", url=URL, repo_path=repo)
        if kustomization:
            flux.add_kustomization("apps", source="gitops", path="./deploy", target_namespace=APPS)
        flux.reconcile_all()
        yield world
    finally:
        for engine in world.engines:
            engine.close()
        flux.stop()
        kube.stop()
