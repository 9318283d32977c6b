"""``Rollback.propose`` (and ``run --propose``): a gitops run that stops once its change request is open.

The world is the gitops sandbox on GitHub (or a direct remote) with Argo CD, on a ``FakeClock`` the rollback shares.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from gitrollback import Rollback, parse_config
from gitrollback.cli import EXIT_OK, EXIT_REFUSED, main
from gitrollback.cli.output import Output
from gitrollback.errors import PreconditionFailedError
from gitrollback.models import RunReport, StepStatus
from gitrollback.runbook.journal import find_unfinished, read_journal
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.sandbox_gitops import APP, NAME, OWNER, GitOpsSandbox


def _rollback(world: GitOpsSandbox) -> Rollback:
    settings = parse_config(world.config_text, source=str(world.config_path))
    return Rollback.from_settings(
        settings, env=world.env, read_file=lambda p: Path(p).read_text(encoding="utf-8"), clock=world.clock
    )


def _main_rev(world: GitOpsSandbox) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(world.remote), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _pulls(world: GitOpsSandbox) -> list:
    assert isinstance(world.host, GitHubSimulator)
    return list(world.host.pulls(OWNER, NAME))


def _status(report: RunReport, step: str) -> StepStatus:
    return next(r.status for r in report.steps if r.name == step)


def test_propose_opens_one_pull_request_and_stops_then_run_reuses_it(make_world, tmp_path: Path) -> None:
    """propose: one PR, not merged, main and Argo CD untouched, journaled ``proposed``; proposing again finds the
    same PR; a later ``run`` resumes the same run, merges that PR (auto_merge) and verifies."""
    world = make_world("github", auto_merge=True)
    main_before = _main_rev(world)
    assert world.argocd is not None
    argo_before = world.argocd.history(APP)
    notes = tmp_path / "proposal.md"
    with _rollback(world) as rb:
        proposed = rb.propose(notes=notes)
    assert proposed.status == "proposed", proposed.error
    assert proposed.error is None and proposed.change_request is not None
    assert proposed.change_request.state == "open" and proposed.change_request.number == 1
    assert [_status(proposed, s) for s in ("commit", "push", "change-request")] == [StepStatus.SUCCEEDED] * 3
    assert {_status(proposed, s) for s in ("merge", "sync", "readiness", "marker")} == {StepStatus.SKIPPED}
    pulls = _pulls(world)
    assert len(pulls) == 1 and pulls[0].state == "open" and not pulls[0].merged
    assert _main_rev(world) == main_before  # nothing merged
    assert world.argocd.history(APP) == argo_before  # nothing synced
    text = notes.read_text()
    assert "proposed, not done" in text and proposed.change_request.url in text
    assert "now carries the known-good trees" not in text
    # the journal ends `proposed`, and the run stays unfinished: a rerun continues it
    view = read_journal(world.directory / "state" / "runs" / world.provider_id / f"{proposed.run_id}.jsonl")
    assert view.ended == "proposed" and view.resumable
    with _rollback(world) as rb:
        assert rb.assess().verdict == "resume"
        again = rb.propose()
    assert again.status == "proposed" and again.run_id == proposed.run_id
    assert "change-request" in again.resumed and len(_pulls(world)) == 1

    with _rollback(world) as rb:
        done = rb.run()
    assert done.status == "rolled_back", done.error
    assert done.run_id == proposed.run_id and "change-request" in done.resumed and "merge" not in done.resumed
    assert done.change_request is not None and done.change_request.number == 1
    assert done.change_request.state == "merged"
    pulls = _pulls(world)
    assert len(pulls) == 1 and pulls[0].merged
    assert _main_rev(world) == done.synced_revision != main_before
    assert find_unfinished(world.directory / "state" / "runs", world.provider_id) is None
    # the run is over: proposing again is refused as run would be (nothing to roll back), with no second PR
    with _rollback(world) as rb:
        after = rb.propose()
    assert after.status == "refused" and after.run_id != proposed.run_id and len(_pulls(world)) == 1


def test_a_person_merging_the_proposed_pull_request_lets_run_continue(make_world) -> None:
    """Without auto_merge, the on-call reviewer merges the proposed PR; the next run finds it merged and syncs."""
    world = make_world("github")
    with _rollback(world) as rb:
        proposed = rb.propose()
    assert proposed.status == "proposed" and proposed.change_request is not None
    assert world.reviewer_merges == []
    world.start_reviewer()
    for _ in range(10):
        world.clock.advance(3)  # type: ignore[attr-defined]
    assert len(world.reviewer_merges) == 1
    with _rollback(world) as rb:
        done = rb.run()
    assert done.status == "rolled_back", done.error
    assert done.run_id == proposed.run_id and done.synced_revision == world.reviewer_merges[0]
    assert len(_pulls(world)) == 1


def test_a_direct_push_cannot_be_proposed(make_world) -> None:
    """scm direct: propose refuses before anything is pushed (``cannot_propose``), and main is untouched."""
    world = make_world("direct")
    before = _main_rev(world)
    with _rollback(world) as rb, pytest.raises(PreconditionFailedError) as caught:
        rb.propose()
    assert caught.value.kind == "cannot_propose" and "direct" in str(caught.value)
    assert _main_rev(world) == before
    assert not (world.directory / "state" / "runs" / world.provider_id).exists()


def test_run_propose_on_the_cli_exits_0_with_status_proposed(make_world, tmp_path: Path) -> None:
    """`run --propose --yes --json` under GitHub Actions: exit 0, status proposed, the change request open, the step
    summary and outputs say proposed; a direct world exits 3."""
    world = make_world("github")
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs), "CI": "true"}
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", "--config", str(world.config_path), "--yes", "--json", "--propose"]
    code = main(argv, env={**world.env, **ci}, output=Output(out, err), clock=world.clock)
    assert code == EXIT_OK, err.getvalue()
    report = json.loads(out.getvalue())
    assert report["status"] == "proposed" and report["change_request"]["state"] == "open"
    assert report["synced_revision"] is None and len(_pulls(world)) == 1
    assert "proposed" in summary.read_text() and "Review and merge the change request" in summary.read_text()
    assert "status<<" in outputs.read_text() and "\nproposed\n" in outputs.read_text()
    direct = make_world("direct")
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", "--config", str(direct.config_path), "--yes", "--json", "--propose"]
    code = main(argv, env=direct.env, output=Output(out, err), clock=direct.clock)
    assert code == EXIT_REFUSED and json.loads(out.getvalue())["error"]["kind"] == "cannot_propose"
