"""A throwaway world with a broken Tekton upgrade, for ``gitrollback sandbox`` and for tests.

It is built from real parts: a real git repository with the real Image Factory asset tree and a release history
ending in a broken upgrade (``gitrollback.testing.repos``), a Kubernetes simulator holding the provider's
namespace, and an Image Factory simulator whose installer really ran that broken upgrade against the cluster
simulator and failed half-way (the registry Deployment lost its selector, so the API server refused it; the
renamed ``kaniko-build`` Task went in, ``kaniko-no-push`` and every Pipeline did not). Readiness therefore
fails with Image Factory's exact messages, the provider is offline, and the last job is failed.

``SandboxWorld.config_text`` is a ready gitrollback config for it; the Image Factory token is in ``env``.

Every simulator runs on one clock, ``SandboxWorld.clock`` (``gitrollback.testing.clock``). Without ``clock=`` the
world makes a ``WallClock`` (real time, for ``gitrollback sandbox``) and stops it in ``close()``. Tests pass a
``FakeClock`` and hand the same clock to the client, so every wait steps simulated time and costs nothing::

    clock = FakeClock()
    with build_sandbox(tmp_path, clock=clock) as world:
        settings = gitrollback.parse_config(world.config_text, source=str(world.config_path))
        rb = gitrollback.Rollback.from_settings(
            settings, env=world.env, read_file=lambda p: Path(p).read_text(), clock=world.clock
        )
        assert rb.run().status == "rolled_back"
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from ruamel.yaml import YAML

from gitrollback.testing.clock import SimClock, WallClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.imagefactory.tekton_namespaces import build_namespace
from gitrollback.testing.kube import KubernetesSimulator
from gitrollback.testing.repos import SandboxRepo, build_sandbox_repo

__all__ = [
    "POLL_INTERVAL",
    "TICK",
    "TOKEN_ENV",
    "WATCHER_INTERVAL",
    "SandboxProvider",
    "SandboxWorld",
    "Seeded",
    "build_sandbox",
    "post_json",
    "sandbox_ids",
    "seed_imagefactory",
    "upgrade",
    "write_config",
]

TOKEN_ENV = "GITROLLBACK_SANDBOX_TOKEN"
TENANT_ID = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b6a7e41"
PROVIDER_ID = "0b8e6f1e-7c2a-4d3b-8e9f-1a2b3c4d5e6f"
ADMIN_EMAIL = "platform-admin@sandbox.example"
KUBE_TOKEN = "sandbox-kube-token"
#: Seconds between the simulators' background ticks (Image Factory's dispatchers, Argo CD's controller, the
#: reviewer): shorter than the real services' 5 s so a person watching the sandbox does not wait long.
TICK = 1.0
#: Seconds between the client's polls (installer jobs, builds, Argo CD, merge requests), as a real config has.
POLL_INTERVAL = 2.0
#: Seconds between Image Factory's background readiness watcher passes: the shortest interval the real server
#: accepts (``StartProviderReadinessWatcher`` turns anything below 30 s into its 180 s default).
WATCHER_INTERVAL = 30.0


def world_clock(clock: SimClock | None) -> tuple[SimClock, WallClock | None]:
    """The clock a world runs on, and the ``WallClock`` it made (and must stop) when none was given."""
    if clock is not None:
        return clock, None
    wall = WallClock()
    return wall, wall


@dataclass(frozen=True)
class SandboxProvider:
    """One provider of a sandbox world: its ids, its namespace, the name the config gives it, its failed job."""

    name: str
    provider_id: str
    tenant_id: str
    namespace: str
    project_id: str
    failed_job_id: str


@dataclass
class SandboxWorld:
    """Everything the sandbox started; ``close()`` stops the simulators (and the clock, if the world made it)."""

    directory: Path
    clock: SimClock
    repo: SandboxRepo
    cluster: ClusterState
    kube: KubernetesSimulator
    imagefactory: ImageFactorySimulator
    tenant_id: str
    provider_id: str
    project_id: str
    namespace: str
    token: str
    failed_job_id: str
    config_path: Path
    kubeconfig_path: Path
    config_text: str
    own_clock: WallClock | None = None
    #: every provider of the world, the first one (``provider_id``) included, in config order
    providers: tuple[SandboxProvider, ...] = ()

    @property
    def env(self) -> dict[str, str]:
        """The environment a gitrollback run needs (the Image Factory token)."""
        return {TOKEN_ENV: self.token}

    def close(self) -> None:
        """Stop both simulators, then the clock when the world made it."""
        self.imagefactory.stop()
        self.kube.stop()
        if self.own_clock is not None:
            self.own_clock.stop()

    def __enter__(self) -> SandboxWorld:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _export_tree(repo: Path, rev: str, path: str, dest: Path) -> Path:
    """Write ``rev:path`` into ``dest`` (the Image Factory server's asset directory)."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", rev, path], capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / path


def _commit_time(repo: Path, rev: str) -> datetime:
    out = subprocess.run(["git", "-C", str(repo), "show", "-s", "--format=%cI", rev], capture_output=True, check=True)
    return datetime.fromisoformat(out.stdout.decode().strip()).astimezone(UTC)


def post_json(url: str, token: str, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "X-Tenant-ID": tenant, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payload: dict[str, Any] = json.loads(response.read())
    return payload


@dataclass(frozen=True)
class Seeded:
    """What ``seed_imagefactory`` created."""

    tenant: str
    token: str
    namespace: str
    provider: str
    project: str


def sandbox_ids(index: int) -> tuple[str, str]:
    """The tenant and provider ids of the sandbox's provider number ``index`` (0: the single sandbox's own).

    Each provider has a tenant of its own, so each has its own namespace (``image-factory-<tenant[:8]>``), where
    Image Factory installs its Tekton assets and runs its builds.
    """
    if index == 0:
        return TENANT_ID, PROVIDER_ID
    return f"7{index:07x}-3b7d-4e0a-9c51-2d8f0b6a7e41", f"0b8e6f1e-7c2a-4d3b-8e9f-{index:012x}"


def seed_imagefactory(
    sim: ImageFactorySimulator, cluster: ClusterState, kube: KubernetesSimulator, *, mode: str, index: int = 0
) -> Seeded:
    """The tenant, an admin, the provider's namespace with its docker-config secret, the provider and a project.

    The provider config is one the real server accepts (``connectors/kubeconfig.go``: ``auth_method``, an API
    server address and a token), and the smoke project is one a real server builds: it has an active repository
    auth (its repository is private) and a default registry auth for the kaniko push
    (docs/imagefactory.md, "What the smoke build needs").

    ``index`` above 0 seeds one more provider of a multi-provider sandbox: its own tenant (``sandbox_ids``),
    namespace, provider and project; the admin (a system administrator) is the first tenant's.
    """
    tenant_id, provider_id = sandbox_ids(index)
    suffix = "" if index == 0 else f"-{index + 1:02d}"
    tenant = sim.add_tenant(f"acme{suffix}", tenant_id=tenant_id)
    if index == 0:
        sim.add_user(ADMIN_EMAIL, "sandbox-password", tenant_id=tenant, role="System Administrator", system_admin=True)
    namespace = build_namespace(tenant)  # the tenant's own namespace, where its builds run
    cluster.ensure_namespace(namespace)
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "docker-config", "namespace": namespace},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "e30="},
        }
    )
    auth = {"auth_method": "token", "apiServer": kube.url, "token": KUBE_TOKEN}
    provider = sim.add_provider(
        tenant,
        f"sandbox-{'gitops' if mode == 'gitops' else 'k8s'}{suffix}",
        provider_id=provider_id,
        provider_type="kubernetes",
        target_namespace=namespace,
        status="online",
        config={
            "tekton_enabled": True,
            "tekton_install_mode": mode,
            "tekton_profile_version": "v1",
            "tekton_use_pipeline_ref": True,
            "runtime_auth": dict(auth),
            "bootstrap_auth": dict(auth),
        },
    )
    project = sim.add_project(
        tenant, "smoke", git_url="https://git.sandbox.example/acme/smoke.git", repository_auth=True
    )
    sim.add_registry_auth(tenant, project_id=project)
    return Seeded(tenant, sim.issue_token(ADMIN_EMAIL), namespace, provider, project)


