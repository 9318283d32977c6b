"""The pre-flight check end to end: a wrong token or a missing permission stops the run before its first change,
with exit 2 and every problem named, in both modes, through the API and the CLI."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitrollback import Rollback, parse_config
from gitrollback.cli import EXIT_USAGE, main
from gitrollback.cli.output import Output
from gitrollback.errors import PreflightFailedError
from gitrollback.models import RunReport, StepStatus
from gitrollback.settings import Settings
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.sandbox import SandboxWorld
from gitrollback.testing.sandbox_gitops import (
    ARGOCD_TOKEN_ENV,
    NAME,
    OWNER,
    GitOpsSandbox,
    build_gitops_sandbox,
)


def read_file(path: str) -> str:
    """The file reader the CLI would pass."""
    return Path(path).read_text(encoding="utf-8")


def _cli(
    world: SandboxWorld | GitOpsSandbox, argv: list[str], env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [*argv, "--config", str(world.config_path)], env=env or world.env, output=Output(out, err), clock=world.clock
    )
    return code, out.getvalue(), err.getvalue()


def _rollback(
    world: SandboxWorld | GitOpsSandbox, env: dict[str, str] | None = None, settings: Settings | None = None
) -> Rollback:
    s = settings or parse_config(world.config_text, source=str(world.config_path))
    return Rollback.from_settings(s, env=env or world.env, read_file=read_file, clock=world.clock)


def _versions(cluster: Any) -> dict[tuple[str, str], str]:
    """Every object's resourceVersion, except the run lock's Lease."""
    return {
        (rt.plural, obj["metadata"]["name"]): obj["metadata"]["resourceVersion"]
        for rt in cluster.types
        if rt.kind != "Lease"
        for obj in cluster.list(rt, None)
    }


def _step(report: RunReport, name: str) -> Any:
    return next(r for r in report.steps if r.name == name)


@pytest.fixture(name="gitops")
def _gitops(tmp_path: Path) -> Iterator[Any]:
    worlds: list[GitOpsSandbox] = []

    def make(scm: str = "github") -> GitOpsSandbox:
        world = build_gitops_sandbox(
            tmp_path / f"g{len(worlds)}", scm=scm, clock=FakeClock(), tick=3.0, poll_interval=5.0
        )  # type: ignore[arg-type]
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


def _nothing_pushed(world: GitOpsSandbox) -> None:
    heads = {ref for ref in _refs(world) if ref.startswith("refs/heads/gitrollback/")}
    assert heads == set()


def _refs(world: GitOpsSandbox) -> list[str]:
    import subprocess

    out = subprocess.run(
        ["git", "-C", str(world.remote), "for-each-ref", "--format=%(refname)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_a_wrong_argo_cd_token_fails_before_the_first_commit(gitops: Any) -> None:
    """gitops + GitHub: a wrong Argo CD token stops the run at the pre-flight step; nothing is committed or opened."""
    world = gitops("github")
    env = {**world.env, ARGOCD_TOKEN_ENV: "not-a-valid-token"}
    with _rollback(world, env) as rb:
        report = rb.run()
    assert report.status == "failed" and report.error_kind == "preflight_failed"
    preflight = _step(report, "preflight")
    assert preflight.status is StepStatus.FAILED and "argocd: Argo CD refuses the token (401)" in preflight.detail
    assert _step(report, "commit").status is StepStatus.SKIPPED
    _nothing_pushed(world)
    assert isinstance(world.host, GitHubSimulator) and world.host.pulls(OWNER, NAME) == []
    code, out, _ = _cli(world, ["run", "--yes", "--json"], env)
    assert code == EXIT_USAGE and json.loads(out)["error_kind"] == "preflight_failed"


def test_every_problem_is_named_not_just_the_first(gitops: Any) -> None:
    """A read-only GitHub role, a classic token without repo scope and a wrong Argo CD token: all three named."""
    world = gitops("github")
    assert isinstance(world.host, GitHubSimulator)
    world.host.set_role(OWNER, NAME, "read")
    world.host.oauth_scopes = ("read:org",)
    env = {**world.env, ARGOCD_TOKEN_ENV: "not-a-valid-token"}
    with _rollback(world, env) as rb:
        report = rb.run()
    detail = _step(report, "preflight").detail
    assert "github: the token's user may not push to acme/imagefactory (permissions.push is false)" in detail
    assert "github: the classic token lacks the repo scope (it has: read:org)" in detail
    assert "argocd: Argo CD refuses the token (401)" in detail
    assert "git: the token may not push to" in detail  # the remote itself refuses the dry-run push
    assert "(4 problems)" in detail
    _nothing_pushed(world)


def test_a_gitlab_reporter_cannot_push_and_is_told_before_anything(gitops: Any) -> None:
    """GitLab: a Reporter (access level 20) is named with the Developer level it needs; no MR, no branch."""
    world = gitops("gitlab")
    assert isinstance(world.host, GitLabSimulator)
    world.host.set_access_level(f"{OWNER}/{NAME}", 20)
    with _rollback(world) as rb:
        report = rb.run()
    detail = _step(report, "preflight").detail
    assert "gitlab: the token's user has access level 20 (Reporter) on acme/imagefactory" in detail
    assert "need Developer (30)" in detail
    assert world.host.merge_requests(f"{OWNER}/{NAME}") == []
    _nothing_pushed(world)


def test_a_wrong_kubernetes_token_fails_before_the_first_commit_in_gitops_mode(gitops: Any) -> None:
    """gitops with cluster access: the cluster refuses the token at the run lock; every problem found is named
    (here the Argo CD token too), exit 2, nothing pushed."""
    world = gitops("github")
    world.kube.token = "rotated"
    env = {**world.env, ARGOCD_TOKEN_ENV: "not-a-valid-token"}
    with _rollback(world, env) as rb, pytest.raises(PreflightFailedError) as failed:
        rb.run()
    services = [p.service for p in failed.value.problems]
    assert services[0] == "kubernetes" and "argocd" in services
    assert "Unauthorized" in failed.value.problems[0].problem
    _nothing_pushed(world)
    code, _, err = _cli(world, ["run", "--yes"], env)
    assert code == EXIT_USAGE and "pre-flight check failed before any change (2 problems)" in err


def test_a_wrong_kubernetes_token_fails_before_apply_in_installer_mode(world: SandboxWorld) -> None:
    """installer mode: a wrong cluster token exits 2 naming the 401; no object, job or build is created."""
    world.kube.token = "rotated"
    before = _versions(world.cluster)
    code, _, err = _cli(world, ["run", "--yes"])
    assert code == EXIT_USAGE
    assert "kubernetes: cannot take the run lock" in err and "Unauthorized" in err
    assert _versions(world.cluster) == before
    assert world.imagefactory.builds() == []
    assert [j for j in world.imagefactory.jobs(world.provider_id) if j["operation"] == "validate"] == []


def test_a_missing_kubernetes_permission_is_found_by_access_review(world: SandboxWorld) -> None:
    """A token that may not patch Deployments in the target namespace is named by the review; nothing applied."""
    world.kube.deny("patch", "deployments", group="apps", namespace=world.namespace)
    world.kube.deny("list", "pipelines", group="tekton.dev")
    before = _versions(world.cluster)
    with _rollback(world) as rb:
        report = rb.run()
    assert report.error_kind == "preflight_failed"
    detail = _step(report, "preflight").detail
    assert f'kubernetes: may not patch deployments.apps in namespace "{world.namespace}"' in detail
    assert f'kubernetes: may not list pipelines.tekton.dev in namespace "{world.namespace}"' in detail
    assert _step(report, "apply").status is StepStatus.SKIPPED
    assert _versions(world.cluster) == before


def test_create_and_the_namespace_are_asked_where_the_api_server_checks_them(world: SandboxWorld) -> None:
    """An apply that creates needs create, and the namespace is read in itself: both are named before any change."""
    world.kube.deny("create", "tasks", group="tekton.dev", namespace=world.namespace)
    world.kube.deny("get", "namespaces", namespace=world.namespace)
    before = _versions(world.cluster)
    with _rollback(world) as rb:
        report = rb.run()
    assert report.error_kind == "preflight_failed"
    detail = _step(report, "preflight").detail
    assert f'kubernetes: may not create tasks.tekton.dev in namespace "{world.namespace}"' in detail
    assert f'kubernetes: may not get namespaces in namespace "{world.namespace}"' in detail
    assert _versions(world.cluster) == before


def test_plan_shows_the_preflight_step_and_fails_as_run_would(world: SandboxWorld) -> None:
    """plan lists the pre-flight step with what it checks, and a missing permission fails plan with exit 2."""
    with _rollback(world) as rb:
        plan = rb.plan()
    step = next(s for s in plan.steps if s.name == "preflight")
    assert not step.mutates and step.targets == ("imagefactory", "kubernetes")
    world.kube.deny("patch", "tasks", group="tekton.dev")
    code, _, err = _cli(world, ["plan"])
    assert code == EXIT_USAGE and "may not patch tasks.tekton.dev" in err


def test_an_unwritable_notes_path_stops_the_run_before_any_change(world: SandboxWorld, tmp_path: Path) -> None:
    """run --notes into a missing directory exits 2 naming --notes; nothing is applied."""
    before = _versions(world.cluster)
    notes = tmp_path / "no-such-dir" / "incident.md"
    code, _, err = _cli(world, ["run", "--yes", "--notes", str(notes)])
    assert code == EXIT_USAGE
    assert f"notes: --notes {notes}: its directory {notes.parent} does not exist" in err
    assert _versions(world.cluster) == before
    good = tmp_path / "incident.md"
    code, _, _ = _cli(world, ["run", "--yes", "--notes", str(good)])
    assert code == 0 and good.read_text(encoding="utf-8").startswith("## Tekton rollback")


def test_settings_without_cluster_keep_the_other_checks(gitops: Any, tmp_path: Path) -> None:
    """gitops without cluster access: the pre-flight asks Image Factory, git, GitHub and Argo CD, not Kubernetes."""
    world = gitops("github")
    settings = parse_config(world.config_text, source=str(world.config_path))
    p = settings.providers[0]
    from gitrollback.settings import ClusterSettings

    settings = dataclasses.replace(settings, providers=(dataclasses.replace(p, cluster=ClusterSettings()),))
    with _rollback(world, settings=settings) as rb:
        plan = rb.plan()
    step = next(s for s in plan.steps if s.name == "preflight")
    assert "kubernetes" not in step.targets and "argocd" in step.targets and "github" in step.targets


def test_wrong_image_factory_and_kubernetes_tokens_are_named_together(world: SandboxWorld) -> None:
    """Both tokens wrong: the run stops before the lock with one error naming Image Factory's and the cluster's 401."""
    from gitrollback.testing.sandbox import TOKEN_ENV

    world.kube.token = "rotated"
    env = {**world.env, TOKEN_ENV: "not-a-valid-token"}
    with _rollback(world, env) as rb, pytest.raises(PreflightFailedError) as failed:
        rb.run()
    assert [p.service for p in failed.value.problems] == ["imagefactory", "kubernetes"]
    assert "cannot read the provider" in failed.value.problems[0].problem
    assert "the API server refuses the token (401)" in failed.value.problems[1].problem
