"""Evidence beyond git history: verified-good markers, installer jobs, Argo CD deployments, release tags."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.errors import PreconditionFailedError
from gitrollback.known_good import Evidence, find_known_good
from gitrollback.markers import format_marker, marker_tag
from gitrollback.models import DeploymentRecord, InstallerJob
from gitrollback.testing.repos import BASE_DATE, CommitSpec, make_repo, run_git

DAY = timedelta(days=1)


def _v(n: object) -> dict[str, str]:
    return {"assets/t.yaml": f"v: {n}\n"}


@dataclass
class World:
    """A repository with dated commits: c1 v1 (v0.1.0), c2 docs, c3 v2 (v0.2.0), c4 v3, c5 v4 bad (v0.3.0), c6 docs."""

    path: Path
    shas: dict[str, str]
    source: GitAssetSource

    def at(self, label: str) -> datetime:
        """The commit time of a labelled commit (make_repo dates commit n at BASE_DATE + n-1 days)."""
        return BASE_DATE + (int(label[1:]) - 1) * DAY

    def marker(self, provider: str, label: str, when: datetime) -> str:
        """Write a verified-good marker tag for ``provider`` on commit ``label``."""
        tag = marker_tag(provider, when)
        message = format_marker(provider, self.shas[label], when, {"verified_by": "tests"})
        run_git(self.path, "tag", "--annotate", tag, "-m", message, self.shas[label])
        return tag


@pytest.fixture(name="world")
def _world(tmp_path: Path) -> Iterator[World]:
    """The dated repository and a source on it."""
    shas = make_repo(
        tmp_path,
        [
            CommitSpec("v1", files=_v(1), tag="v0.1.0"),
            CommitSpec("docs", files={"README": "r"}),
            CommitSpec("v2", files=_v(2), tag="v0.2.0"),
            CommitSpec("v3 (untagged)", files=_v(3)),
            CommitSpec("v4: the broken upgrade", files=_v(4), tag="v0.3.0"),
            CommitSpec("docs again", files={"README": "r2"}),
        ],
    )
    with GitAssetSource(str(tmp_path)) as source:
        yield World(tmp_path, shas, source)


def _find(world: World, **kwargs: object):  # type: ignore[no-untyped-def]
    return find_known_good(world.source, branch="main", paths=["assets"], **kwargs)  # type: ignore[arg-type]


def _job(
    job_id: str, when: datetime, *, status: str = "succeeded", mode: str = "image_factory_installer"
) -> InstallerJob:
    return InstallerJob(
        id=job_id,
        provider_id="p1",
        tenant_id="t1",
        install_mode=mode,
        asset_version="v1",
        status=status,
        created_at=when - timedelta(minutes=5),
        updated_at=when,
        completed_at=when,
    )


def test_without_evidence_the_state_before_the_bad_change_is_chosen(world: World) -> None:
    """No evidence: the git-history fallback picks c4, the state just before the broken upgrade c5."""
    known = _find(world)
    assert (known.revision, known.bad_revision, known.source) == (world.shas["c4"], world.shas["c5"], "git-history")


class TestMarkers:
    def test_marker_beats_the_fallback(self, world: World) -> None:
        """A verified-good marker on v0.2.0 is chosen over the unverified state just before the bad change."""
        tag = world.marker("p1", "c3", world.at("c3") + timedelta(hours=2))
        known = _find(world, evidence=Evidence(provider_id="p1"))
        assert (known.revision, known.source, known.bad_revision) == (world.shas["c3"], "marker", world.shas["c5"])
        assert f"marker tag {tag}" in known.reason and "failing content came with" in known.reason
        assert known.trees == {"assets": world.source.tree_id(world.shas["c3"], "assets")}
        # Older than the state the bad change replaced (c4): the reason says the changes in between go too.
        assert f"note: this is not the state just before the bad change ({world.shas['c4'][:7]} " in known.reason
        assert "also undoes the changes to assets between the two, on the strength of this evidence" in known.reason
        world.marker("p2", "c4", world.at("c4") + timedelta(hours=2))
        same = _find(world, evidence=Evidence(provider_id="p2"))
        assert same.source == "marker" and same.revision == world.shas["c4"]
        assert "not the state just before" not in same.reason

    def test_newest_marker_of_the_provider_wins(self, world: World) -> None:
        """Markers are read newest first, and only the given provider's count."""
        world.marker("p1", "c1", world.at("c1") + timedelta(hours=1))
        world.marker("p1", "c3", world.at("c3") + timedelta(hours=1))
        world.marker("p2", "c4", world.at("c4") + timedelta(hours=1))
        assert _find(world, evidence=Evidence(provider_id="p1")).revision == world.shas["c3"]
        assert _find(world, evidence=Evidence(provider_id="p2")).revision == world.shas["c4"]
        assert _find(world, evidence=Evidence()).revision == world.shas["c4"]  # any provider: newest overall
        assert _find(world, evidence=Evidence(markers=False)).source == "git-history"

    def test_marker_on_the_bad_content_is_rejected(self, world: World) -> None:
        """A marker verified on the bad content itself is rejected with the reason; the next one is used."""
        world.marker("p1", "c3", world.at("c3") + timedelta(hours=1))
        world.marker("p1", "c5", world.at("c5") + timedelta(hours=1))
        known = _find(world, evidence=Evidence(provider_id="p1"))
        assert known.revision == world.shas["c3"]
        assert known.rejected[0].revision == world.shas["c5"]
        assert known.rejected[0].why.endswith("but assets tree equals the bad tree")

    def test_marker_newer_than_the_bad_revision_is_rejected(self, world: World) -> None:
        """With bad=c4, a marker on c5 (newer) is rejected rather than rolling forward."""
        world.marker("p1", "c5", world.at("c5") + timedelta(hours=1))
        known = _find(world, bad=world.shas["c4"], evidence=Evidence(provider_id="p1"))
        assert (known.revision, known.source) == (world.shas["c3"], "git-history")
        assert known.rejected[0].why.endswith(f"but it is newer than the bad revision {world.shas['c4'][:12]}")

    def test_marker_off_the_branch_is_used_with_a_caveat(self, world: World) -> None:
        """A marker on a commit outside the branch history still counts by content, with a caveat in the reason."""
        side = make_repo(world.path, [CommitSpec("hotfix", files=_v("2h"))], branch="hotfix", start=world.shas["c3"])
        run_git(world.path, "checkout", "--quiet", "main")
        tag = marker_tag("p1", world.at("c4"))
        run_git(world.path, "tag", "-a", tag, "-m", format_marker("p1", side["c1"], world.at("c4"), {}), side["c1"])
        known = _find(world, evidence=Evidence(provider_id="p1"))
        assert (known.revision, known.source) == (side["c1"], "marker")
        assert "note: it is not in the history of the bad revision" in known.reason

    def test_marker_whose_content_was_rolled_back_later_is_rejected(self, tmp_path: Path) -> None:
        """A verified marker on content that gitrollback later rolled back is not trusted again."""
        shas = make_repo(tmp_path, [CommitSpec("v1", files=_v(1)), CommitSpec("v2", files=_v(2))])
        tag = marker_tag("p1", BASE_DATE + timedelta(days=1, hours=1))
        run_git(tmp_path, "tag", "-a", tag, "-m", format_marker("p1", shas["c2"], BASE_DATE, {}), shas["c2"])
        message = f"Roll back\n\nRollback-Of: {shas['c2']}\nRollback-To: {shas['c1']}\nProvider: p1\n"
        later = make_repo(tmp_path, [CommitSpec(message, files=_v(1)), CommitSpec("v3", files=_v(3))])
        with GitAssetSource(str(tmp_path)) as src:
            known = find_known_good(src, branch="main", paths=["assets"], evidence=Evidence(provider_id="p1"))
        assert (known.revision, known.source) == (later["c1"], "git-history")
        assert known.rejected[0].revision == shas["c2"]
        assert "content was rolled back by gitrollback in" in known.rejected[0].why