def upgrade(sim: ImageFactorySimulator, seeded: Seeded, *, mode: str, wait: bool = True) -> str:
    """Ask Image Factory for the v0.4.0 upgrade through its real route; returns the job id once it has run (or, with
    ``wait=False``, once it is queued)."""
    started = post_json(
        f"{sim.url}/api/v1/admin/infrastructure/providers/{seeded.provider}/tekton/upgrade",
        seeded.token,
        seeded.tenant,
        {"install_mode": mode, "asset_version": "v1", "idempotency_key": f"sandbox-{mode}-upgrade-v0.4.0"},
    )
    if wait:
        sim.wait_idle(timeout=120)
    return str(started["job"]["id"])


def _dump_yaml(data: Any) -> str:
    """Block-style YAML, for the files a person reads (the kubeconfig and the gitrollback config)."""
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()


def write_config(
    directory: Path,
    sim: ImageFactorySimulator,
    kube: KubernetesSimulator,
    seeded: Seeded,
    *,
    poll_interval: float,
    provider: dict[str, Any],
    more: Sequence[tuple[Seeded, dict[str, Any]]] = (),
) -> tuple[str, Path]:
    """Write the kubeconfig and a gitrollback config whose provider entry is ``provider`` plus the shared parts.

    ``more`` adds the other providers of a multi-provider sandbox (each its seeding and its own entry); then the
    providers are named ``sandbox-01``, ``sandbox-02``, ... instead of ``sandbox``.
    """
    kubeconfig_path = directory / "kubeconfig.yaml"
    kubeconfig_path.write_text(_dump_yaml(kube.kubeconfig(namespace=seeded.namespace, context="sandbox")), "utf-8")
    kubeconfig_path.chmod(0o600)
    config = {
        "imagefactory": {
            "url": sim.url,
            "tenant_id": seeded.tenant,
            "auth": {"token_env": TOKEN_ENV},
            "poll_interval_seconds": poll_interval,
            "timeout_seconds": 10,
        },
        "state_dir": str(directory / "state"),
        "providers": [
            _provider_entry(s, "sandbox" if not more else f"sandbox-{n + 1:02d}", entry, kubeconfig_path)
            for n, (s, entry) in enumerate([(seeded, provider), *more])
        ],
    }
    text = _dump_yaml(config)
    path = directory / "gitrollback.yaml"
    path.write_text(text, encoding="utf-8")
    return text, path


