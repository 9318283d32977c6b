"""The gitops runbook end to end: PR/MR or direct push, merge, Argo CD sync to the exact revision, verification.

Each world runs on its own ``FakeClock`` that the rollback shares: the simulators tick every 3 s and the client polls
every 5 s of simulated time, so the waits (merge, sync, installer jobs, builds) cost nothing real.
"""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from gitrollback import Rollback, parse_config
from gitrollback.models import RunReport, StepStatus
from gitrollback.settings import Settings
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.gitlab import GitLabSimulator
from gitrollback.testing.sandbox_gitops import (
    APP,
    MERGEABILITY_DELAY,
    NAME,
    OWNER,
    REVIEWER,
    GitOpsSandbox,
)


def read_file(path: str) -> str:
    """The file reader the CLI would pass."""
    return Path(path).read_text(encoding="utf-8")


def _settings(world: GitOpsSandbox, **gitops_changes: object) -> Settings:
    settings = parse_config(world.config_text, source=str(world.config_path))
    p = settings.providers[0]
    assert p.gitops is not None
    p = dataclasses.replace(p, gitops=dataclasses.replace(p.gitops, **gitops_changes))
    return dataclasses.replace(settings, providers=(p,))


def _run(world: GitOpsSandbox, settings: Settings | None = None, env: dict[str, str] | None = None) -> RunReport:
    s = settings or parse_config(world.config_text, source=str(world.config_path))
    with Rollback.from_settings(s, env=env or world.env, read_file=read_file, clock=world.clock) as rb:
        return rb.run()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _step(report: RunReport, name: str):
    return next(r for r in report.steps if r.name == name)


@pytest.mark.parametrize("scm", ["github", "gitlab", "direct"])
def test_rollback_lands_in_git_and_argo_syncs_exactly_it(make_world, scm: str) -> None:
    """Main ends with the known-good tree, Argo CD is Synced/Healthy at exactly that commit, every check passes."""
    world = make_world(scm)
    if scm != "direct":
        world.start_reviewer()
    report = _run(world)
    assert report.status == "rolled_back", report.error
    assert all(r.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED) for r in report.steps)
    tip = _git(world.remote, "rev-parse", "main")
    assert report.synced_revision == tip
    good_tree = _git(world.repo.path, "rev-parse", f"{world.repo.good}:backend/tekton")
    assert _git(world.remote, "rev-parse", f"{tip}:backend/tekton") == good_tree
    outside = _git(world.remote, "rev-parse", f"{tip}:README.md")
    assert outside == _git(world.repo.path, "rev-parse", f"{world.repo.tip}:README.md")
    app = world.argocd.app(APP)
    assert (app["status"]["sync"]["status"], app["status"]["health"]["status"]) == ("Synced", "Healthy")
    assert app["status"]["sync"]["revision"] == tip
    assert report.rollback_commit is not None
    trailers = _git(world.remote, "log", "-1", "--format=%(trailers)", report.rollback_commit)
    assert f"Rollback-Of: {world.repo.bad}" in trailers and f"Rollback-To: {world.repo.good}" in trailers
    if scm == "direct":
        assert report.change_request is None and report.rollback_commit == tip
    else:
        assert report.change_request is not None and report.change_request.host == scm
        assert world.reviewer_merges == [tip]
    tags = _git(world.remote, "tag", "--list", f"gitrollback/verified/{world.provider_id}/*", "--points-at", tip)
    assert tags.startswith("gitrollback/verified/")


def test_a_rerun_reuses_the_branch_commit_and_pull_request(make_world) -> None:
    """When nobody merged in time the run fails; the rerun resumes it at the merge with the same commit and PR."""
    world = make_world("github")
    first = _run(world, _settings(world, merge_timeout=30))
    assert first.status == "failed"
    assert _step(first, "merge").status is StepStatus.FAILED
    assert first.change_request is not None and first.rollback_commit is not None
    second = _run(world, _settings(world, auto_merge=True))
    assert second.status == "rolled_back", second.error
    assert second.change_request is not None and second.change_request.number == first.change_request.number
    assert second.rollback_commit == first.rollback_commit
    assert second.run_id == first.run_id and "change-request" in second.resumed and "merge" not in second.resumed
    assert isinstance(world.host, GitHubSimulator)
    assert len(world.host.pulls(OWNER, NAME)) == 1


