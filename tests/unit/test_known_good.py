"""The known-good rule: explicit revisions and the git-history fallback, on real repositories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.errors import GitError, PreconditionFailedError
from gitrollback.known_good import FirstParentAncestry, find_known_good
from gitrollback.models import RejectedCandidate, RevisionInfo
from gitrollback.testing.repos import (
    ASSET_PATH,
    CommitSpec,
    SandboxRepo,
    make_repo,
    run_git,
)

PATHS = [ASSET_PATH]


@pytest.fixture
def local(tmp_path: Path):
    sources: list[GitAssetSource] = []

    def open_source(path: Path) -> GitAssetSource:
        sources.append(GitAssetSource(str(path)))
        return sources[-1]

    yield open_source
    for src in sources:
        src.close()


class PortOnly:
    """Delegates the five AssetSource methods only, hiding the first-parent capability."""

    def __init__(self, inner: GitAssetSource) -> None:
        self.inner = inner

    def resolve(self, rev: str) -> str:
        return self.inner.resolve(rev)

    def describe(self, rev: str) -> RevisionInfo:
        return self.inner.describe(rev)

    def tree_id(self, rev: str, path: str) -> str | None:
        return self.inner.tree_id(rev, path)

    def path_history(self, branch: str, paths: Sequence[str], *, limit: int = 200) -> list[RevisionInfo]:
        return self.inner.path_history(branch, paths, limit=limit)

    def read_tree(self, rev: str, path: str) -> dict[str, bytes]:
        return self.inner.read_tree(rev, path)


def _refused(match: str) -> pytest.RaisesExc[PreconditionFailedError]:
    return pytest.raises(PreconditionFailedError, match=match)


class TestGitHistory:
    def test_sandbox_picks_the_release_before_the_broken_upgrade(
        self, sandbox: SandboxRepo, source: GitAssetSource
    ) -> None:
        """From tip c6 the rule skips docs commits, blames c5 (v0.4.0) and picks c3 (v0.3.0)."""
        known = find_known_good(source, branch="main", paths=PATHS)
        assert known.revision == sandbox.good
        assert known.bad_revision == sandbox.bad
        assert known.source == "git-history"
        assert known.summary == "feat(tasks): pin git-clone image"
        assert known.trees == {ASSET_PATH: source.tree_id(sandbox.good, ASSET_PATH)}
        assert known.rejected == (RejectedCandidate(sandbox.bad, "backend/tekton tree equals the bad tree"),)
        assert known.reason == (
            f"backend/tekton last changed in {sandbox.bad[:7]} 'feat(tekton)!: rename kaniko-no-push task to "
            f"kaniko-build; registry v2' (v0.4.0), which introduced the failing content; the state before "
            f"it is {sandbox.good[:7]} 'feat(tasks): pin git-clone image' (v0.3.0)"
        )

    @pytest.mark.parametrize("bad", ["v0.4.0", "c5", "c6", "main"])
    def test_bad_given_as_tag_sha_or_branch(self, sandbox: SandboxRepo, source: GitAssetSource, bad: str) -> None:
        """Naming the bad revision as the tag, its sha, the tip or the branch gives the same answer."""
        rev = sandbox.shas.get(bad, bad)
        known = find_known_good(source, branch="main", paths=PATHS, bad=rev)
        assert (known.revision, known.bad_revision) == (sandbox.good, sandbox.bad)

    def test_an_older_bad_revision_goes_further_back(self, sandbox: SandboxRepo, source: GitAssetSource) -> None:
        """If v0.3.0 were the failing release, the known-good state is v0.1.0."""
        known = find_known_good(source, branch="main", paths=PATHS, bad="v0.3.0")
        assert (known.revision, known.bad_revision) == (sandbox.shas["c1"], sandbox.good)

    def test_no_earlier_state(self, source: GitAssetSource) -> None:
        """When the bad content is the first the paths ever had, the search refuses."""
        with _refused("backend/tekton has had the failing content since .* no earlier state") as caught:
            find_known_good(source, branch="main", paths=PATHS, bad="v0.2.0")
        assert caught.value.step == "known-good"
        assert caught.value.hint == "fix forward, or name a revision with --to"

    def test_history_window_too_short(self, source: GitAssetSource) -> None:
        """A max_commits window that ends inside the bad run refuses and asks for a larger window."""
        with _refused("no earlier state to roll back to within 1 commits") as caught:
            find_known_good(source, branch="main", paths=PATHS, max_commits=1)
        assert caught.value.hint == "raise max_commits, or name the known-good revision with --to"

    def test_paths_missing_at_bad(self, source: GitAssetSource) -> None:
        """Asset paths that do not exist at the bad revision are refused before any search."""
        with _refused("backend/nope does not exist at the bad revision"):
            find_known_good(source, branch="main", paths=["backend/nope"])
        with _refused("no asset paths"):
            find_known_good(source, branch="main", paths=[])

    def test_bad_not_on_branch_after_force_push(self, tmp_path: Path, local) -> None:
        """A bad commit that a force-push removed from main is refused: by kind with the capabilities, generically
        without them."""
        shas = make_repo(
            tmp_path,
            [
                CommitSpec("one", files={"assets/t.yaml": "v: 1\n"}),
                CommitSpec("two", files={"assets/t.yaml": "v: 2\n"}),
                CommitSpec("three", files={"assets/t.yaml": "v: 3\n"}),
            ],
        )
        run_git(tmp_path, "reset", "--quiet", "--hard", shas["c2"])
        rewritten = make_repo(tmp_path, [CommitSpec("three, reworded", files={"assets/t.yaml": "v: 3b\n"})])
        src = local(tmp_path)
        assert isinstance(src, FirstParentAncestry)
        assert not isinstance(PortOnly(src), FirstParentAncestry)
        with _refused(f"bad revision {shas['c3'][:7]} 'three' is not in the history of main, but main's reflog") as c:
            find_known_good(src, branch="main", paths=["assets"], bad=shas["c3"])
        assert c.value.kind == "force_pushed_away"
        with _refused(f"bad revision {shas['c3'][:7]} 'three' is not on the first-parent history of main") as c:
            find_known_good(PortOnly(src), branch="main", paths=["assets"], bad=shas["c3"])
        assert c.value.kind == "not_in_history"
        known = find_known_good(PortOnly(src), branch="main", paths=["assets"])
        assert (known.revision, known.bad_revision) == (shas["c2"], rewritten["c1"])

    def test_side_branch_commit_is_judged_at_the_merge_that_landed_it(self, tmp_path: Path, local) -> None:
        """A commit that reached main only through a merge is judged at that merge (the port alone refuses it)."""
        base = make_repo(tmp_path, [CommitSpec("base", files={"assets/t.yaml": "v: 1\n"})])
        side = make_repo(tmp_path, [CommitSpec("side", files={"assets/t.yaml": "v: 2\n"})], branch="feature")
        merge = make_repo(tmp_path, [CommitSpec("Merge feature", merge="feature")], branch="main")
        src = local(tmp_path)
        known = find_known_good(src, branch="main", paths=["assets"], bad=side["c1"])
        assert (known.revision, known.bad_revision) == (base["c1"], merge["c1"])
        assert f"{side['c1'][:7]} 'side' is not on main's first-parent history" in known.reason
        assert f"merged by {merge['c1'][:7]} 'Merge feature'" in known.reason
        with _refused("is not on the first-parent history of main"):
            find_known_good(PortOnly(src), branch="main", paths=["assets"], bad=side["c1"])
        known = find_known_good(src, branch="main", paths=["assets"])
        assert (known.revision, known.bad_revision) == (base["c1"], merge["c1"])

    def test_path_missing_at_candidate(self, tmp_path: Path, local) -> None:
        """When the state before the bad change lacks one of the paths, the search refuses."""
        make_repo(
            tmp_path,
            [
                CommitSpec("tasks", files={"tasks/a.yaml": "a: 1\n"}),
                CommitSpec("tasks and jobs", files={"tasks/a.yaml": "a: 2\n", "jobs/j.yaml": "j: 1\n"}),
            ],
        )
        with _refused("jobs does not exist at .* 'tasks', the state before .* 'tasks and jobs'"):
            find_known_good(local(tmp_path), branch="main", paths=["tasks", "jobs"])

    def test_revert_then_reapply_is_judged_by_content(self, tmp_path: Path, local) -> None:
        """After revert and re-apply, the revert commit (holding the good content) is the known-good state."""
        shas = make_repo(
            tmp_path,
            [
                CommitSpec("good", files={"assets/t.yaml": "v: 1\n"}),
                CommitSpec("bad", files={"assets/t.yaml": "v: 2\n"}),
                CommitSpec("Revert bad", files={"assets/t.yaml": "v: 1\n"}),
                CommitSpec("Reapply bad", files={"assets/t.yaml": "v: 2\n"}),
            ],
        )
        src = local(tmp_path)
        known = find_known_good(src, branch="main", paths=["assets"])
        assert (known.revision, known.bad_revision) == (shas["c3"], shas["c4"])
        assert known.trees == {"assets": src.tree_id(shas["c1"], "assets")}


class TestExplicit:
    @pytest.mark.parametrize("to", ["v0.3.0", "c3", "c1"])
    def test_explicit_tag_or_sha(self, sandbox: SandboxRepo, source: GitAssetSource, to: str) -> None:
        """An explicit tag or sha is validated and used as is, with source 'explicit'."""
        rev = sandbox.shas.get(to, to)
        known = find_known_good(source, branch="main", paths=PATHS, to=rev)
        expected = sandbox.shas["c3" if to == "v0.3.0" else to]
        assert known.revision == expected
        assert known.source == "explicit"
        assert known.bad_revision == sandbox.bad
        assert known.trees == {ASSET_PATH: source.tree_id(expected, ASSET_PATH)}
        assert known.reason.startswith(f"explicitly requested {rev}: {expected[:7]} '")
        assert known.rejected == ()

    @pytest.mark.parametrize("to", ["v0.4.0", "main"])
    def test_explicit_equal_to_bad_is_refused(self, source: GitAssetSource, to: str) -> None:
        """A requested revision with the same asset trees as the bad one is refused: nothing to roll back."""
        with _refused("same backend/tekton content as the bad revision .*: nothing to roll back") as caught:
            find_known_good(source, branch="main", paths=PATHS, to=to)
        assert caught.value.step == "known-good"

    def test_explicit_unknown_revision(self, source: GitAssetSource) -> None:
        """An explicit revision that does not resolve is refused, keeping the git error as the cause."""
        with _refused("known-good revision 'v9.9.9' does not resolve to a commit") as caught:
            find_known_good(source, branch="main", paths=PATHS, to="v9.9.9")
        assert caught.value.hint == "pass an existing tag, branch or commit id as --to"
        assert isinstance(caught.value.__cause__, GitError)

    def test_explicit_revision_without_the_path(self, tmp_path: Path, local) -> None:
        """An explicit revision where the asset folder does not exist yet is refused."""
        shas = make_repo(
            tmp_path,
            [
                CommitSpec("readme", files={"README": "r"}),
                CommitSpec("assets", files={"assets/t.yaml": "v: 1\n"}),
            ],
        )
        with _refused(f"assets does not exist at {shas['c1']} "):
            find_known_good(local(tmp_path), branch="main", paths=["assets"], to=shas["c1"])

    def test_unknown_branch(self, source: GitAssetSource) -> None:
        """A branch that does not exist is refused before anything else."""
        with _refused("branch 'release' does not resolve to a commit"):
            find_known_good(source, branch="release", paths=PATHS)


class _FakeSource:
    """An in-memory source whose path history repeats the bad trees (possible with non-git backends)."""

    def __init__(self, history: list[tuple[str, str]]) -> None:
        self.trees = dict(history)
        when = datetime(2026, 1, 1, tzinfo=UTC)
        self.infos = [RevisionInfo(sha=sha, summary=f"commit {sha}", committed_at=when) for sha, _ in history]

    def resolve(self, rev: str) -> str:
        return self.infos[0].sha if rev == "main" else rev

    def describe(self, rev: str) -> RevisionInfo:
        return next(i for i in self.infos if i.sha == rev)

    def tree_id(self, rev: str, path: str) -> str | None:
        return self.trees[rev]

    def path_history(self, branch: str, paths: Sequence[str], *, limit: int = 200) -> list[RevisionInfo]:
        start = [i.sha for i in self.infos].index(self.resolve(branch))
        return self.infos[start : start + limit]

    def read_tree(self, rev: str, path: str) -> dict[str, bytes]:
        raise AssertionError("not needed")


def test_run_of_equal_trees_is_walked_to_its_oldest_commit() -> None:
    """Consecutive history entries with the bad trees are all rejected; the state before the run is chosen."""
    fake = _FakeSource([("h4", "bad"), ("h3", "bad"), ("h2", "good"), ("h1", "older")])
    known = find_known_good(fake, branch="main", paths=["assets"])
    assert (known.revision, known.bad_revision) == ("h2", "h3")
    assert [r.revision for r in known.rejected] == ["h4", "h3"]
    assert known.reason.startswith("assets has had its content since h3 'commit h3'")
