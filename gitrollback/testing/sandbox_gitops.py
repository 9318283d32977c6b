"""The gitops-mode sandbox: a broken upgrade that Argo CD or Flux applied from a GitOps repository on GitHub,
GitLab or a plain git remote.

The pieces are the same real ones as the installer sandbox (``gitrollback.testing.sandbox``): the real asset tree in a
real git history ending in the broken v0.4.0 upgrade, a Kubernetes simulator, and an Image Factory simulator whose
provider is in ``gitops`` mode. The GitOps repository is a bare repository served by the GitHub or GitLab simulator
(smart HTTP with token auth) or, for ``direct``, a bare repository on disk. With ``sync="argocd"`` the Argo CD
simulator syncs ``backend/tekton`` from it and has applied the broken commit, so the cluster holds the broken state,
Image Factory's readiness fails with its exact messages, and the application is Degraded. With ``sync="flux"`` the
Flux simulator's GitRepository follows ``main`` and a Kustomization builds ``./backend/tekton`` into the provider's
namespace: the broken commit fails Flux's server-side dry run (its registry Deployment has no selector), so nothing of
it was applied, the provider's Tasks and Pipelines are missing, and the Kustomization is Ready=False and retrying.

The hosts behave as the real ones do: mergeability is computed in the background for ``mergeability_delay``
seconds after the change request is opened (GitHub's ``mergeable: null``; GitLab's ``preparing`` and ``checking``),
so a merge sent at once is refused, and only collaborators can be asked for a review. The config asks for a review
from ``oncall-lead``, whom the GitHub repository has as a collaborator and the GitLab instance as a user.

A "reviewer" merges gitrollback's pull/merge request a few ticks after it is opened (unless the run uses
``auto_merge``), the way a person on call would: once the host shows it mergeable, through the simulator's own
web-UI path rather than the API. It is a repeating timer on the world's clock, like every simulator's background
work: ``GitOpsSandbox.clock`` is one ``gitrollback.testing.clock`` clock shared by all of them (a ``WallClock`` the
world owns unless ``clock=`` is given; tests give a ``FakeClock`` and hand it to the client too).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from gitrollback.testing.argocd import ArgoCDSimulator
from gitrollback.testing.clock import SimClock, Timer, WallClock
from gitrollback.testing.cluster_state import CATALOG, ClusterState
from gitrollback.testing.flux import FLUX_TYPES, FluxSimulator
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.kube import KubernetesSimulator
from gitrollback.testing.repos import SandboxRepo, build_sandbox_repo
from gitrollback.testing.sandbox import (
    KUBE_TOKEN,
    POLL_INTERVAL,
    TICK,
    TOKEN_ENV,
    WATCHER_INTERVAL,
    seed_imagefactory,
    upgrade,
    world_clock,
    write_config,
)

__all__ = [
    "APP",
    "ARGOCD_TOKEN_ENV",
    "FLUX_NAMESPACE",
    "MERGEABILITY_DELAY",
    "REVIEWER",
    "SCM_TOKEN_ENV",
    "GitOpsSandbox",
    "build_gitops_sandbox",
]

SCM_TOKEN_ENV = "GITROLLBACK_SANDBOX_SCM_TOKEN"
ARGOCD_TOKEN_ENV = "GITROLLBACK_SANDBOX_ARGOCD_TOKEN"
OWNER, NAME = "acme", "imagefactory"
APP = "tekton-assets"
#: seconds the hosts take to compute mergeability after a change request is opened (or its branches move)
MERGEABILITY_DELAY = 4.0
#: the reviewer the config asks for: a collaborator on GitHub, a user on GitLab
REVIEWER = "oncall-lead"
Scm = Literal["github", "gitlab", "direct"]
Sync = Literal["argocd", "flux"]
#: where the Flux objects live, as ``flux install`` puts them
FLUX_NAMESPACE = "flux-system"


@dataclass
class GitOpsSandbox:
    """Everything the gitops sandbox started; ``close()`` stops it all (and the clock, if the world made it)."""

    directory: Path
    clock: SimClock
    tick: float
    scm: Scm
    repo: SandboxRepo
    remote: Path
    cluster: ClusterState
    kube: KubernetesSimulator
    imagefactory: ImageFactorySimulator
    argocd: ArgoCDSimulator | None
    host: GitHubSimulator | GitLabSimulator | None
    namespace: str
    provider_id: str
    token: str
    config_text: str
    config_path: Path
    flux: FluxSimulator | None = None
    sync: Sync = "argocd"
    reviewer_merges: list[str] = field(default_factory=list)
    own_clock: WallClock | None = None
    #: every provider's id and its Argo CD application (or Flux Kustomization), the first one's included
    provider_ids: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    _reviewer: Timer | None = None
    _seen: dict[int, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The tokens a run needs."""
        scm_token = self.host.token if self.host is not None else ""
        argocd_token = self.argocd.token if self.argocd is not None else ""
        return {TOKEN_ENV: self.token, SCM_TOKEN_ENV: scm_token, ARGOCD_TOKEN_ENV: argocd_token}

    def start_reviewer(self, delay_ticks: int = 3) -> None:
        """Merge gitrollback's change request once it has been open for ``delay_ticks`` ticks, as a person would."""
        if self.host is None or self._reviewer is not None:
            return
        self._reviewer = self.clock.every(self.tick, lambda: self._review(delay_ticks), name="sandbox-reviewer")

    def _open_requests(self) -> list[int]:
        if isinstance(self.host, GitHubSimulator):
            return [p.number for p in self.host.pulls(OWNER, NAME) if p.state == "open" and not p.merged]
        if isinstance(self.host, GitLabSimulator):
            return [int(m["iid"]) for m in self.host.merge_requests(f"{OWNER}/{NAME}") if m["state"] == "opened"]
        return []

    def _review(self, delay_ticks: int) -> None:
        """One reviewer tick: count how long each open request has waited; merge those that waited long enough
        and that the host shows as mergeable (a person waits for the green merge button)."""
        for number in self._open_requests():
            self._seen[number] = self._seen.get(number, 0) + 1
            if self._seen[number] < delay_ticks:
                continue
            if isinstance(self.host, GitHubSimulator):
                if self.host.mergeable(OWNER, NAME, number):
                    self.reviewer_merges.append(self.host.merge_pull(OWNER, NAME, number, login=REVIEWER))
            elif isinstance(self.host, GitLabSimulator):
                project = f"{OWNER}/{NAME}"
                if self.host.merge_request(project, number)["detailed_merge_status"] == "mergeable":
                    self.reviewer_merges.append(self.host.accept_merge_request(project, number))

    def close(self) -> None:
        """Stop the reviewer and every simulator, then the clock when the world made it."""
        if self._reviewer is not None:
            self._reviewer.cancel()
        if self.flux is not None:
            self.flux.stop()
        for server in (self.host, self.argocd, self.imagefactory, self.kube):
            if server is not None:
                server.stop()
        if self.own_clock is not None:
            self.own_clock.stop()

    def __enter__(self) -> GitOpsSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


