"""A throwaway world with a broken Tekton upgrade, for ``gitrollback sandbox`` and for tests.

It is built from real parts: a real git repository with the real Image Factory asset tree and a release history
ending in a broken upgrade (``gitrollback.testing.repos``), a Kubernetes simulator holding the provider's
namespace, and an Image Factory simulator whose installer really ran that broken upgrade against the cluster
simulator and failed half-way (the registry Deployment lost its selector, so the API server refused it; the
renamed ``kaniko-build`` Task went in, ``kaniko-no-push`` and every Pipeline did not). Readiness therefore
fails with Image Factory's exact messages, the provider is offline, and the last job is failed.

``SandboxWorld.config_text`` is a ready gitrollback config for it; the Image Factory token is in ``env``.

Example::

    with build_sandbox(tmp_path) as world:
        settings = gitrollback.parse_config(world.config_text, source=str(world.config_path))
        rb = gitrollback.Rollback.from_settings(settings, env=world.env, read_file=lambda p: Path(p).read_text())
        assert rb.run().status == "rolled_back"
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from gitrollback import _yaml
from gitrollback.namespaces import tenant_namespace
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.kube import KubernetesSimulator
from gitrollback.testing.repos import SandboxRepo, build_sandbox_repo

__all__ = ["TOKEN_ENV", "SandboxWorld", "build_sandbox"]

TOKEN_ENV = "GITROLLBACK_SANDBOX_TOKEN"
TENANT_ID = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b6a7e41"
PROVIDER_ID = "0b8e6f1e-7c2a-4d3b-8e9f-1a2b3c4d5e6f"
ADMIN_EMAIL = "platform-admin@sandbox.example"


@dataclass
class SandboxWorld:
    """Everything the sandbox started; ``close()`` stops the simulators."""

    directory: Path
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

    @property
    def env(self) -> dict[str, str]:
        """The environment a gitrollback run needs (the Image Factory token)."""
        return {TOKEN_ENV: self.token}

    def close(self) -> None:
        """Stop both simulators."""
        self.imagefactory.stop()
        self.kube.stop()

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


def _post(url: str, token: str, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "X-Tenant-ID": tenant, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payload: dict[str, Any] = json.loads(response.read())
    return payload


def build_sandbox(directory: Path, *, tick: float = 0.02, poll_interval: float = 0.05) -> SandboxWorld:
    """Build and start the world in ``directory`` (which must be empty or absent)."""
    directory.mkdir(parents=True, exist_ok=True)
    repo = build_sandbox_repo(directory / "imagefactory")
    server_assets = _export_tree(repo.path, repo.bad, repo.asset_path, directory / "imagefactory-server")

    cluster = ClusterState()
    kube = KubernetesSimulator(cluster, token="sandbox-kube-token").start()
    sim = ImageFactorySimulator(cluster, job_tick=tick, build_tick=tick, asset_root=server_assets).start()
    try:
        tenant = sim.add_tenant("acme", tenant_id=TENANT_ID)
        sim.add_user(ADMIN_EMAIL, "sandbox-password", tenant_id=tenant, role="System Administrator", system_admin=True)
        token = sim.issue_token(ADMIN_EMAIL)
        namespace = tenant_namespace(tenant)
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
        cluster_auth = {"server": kube.url, "token": "sandbox-kube-token"}
        provider = sim.add_provider(
            tenant,
            "sandbox-k8s",
            provider_id=PROVIDER_ID,
            provider_type="kubernetes",
            target_namespace=namespace,
            status="online",
            config={
                "tekton_enabled": True,
                "tekton_install_mode": "image_factory_installer",
                "tekton_profile_version": "v1",
                "tekton_use_pipeline_ref": True,
                "runtime_auth": dict(cluster_auth),
                "bootstrap_auth": dict(cluster_auth),
            },
        )
        project = sim.add_project(tenant, "smoke", git_url="https://git.sandbox.example/acme/smoke.git")
        sim.seed_job(
            provider,
            operation="install",
            status="succeeded",
            install_mode="image_factory_installer",
            asset_version="v1",
            created_at=datetime.now(UTC) - timedelta(days=21),
        )
        # The broken upgrade, run for real by the simulated installer against the simulated cluster.
        started = _post(
            f"{sim.url}/api/v1/admin/infrastructure/providers/{provider}/tekton/upgrade",
            token,
            tenant,
            {
                "install_mode": "image_factory_installer",
                "asset_version": "v1",
                "idempotency_key": "sandbox-upgrade-v0.4.0",
            },
        )
        sim.wait_idle(timeout=30)
        failed_job_id = str(started["job"]["id"])

        kubeconfig = kube.kubeconfig(namespace=namespace, context="sandbox")
        kubeconfig_path = directory / "kubeconfig.yaml"
        kubeconfig_path.write_text(_yaml.dump(kubeconfig), encoding="utf-8")
        kubeconfig_path.chmod(0o600)
        config = {
            "imagefactory": {
                "url": sim.url,
                "tenant_id": tenant,
                "auth": {"token_env": TOKEN_ENV},
                "poll_interval_seconds": poll_interval,
                "timeout_seconds": 10,
            },
            "state_dir": str(directory / "state"),
            "providers": [
                {
                    "id": provider,
                    "name": "sandbox",
                    "mode": "image_factory_installer",
                    "assets": {"repo": str(repo.path), "branch": repo.branch, "path": repo.asset_path},
                    "cluster": {"kubeconfig": str(kubeconfig_path), "context": "sandbox"},
                    "verify": {"job_timeout_seconds": 60},
                    "smoke_build": {
                        "project_id": project,
                        "timeout_seconds": 60,
                        "manifest": {
                            "name": "gitrollback-smoke",
                            "type": "kaniko",
                            "build_config": {
                                "build_type": "kaniko",
                                "dockerfile": "Dockerfile",
                                "build_context": ".",
                                "registry_repo": "registry.sandbox.example/acme/smoke",
                            },
                        },
                    },
                }
            ],
        }
        config_text = _yaml.dump(config)
        config_path = directory / "gitrollback.yaml"
        config_path.write_text(config_text, encoding="utf-8")
    except BaseException:
        sim.stop()
        kube.stop()
        raise
    return SandboxWorld(
        directory=directory,
        repo=repo,
        cluster=cluster,
        kube=kube,
        imagefactory=sim,
        tenant_id=tenant,
        provider_id=provider,
        project_id=project,
        namespace=namespace,
        token=token,
        failed_job_id=failed_job_id,
        config_path=config_path,
        kubeconfig_path=kubeconfig_path,
        config_text=config_text,
    )
