"""Adapter factories by name, so a config file can choose an implementation.

The built-in factories import their adapter module only when called (a CLI that only prints ``--help`` never
imports lightkube or gitpython). Third-party packages add factories through the ``gitrollback.adapters`` entry
point group, named ``<port>:<name>`` (for example ``cluster:kubectl`` or ``assets:bitbucket``); the entry point
must load to a callable with the same signature as the built-in factory for that port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from gitrollback.errors import ConfigError
from gitrollback.ports import AssetSource, Clock, Cluster, ImageFactory, RollbackWorkspace, SourceHost, SyncEngine
from gitrollback.settings import AssetSettings, ClusterSettings, GitOpsSettings, ImageFactorySettings, SyncSettings

__all__ = [
    "ENTRY_POINT_GROUP",
    "asset_source_factory",
    "cluster_factory",
    "host_factory",
    "imagefactory_factory",
    "sync_factory",
    "workspace_factory",
]

ENTRY_POINT_GROUP = "gitrollback.adapters"

ImageFactoryFactory = Callable[..., ImageFactory]
ClusterFactory = Callable[..., Cluster]
AssetSourceFactory = Callable[..., AssetSource]


def _httpx_imagefactory(
    settings: ImageFactorySettings,
    *,
    token: str | None,
    password: str | None,
    clock: Clock | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
    transport: Any = None,
) -> ImageFactory:
    from gitrollback.adapters.imagefactory import ImageFactoryClient

    verify: bool | str = settings.ca_file or settings.verify_tls
    return ImageFactoryClient(
        settings.url,
        tenant_id=settings.tenant_id,
        token=token,
        email=settings.email,
        password=password,
        all_tenants=settings.all_tenants,
        timeout=settings.timeout,
        verify=verify,
        clock=clock,
        poll_interval=settings.poll_interval,
        on_wait=on_wait,
        transport=transport,
    )


def _lightkube_cluster(
    settings: ClusterSettings, *, kubeconfig: Mapping[str, Any], token: str | None, timeout: float = 30.0
) -> Cluster:
    from gitrollback.adapters.kube import LightkubeCluster

    return LightkubeCluster.from_kubeconfig(kubeconfig, context=settings.context, token=token, timeout=timeout)


def _git_assets(
    settings: AssetSettings, *, cache_dir: Path | None, env: Mapping[str, str] | None = None
) -> AssetSource:
    from gitrollback.adapters.git_repo import GitAssetSource

    return GitAssetSource(settings.repo, cache_dir=cache_dir, env=env)


def _git_workspace(
    settings: AssetSettings, *, cache_dir: Path, env: Mapping[str, str], author: tuple[str, str]
) -> RollbackWorkspace:
    from gitrollback.adapters.git_workspace import GitWorkspace

    return GitWorkspace(settings.repo, cache_dir=cache_dir, branch=settings.branch, env=env, author=author)


def _github_host(settings: GitOpsSettings, *, token: str, clock: Clock | None = None) -> SourceHost:
    from gitrollback.adapters.github import GitHubHost

    return GitHubHost(
        settings.project or "",
        token=token,
        base_url=settings.base_url or "https://api.github.com",
        timeout=settings.request_timeout,
        clock=clock,
        poll_interval=settings.poll_interval,
        merge_timeout=settings.merge_timeout,
    )


def _gitlab_host(settings: GitOpsSettings, *, token: str, clock: Clock | None = None) -> SourceHost:
    from gitrollback.adapters.gitlab import GitLabHost

    return GitLabHost(
        settings.project or "",
        token=token,
        base_url=settings.base_url or "https://gitlab.com",
        timeout=settings.request_timeout,
        clock=clock,
        poll_interval=settings.poll_interval,
        merge_timeout=settings.merge_timeout,
        merge_when_pipeline_succeeds=settings.merge_when_pipeline_succeeds,
    )


def _argocd_sync(
    settings: SyncSettings,
    *,
    token: str | None,
    clock: Clock | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
) -> SyncEngine:
    from gitrollback.adapters.argocd import ArgoCDEngine

    verify: bool | str = settings.ca_file or settings.verify_tls
    engine = ArgoCDEngine(
        settings.url or "",
        token=token,
        project=settings.project,
        verify=verify,
        timeout=settings.request_timeout,
        clock=clock,
        on_operation_in_progress=settings.on_operation_in_progress,
        on_wait=on_wait,
        poll_interval=settings.poll_interval,
    )
    # someone else's running operation is waited for within the same budget as our own sync
    engine.operation_wait_timeout = settings.timeout
    return engine


_BUILTIN: dict[str, dict[str, Callable[..., Any]]] = {
    "imagefactory": {"httpx": _httpx_imagefactory},
    "cluster": {"lightkube": _lightkube_cluster},
    "assets": {"git": _git_assets},
    "workspace": {"git": _git_workspace},
    "host": {"github": _github_host, "gitlab": _gitlab_host},
    "sync": {"argocd": _argocd_sync},
}


def _lookup(port: str, name: str) -> Callable[..., Any]:
    builtin = _BUILTIN[port].get(name)
    if builtin is not None:
        return builtin
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == f"{port}:{name}":
            factory: Callable[..., Any] = ep.load()
            return factory
    known = sorted(_BUILTIN[port]) + sorted(
        ep.name.split(":", 1)[1] for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name.startswith(f"{port}:")
    )
    raise ConfigError(
        f"no {port} adapter named {name!r}",
        key=f"{port}.adapter",
        hint="available: "
        + ", ".join(known)
        + f" (plugins register '{port}:<name>' in the {ENTRY_POINT_GROUP} entry points)",
    )


def imagefactory_factory(name: str = "httpx") -> ImageFactoryFactory:
    """The factory that builds the Image Factory client."""
    return _lookup("imagefactory", name)


def cluster_factory(name: str = "lightkube") -> ClusterFactory:
    """The factory that builds the cluster adapter named in ``cluster.adapter``."""
    return _lookup("cluster", name)


def asset_source_factory(name: str = "git") -> AssetSourceFactory:
    """The factory that builds the asset history reader."""
    return _lookup("assets", name)


def workspace_factory(name: str = "git") -> Callable[..., RollbackWorkspace]:
    """The factory that builds the git workspace the rollback commit is made in."""
    return _lookup("workspace", name)


def host_factory(name: str) -> Callable[..., SourceHost]:
    """The factory for ``gitops.scm`` (github, gitlab, or a plugin's name)."""
    return _lookup("host", name)


def sync_factory(name: str) -> Callable[..., SyncEngine]:
    """The factory for ``sync.engine`` (argocd, or a plugin's name)."""
    return _lookup("sync", name)