def test_second_run_after_success_changes_nothing(make_world) -> None:
    """Running the same rollback again after it verified opens no second PR and makes no commit."""
    world = make_world("github", auto_merge=True)
    assert _run(world).status == "rolled_back"
    before = _git(world.remote, "rev-parse", "main")
    again = _run(world)
    assert again.status == "refused" and again.error is not None and "nothing to roll back" in again.error
    assert _git(world.remote, "rev-parse", "main") == before
    assert isinstance(world.host, GitHubSimulator) and len(world.host.pulls(OWNER, NAME)) == 1


def test_branch_protection_refusal_fails_the_merge_clearly(make_world) -> None:
    """With auto_merge against a protected branch whose checks fail, the run fails at merge with GitHub's reason."""
    world = make_world("github", auto_merge=True)
    assert isinstance(world.host, GitHubSimulator)
    world.host.protect_branch(OWNER, NAME, "main", required_checks=("ci",))
    world.host.set_checks_failing(OWNER, NAME, True)
    report = _run(world)
    assert report.status == "failed"
    merge = _step(report, "merge")
    assert merge.status is StepStatus.FAILED and "ci" in merge.detail
    assert _step(report, "sync").status is StepStatus.SKIPPED


def test_wrong_scm_token_fails_without_leaking_it(make_world) -> None:
    """A wrong GitHub token fails the run with an authentication error that does not contain the token."""
    world = make_world("github")
    env = {**world.env, "GITROLLBACK_SANDBOX_SCM_TOKEN": "ghp_wrong_token_value"}
    report = _run(world, env=env)
    assert report.status == "failed"
    assert report.error is not None and "ghp_wrong_token_value" not in report.error
    assert "ghp_wrong_token_value" not in str(report.incident)


def test_sync_that_ends_degraded_is_a_failure_with_the_message(make_world) -> None:
    """When Argo CD reports the synced revision Degraded, the sync step fails with Argo's message."""
    world = make_world("direct")
    world.argocd.degrade(APP, "Deployment image-factory-registry has not become available")
    report = _run(world)
    assert report.status == "failed"
    sync = _step(report, "sync")
    assert sync.status is StepStatus.FAILED and "has not become available" in sync.detail


def test_failed_sync_operation_is_reported(make_world) -> None:
    """A sync operation that fails is reported with Argo CD's operation message."""
    world = make_world("direct")
    world.argocd.fail_next_sync(APP, "one or more synchronization tasks completed unsuccessfully", count=3)
    report = _run(world)
    assert report.status == "failed"
    assert "completed unsuccessfully" in _step(report, "sync").detail


def test_operation_already_running_is_waited_for(make_world) -> None:
    """Another user's running sync is waited for, then gitrollback's own sync reaches the exact revision."""
    world = make_world("direct")
    world.argocd.hold_operation(APP, ticks=20)
    report = _run(world)
    assert report.status == "rolled_back", report.error
    assert world.argocd.app(APP)["status"]["sync"]["revision"] == report.synced_revision


def test_sync_wait_times_out(make_world) -> None:
    """If someone else's operation never finishes, the sync step gives up within the sync timeout and says why."""
    world = make_world("direct")
    world.argocd.hold_operation(APP)  # runs until terminated: our sync can never start
    s = parse_config(world.config_text, source=str(world.config_path))
    p = s.providers[0]
    assert p.sync is not None
    s = dataclasses.replace(s, providers=(dataclasses.replace(p, sync=dataclasses.replace(p.sync, timeout=60)),))
    report = _run(world, s)
    assert report.status == "failed"
    sync = _step(report, "sync")
    assert sync.status is StepStatus.FAILED and "another operation is still running" in sync.detail
    assert _step(report, "readiness").status is StepStatus.SKIPPED


def test_without_prune_leftover_objects_are_named_as_the_reason(make_world) -> None:
    """With prune off, the app stays OutOfSync on leftovers; the sync step says pruning is what is missing."""
    world = make_world("direct")
    s = parse_config(world.config_text, source=str(world.config_path))
    p = s.providers[0]
    assert p.sync is not None
    sync = dataclasses.replace(p.sync, prune=False, timeout=90)
    report = _run(world, dataclasses.replace(s, providers=(dataclasses.replace(p, sync=sync),)))
    assert report.status == "failed"
    step = _step(report, "sync")
    assert "stays OutOfSync" in step.detail
    assert report.error is not None and "sync.prune: true" in report.error


