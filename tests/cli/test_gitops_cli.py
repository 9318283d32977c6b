"""The CLI in gitops mode: the sandbox variants, the report keys, and exit codes for failures.

The CLI runs in-process on a ``FakeClock``: the sandbox's world (reviewer included) and the rollback share it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gitrollback.cli import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, main
from gitrollback.cli.output import Output
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.sandbox_gitops import NAME, OWNER, SCM_TOKEN_ENV, build_gitops_sandbox


def _main(argv: list[str], env: dict[str, str], clock: FakeClock) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env, output=Output(out, err), clock=clock)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("scm", ["github", "gitlab", "direct"])
def test_gitops_sandbox_reports_change_request_commit_and_synced_revision(scm: str) -> None:
    """`sandbox --mode gitops --scm X --json` exits 0 with change_request (null for direct) and both revisions."""
    clock = FakeClock()
    code, out, err = _main(["sandbox", "--mode", "gitops", "--scm", scm, "--sync", "argocd", "--json"], {}, clock)
    assert code == EXIT_OK, err
    report = json.loads(out)
    assert report["status"] == "rolled_back" and report["mode"] == "gitops"
    assert len(report["rollback_commit"]) == 40 and len(report["synced_revision"]) == 40
    if scm == "direct":
        assert report["change_request"] is None
        assert report["synced_revision"] == report["rollback_commit"]
    else:
        assert report["change_request"]["host"] == scm and report["change_request"]["number"] == 1
        assert report["change_request"]["url"].startswith("http://127.0.0.1:")
    assert 0 < clock.monotonic() < 600  # the whole run took minutes of simulated time at most


def test_host_refusal_and_bad_token_exit_1_and_rerun_after_success_exits_3(tmp_path: Path) -> None:
    """A protected branch refusing the merge exits 1; a wrong token exits 1 without printing it; a rerun exits 3."""
    world = build_gitops_sandbox(
        tmp_path / "w", scm="github", auto_merge=True, clock=FakeClock(), tick=3, poll_interval=5
    )
    with world:
        assert isinstance(world.host, GitHubSimulator)
        config = ["--config", str(world.config_path), "--yes"]
        bad_env = {**world.env, SCM_TOKEN_ENV: "ghp_definitely_wrong"}
        code, out, err = _main(["run", *config], bad_env, world.clock)
        assert code == EXIT_FAILED and "ghp_definitely_wrong" not in out + err
        world.host.protect_branch(OWNER, NAME, "main", required_checks=("ci",))
        world.host.set_checks_failing(OWNER, NAME, True)
        code, out, err = _main(["run", *config], world.env, world.clock)
        assert code == EXIT_FAILED and "Result: failed" in out and "merge" in out
        world.host.unprotect_branch(OWNER, NAME, "main")
        code, out, _ = _main(["run", *config], world.env, world.clock)
        assert code == EXIT_OK and "Change request:" in out and "Synced revision:" in out
        code, _, err = _main(["run", *config], world.env, world.clock)
        assert code == EXIT_REFUSED and "nothing to roll back" in err + out


@pytest.mark.parametrize("scm", ["github", "gitlab", "direct"])
def test_flux_sandbox_rolls_back_and_reports_the_commit_flux_applied(scm: str) -> None:
    """`sandbox --mode gitops --scm X --sync flux --json`: rolled back; sync is Flux's own account of that commit."""
    clock = FakeClock()
    code, out, err = _main(["sandbox", "--mode", "gitops", "--scm", scm, "--sync", "flux", "--json"], {}, clock)
    assert code == EXIT_OK, err
    report = json.loads(out)
    assert report["status"] == "rolled_back", report["error"]
    synced = report["synced_revision"]
    assert len(synced) == 40
    assert report["sync"]["engine"] == "flux" and report["sync"]["app"] == "tekton-assets"
    assert report["sync"]["revision"] == synced
    assert report["sync"]["message"] == f"Applied revision: main@sha1:{synced}"  # the Kustomization's Ready message
    assert (report["sync"]["sync_status"], report["sync"]["health"]) == ("Synced", "Healthy")
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["render"]["detail"].endswith(
        "the Flux Kustomization flux-system/tekton-assets renders it with kustomize after the merge"
    )
    assert steps["verify-objects"]["status"] == "succeeded"
    assert 0 < clock.monotonic() < 600
