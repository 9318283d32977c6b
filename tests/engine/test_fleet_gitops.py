"""A fleet of gitops providers that deploy the same path of one GitOps repository: one coordinated change request.

The world (``build_gitops_sandbox(providers=3)``) has three providers, each with its own tenant, namespace and
Argo CD application (or Flux Kustomization), all following ``backend/tekton`` on ``main`` of one repository on the
GitHub simulator, broken release applied. The fleet must open exactly one pull request, and every provider must
sync to and verify exactly its merge commit. Simulated time throughout (``FakeClock``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrollback import parse_config
from gitrollback.fleet import FleetRunner, group_providers, open_from_settings
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.sandbox_gitops import NAME, OWNER, GitOpsSandbox, build_gitops_sandbox


def read_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


@pytest.fixture(name="make_world")
def _make_world(tmp_path: Path) -> Iterator:
    worlds: list[GitOpsSandbox] = []

    def make(sync: str) -> GitOpsSandbox:
        world = build_gitops_sandbox(
            tmp_path / f"w{len(worlds)}", scm="github", sync=sync, clock=FakeClock(), tick=3.0, poll_interval=5.0,
            providers=3,
        )  # fmt: skip
        world.start_reviewer()
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


@pytest.mark.parametrize("sync", ["argocd", "flux"])
def test_providers_sharing_a_repository_and_path_get_one_pull_request(make_world, sync: str) -> None:
    world = make_world(sync)
    settings = parse_config(world.config_text, source=str(world.config_path))
    assert len(group_providers(settings.providers)) == 1  # one repository, one path: one group
    report = FleetRunner(
        settings.providers,
        open_from_settings(settings, env=world.env, read_file=read_file),
        parallel=4,
        only_failed=True,
        clock=world.clock,
    ).run()

    assert report.status == "rolled_back", [(o.label, o.status, o.message) for o in report.outcomes]
    assert isinstance(world.host, GitHubSimulator)
    pulls = world.host.pulls(OWNER, NAME)
    assert len(pulls) == 1 and pulls[0].merged  # exactly one change request, for the whole group
    first, *others = [o.report for o in report.outcomes]
    assert first is not None and first.change_request is not None and first.change_request.number == pulls[0].number
    landed = first.synced_revision
    assert landed is not None
    for o in report.outcomes:
        r = o.report
        assert r is not None and r.status == "rolled_back" and o.group == "sandbox-01"
        assert r.synced_revision == landed  # every provider synced and verified exactly the group's merge
        steps = {s.name: s.status.value for s in r.steps}
        assert steps["smoke-build"] == "succeeded" and steps["sync"] == "succeeded"
    for r in others:
        assert r is not None and r.change_request is None and r.known_good is not None
        assert r.known_good.source == "existing-rollback"
        assert "for provider " + world.provider_ids[0] + ", which shares this repository and path" in (
            r.known_good.reason
        )