def _publish(
    repo: SandboxRepo, scm: Scm, directory: Path, clock: SimClock, mergeability_delay: float
) -> tuple[GitHubSimulator | GitLabSimulator | None, Path]:
    """Start the host (if any), put the sandbox history into its bare repository, and make the reviewer known."""
    if scm == "github":
        github = GitHubSimulator(
            directory / "github", clock=clock, mergeability_delay=mergeability_delay, collaborators=(REVIEWER,)
        ).start()
        bare = directory / "github-repos" / f"{NAME}.git"
        _git("clone", "--quiet", "--bare", str(repo.path), str(bare))
        github.add_repo(OWNER, NAME, bare)
        return github, github.repo_path(OWNER, NAME)
    if scm == "gitlab":
        gitlab = GitLabSimulator(directory / "gitlab", clock=clock, mergeability_delay=mergeability_delay).start()
        gitlab.add_user(REVIEWER, name="On-call lead")
        _, bare = gitlab.create_project(f"{OWNER}/{NAME}")
        _git("-C", str(repo.path), "push", "--quiet", str(bare), "main", "--tags")
        return gitlab, bare
    bare = directory / "remote" / f"{NAME}.git"
    _git("clone", "--quiet", "--bare", str(repo.path), str(bare))
    return None, bare


