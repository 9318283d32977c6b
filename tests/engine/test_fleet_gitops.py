"""A fleet of gitops providers that deploy the same path of one GitOps repository: one coordinated change request.

The world (``build_gitops_sandbox(providers=3)``) has three providers, each with its own tenant, namespace and
Argo CD application (or Flux Kustomization), all following ``backend/tekton`` on ``main`` of one repository on the
GitHub simulator, broken release applied. The fleet must open exactly one pull request, and every provider must
sync to and verify exactly its merge commit. Simulated time throughout (``FakeClock``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitrollback import parse_config
from gitrollback.fleet import FleetRunner, group_providers, open_from_settings
from gitrollback.testing.github import GitHubSimulator
from gitrollback.testing.sandbox_gitops import NAME, OWNER


def read_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


@pytest.mark.parametrize("sync", ["argocd", "flux"])
def test_providers_sharing_a_repository_and_path_get_one_pull_request(make_world, sync: str) -> None:
    world = make_world(sync=sync, providers=3)
    world.start_reviewer()
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


def test_a_member_whose_own_known_good_differs_refuses_the_groups_rollback(make_world, monkeypatch) -> None:
    """Before a member adopts the group's rollback it runs its own search for the same bad revision; the check runs
    once per follower and, when that search answers another tree (here: made to, by wrapping the search for those
    calls), the follower refuses with group_known_good_differs instead of syncing the other provider's choice."""
    import dataclasses

    from gitrollback.runbook import steps_assess

    real = steps_assess.find_known_good
    checks: list[str] = []

    def disagreeing(source, *, branch, paths, bad=None, **kwargs):
        known = real(source, branch=branch, paths=paths, bad=bad, **kwargs)
        if bad is None:  # a member's ordinary search
            return known
        checks.append(bad)
        return dataclasses.replace(known, trees=dict.fromkeys(paths, "0" * 40))

    monkeypatch.setattr(steps_assess, "find_known_good", disagreeing)
    world = make_world(sync="argocd", providers=3)
    world.start_reviewer()
    settings = parse_config(world.config_text, source=str(world.config_path))
    report = FleetRunner(
        settings.providers,
        open_from_settings(settings, env=world.env, read_file=read_file),
        parallel=4,
        only_failed=True,
        clock=world.clock,
    ).run()
    statuses = [(o.status, o.report.error_kind if o.report else o.kind) for o in report.outcomes]
    assert statuses == [("rolled_back", None), *[("refused", "group_known_good_differs")] * 2], statuses
    assert len(checks) == 2 and len(set(checks)) == 1
    assert "is not this provider's: its own evidence chooses" in (report.outcomes[1].report.error or "")
    assert report.exit_code == 3