class TestJobHistory:
    def test_last_succeeded_installer_job_is_correlated_with_the_branch_tip(self, world: World) -> None:
        """The branch tip when the last succeeded installer job finished is chosen; failed jobs are ignored."""
        jobs = [
            _job("j-old", world.at("c1") + timedelta(hours=3)),
            _job("j-ok", world.at("c3") + timedelta(hours=3)),
            _job("j-failed", world.at("c5") + timedelta(hours=1), status="failed"),
        ]
        known = _find(world, evidence=Evidence(provider_id="p1", jobs=jobs))
        assert (known.revision, known.source) == (world.shas["c3"], "job-history")
        assert "job j-ok (asset version v1) succeeded" in known.reason
        assert known.rejected == ()

    def test_tip_at_job_time_can_be_a_commit_that_did_not_touch_the_paths(self, world: World) -> None:
        """The correlated revision is the branch tip at that time, even a docs commit (same asset trees)."""
        known = _find(world, evidence=Evidence(jobs=[_job("j", world.at("c2") + timedelta(hours=1))]))
        assert known.revision == world.shas["c2"]
        assert known.trees == {"assets": world.source.tree_id(world.shas["c1"], "assets")}

    def test_job_after_the_bad_change_is_rejected_and_an_older_one_used(self, world: World) -> None:
        """A job that succeeded while the bad content was already the tip is rejected (same trees as bad)."""
        jobs = [
            _job("j-late", world.at("c5") + timedelta(hours=2)),
            _job("j-early", world.at("c4") + timedelta(hours=2)),
        ]
        known = _find(world, evidence=Evidence(jobs=jobs))
        assert (known.revision, known.source) == (world.shas["c4"], "job-history")
        assert known.rejected[0].revision == world.shas["c5"]
        assert "job j-late" in known.rejected[0].why and known.rejected[0].why.endswith("equals the bad tree")

    def test_installer_jobs_are_preferred_to_gitops_jobs(self, world: World) -> None:
        """gitops jobs succeed without applying anything: a newer gitops job loses to an installer job."""
        jobs = [
            _job("j-gitops", world.at("c4") + timedelta(hours=1), mode="gitops"),
            _job("j-installer", world.at("c1") + timedelta(hours=1)),
        ]
        assert _find(world, evidence=Evidence(jobs=jobs)).revision == world.shas["c1"]
        only_gitops = _find(world, evidence=Evidence(jobs=jobs[:1]))
        assert only_gitops.revision == world.shas["c4"]
        assert "gitops jobs succeed without applying anything, so this is weak evidence" in only_gitops.reason

    def test_job_newer_than_an_explicit_bad_revision_is_rejected(self, world: World) -> None:
        """With bad=c3, a job that finished when c6 was the tip is rejected as newer than the bad revision."""
        known = _find(world, bad=world.shas["c3"], evidence=Evidence(jobs=[_job("j", world.at("c6") + DAY)]))
        assert (known.revision, known.source) == (world.shas["c1"], "git-history")
        assert known.rejected[0].revision == world.shas["c6"]
        assert known.rejected[0].why.endswith("newer than the bad revision " + world.shas["c3"][:12])

    def test_jobs_older_than_the_history_and_other_providers_are_ignored(self, world: World) -> None:
        """A job from before the first commit, or for another provider, proposes nothing."""
        other = InstallerJob(**{**_job("x", world.at("c3")).__dict__, "provider_id": "p2"})
        evidence = Evidence(provider_id="p1", jobs=[_job("ancient", BASE_DATE - DAY), other])
        assert _find(world, evidence=evidence).source == "git-history"