def test_incident_notes_describe_the_gitops_rollback(make_world) -> None:
    """The notes say the known-good tree was synced, at which commit, and link the pull request."""
    world = make_world("github", auto_merge=True)
    report = _run(world)
    assert report.status == "rolled_back" and report.incident is not None and report.change_request is not None
    assert "synced by the GitOps controller" in report.incident.restored_version
    assert report.synced_revision is not None and report.synced_revision[:12] in report.incident.restored_version
    assert any(report.change_request.url in item for item in report.incident.follow_up)
    assert not any("server file system" in item for item in report.incident.follow_up)


def test_flux_applies_exactly_the_merge_commit_and_verify_reads_its_inventory(make_world) -> None:
    """Flux world: the Kustomization applied the merge commit; verify-objects checked what its inventory lists."""
    world = make_world("gitlab", sync="flux")
    world.start_reviewer()
    settings = parse_config(world.config_text, source=str(world.config_path))
    with Rollback.from_settings(settings, env=world.env, read_file=read_file, clock=world.clock) as rb:
        plan = rb.plan()
        assert plan.manifests == ()  # the controller renders the path, not gitrollback
        render = next(s for s in plan.steps if s.name == "render")
        assert "the Flux Kustomization flux-system/tekton-assets renders it with kustomize" in render.description
        sync = next(s for s in plan.steps if s.name == "sync")
        assert "reconcile.fluxcd.io/requestedAt" in sync.description
        report = rb.run()
    assert report.status == "rolled_back", report.error
    tip = _git(world.remote, "rev-parse", "main")
    assert report.synced_revision == tip and world.reviewer_merges == [tip]
    assert world.flux is not None
    ks = world.flux.kustomization(APP)
    assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{tip}"
    ids = {e["id"] for e in ks["status"]["inventory"]["entries"]}
    assert f"{world.namespace}_kaniko-no-push_tekton.dev_Task" in ids
    assert f"{world.namespace}_kaniko-build_tekton.dev_Task" not in ids
    assert "8 Tasks and 4 Pipelines present" in _step(report, "verify-objects").detail
    assert report.sync is not None and report.sync.engine == "flux" and report.sync.revision == tip


def test_flux_suspended_kustomization_refuses_the_sync(make_world) -> None:
    """A suspended Kustomization stops the run at sync as refused, with the resume hint; git already has the fix."""
    world = make_world("direct", sync="flux")
    assert world.flux is not None
    world.flux.set_suspend("Kustomization", APP, True)
    report = _run(world)
    assert report.status == "refused" and report.error_kind == "flux_suspended"
    assert report.error is not None and "flux resume kustomization tekton-assets" in report.error
    assert _step(report, "push").status is StepStatus.SUCCEEDED
    assert _step(report, "readiness").status is StepStatus.SKIPPED


@pytest.mark.parametrize("scm", ["github", "gitlab"])
def test_auto_merge_waits_for_the_hosts_background_mergeability(make_world, scm: str) -> None:
    """The sandbox's hosts take MERGEABILITY_DELAY to compute mergeability; auto_merge waits it out and merges
    once, and the configured reviewer was asked."""
    world = make_world(scm, auto_merge=True)
    report = _run(world)
    assert report.status == "rolled_back", report.error
    assert report.change_request is not None and report.synced_revision is not None
    if isinstance(world.host, GitHubSimulator):
        pull = world.host.pull(OWNER, NAME, report.change_request.number)
        assert pull.merged_at is not None and pull.merged_at - pull.created_at >= timedelta(seconds=MERGEABILITY_DELAY)
        assert pull.requested_reviewers == [REVIEWER]
        merges = [reply.status for r, reply in world.host.requests if r.method == "PUT" and r.path.endswith("/merge")]
    else:
        assert isinstance(world.host, GitLabSimulator)
        mr = world.host.merge_request(f"{OWNER}/{NAME}", report.change_request.number)
        assert [u["username"] for u in mr["reviewers"]] == [REVIEWER]
        merges = [reply.status for r, reply in world.host.requests if r.method == "PUT" and "/merge" in r.path]
    assert merges == [200]


def test_a_reviewer_who_is_not_a_collaborator_does_not_fail_the_rollback(make_world) -> None:
    """GitHub refuses to request a review from a non-collaborator; the run rolls back and names the reviewer."""
    world = make_world("github", auto_merge=True)
    report = _run(world, _settings(world, reviewers=(REVIEWER, "mallory")))
    assert report.status == "rolled_back", report.error
    assert _step(report, "change-request").detail.endswith("; could not request a review from mallory")
    assert isinstance(world.host, GitHubSimulator)
    assert world.host.pull(OWNER, NAME, 1).requested_reviewers == [REVIEWER]
