"""Build the adapters a config names: the composition behind ``Rollback.from_settings``.

Secrets are resolved here from the environment mapping and file reader the caller passes in (the library never
reads ``os.environ`` itself), and turned into what each adapter needs: a bearer token for Image Factory and Argo CD,
a kubeconfig dict for the cluster, and, for git pushes, an ``http.extraHeader`` carried in ``GIT_CONFIG_*``
environment variables so the token never lands in ``.git/config``, a remote URL or a log line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrollback import _yaml
from gitrollback.adapters._git_remote import add_extra_header, basic_auth_header
from gitrollback.adapters.registry import (
    asset_source_factory,
    cluster_factory,
    host_factory,
    imagefactory_factory,
    sync_factory,
    workspace_factory,
)
from gitrollback.errors import ConfigError
from gitrollback.ports import (
    AssetSource,
    Clock,
    Cluster,
    ImageFactory,
    LeaseStore,
    RollbackWorkspace,
    SourceHost,
    SyncEngine,
)
from gitrollback.secrets import FileReader, resolve_secret
from gitrollback.settings import ClusterSettings, ProviderSettings, Settings

__all__ = ["Adapters", "build_adapters", "build_imagefactory", "build_watch_lease_store", "git_auth_env"]

#: The user name each host expects with a token in HTTP Basic auth for git.
_GIT_USER = {"github": "x-access-token", "gitlab": "oauth2", "direct": "x-access-token"}


@dataclass
class Adapters:
    """What ``build_adapters`` made, and how to close it."""

    provider: ProviderSettings
    imagefactory: ImageFactory
    cluster: Cluster | None
    assets: AssetSource
    state_dir: Path | None
    workspace: RollbackWorkspace | None = None
    host: SourceHost | None = None
    sync: SyncEngine | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)


def git_auth_env(token: str, *, user: str = "x-access-token", base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` plus what makes git send ``Authorization: Basic`` on every HTTP request, without a URL credential."""
    env = {**(base or {}), "GIT_TERMINAL_PROMPT": "0"}
    add_extra_header(env, basic_auth_header(user, token))
    return env


#: git transfers slower than this many bytes a second for ``assets.stall_timeout_seconds`` are aborted.
GIT_STALL_BYTES_PER_SECOND = 1000


def _git_env(env: Mapping[str, str], *, stall_timeout: float = 60.0) -> dict[str, str]:
    """The part of the caller's environment git needs (credential helpers, SSH, proxies), nothing else, plus git's
    low-speed limit: an HTTP transfer that moves less than 1000 bytes a second for ``stall_timeout`` seconds (a
    server that never answers, or drips) is aborted (``http.lowSpeedLimit``/``http.lowSpeedTime``, ``git help
    config``)."""
    keep = ("HOME", "PATH", "SSH_AUTH_SOCK", "GIT_SSH_COMMAND", "GIT_ASKPASS", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")
    out = {k: v for k, v in env.items() if k in keep or k.startswith("GIT_CONFIG_")}
    out["GIT_HTTP_LOW_SPEED_LIMIT"] = str(GIT_STALL_BYTES_PER_SECOND)
    out["GIT_HTTP_LOW_SPEED_TIME"] = str(max(1, round(stall_timeout)))
    return out


def _read_kubeconfig(p: ProviderSettings, source: str, read_file: FileReader | None) -> Mapping[str, Any]:
    key = f"providers[{p.label}].cluster.kubeconfig"
    if not p.cluster.kubeconfig:
        why = (
            "is required with scm: direct (the run lock is then a Lease in the provider's cluster)"
            if p.gitops is not None
            else "is required to reach the cluster"
        )
        raise ConfigError(why, path=source, key=key, hint="point it at a kubeconfig file")
    if read_file is None:
        raise ConfigError("cannot be read here (no file reader given)", path=source, key=key)
    try:
        text = read_file(p.cluster.kubeconfig)
    except OSError as exc:
        raise ConfigError(f"cannot read {p.cluster.kubeconfig}: {exc.strerror or exc}", path=source, key=key) from exc
    try:
        data = _yaml.load(text)
    except _yaml.YamlSyntaxError as exc:
        raise ConfigError(f"{p.cluster.kubeconfig} is not valid YAML: {exc}", path=source, key=key) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p.cluster.kubeconfig} is not a kubeconfig mapping", path=source, key=key)
    return data


def _read_sync_kubeconfig(p: ProviderSettings, source: str, read_file: FileReader | None) -> Mapping[str, Any]:
    assert p.sync is not None and p.sync.kubeconfig is not None
    from dataclasses import replace

    moved = replace(p, cluster=replace(p.cluster, kubeconfig=p.sync.kubeconfig))
    try:
        return _read_kubeconfig(moved, source, read_file)
    except ConfigError as exc:
        key = f"providers[{p.label}].sync.kubeconfig"
        raise ConfigError(exc.problem, path=source, key=key, hint=exc.hint) from exc


def build_imagefactory(
    settings: Settings, *, env: Mapping[str, str], read_file: FileReader | None, clock: Clock | None = None
) -> ImageFactory:
    """The Image Factory client alone (``access restore`` needs nothing else)."""
    ifs = settings.imagefactory

    def secret(ref: Any) -> str | None:
        return resolve_secret(ref, env=env, read_file=read_file, source=settings.source) if ref else None

    return imagefactory_factory(ifs.adapter)(ifs, token=secret(ifs.token), password=secret(ifs.password), clock=clock)


