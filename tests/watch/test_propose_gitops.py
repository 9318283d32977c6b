"""The ``propose`` policy on a gitops world (the GitHub simulator, Argo CD): it opens exactly one pull request and
does not merge it; the run is journaled ``proposed``; a later ``gitrollback run`` resumes that run and reuses the
pull request."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback import Rollback, parse_config
from gitrollback.cli.watch import build_service
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.sandbox_gitops import NAME, OWNER, GitOpsSandbox, build_gitops_sandbox
from gitrollback.watch.handled import ANNOTATION, decode
from gitrollback.watch.service import WatchService
from tests.watch.conftest import WATCH_NS


@pytest.fixture(name="gitops_world")
def _gitops_world(tmp_path: Path) -> Iterator[GitOpsSandbox]:
    with build_gitops_sandbox(
        tmp_path / "gw", scm="github", auto_merge=True, clock=FakeClock(), tick=3.0, poll_interval=5.0
    ) as world:
        world.cluster.ensure_namespace(WATCH_NS)
        yield world


def _service(world: GitOpsSandbox, identity: str, policy: str) -> tuple[WatchService, object]:
    text = world.config_text + (
        f"watch:\n  policy: {policy}\n  poll_interval_seconds: 30\n  listen: 127.0.0.1:0\n"
        f"  leader_election: {{kubeconfig: {world.directory / 'kubeconfig.yaml'}, context: sandbox, "
        f"namespace: {WATCH_NS}}}\n"
    )
    settings = parse_config(text, source=str(world.config_path))
    return build_service(
        settings,
        {**world.env, "POD_NAME": identity},
        read_file=lambda p: Path(p).read_text(encoding="utf-8"),
        clock=world.clock,
        real_time=False,
        stop=threading.Event(),
    )


def _pulls(world: GitOpsSandbox) -> list:
    assert isinstance(world.host, GitHubSimulator)
    return list(world.host.pulls(OWNER, NAME))


def _main(world: GitOpsSandbox) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(world.remote), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_propose_opens_one_pull_request_and_a_later_run_reuses_it(gitops_world: GitOpsSandbox) -> None:
    world, clock = gitops_world, gitops_world.clock
    assert isinstance(clock, FakeClock)
    # in gitops mode Image Factory's upgrade job only delegates (and succeeds); what fails is the validate job an
    # operator runs afterwards, which the watch acts on (docs/watch.md)
    failed = world.imagefactory.seed_job(
        world.provider_id,
        operation="validate",
        status="failed",
        install_mode="gitops",
        error_message="tekton validate failed: required tasks missing",
        created_at=clock.now(),
    )
    main_before = _main(world)
    service, close = _service(world, "watch-0", "propose")
    try:
        service.step()
        labels = {"provider": service.settings.providers[0].label, "policy": "propose"}
        assert service.metrics.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 1
        pulls = _pulls(world)
        assert len(pulls) == 1 and pulls[0].state == "open" and not pulls[0].merged  # auto_merge is on: not used
        assert _main(world) == main_before
        runs = sorted((world.directory / "state" / "runs" / world.provider_id).glob("*.jsonl"))
        assert len(runs) == 1
        end = [json.loads(line) for line in runs[0].read_text().splitlines()][-1]
        assert (end["event"], end["status"]) == ("end", "proposed")
        rt = world.cluster.type_for("coordination.k8s.io/v1", "Lease")
        assert rt is not None
        lease = world.cluster.get(rt, WATCH_NS, "gitrollback-watch")
        assert lease is not None
        handled = decode(lease["metadata"]["annotations"][ANNOTATION])
        assert [(h.job, h.policy, h.outcome) for h in handled] == [(failed, "propose", "proposed")]
        notes = next((world.directory / "state" / "watch" / "notes" / world.provider_id).glob("*-proposal.md"))
        assert "the rollback is proposed, not done" in notes.read_text()
        # later polls: the job is handled, no second pull request, still not merged
        for _ in range(4):
            clock.advance(30)
            service.step()
        assert service.actions == 1 and len(_pulls(world)) == 1 and _main(world) == main_before
    finally:
        service.close()
        close()  # type: ignore[operator]
    # a person (or CI) runs the rollback: it resumes the proposed run and merges that same pull request
    settings = parse_config(world.config_text, source=str(world.config_path))
    with Rollback.from_settings(
        settings, env=world.env, read_file=lambda p: Path(p).read_text(encoding="utf-8"), clock=clock
    ) as rb:
        report = rb.run()
    assert report.status == "rolled_back", report.error
    assert report.run_id == runs[0].stem and "change-request" in report.resumed
    assert report.change_request is not None and report.change_request.number == pulls[0].number
    assert len(_pulls(world)) == 1 and _pulls(world)[0].merged
    assert _main(world) == report.synced_revision