class TestDeployments:
    def _history(self, world: World) -> list[DeploymentRecord]:
        return [
            DeploymentRecord(1, world.shas["c3"], world.at("c3") + timedelta(hours=1)),
            DeploymentRecord(2, world.shas["c4"], world.at("c4") + timedelta(hours=1)),
            DeploymentRecord(3, world.shas["c5"], world.at("c5") + timedelta(hours=4)),
        ]

    def test_deployments_without_success_evidence_are_rejected(self, world: World) -> None:
        """Deployed is not healthy: without success evidence every deployment is rejected with the reason."""
        known = _find(world, evidence=Evidence(deployments=self._history(world)))
        assert known.source == "git-history"
        whys = {r.revision: r.why for r in known.rejected}
        assert whys[world.shas["c4"]].startswith("Argo CD deployed it (history id 2")
        assert "nothing shows it was healthy" in whys[world.shas["c3"]]

    def test_deployment_confirmed_by_a_healthy_revision(self, world: World) -> None:
        """A deployment whose content is listed as healthy is chosen, newest confirmed deployment first."""
        evidence = Evidence(deployments=self._history(world), healthy_revisions=[world.shas["c3"]])
        known = _find(world, evidence=evidence)
        assert (known.revision, known.source) == (world.shas["c3"], "deployment-history")
        assert f"the same content ran healthy at {world.shas['c3'][:12]}" in known.reason

    def test_deployment_confirmed_by_a_job_while_it_was_deployed(self, world: World) -> None:
        """Argo CD's exact revision beats time correlation: the job ran while c4 was still deployed."""
        job = _job("j", world.at("c5") + timedelta(hours=2))  # c5 was the tip, but Argo CD still ran c4
        known = _find(world, evidence=Evidence(jobs=[job], deployments=self._history(world)))
        assert (known.revision, known.source) == (world.shas["c4"], "deployment-history")
        assert "installer job j succeeded while it was deployed" in known.reason
        assert known.rejected[0].revision == world.shas["c5"]  # the job's tip, rejected first

    def test_flux_history_is_evidence_named_as_flux(self, world: World) -> None:
        """A Flux Kustomization's history works like Argo CD's, and the reason names Flux."""
        flux = [dataclasses.replace(r, controller="Flux") for r in self._history(world)]
        known = _find(world, evidence=Evidence(deployments=flux, healthy_revisions=[world.shas["c3"]]))
        assert (known.revision, known.source) == (world.shas["c3"], "deployment-history")
        assert known.reason.count("Flux deployed it (history id 1") == 1