def build_adapters(
    settings: Settings,
    provider: str | None,
    *,
    env: Mapping[str, str],
    read_file: FileReader | None,
    clock: Clock | None = None,
    on_wait: Callable[[str, float, str], None] | None = None,
    imagefactory_transport: Any = None,
) -> Adapters:
    """Every adapter one provider's rollback needs, built from its settings."""
    p = settings.provider(provider)

    def secret(ref: Any) -> str | None:
        return resolve_secret(ref, env=env, read_file=read_file, source=settings.source) if ref else None

    ifs = settings.imagefactory
    where = f"providers[{p.label}]"
    imagefactory = imagefactory_factory(ifs.adapter)(
        ifs,
        token=secret(ifs.token),
        password=secret(ifs.password),
        clock=clock,
        on_wait=on_wait,
        transport=imagefactory_transport,
    )
    cluster: Cluster | None = None
    kubeconfig: Mapping[str, Any] | None = None
    # a gitops provider that opens change requests may go without cluster access: its rollback branch is the lock
    if p.cluster.kubeconfig or p.gitops is None or p.gitops.scm == "direct":
        kubeconfig = _read_kubeconfig(p, settings.source, read_file)
        cluster = cluster_factory(p.cluster.adapter, key=f"{where}.cluster.adapter")(
            p.cluster, kubeconfig=kubeconfig, token=secret(p.cluster.token), timeout=p.cluster.timeout
        )
    state = Path(settings.state_dir).expanduser() if settings.state_dir else None
    git_env = _git_env(env, stall_timeout=p.assets.stall_timeout)
    token: str | None = None
    if p.gitops is not None and p.gitops.token is not None:
        # the host token also reads and pushes the GitOps repository over HTTPS
        token = secret(p.gitops.token)
        git_env = git_auth_env(token or "", user=_GIT_USER.get(p.gitops.scm, "x-access-token"), base=git_env)
    assets = asset_source_factory(p.assets.adapter, key=f"{where}.assets.adapter")(
        p.assets, cache_dir=state / "repos" if state else None, env=git_env
    )
    out = Adapters(provider=p, imagefactory=imagefactory, cluster=cluster, assets=assets, state_dir=state)
    if p.gitops is not None:
        g = p.gitops
        out.workspace = workspace_factory(g.workspace, key=f"{where}.gitops.workspace")(
            p.assets,
            cache_dir=state or Path(".gitrollback"),
            env=git_env,
            author=(g.author_name, g.author_email),
        )
        if g.scm != "direct":
            out.host = host_factory(g.scm, key=f"{where}.gitops.scm")(
                g, token=token or "", clock=clock, on_wait=on_wait
            )
    if p.sync is not None and p.sync.engine != "none":
        s = p.sync
        # Flux (and a plugin that talks to Kubernetes) reaches the cluster Flux runs in: sync.kubeconfig, else the
        # provider's own cluster with its token
        sync_kubeconfig = kubeconfig if s.kubeconfig is None else _read_sync_kubeconfig(p, settings.source, read_file)
        sync_token = (
            secret(s.token) if s.token is not None else (secret(p.cluster.token) if s.engine == "flux" else None)
        )
        out.sync = sync_factory(s.engine, key=f"{where}.sync.engine")(
            s, token=sync_token, clock=clock, on_wait=on_wait, kubeconfig=sync_kubeconfig
        )
    for adapter in (imagefactory, cluster, assets, out.workspace, out.host, out.sync):
        close = getattr(adapter, "close", None)
        if callable(close):
            out.closers.append(close)
    return out


def build_watch_lease_store(
    settings: Settings, *, read_file: FileReader | None
) -> tuple[LeaseStore, Callable[[], None]]:
    """The cluster the watch Lease lives in (``watch.leader_election.kubeconfig``), and how to close it."""
    le = settings.watch.leader_election
    key = "watch.leader_election.kubeconfig"
    if not le.kubeconfig or read_file is None:
        raise ConfigError("is required when leader election is enabled", path=settings.source, key=key)
    try:
        text = read_file(le.kubeconfig)
    except OSError as exc:
        raise ConfigError(f"cannot read {le.kubeconfig}: {exc.strerror or exc}", path=settings.source, key=key) from exc
    try:
        data = _yaml.load(text)
    except _yaml.YamlSyntaxError as exc:
        raise ConfigError(f"{le.kubeconfig} is not valid YAML: {exc}", path=settings.source, key=key) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{le.kubeconfig} is not a kubeconfig mapping", path=settings.source, key=key)
    cluster_settings = ClusterSettings(kubeconfig=le.kubeconfig, context=le.context)
    cluster = cluster_factory("lightkube")(
        cluster_settings,
        kubeconfig=data,
        token=None,
        # a Lease request must end well before a follower could take over (client-go bounds every renewal attempt by
        # RenewDeadline): at most lease_duration - renew_deadline, 5 s by default
        timeout=max(1.0, min(cluster_settings.timeout, le.lease_duration - le.renew_deadline)),
    )
    if not all(callable(getattr(cluster, m, None)) for m in ("get_lease", "create_lease", "replace_lease")):
        raise ConfigError("the cluster adapter serves no Leases", path=settings.source, key=key)
    close = getattr(cluster, "close", None)
    return cluster, (close if callable(close) else (lambda: None))  # type: ignore[return-value]
