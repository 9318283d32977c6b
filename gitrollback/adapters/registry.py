"""Adapter factories by name, so a config file can choose the implementation of every port.

Each port has built-in factories (below) and takes more from installed plugins: the ``gitrollback.adapters`` entry
point group, named ``<port>:<name>`` (``sync:mycontroller``, ``host:gitea``), loading to a factory with the same
keyword arguments as the built-in one for that port (``docs/plugins.md``). The config key that picks each one:

============  ==============================  ==============================================
port          config key                      built-in names
============  ==============================  ==============================================
imagefactory  ``imagefactory.adapter``        httpx
cluster       ``cluster.adapter``             lightkube
assets        ``assets.adapter``              git
workspace     ``gitops.workspace``            git
host          ``gitops.scm``                  github, gitlab (``direct`` needs no host)
sync          ``sync.engine``                 argocd, flux (``none`` needs no engine)
============  ==============================  ==============================================

The built-in factories import their adapter module only when called (a CLI that only prints ``--help`` never
imports lightkube or gitpython). An unknown name is a ``ConfigError`` listing the names that are known.
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
    "CONFIG_KEYS",
    "ENTRY_POINT_GROUP",
    "asset_source_factory",
    "cluster_factory",
    "host_factory",
    "imagefactory_factory",
    "known_names",
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
    **_: Any,
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
    settings: ClusterSettings, *, kubeconfig: Mapping[str, Any], token: str | None, timeout: float = 30.0, **_: Any
) -> Cluster:
    from gitrollback.adapters.kube import LightkubeCluster

    return LightkubeCluster.from_kubeconfig(kubeconfig, context=settings.context, token=token, timeout=timeout)


def _git_assets(
    settings: AssetSettings, *, cache_dir: Path | None, env: Mapping[str, str] | None = None, **_: Any
) -> AssetSource:
    from gitrollback.adapters.git_repo import GitAssetSource

    return GitAssetSource(settings.repo, cache_dir=cache_dir, env=env)


def _git_workspace(
    settings: AssetSettings, *, cache_dir: Path, env: Mapping[str, str], author: tuple[str, str], **_: Any
) -> RollbackWorkspace:
    from gitrollback.adapters.git_workspace import GitWorkspace

    return GitWorkspace(settings.repo, cache_dir=cache_dir, branch=settings.branch, env=env, author=author)


def _github_host(
    settings: GitOpsSettings,
    *,
    token: str,
    clock: Clock | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
    **_: Any,
) -> SourceHost:
    from gitrollback.adapters.github import GitHubHost

    return GitHubHost(
        settings.project or "",
        token=token,
        base_url=settings.base_url or "https://api.github.com",
        timeout=settings.request_timeout,
        clock=clock,
        poll_interval=settings.poll_interval,
        merge_timeout=settings.merge_timeout,
        on_wait=on_wait,
    )


def _gitlab_host(
    settings: GitOpsSettings,
    *,
    token: str,
    clock: Clock | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
    **_: Any,
) -> SourceHost:
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
        on_wait=on_wait,
    )


def _argocd_sync(
    settings: SyncSettings,
    *,
    token: str | None,
    clock: Clock | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
    **_: Any,
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


def _flux_sync(
    settings: SyncSettings,
    *,
    token: str | None,
    clock: Clock | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
    kubeconfig: Mapping[str, Any] | None = None,
    **_: Any,
) -> SyncEngine:
    from gitrollback.adapters.flux import FluxEngine

    if kubeconfig is None:
        raise ConfigError(
            "Flux is reached through the Kubernetes API and no kubeconfig is configured",
            key="sync.kubeconfig",
            hint="set sync.kubeconfig (or the provider's cluster.kubeconfig)",
        )
    return FluxEngine.from_kubeconfig(
        kubeconfig,
        context=settings.context,
        token=token,
        request_timeout=settings.request_timeout,
        namespace=settings.namespace,
        clock=clock,
        poll_interval=settings.poll_interval,
        on_suspended=settings.on_suspended,
        wait_for_dependents=settings.wait_for_dependents,
        on_wait=on_wait,
    )


_BUILTIN: dict[str, dict[str, Callable[..., Any]]] = {
    "imagefactory": {"httpx": _httpx_imagefactory},
    "cluster": {"lightkube": _lightkube_cluster},
    "assets": {"git": _git_assets},
    "workspace": {"git": _git_workspace},
    "host": {"github": _github_host, "gitlab": _gitlab_host},
    "sync": {"argocd": _argocd_sync, "flux": _flux_sync},
}
#: where each port's name comes from in the config, for the error message
CONFIG_KEYS = {
    "imagefactory": "imagefactory.adapter",
    "cluster": "cluster.adapter",
    "assets": "assets.adapter",
    "workspace": "gitops.workspace",
    "host": "gitops.scm",
    "sync": "sync.engine",
}
#: names a config may use that need no adapter at all
_NO_ADAPTER = {"host": ("direct",), "sync": ("none",)}


def _plugins(port: str) -> dict[str, Any]:
    return {
        ep.name.split(":", 1)[1]: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name.startswith(f"{port}:")
    }


def known_names(port: str) -> list[str]:
    """Every name a config may use for ``port``: the built-ins, the no-adapter names, then the plugins'."""
    return sorted(_BUILTIN[port]) + list(_NO_ADAPTER.get(port, ())) + sorted(set(_plugins(port)) - set(_BUILTIN[port]))


def _lookup(port: str, name: str, key: str | None = None) -> Callable[..., Any]:
    builtin = _BUILTIN[port].get(name)
    if builtin is not None:
        return builtin
    plugin = _plugins(port).get(name)
    if plugin is not None:
        try:
            factory: Callable[..., Any] = plugin.load()
        except Exception as exc:  # a broken plugin is a configuration problem, named as such
            raise ConfigError(
                f"the {port} plugin {name!r} ({plugin.value}) cannot be loaded: {type(exc).__name__}: {exc}",
                key=key or CONFIG_KEYS[port],
                hint="reinstall the plugin's package, or choose another name",
            ) from exc
        return factory
    raise ConfigError(
        f"no {port} adapter named {name!r}",
        key=key or CONFIG_KEYS[port],
        hint="known names: "
        + ", ".join(known_names(port))
        + f" (plugins register '{port}:<name>' in the {ENTRY_POINT_GROUP} entry points)",
    )


def imagefactory_factory(name: str = "httpx", *, key: str | None = None) -> ImageFactoryFactory:
    """The factory for ``imagefactory.adapter`` (the Image Factory client)."""
    return _lookup("imagefactory", name, key)


def cluster_factory(name: str = "lightkube", *, key: str | None = None) -> ClusterFactory:
    """The factory for ``cluster.adapter``."""
    return _lookup("cluster", name, key)


def asset_source_factory(name: str = "git", *, key: str | None = None) -> AssetSourceFactory:
    """The factory for ``assets.adapter`` (the asset history reader)."""
    return _lookup("assets", name, key)


def workspace_factory(name: str = "git", *, key: str | None = None) -> Callable[..., RollbackWorkspace]:
    """The factory for ``gitops.workspace`` (where the rollback commit is made)."""
    return _lookup("workspace", name, key)


def host_factory(name: str, *, key: str | None = None) -> Callable[..., SourceHost]:
    """The factory for ``gitops.scm`` (github, gitlab, or a plugin's name)."""
    return _lookup("host", name, key)


def sync_factory(name: str, *, key: str | None = None) -> Callable[..., SyncEngine]:
    """The factory for ``sync.engine`` (argocd, flux, or a plugin's name)."""
    return _lookup("sync", name, key)