class TestReleaseTags:
    def test_newest_release_tag_with_different_content(self, world: World) -> None:
        """With a tag pattern, the newest matching tag whose trees differ from the bad trees is chosen."""
        known = _find(world, evidence=Evidence(tag_pattern="v*"))
        assert (known.revision, known.source) == (world.shas["c3"], "release-tag")
        assert "release tag v0.2.0 (pattern v*)" in known.reason
        assert known.rejected[0].revision == world.shas["c5"] and "v0.3.0" in known.rejected[0].why

    def test_tags_off_the_history_or_newer_are_rejected(self, world: World) -> None:
        """A release tag on an unmerged branch, or newer than the bad revision, is rejected."""
        side = make_repo(world.path, [CommitSpec("rc", files=_v("rc"))], branch="rc", start=world.shas["c3"])
        run_git(world.path, "checkout", "--quiet", "main")
        run_git(world.path, "tag", "-a", "v0.2.9", "-m", "rc", side["c1"])
        known = _find(world, bad=world.shas["c4"], evidence=Evidence(tag_pattern="v0.*"))
        whys = {r.revision: r.why for r in known.rejected}
        assert known.revision == world.shas["c3"]
        assert whys[side["c1"]].endswith(f"the tag is not in the history of the bad revision {world.shas['c4'][:12]}")
        assert whys[world.shas["c5"]].endswith("newer than the bad revision " + world.shas["c4"][:12])

    def test_no_matching_tag_falls_back(self, world: World) -> None:
        """A pattern that matches nothing leaves the git-history fallback."""
        assert _find(world, evidence=Evidence(tag_pattern="release-*")).source == "git-history"


def test_explicit_revision_beats_every_evidence(world: World) -> None:
    """--to wins over markers, jobs and tags, and is still validated."""
    world.marker("p1", "c3", world.at("c3"))
    evidence = Evidence(provider_id="p1", jobs=[_job("j", world.at("c3"))], tag_pattern="v*")
    known = _find(world, to="v0.1.0", evidence=evidence)
    assert (known.revision, known.source, known.rejected) == (world.shas["c1"], "explicit", ())
    with pytest.raises(PreconditionFailedError, match="nothing to roll back"):
        _find(world, to="v0.3.0", evidence=evidence)


def test_unknown_evidence_revisions_are_rejected(world: World) -> None:
    """A deployment revision that is not in the repository is rejected, naming it."""
    ghost = "f" * 40
    known = _find(world, evidence=Evidence(deployments=[DeploymentRecord(1, ghost, datetime(2026, 1, 1, tzinfo=UTC))]))
    assert known.rejected[0].revision == ghost and known.source == "git-history"