def _provider_entry(seeded: Seeded, name: str, provider: dict[str, Any], kubeconfig_path: Path) -> dict[str, Any]:
    """One provider's entry in the sandbox's config."""
    return {
        "id": seeded.provider,
        "name": name,
        **provider,
        "cluster": {"kubeconfig": str(kubeconfig_path), "context": "sandbox"},
        "verify": {"job_timeout_seconds": 60},
        "smoke_build": {
            "project_id": seeded.project,
            "timeout_seconds": 60,
            "manifest": {
                "name": "gitrollback-smoke",
                "type": "kaniko",
                "infrastructure_type": "kubernetes",
                "build_config": {
                    "build_type": "kaniko",
                    "sbom_tool": "syft",
                    "scan_tool": "trivy",
                    "registry_type": "harbor",
                    "secret_manager_type": "vault",
                    "dockerfile": "Dockerfile",
                    "build_context": ".",
                    "registry_repo": "registry.sandbox.example/acme/smoke",
                },
            },
        },
    }


def build_sandbox(
    directory: Path,
    *,
    clock: SimClock | None = None,
    tick: float = TICK,
    poll_interval: float = POLL_INTERVAL,
    watcher_interval: float | None = WATCHER_INTERVAL,
    providers: int = 1,
) -> SandboxWorld:
    """Build and start the world in ``directory`` (which must be empty or absent).

    With ``providers`` above 1 the world has that many providers (each its own tenant and namespace, see
    ``sandbox_ids``), all upgraded by the same broken release and all failed; the config lists every one.

    Args:
        clock: the one clock every simulator runs on (hand it to the client too); a ``WallClock`` the world
            owns when omitted.
        tick: seconds between Image Factory's installer and build dispatcher ticks.
        poll_interval: the client's poll interval written into the config.
        watcher_interval: seconds between Image Factory's background readiness watcher passes (on by default,
            as in the real server); None turns it off.
        providers: how many providers share the broken release.
    """
    if providers < 1:
        raise ValueError(f"a sandbox needs at least one provider, got {providers}")
    directory.mkdir(parents=True, exist_ok=True)
    repo = build_sandbox_repo(directory / "imagefactory")
    server_assets = _export_tree(repo.path, repo.bad, repo.asset_path, directory / "imagefactory-server")

    clock, own_clock = world_clock(clock)
    cluster = ClusterState(clock=clock)
    kube = KubernetesSimulator(cluster, token=KUBE_TOKEN).start()
    sim = ImageFactorySimulator(
        cluster,
        job_tick=tick,
        build_tick=tick,
        asset_root=server_assets,
        readiness_watcher_interval=watcher_interval,
        clock=clock,
    ).start()
    try:
        all_seeded = [
            seed_imagefactory(sim, cluster, kube, mode="image_factory_installer", index=i) for i in range(providers)
        ]
        # v0.3.0 was installed (and verified) the day it was tagged: job history is evidence for it.
        released = _commit_time(repo.path, repo.good)
        for one in all_seeded:
            sim.seed_job(
                one.provider,
                operation="install",
                status="succeeded",
                install_mode="image_factory_installer",
                asset_version="v1",
                created_at=released + timedelta(hours=2),
                started_at=released + timedelta(hours=2),
                completed_at=released + timedelta(hours=2, minutes=3),
            )
        # The broken upgrade, run for real by the simulated installer against the simulated cluster.
        failed = [upgrade(sim, one, mode="image_factory_installer", wait=False) for one in all_seeded]
        sim.wait_idle(timeout=120 * providers)
        seeded, failed_job_id = all_seeded[0], failed[0]
        entry = {
            "mode": "image_factory_installer",
            "assets": {"repo": str(repo.path), "branch": repo.branch, "path": repo.asset_path},
        }
        config_text, config_path = write_config(
            directory,
            sim,
            kube,
            seeded,
            poll_interval=poll_interval,
            provider=entry,
            more=[(one, entry) for one in all_seeded[1:]],
        )
    except BaseException:
        sim.stop()
        kube.stop()
        if own_clock is not None:
            own_clock.stop()
        raise
    return SandboxWorld(
        directory=directory,
        clock=clock,
        repo=repo,
        cluster=cluster,
        kube=kube,
        imagefactory=sim,
        tenant_id=seeded.tenant,
        provider_id=seeded.provider,
        project_id=seeded.project,
        namespace=seeded.namespace,
        token=seeded.token,
        failed_job_id=failed_job_id,
        config_path=config_path,
        kubeconfig_path=directory / "kubeconfig.yaml",
        config_text=config_text,
        own_clock=own_clock,
        providers=tuple(
            SandboxProvider(
                "sandbox" if providers == 1 else f"sandbox-{i + 1:02d}",
                one.provider,
                one.tenant,
                one.namespace,
                one.project,
                job,
            )
            for i, (one, job) in enumerate(zip(all_seeded, failed, strict=True))
        ),
    )