def build_gitops_sandbox(
    directory: Path,
    *,
    scm: Scm = "github",
    auto_merge: bool = False,
    auto_sync: bool = False,
    sync: Sync = "argocd",
    clock: SimClock | None = None,
    tick: float = TICK,
    poll_interval: float = POLL_INTERVAL,
    mergeability_delay: float = MERGEABILITY_DELAY,
    providers: int = 1,
) -> GitOpsSandbox:
    """Build and start the gitops world in ``directory``.

    Args:
        scm: where the GitOps repository lives: the GitHub or GitLab simulator, or a bare repository (``direct``).
        auto_merge: write ``gitops.auto_merge: true`` into the config (gitrollback merges its own change request).
        auto_sync: give the Argo CD application an automated sync policy.
        sync: the GitOps controller: the Argo CD simulator, or Flux's controllers in the Kubernetes simulator.
        clock: the one clock every simulator and the reviewer run on (hand it to the client too); a ``WallClock``
            the world owns when omitted.
        tick: seconds between the simulators' ticks (Image Factory's dispatchers, Argo CD's controller, the
            reviewer).
        poll_interval: the client's poll interval (Image Factory, merge requests, Argo CD) written into the config.
        mergeability_delay: seconds GitHub or GitLab takes to compute mergeability (0: at once).
        providers: how many providers (each its own tenant, namespace and Argo CD application or Flux
            Kustomization, ``sandbox.sandbox_ids``) deploy the same path of the same GitOps repository, broken
            release included: a fleet rolls them back with one change request.
    """
    if providers < 1:
        raise ValueError(f"a sandbox needs at least one provider, got {providers}")
    directory.mkdir(parents=True, exist_ok=True)
    repo = build_sandbox_repo(directory / "imagefactory")
    clock, own_clock = world_clock(clock)
    started: list[Any] = []
    try:
        host, remote = _publish(repo, scm, directory, clock, mergeability_delay)
        started.append(host)
        cluster = ClusterState(CATALOG + FLUX_TYPES if sync == "flux" else CATALOG, clock=clock)
        kube = KubernetesSimulator(cluster, token=KUBE_TOKEN).start()
        started.append(kube)
        sim = ImageFactorySimulator(
            cluster, job_tick=tick, build_tick=tick, readiness_watcher_interval=WATCHER_INTERVAL, clock=clock
        ).start()
        started.append(sim)
        argocd: ArgoCDSimulator | None = None
        flux: FluxSimulator | None = None
        if sync == "flux":
            flux = FluxSimulator(cluster, tick=tick, clock=clock, namespace=FLUX_NAMESPACE).start()
            started.append(flux)
        else:
            argocd = ArgoCDSimulator(cluster, tick=tick, clock=clock).start()
            started.append(argocd)

        all_seeded = [seed_imagefactory(sim, cluster, kube, mode="gitops", index=i) for i in range(providers)]
        seeded = all_seeded[0]
        apps = [APP if i == 0 else f"{APP}-{i + 1:02d}" for i in range(providers)]
        if isinstance(host, GitHubSimulator):
            repo_url, project_ref, base_url = (
                host.clone_url(OWNER, NAME, with_token=False),
                f"{OWNER}/{NAME}",
                host.api_url,
            )
        elif isinstance(host, GitLabSimulator):
            repo_url, project_ref, base_url = (
                host.git_url(f"{OWNER}/{NAME}", with_token=False),
                f"{OWNER}/{NAME}",
                host.url,
            )
        else:
            repo_url, project_ref, base_url = str(remote), None, None
        if flux is not None:
            # Flux follows main; the broken v0.4.0 commit is the last one it tried (the tip only adds docs)
            # a GitRepository URL must be http(s) or ssh (its CRD's pattern); for a remote on disk, Flux's URL is
            # a name the simulator maps to that same bare repository
            flux_url = repo_url if host is not None else f"ssh://git@git.sandbox.example/{OWNER}/{NAME}.git"
            flux.add_git_repository(APP, url=flux_url, repo_path=remote, branch=repo.branch)
            for app, one in zip(apps, all_seeded, strict=True):
                flux.add_kustomization(
                    app,
                    source=APP,
                    path=f"./{repo.asset_path}",
                    target_namespace=one.namespace,
                    prune=True,
                    retry_interval="1m",
                )
            flux.reconcile_all()
        else:
            assert argocd is not None
            # Argo CD follows main; the broken v0.4.0 commit is what it last applied (the tip only adds docs).
            for app, one in zip(apps, all_seeded, strict=True):
                argocd.add_app(
                    app, repo_path=remote, path=repo.asset_path, namespace=one.namespace, auto_sync=auto_sync
                )
                argocd.sync_now(app, repo.tip, timeout=120)
        # Image Factory's gitops "upgrade" only delegates to the controller and records readiness (see the
        # gitops branch of the installer in gitrollback.testing.imagefactory.installer).
        for one in all_seeded:
            upgrade(sim, one, mode="gitops", wait=False)
        sim.wait_idle(timeout=120 * providers)
        sync_config: dict[str, Any]
        if flux is not None:
            sync_config = {
                "engine": "flux",
                "kustomization": APP,
                "namespace": FLUX_NAMESPACE,
                "prune": True,
                "timeout_seconds": 120,
                "poll_interval_seconds": poll_interval,
            }
        else:
            assert argocd is not None
            sync_config = {
                "engine": "argocd",
                "url": argocd.url,
                "app": APP,
                "token_env": ARGOCD_TOKEN_ENV,
                # objects the broken release added (Task/kaniko-build) must go, or the app stays OutOfSync
                "prune": True,
                "timeout_seconds": 120,
                "poll_interval_seconds": poll_interval,
            }
        gitops: dict[str, Any] = {
            "scm": scm,
            "strategy": "restore",
            "labels": ["rollback", "tekton"],
            "auto_merge": auto_merge,
            "merge_timeout_seconds": 120,
            "poll_interval_seconds": poll_interval,
        }
        if host is not None:
            gitops.update(
                {"project": project_ref, "base_url": base_url, "token_env": SCM_TOKEN_ENV, "reviewers": [REVIEWER]}
            )
        key = "kustomization" if flux is not None else "app"

        def entry(app: str) -> dict[str, Any]:
            return {
                "mode": "gitops",
                "assets": {"repo": repo_url, "branch": repo.branch, "path": repo.asset_path},
                "gitops": gitops,
                "sync": {**sync_config, key: app},
            }

        config_text, config_path = write_config(
            directory,
            sim,
            kube,
            seeded,
            poll_interval=poll_interval,
            provider=entry(APP),
            more=[(one, entry(app)) for app, one in zip(apps[1:], all_seeded[1:], strict=True)],
        )
    except BaseException:
        for server in started:
            if server is not None:
                server.stop()
        if own_clock is not None:
            own_clock.stop()
        raise
    return GitOpsSandbox(
        directory=directory,
        clock=clock,
        tick=tick,
        scm=scm,
        repo=repo,
        remote=remote,
        cluster=cluster,
        kube=kube,
        imagefactory=sim,
        argocd=argocd,
        host=host,
        namespace=seeded.namespace,
        provider_id=seeded.provider,
        token=seeded.token,
        config_text=config_text,
        config_path=config_path,
        flux=flux,
        sync=sync,
        own_clock=own_clock,
        provider_ids=tuple(one.provider for one in all_seeded),
        apps=tuple(apps),
    )
