"""Stateful simulators on loopback sockets, and the worlds built from them (public API, see docs/testing.md).

Every name below loads its module on first use, so ``import gitrollback.testing`` stays cheap and does not need
the ``testing`` extra until a simulator that uses it (kubectl, the Kubernetes API schemas, PyYAML) is touched.
The simulators never import gitrollback's product logic; tests/unit/test_architecture.py checks it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitrollback.testing.argocd import ArgoCDSimulator
    from gitrollback.testing.clock import FakeClock, SimClock, WallClock
    from gitrollback.testing.cluster_state import ApplyResult, ClusterState, ResourceType, StoreError
    from gitrollback.testing.flux import FluxSimulator
    from gitrollback.testing.git_http import GitHttpBackend, GitHttpServer
    from gitrollback.testing.github import GitHubSimulator
    from gitrollback.testing.gitlab import GitLabSimulator
    from gitrollback.testing.imagefactory import ImageFactorySimulator
    from gitrollback.testing.kube import KubernetesSimulator
    from gitrollback.testing.repos import (
        CommitSpec,
        SandboxRepo,
        build_sandbox_repo,
        fixture_files,
        fixture_root,
        make_repo,
    )
    from gitrollback.testing.sandbox import SandboxWorld, build_sandbox
    from gitrollback.testing.sandbox_gitops import GitOpsSandbox, build_gitops_sandbox
    from gitrollback.testing.server import Request, Response, SimulatorServer

#: public name -> the module that defines it
_EXPORTS = {
    "ApplyResult": "cluster_state",
    "ArgoCDSimulator": "argocd",
    "ClusterState": "cluster_state",
    "CommitSpec": "repos",
    "FakeClock": "clock",
    "FluxSimulator": "flux",
    "GitHttpBackend": "git_http",
    "GitHttpServer": "git_http",
    "GitHubSimulator": "github",
    "GitLabSimulator": "gitlab",
    "GitOpsSandbox": "sandbox_gitops",
    "ImageFactorySimulator": "imagefactory",
    "KubernetesSimulator": "kube",
    "Request": "server",
    "ResourceType": "cluster_state",
    "Response": "server",
    "SandboxRepo": "repos",
    "SandboxWorld": "sandbox",
    "SimClock": "clock",
    "SimulatorServer": "server",
    "StoreError": "cluster_state",
    "WallClock": "clock",
    "build_gitops_sandbox": "sandbox_gitops",
    "build_sandbox": "sandbox",
    "build_sandbox_repo": "repos",
    "fixture_files": "repos",
    "fixture_root": "repos",
    "make_repo": "repos",
}

__all__ = [
    "ApplyResult",
    "ArgoCDSimulator",
    "ClusterState",
    "CommitSpec",
    "FakeClock",
    "FluxSimulator",
    "GitHttpBackend",
    "GitHttpServer",
    "GitHubSimulator",
    "GitLabSimulator",
    "GitOpsSandbox",
    "ImageFactorySimulator",
    "KubernetesSimulator",
    "Request",
    "ResourceType",
    "Response",
    "SandboxRepo",
    "SandboxWorld",
    "SimClock",
    "SimulatorServer",
    "StoreError",
    "WallClock",
    "build_gitops_sandbox",
    "build_sandbox",
    "build_sandbox_repo",
    "fixture_files",
    "fixture_root",
    "make_repo",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
